//! CORS for `/v1/*` only (DESIGN.md §3): the key travels in a header, never a cookie, so any
//! origin may call with credentials off. The rest of the site is same-origin and sends no CORS
//! headers.
//!
//! Pure.

/// Request headers a browser client may send to `/v1/*`, besides `x-stainless-*`.
const ALLOWED: [&str; 7] = [
    "authorization",
    "x-api-key",
    "content-type",
    "anthropic-version",
    "anthropic-beta",
    "x-academy-lesson",
    "anthropic-dangerous-direct-browser-access",
];

pub const EXPOSED: &str = "x-academy-request-id, x-academy-cost-usd, x-academy-budget-remaining-usd, request-id, retry-after";

pub const MAX_AGE: &str = "86400";

/// The `access-control-allow-headers` answer to `access-control-request-headers`: the allowed
/// ones that were asked for (SDKs send `x-stainless-*` headers that vary by version).
pub fn allow_headers(requested: Option<&str>) -> String {
    let mut out: Vec<String> = ALLOWED.iter().map(|h| (*h).to_string()).collect();
    for name in requested.unwrap_or("").split(',') {
        let name = name.trim().to_ascii_lowercase();
        let plausible = name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if plausible && name.starts_with("x-stainless-") && !out.contains(&name) {
            out.push(name);
        }
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stainless_headers_are_echoed_and_others_are_not() {
        let h = allow_headers(Some("X-Stainless-OS, x-evil, x-stainless-retry-count"));
        assert!(h.contains("x-stainless-os"));
        assert!(h.contains("x-stainless-retry-count"));
        assert!(!h.contains("x-evil"));
        assert!(h.contains("x-api-key"));
    }

    #[test]
    fn odd_requested_headers_are_ignored() {
        let h = allow_headers(Some("x-stainless-\r\nset-cookie: a"));
        assert!(!h.contains("set-cookie"));
    }
}
