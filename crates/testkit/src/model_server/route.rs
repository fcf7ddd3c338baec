//! Which API a request is for, from its method and path.
//!
//! Matching is by path suffix, so a base URL with or without `/v1` (or behind a prefix)
//! still lands on the right API. Gemini's `models/{model}:{method}` has a colon inside a
//! path segment, which is why the server routes everything through one fallback handler
//! and parses paths here instead of using the router's path patterns.

use axum::http::Method;

use super::gemini;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    /// `HEAD /` or `GET /`: claude's connectivity probe.
    Probe,
    /// `GET …/models`.
    Models,
    AnthropicMessages,
    AnthropicCountTokens,
    Responses,
    ChatCompletions,
    Gemini {
        model: String,
        method: gemini::Method,
    },
    Unknown,
}

impl Route {
    pub(super) fn parse(method: &Method, path: &str) -> Route {
        let path = path.trim_end_matches('/');
        if *method == Method::HEAD || *method == Method::GET {
            return match path {
                "" => Route::Probe,
                p if *method == Method::GET && p.ends_with("/models") => Route::Models,
                _ => Route::Unknown,
            };
        }
        if *method != Method::POST {
            return Route::Unknown;
        }
        if path.ends_with("/messages/count_tokens") {
            Route::AnthropicCountTokens
        } else if path.ends_with("/messages") {
            Route::AnthropicMessages
        } else if path.ends_with("/responses") {
            Route::Responses
        } else if path.ends_with("/chat/completions") {
            Route::ChatCompletions
        } else {
            gemini_target(path).unwrap_or(Route::Unknown)
        }
    }
}

/// `…/models/{model}:{method}`; the colon may arrive percent-encoded.
fn gemini_target(path: &str) -> Option<Route> {
    let (prefix, last) = path.rsplit_once('/')?;
    if !prefix.ends_with("/models") {
        return None;
    }
    let last = last.replace("%3A", ":").replace("%3a", ":");
    let (model, method) = last.split_once(':')?;
    Some(Route::Gemini {
        model: model.to_owned(),
        method: gemini::Method::parse(method)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_api() {
        let post = |p| Route::parse(&Method::POST, p);
        assert_eq!(Route::parse(&Method::HEAD, "/"), Route::Probe);
        assert_eq!(Route::parse(&Method::GET, "/"), Route::Probe);
        assert_eq!(Route::parse(&Method::GET, "/v1/models"), Route::Models);
        assert_eq!(post("/v1/messages"), Route::AnthropicMessages);
        assert_eq!(
            post("/v1/messages/count_tokens"),
            Route::AnthropicCountTokens
        );
        assert_eq!(post("/v1/responses"), Route::Responses);
        assert_eq!(post("/v1/chat/completions"), Route::ChatCompletions);
        assert_eq!(
            post("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            Route::Gemini {
                model: "gemini-2.5-flash".into(),
                method: gemini::Method::StreamGenerateContent
            }
        );
        assert_eq!(
            post("/v1beta/models/m%3AcountTokens"),
            Route::Gemini {
                model: "m".into(),
                method: gemini::Method::CountTokens
            }
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(Route::parse(&Method::HEAD, "/v1/models"), Route::Unknown);
        assert_eq!(Route::parse(&Method::GET, "/v1/messages"), Route::Unknown);
        assert_eq!(Route::parse(&Method::POST, "/v2/other"), Route::Unknown);
        assert_eq!(
            Route::parse(&Method::POST, "/v1beta/models/m:unknownMethod"),
            Route::Unknown
        );
        assert_eq!(Route::parse(&Method::DELETE, "/"), Route::Unknown);
    }
}
