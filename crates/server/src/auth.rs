//! The server has one user: whoever holds the token. This module keeps the token and checks
//! it, in constant time, at the HTTP layer, before any WebSocket upgrade.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::error::ServerError;

/// The secret, held so it can be compared but never printed by accident.
#[derive(Clone)]
pub struct Token(std::sync::Arc<str>);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(std::sync::Arc::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The token in force and whether it was generated just now (then the login URL is shown).
pub fn load_or_generate(
    path: &Path,
    supplied: Option<String>,
) -> Result<(Token, bool), ServerError> {
    if let Some(token) = supplied {
        return Ok((Token::new(token), false));
    }
    let io = |source| ServerError::TokenFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            return Ok((Token::new(text.trim().to_owned()), false))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(token.as_bytes()).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    Ok((Token::new(token), true))
}

/// The cookie a browser gets from `POST /api/login`.
pub const SESSION_COOKIE: &str = "switchboard_session";

/// Who may use the server: the token (for bearer clients) and the browser sessions that
/// presented it (for cookie clients). Cheap to clone; shared by every request.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<AuthInner>,
}

struct AuthInner {
    token: RwLock<Token>,
    /// Cookie session ids. In memory: a restart logs browsers out, and so does a token
    /// rotation.
    sessions: Mutex<HashSet<String>>,
    /// The token file to follow for rotations, when the token came from the data dir.
    token_file: Option<PathBuf>,
    /// Origins (besides the server's own) allowed to open cookie-authenticated WebSockets.
    allowed_origins: Vec<String>,
    /// Mark cookies `Secure` (the server speaks TLS).
    secure_cookies: bool,
}

impl Auth {
    pub fn new(token: Token, token_file: Option<PathBuf>, allowed_origins: Vec<String>) -> Self {
        Self {
            inner: Arc::new(AuthInner {
                token: RwLock::new(token),
                sessions: Mutex::new(HashSet::new()),
                token_file,
                allowed_origins,
                secure_cookies: false,
            }),
        }
    }

    /// Cookies carry `Secure` when the server speaks TLS.
    pub fn with_secure_cookies(self, secure: bool) -> Self {
        let inner = AuthInner {
            token: RwLock::new(self.token()),
            sessions: Mutex::new(HashSet::new()),
            token_file: self.inner.token_file.clone(),
            allowed_origins: self.inner.allowed_origins.clone(),
            secure_cookies: secure,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    fn cookie_attributes(&self) -> &'static str {
        if self.inner.secure_cookies {
            "HttpOnly; SameSite=Strict; Path=/; Secure"
        } else {
            "HttpOnly; SameSite=Strict; Path=/"
        }
    }

    pub fn token(&self) -> Token {
        self.inner.token.read().expect("token lock").clone()
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|candidate| self.token().matches(candidate.trim()))
    }

    fn cookie_session<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        let id = session_cookie(headers)?;
        self.inner
            .sessions
            .lock()
            .expect("sessions lock")
            .contains(id)
            .then_some(id)
    }

    /// Starts a browser session if `candidate` is the token; returns its cookie id.
    pub fn login(&self, candidate: &str) -> Option<String> {
        if !self.token().matches(candidate) {
            return None;
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.inner
            .sessions
            .lock()
            .expect("sessions lock")
            .insert(id.clone());
        Some(id)
    }

    pub fn logout(&self, headers: &HeaderMap) {
        if let Some(id) = session_cookie(headers) {
            self.inner
                .sessions
                .lock()
                .expect("sessions lock")
                .remove(id);
        }
    }

    /// Re-reads the token file; a new token replaces the old one and ends every browser
    /// session (what `switchboard token rotate` relies on).
    pub fn reload_token_file(&self) {
        let Some(path) = &self.inner.token_file else {
            return;
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let fresh = text.trim();
        if fresh.is_empty() || self.token().matches(fresh) {
            return;
        }
        *self.inner.token.write().expect("token lock") = Token::new(fresh.to_owned());
        self.inner.sessions.lock().expect("sessions lock").clear();
        tracing::warn!("the token was rotated; every browser session was ended");
    }

    /// A cookie-authenticated WebSocket must come from the server's own page (or an allowed
    /// origin): otherwise any site the user visits could open one with the user's cookie
    /// (cross-site WebSocket hijacking). Bearer clients send no cookie and need no Origin.
    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let own = [format!("http://{host}"), format!("https://{host}")];
        own.iter().any(|o| o == origin) || self.inner.allowed_origins.iter().any(|o| o == origin)
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Lets a request through with a valid bearer token, or a valid session cookie (plus, for a
/// WebSocket upgrade, an allowed Origin). Otherwise 401 (or 403 for a cookie upgrade from a
/// foreign origin).
pub async fn require_auth(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if auth.bearer_ok(headers) {
        return next.run(request).await;
    }
    if auth.cookie_session(headers).is_some() {
        let upgrade = headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        // A WebSocket or a request that changes something, made with the cookie, must come
        // from an allowed page (SameSite=Strict alone leaves same-site subdomains open).
        let changes = !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        if (upgrade || changes) && !auth.origin_allowed(headers) {
            return (StatusCode::FORBIDDEN, "cross-origin request refused\n").into_response();
        }
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "missing or wrong token\n",
    )
        .into_response()
}

#[derive(serde::Deserialize)]
pub struct LoginBody {
    token: String,
}

/// `POST /api/login {token}`: a browser presents the token once and gets an `HttpOnly`,
/// `SameSite=Strict` session cookie; the token is not needed again.
pub async fn login(State(auth): State<Auth>, body: Option<axum::Json<LoginBody>>) -> Response {
    let Some(axum::Json(body)) = body else {
        return (StatusCode::BAD_REQUEST, "send {\"token\": \"…\"} as JSON\n").into_response();
    };
    match auth.login(&body.token) {
        Some(id) => (
            StatusCode::NO_CONTENT,
            [(
                header::SET_COOKIE,
                format!("{SESSION_COOKIE}={id}; {}", auth.cookie_attributes()),
            )],
        )
            .into_response(),
        None => (StatusCode::UNAUTHORIZED, "wrong token\n").into_response(),
    }
}

/// `POST /api/logout`: ends this browser's session.
pub async fn logout(State(auth): State<Auth>, headers: HeaderMap) -> Response {
    auth.logout(&headers);
    (
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            format!("{SESSION_COOKIE}=; {}; Max-Age=0", auth.cookie_attributes()),
        )],
    )
        .into_response()
}

/// Follows the token file, so a rotation takes effect without a restart.
pub fn spawn_token_watcher(auth: Auth, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let auth = auth.clone();
            let _ = tokio::task::spawn_blocking(move || auth.reload_token_file()).await;
        }
    });
}

/// Replaces the data dir's token with a new random one (`switchboard token rotate`).
pub fn rotate(path: &Path) -> Result<Token, ServerError> {
    let _ = std::fs::remove_file(path);
    load_or_generate(path, None).map(|(token, _)| token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_keeps_it_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let (first, generated) = load_or_generate(&path, None).unwrap();
        assert!(generated);
        assert_eq!(first.expose().len(), 64);
        let (second, generated) = load_or_generate(&path, None).unwrap();
        assert!(!generated);
        assert!(second.matches(first.expose()));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(format!("{first:?}"), "Token(<redacted>)");
        let (supplied, generated) = load_or_generate(&path, Some("s3cret".into())).unwrap();
        assert!(!generated && supplied.matches("s3cret") && !supplied.matches("s3cre"));
    }
}
