//! The server has one user: whoever holds the token. This module keeps the token and checks
//! it, in constant time, at the HTTP layer, before any WebSocket upgrade.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
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

/// Rejects a request without `Authorization: Bearer <token>` with 401.
pub async fn require_bearer(State(token): State<Token>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(candidate) if token.matches(candidate) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong token\n",
        )
            .into_response(),
    }
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
