//! Where the server is: the `--server` base URL, and the WebSocket URL derived from it.

use std::net::IpAddr;

use crate::error::ClientError;

/// The default port of `switchboard serve`.
pub const DEFAULT_PORT: u16 = 7420;

/// An `http(s)://HOST[:PORT]` base URL (a bare `HOST:PORT` means `http`). Paths, queries and
/// credentials are refused: the client talks to `/ws` and `/api` of the server's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub tls: bool,
    /// As written, with brackets for an IPv6 literal.
    pub host: String,
    pub port: u16,
}

impl BaseUrl {
    pub fn parse(given: &str) -> Result<Self, ClientError> {
        let bad = |why: &str| {
            ClientError::Usage(format!(
                "--server must be an http(s) base URL such as http://127.0.0.1:{DEFAULT_PORT}, not {given:?}: {why}"
            ))
        };
        let given_trimmed = given.trim();
        let (tls, rest) = if let Some(rest) = given_trimmed.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = given_trimmed.strip_prefix("http://") {
            (false, rest)
        } else if given_trimmed.contains("://") {
            return Err(bad("only http and https are supported"));
        } else {
            (false, given_trimmed)
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains(['/', '?', '#', '@']) || authority.chars().any(char::is_whitespace) {
            return Err(bad("give only the scheme, host and port"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6_end) = authority
            .strip_prefix('[')
            .and_then(|_| authority.find(']'))
        {
            let host = &authority[..=v6_end];
            match &authority[v6_end + 1..] {
                "" => (host, default_port),
                port => (
                    host,
                    port.strip_prefix(':')
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| bad("the port is not a number"))?,
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (
                    host,
                    port.parse().map_err(|_| bad("the port is not a number"))?,
                ),
                None => (authority, default_port),
            }
        };
        if host.is_empty() || host.contains(':') && !host.starts_with('[') {
            return Err(bad("no host"));
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
        })
    }

    /// `HOST:PORT`, for a TCP connection and the `Host` header.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `ws://HOST:PORT/ws`, or `wss://…` for an https base.
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.authority())
    }

    pub fn http_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority())
    }

    /// Whether the server runs on this machine, so that its data dir's token file may be read.
    pub fn is_loopback(&self) -> bool {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare.eq_ignore_ascii_case("localhost")
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// A server and the token to show it.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    pub base: BaseUrl,
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_websocket_urls() {
        let b = BaseUrl::parse("http://127.0.0.1:7420/").unwrap();
        assert_eq!(b.ws_url(), "ws://127.0.0.1:7420/ws");
        assert!(b.is_loopback());
        let b = BaseUrl::parse("https://box.example:8443").unwrap();
        assert_eq!(b.ws_url(), "wss://box.example:8443/ws");
        assert!(!b.is_loopback());
        assert_eq!(BaseUrl::parse("https://h").unwrap().port, 443);
        assert_eq!(BaseUrl::parse("http://h").unwrap().port, 80);
        let b = BaseUrl::parse("localhost:9000").unwrap();
        assert_eq!((b.tls, b.authority().as_str()), (false, "localhost:9000"));
        assert!(b.is_loopback());
        let b = BaseUrl::parse("http://[::1]:7420").unwrap();
        assert_eq!(b.ws_url(), "ws://[::1]:7420/ws");
        assert!(b.is_loopback());
    }

    #[test]
    fn refuses_what_is_not_a_base_url() {
        for bad in [
            "ftp://h:1",
            "http://h:1/api",
            "http://user@h:1",
            "http://h:port",
            "http://",
            "http://h:1?x=1",
            "::1:7420",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
