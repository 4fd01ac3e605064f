//! Headers every response carries (DESIGN.md §8), and the cache headers of anonymous pages.
//!
//! Pure: names and values only.

/// The content security policy of every page: no inline script or style, nothing framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Set on every response.
pub const SECURITY: [(&str, &str); 3] = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
];

/// Static assets are named by their content hash, so they never change.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Anonymous pages: cacheable, revalidated with their ETag.
pub const PUBLIC_PAGE: &str = "public, max-age=300";

/// Pages and API answers that show a signed-in learner.
pub const PRIVATE: &str = "private, no-store";

/// Whether an `If-None-Match` header value matches `etag` (a list, weak tags, or `*`).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let want = bare(etag);
    if_none_match.split(',').any(|t| t.trim() == "*" || bare(t) == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_in_lists_weak_forms_and_star() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
        assert!(!etag_matches("", "\"abc\""));
    }
}
