//! The adapter from `ApiError`, pages and JSON values to `worker::Response`, and the headers
//! every response carries. The only place a response's status and shape are chosen.

use super::{cors, headers, ApiError, Family};
use crate::views;
use worker::{Headers, Request, Response};

pub type Result<T> = std::result::Result<T, ApiError>;

/// Turns a handler's outcome into the response sent: errors rendered for their family, then
/// the security headers (and CORS under `/v1/`) added to everything.
pub fn finish(outcome: Result<Response>, family: Family) -> worker::Result<Response> {
    let mut response = match outcome {
        Ok(response) => response,
        Err(error) => {
            if error.status >= 500 {
                worker::console_error!("{} {}: {}", error.status, error.code, error.message);
            }
            render_error(&error, family)?
        }
    };
    let h = response.headers_mut();
    for (name, value) in headers::SECURITY {
        let _ = h.set(name, value);
    }
    if family == Family::V1 {
        let _ = h.set("access-control-allow-origin", "*");
        let _ = h.set("access-control-expose-headers", cors::EXPOSED);
    }
    Ok(response)
}

fn render_error(error: &ApiError, family: Family) -> worker::Result<Response> {
    let rendered = error.render(family);
    let (content_type, body) = match family {
        Family::Page => ("text/html; charset=utf-8", views::error_page(error.status, &error.message)),
        _ => (rendered.content_type, rendered.body),
    };
    let mut response = Response::ok(body)?.with_status(error.status);
    let h = response.headers_mut();
    let _ = h.set("content-type", content_type);
    let _ = h.set("cache-control", "no-store");
    for (name, value) in &rendered.headers {
        let _ = h.set(name, value);
    }
    Ok(response)
}

/// `OPTIONS`: a CORS preflight under `/v1/`; elsewhere `204` with `allow` and no CORS headers.
pub fn preflight(req: &Request, family: Family, allow: &str) -> Result<Response> {
    let mut response = Response::empty().map_err(internal)?.with_status(204);
    let h = response.headers_mut();
    set(h, "allow", allow)?;
    if family == Family::V1 {
        let requested = req.headers().get("access-control-request-headers").ok().flatten();
        set(h, "access-control-allow-methods", "GET, POST, OPTIONS")?;
        set(h, "access-control-allow-headers", &cors::allow_headers(requested.as_deref()))?;
        set(h, "access-control-max-age", cors::MAX_AGE)?;
    }
    Ok(response)
}

/// A JSON answer with a status.
pub fn json(status: u16, value: &serde_json::Value) -> Result<Response> {
    let mut response = Response::ok(value.to_string()).map_err(internal)?.with_status(status);
    set(response.headers_mut(), "content-type", "application/json")?;
    Ok(response)
}

/// A cacheable body with an ETag; `304` when the client already has it.
pub fn cached(req: &Request, content_type: &str, body: &str, etag: &str, cache_control: &str) -> Result<Response> {
    let fresh = req
        .headers()
        .get("if-none-match")
        .ok()
        .flatten()
        .is_some_and(|v| headers::etag_matches(&v, etag));
    let mut response = if fresh {
        Response::empty().map_err(internal)?.with_status(304)
    } else {
        Response::ok(body).map_err(internal)?
    };
    let h = response.headers_mut();
    set(h, "content-type", content_type)?;
    set(h, "etag", etag)?;
    set(h, "cache-control", cache_control)?;
    Ok(response)
}

/// Whether the client already holds `etag` (so the body need not even be rendered).
pub fn fresh(req: &Request, etag: &str) -> bool {
    req.headers().get("if-none-match").ok().flatten().is_some_and(|v| headers::etag_matches(&v, etag))
}

/// A compiled-in static asset under its hashed name.
pub fn asset(req: &Request, name: &str) -> Result<Response> {
    let (content_type, body) =
        views::asset(name).ok_or_else(|| ApiError::not_found("There is no such file."))?;
    let etag = format!("\"{}\"", name);
    cached(req, content_type, body, &etag, headers::IMMUTABLE)
}

pub fn set(h: &mut Headers, name: &str, value: &str) -> Result<()> {
    h.set(name, value).map_err(|_| ApiError::internal("header"))
}

pub fn internal(e: worker::Error) -> ApiError {
    worker::console_error!("response: {e}");
    ApiError::internal("internal")
}
