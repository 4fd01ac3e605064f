//! HTTP plumbing shared by every capability: the error type and its three renderings, security
//! and CORS headers, and (on wasm32) the adapters that turn them into `worker::Response`s.
//!
//! Knows no capability: it renders what it is given.

pub mod cors;
pub mod error;
pub mod headers;
#[cfg(target_arch = "wasm32")]
pub mod body;
#[cfg(target_arch = "wasm32")]
pub mod csrf;
#[cfg(target_arch = "wasm32")]
pub mod respond;

pub use error::{ApiError, Family};

/// Parses a JSON body into `T`; the parser's complaint (position and what it expected) becomes
/// the 400's message.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("invalid_json", "The request body is empty; send a JSON object."));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_data() { "invalid_field" } else { "invalid_json" };
        ApiError::bad_request(what, format!("The request body is not valid: {e}."))
    })
}

/// Whether a write comes from our own pages: `Sec-Fetch-Site: same-origin`, or (older
/// browsers) an `Origin` equal to ours. Neither present → refused: browsers send at least one.
pub fn same_origin(sec_fetch_site: Option<&str>, origin: Option<&str>, own: Option<&str>) -> bool {
    match (sec_fetch_site, origin) {
        (Some(site), _) => site == "same-origin",
        (None, Some(o)) => own.is_some_and(|own| own == o),
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_writes_pass() {
        assert!(same_origin(Some("same-origin"), None, None));
        assert!(!same_origin(Some("cross-site"), Some("https://a"), Some("https://a")));
        assert!(!same_origin(Some("same-site"), None, None));
        assert!(same_origin(None, Some("https://a"), Some("https://a")));
        assert!(!same_origin(None, Some("https://evil"), Some("https://a")));
        assert!(!same_origin(None, None, Some("https://a")));
    }

    #[test]
    fn json_errors_say_what_was_wrong() {
        let e = parse_json::<serde_json::Value>(b"{nope").unwrap_err();
        assert_eq!((e.status, e.code), (400, "invalid_json"));
        let e = parse_json::<serde_json::Value>(b"").unwrap_err();
        assert!(e.message.contains("empty"));
    }
}
