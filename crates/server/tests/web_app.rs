//! The web app as the binary serves it: the page and its modules with their types, the
//! security and cache headers, the SPA fallback, and the server's own routes left alone.

mod common;

use common::*;
use switchboard_testkit::http;

async fn get(server: &switchboard_testkit::TestServer, path: &str) -> http::HttpResponse {
    http::request(server.addr, "GET", path, &[], None)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_page_is_served_without_login_with_a_strict_policy() {
    let server = server();
    let page = get(&server, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page
        .text()
        .contains(r#"<script type="module" src="/app.js">"#));
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));

    let script = get(&server, "/app.js").await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let style = get(&server, "/style.css").await;
    assert_eq!(
        style.header("content-type"),
        Some("text/css; charset=utf-8")
    );
}

#[tokio::test]
async fn an_unchanged_file_is_a_304() {
    let server = server();
    let first = get(&server, "/app.js").await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    let again = http::request(
        server.addr,
        "GET",
        "/app.js",
        &[("if-none-match", &etag)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
}

#[tokio::test]
async fn app_routes_get_the_page_but_api_and_missing_files_do_not() {
    let server = server();
    let deep = get(&server, "/session/4b0f9a4e-5a39-4b7a-9a5e-2f3c1d0e9b8a").await;
    assert_eq!(deep.status, 200);
    assert!(deep.text().contains("/app.js"));

    let missing = get(&server, "/nope.js").await;
    assert_eq!(missing.status, 404);

    // Unknown API routes stay API answers (401 before login), never the HTML page.
    let api = get(&server, "/api/nope").await;
    assert_eq!(api.status, 401);
    let ws_like = get(&server, "/ws/extra").await;
    assert_eq!(ws_like.status, 404);
    assert!(!ws_like.text().contains("<html"));

    let post = http::request(server.addr, "POST", "/session/x", &[], Some(b"{}"))
        .await
        .unwrap();
    assert_eq!(post.status, 405);
}

#[tokio::test]
async fn the_markdown_libraries_are_embedded() {
    // scripts/build-web.sh (run by scripts/test.sh, the README's test command) puts them in
    // web/vendor before the build; build.rs embeds what is there.
    let vendor = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/vendor");
    assert!(
        vendor.join("marked.esm.js").exists() && vendor.join("purify.es.mjs").exists(),
        "web/vendor is missing: run scripts/build-web.sh (scripts/test.sh does)"
    );
    let server = server();
    for path in ["/vendor/marked.esm.js", "/vendor/purify.es.mjs"] {
        let file = get(&server, path).await;
        assert_eq!(file.status, 200, "{path}");
        assert_eq!(
            file.header("content-type"),
            Some("text/javascript; charset=utf-8"),
            "{path}"
        );
    }
}
