//! CSRF protection for cookie-authenticated writes (DESIGN.md §5): the browser must say the
//! request is same-origin (`Sec-Fetch-Site`), or send an `Origin` equal to our own.

use super::ApiError;
use worker::Request;

pub fn require_same_origin(req: &Request) -> Result<(), ApiError> {
    let h = req.headers();
    let get = |n: &str| h.get(n).ok().flatten();
    let own = req.url().ok().map(|u| u.origin().ascii_serialization());
    if super::same_origin(get("sec-fetch-site").as_deref(), get("origin").as_deref(), own.as_deref()) {
        Ok(())
    } else {
        Err(ApiError::new(403, "cross_site", "This form must be sent from the academy's own pages."))
    }
}
