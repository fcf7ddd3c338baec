//! The web app at `/`: static files embedded at compile time (see `build.rs`), served with
//! their content type, an ETag, a strict Content-Security-Policy, and an SPA fallback (a path
//! without a file extension gets `index.html`, so `/session/<id>` survives a reload).
//!
//! The files need no authentication: they hold no data. Everything the app shows comes from
//! `/api` and `/ws`, which do. The fallback never answers for `/api` or `/ws`, so a typo there
//! stays a 404 instead of turning into an HTML page.
//!
//! For front-end work, `SWITCHBOARD_WEB_DIR=<repo>/web` serves `src/` and `vendor/` from disk
//! instead (read on each request, never cached), so a change needs no rebuild.

use std::path::PathBuf;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    /// The URL path it is served at (`/index.html`, `/vendor/marked.esm.js`).
    pub path: &'static str,
    /// A quoted content hash.
    pub etag: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// No inline script or style, no plugins, no framing, network only to this origin (which
/// includes its `ws:`/`wss:` twin). Markdown is sanitized too; this is the second wall.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The router's fallback: every GET/HEAD that no other route took.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if is_server_route(path) {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "method not allowed\n",
        )
            .into_response();
    }
    let wanted = resolve(path);
    if let Some(dir) = dev_dir() {
        return match read_from_disk(dir, wanted) {
            Some((name, bytes)) => respond(&name, None, Body::from(bytes)),
            None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        };
    }
    let Some(asset) = ASSETS.iter().find(|a| a.path == wanted) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag));
    if fresh {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        add_headers(&mut response, asset.path, Some(asset.etag));
        return response;
    }
    respond(asset.path, Some(asset.etag), Body::from(asset.bytes))
}

/// Paths that belong to the server's own routes, never to the app.
fn is_server_route(path: &str) -> bool {
    ["/api", "/ws"]
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
}

/// The asset a URL path names: itself, or `index.html` for `/` and for app routes (paths whose
/// last segment has no extension). A path with an extension names itself, found or not.
fn resolve(path: &str) -> &str {
    let last = path.rsplit('/').next().unwrap_or_default();
    let app_route = last.is_empty() || !last.contains('.');
    if app_route && !ASSETS.iter().any(|a| a.path == path) {
        "/index.html"
    } else {
        path
    }
}

/// A HEAD request gets the same response: axum sends its headers (with the body's length)
/// and drops the body.
fn respond(name: &str, etag: Option<&str>, body: Body) -> Response {
    let mut response = Response::new(body);
    add_headers(&mut response, name, etag);
    response
}

fn add_headers(response: &mut Response, name: &str, etag: Option<&str>) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    // Names are not content-hashed, so the browser revalidates every time; the ETag makes
    // that a cheap 304.
    let cache = if etag.is_some() {
        "no-cache"
    } else {
        "no-store"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The login URL carries the token in the fragment; never let a link leak the address.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `SWITCHBOARD_WEB_DIR`, read once.
fn dev_dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::var_os("SWITCHBOARD_WEB_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .as_ref()
}

/// Reads `path` from `<dir>/src` (or `<dir>/vendor` for `/vendor/…`). Only plain names are
/// followed: an empty, dot-leading or backslashed segment is refused, so no `..` escapes.
fn read_from_disk(dir: &std::path::Path, path: &str) -> Option<(String, Vec<u8>)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let plain = |s: &&str| !s.is_empty() && !s.starts_with('.') && !s.contains('\\');
    if !segments.iter().all(plain) {
        return None;
    }
    let file = match segments.split_first() {
        Some((&"vendor", rest)) => rest.iter().fold(dir.join("vendor"), |p, s| p.join(s)),
        _ => segments.iter().fold(dir.join("src"), |p, s| p.join(s)),
    };
    let bytes = std::fs::read(file).ok()?;
    Some((path.to_owned(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_routes_fall_back_to_the_index_but_missing_files_do_not() {
        assert_eq!(resolve("/"), "/index.html");
        assert_eq!(resolve("/session/abc"), "/index.html");
        assert_eq!(resolve("/app.js"), "/app.js");
        assert_eq!(resolve("/nope.js"), "/nope.js");
    }

    #[test]
    fn server_routes_are_never_shadowed() {
        assert!(is_server_route("/api"));
        assert!(is_server_route("/api/whatever"));
        assert!(is_server_route("/ws"));
        assert!(is_server_route("/ws/x"));
        assert!(!is_server_route("/wsx"));
        assert!(!is_server_route("/apiary"));
    }

    #[test]
    fn the_index_and_the_app_are_embedded_with_types() {
        let index = ASSETS.iter().find(|a| a.path == "/index.html").unwrap();
        assert!(std::str::from_utf8(index.bytes).unwrap().contains("app.js"));
        assert!(index.etag.starts_with('"') && index.etag.ends_with('"'));
        assert_eq!(content_type("/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/style.css"), "text/css; charset=utf-8");
    }

    #[test]
    fn disk_reads_refuse_dot_segments() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.js"), "x").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        assert!(read_from_disk(dir.path(), "/a.js").is_some());
        assert!(read_from_disk(dir.path(), "/../secret").is_none());
        assert!(read_from_disk(dir.path(), "/vendor/../../secret").is_none());
        assert!(read_from_disk(dir.path(), "/.hidden").is_none());
    }
}
