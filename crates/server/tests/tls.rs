//! Exposure: a listener beyond loopback needs TLS (or an explicit proxy statement), and the
//! server speaks TLS when given a certificate.

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use switchboard_testkit::{TestServer, TestServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[test]
fn a_non_loopback_listener_without_tls_is_refused_before_it_binds() {
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .env("SWITCHBOARD_TOKEN", "t")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("--insecure-behind-proxy"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening"));
}

struct Certs {
    _dir: tempfile::TempDir,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    der: CertificateDer<'static>,
}

fn certs() -> Certs {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    Certs {
        der: generated.cert.der().clone(),
        _dir: dir,
        cert,
        key,
    }
}

fn connector(root: &CertificateDer<'static>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn the_server_speaks_tls_when_given_a_certificate() {
    let certs = certs();
    let server = TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        TestServerOptions {
            args: vec![
                "--tls-cert".into(),
                certs.cert.to_string_lossy().into_owned(),
                "--tls-key".into(),
                certs.key.to_string_lossy().into_owned(),
            ],
            ..Default::default()
        },
    )
    .unwrap();
    let connector = connector(&certs.der);
    let name = ServerName::try_from("localhost").unwrap();

    // HTTPS.
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // WSS with the bearer token.
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let tls = connector.connect(name.clone(), tcp).await.unwrap();
    let mut request = format!("wss://localhost:{}/ws", server.addr.port())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", server.token).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
    use futures_util::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            r#"{"type":"get-active-sessions"}"#.into(),
        ))
        .await
        .unwrap();
    // Pings may come first; the reply is the first text frame.
    let reply = loop {
        let message = socket.next().await.unwrap().unwrap();
        if message.is_text() {
            break message;
        }
    };
    assert!(reply.to_text().unwrap().contains("active-sessions"));

    // Plain HTTP to the TLS port gets nowhere.
    let plain = switchboard_testkit::http::request(server.addr, "GET", "/healthz", &[], None).await;
    assert!(plain.is_err() || plain.unwrap().status != 200);
}
