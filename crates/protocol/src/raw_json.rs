//! [`RawJson`]: a JSON text kept as text, so an agent's line reaches the frame's `data` byte
//! for byte without being parsed a second time.
//!
//! `serde_json`'s `RawValue` does the same job, but it can only be made by parsing: an agent
//! line that the provider's parser has just read in full would be scanned again only to prove
//! what is already known. A parse of the whole line by `serde_json` is that proof, so
//! [`RawJson::parsed`] takes the text without a second look (debug builds still check).

use serde::de::IgnoredAny;
use serde_json::Value;

/// A complete JSON text (a value, with no trailing garbage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(Box<str>);

impl RawJson {
    /// Checks that `text` is one JSON value.
    pub fn parse(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<IgnoredAny>(&text)?;
        Ok(Self(text.into_boxed_str()))
    }

    /// Text that `serde_json` has just parsed in full (as any type: a typed parse of the whole
    /// text rejects invalid JSON as surely as a `Value` does).
    pub fn parsed(text: String) -> Self {
        debug_assert!(
            serde_json::from_str::<IgnoredAny>(&text).is_ok(),
            "not JSON: {text}"
        );
        Self(text.into_boxed_str())
    }

    /// `text` as a JSON string (for a line that is not JSON).
    pub fn string(text: &str) -> Self {
        Self(
            serde_json::to_string(text)
                .expect("a string always serializes")
                .into_boxed_str(),
        )
    }

    pub fn from_value(value: &Value) -> Self {
        Self(
            serde_json::to_string(value)
                .expect("a JSON value always serializes")
                .into_boxed_str(),
        )
    }

    pub fn null() -> Self {
        Self("null".into())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_one_value_and_nothing_else() {
        assert_eq!(
            RawJson::parse(r#" {"a": [1]} "#.into()).unwrap().get(),
            r#" {"a": [1]} "#
        );
        assert!(RawJson::parse(r#"{"a": 1"#.into()).is_err());
        assert!(RawJson::parse(r#"{} {}"#.into()).is_err());
        assert!(RawJson::parse(String::new()).is_err());
    }

    #[test]
    fn strings_and_values_are_json() {
        assert_eq!(RawJson::string("a \"b\"\n").get(), r#""a \"b\"\n""#);
        assert_eq!(
            RawJson::from_value(&serde_json::json!({"k": null})).get(),
            r#"{"k":null}"#
        );
        assert_eq!(RawJson::null().get(), "null");
    }
}
