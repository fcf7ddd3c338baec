//! Where the model API is, and the key for it.
//!
//! A base URL is accepted with or without the trailing `/v1` (Ollama's clients send the bare
//! `http://localhost:11434`); requests go to `<base>/v1/chat/completions`. A URL from the
//! operator's config may point anywhere. A URL a *client* sends (`options.serverUrl`, local
//! only) must be plain http(s) on a loopback host without credentials, as in the seed: a
//! client must not make the server fetch from, or send prompts to, other hosts.

use std::fmt;
use std::net::IpAddr;

/// The key sent as `Authorization: Bearer …`. Its `Debug` never shows it, so a settings dump
/// or a log line cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for an empty or blank key.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        (!key.trim().is_empty()).then(|| ApiKey(key.trim().to_owned()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A normalized base URL: scheme, host, optional port and path prefix, no trailing slash and
/// no `/v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Accepts `http(s)://host[:port][/prefix][/v1][/]`. No credentials, query or fragment.
    pub fn parse(url: &str) -> Result<BaseUrl, String> {
        let url = url.trim();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        if authority.contains('@') {
            return Err(format!("{url:?} must not carry credentials"));
        }
        if rest.contains('?') || rest.contains('#') {
            return Err(format!("{url:?} must not carry a query or fragment"));
        }
        let trimmed = url.trim_end_matches('/');
        let base = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
        Ok(BaseUrl(base.to_owned()))
    }

    /// Like [`BaseUrl::parse`], and the host must be loopback: `localhost`, `127.x.x.x` or
    /// `::1`.
    pub fn parse_loopback(url: &str) -> Result<BaseUrl, String> {
        let base = BaseUrl::parse(url)?;
        let host = base.host();
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            Ok(base)
        } else {
            Err(format!(
                "options.serverUrl must point at this machine (localhost, 127.0.0.1 or ::1), \
                 not {host:?}; the operator can configure other hosts in [agents.local]"
            ))
        }
    }

    /// The host, with brackets for IPv6.
    fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.starts_with('[') {
            authority
                .split_once(']')
                .map_or(authority, |(h, _)| &authority[..h.len() + 1])
        } else {
            authority.split(':').next().unwrap_or_default()
        }
    }

    pub fn chat_completions(&self) -> String {
        format!("{}/v1/chat/completions", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_with_or_without_v1() {
        for url in [
            "http://localhost:11434",
            "http://localhost:11434/",
            "http://localhost:11434/v1",
            "http://localhost:11434/v1/",
        ] {
            assert_eq!(
                BaseUrl::parse(url).unwrap().chat_completions(),
                "http://localhost:11434/v1/chat/completions",
                "{url}"
            );
        }
        assert_eq!(
            BaseUrl::parse("https://openrouter.example/api/v1")
                .unwrap()
                .chat_completions(),
            "https://openrouter.example/api/v1/chat/completions"
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in [
            "ftp://x",
            "localhost:11434",
            "http://",
            "http://user:pw@localhost",
            "http://localhost/?a=1",
        ] {
            assert!(BaseUrl::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn client_urls_must_be_loopback() {
        for url in [
            "http://localhost:11434",
            "http://127.0.0.1:8000/v1",
            "http://127.1.2.3",
            "http://[::1]:1234",
            "http://LOCALHOST",
        ] {
            assert!(BaseUrl::parse_loopback(url).is_ok(), "{url}");
        }
        for url in [
            "http://10.0.0.1:11434",
            "http://example.com",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://[::2]:1",
            "http://0.0.0.0",
        ] {
            assert!(BaseUrl::parse_loopback(url).is_err(), "{url}");
        }
    }

    #[test]
    fn keys_are_never_shown() {
        let key = ApiKey::new("sk-secret").unwrap();
        assert!(!format!("{key:?}").contains("secret"));
        assert_eq!(key.expose(), "sk-secret");
        assert!(ApiKey::new("  ").is_none());
    }
}
