//! `ApiError`: the one error type every handler returns, and its three renderings
//! (DESIGN.md §4): `/api/*` JSON, provider-shaped `/v1/*` JSON that both official SDKs parse,
//! and the HTML page everywhere else.
//!
//! Pure: no worker. 4xx messages are for the client; 5xx bodies are generic and the cause is
//! logged by the caller with the request id.

use serde_json::json;

/// Which family of routes a path belongs to; it decides how errors are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `/api/*`: the academy's own JSON API.
    Api,
    /// `/v1/*`: the provider-compatible endpoints the official SDKs call.
    V1,
    /// Everything else: HTML pages.
    Page,
}

impl Family {
    pub fn of(path: &str) -> Family {
        if path == "/api" || path.starts_with("/api/") {
            Family::Api
        } else if path == "/v1" || path.starts_with("/v1/") {
            Family::V1
        } else {
            Family::Page
        }
    }
}

/// An error on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// A snake_case machine-readable code (`not_found`, `invalid_json`, `budget_exceeded`, …).
    pub code: &'static str,
    /// One clear sentence: what was wrong and what to do.
    pub message: String,
    /// Extra headers (`allow`, `retry-after`, `x-should-retry`).
    pub headers: Vec<(&'static str, String)>,
    /// The request field at fault, for the provider-shaped `param` under `/v1/*`.
    pub param: Option<&'static str>,
}

/// A rendered error: what a response adapter needs, and nothing runtime-specific.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), headers: Vec::new(), param: None }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_param(mut self, param: Option<&'static str>) -> Self {
        self.param = param;
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// The 404 for a path no route matches, worded for its family.
    pub fn not_found_for(family: Family, path: &str) -> Self {
        match family {
            Family::V1 => Self::not_found(format!(
                "The academy does not serve {}. It serves POST /v1/messages, POST /v1/chat/completions and GET /v1/models.",
                truncate(path, 200)
            )),
            Family::Api => Self::not_found(format!("No API route at {}.", truncate(path, 200))),
            Family::Page => Self::not_found("There is no page at this address."),
        }
    }

    pub fn method_not_allowed(allow: String) -> Self {
        Self::new(405, "method_not_allowed", format!("This route accepts {allow}."))
            .with_header("allow", allow)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(413, "payload_too_large", format!("The request body is larger than {limit} bytes."))
    }

    /// A 5xx whose cause is logged, not shown.
    pub fn internal(code: &'static str) -> Self {
        Self::new(500, code, "Something went wrong on our side; it has been logged. Please try again.")
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "unavailable", message)
    }

    /// The provider error type for a status (the names both SDKs map to exception classes).
    pub fn provider_type(&self) -> &'static str {
        match self.status {
            400 | 405 | 422 => "invalid_request_error",
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 => "timeout_error",
            529 => "overloaded_error",
            _ => "api_error",
        }
    }

    /// Renders the error for its family. Pages are rendered by the caller (`views`), so this
    /// gives the JSON shapes; for `Family::Page` it returns the plain message as text.
    pub fn render(&self, family: Family) -> Rendered {
        let (content_type, body) = match family {
            Family::Api => (
                "application/json",
                json!({"error": {"code": self.code, "message": self.message}}).to_string(),
            ),
            // One body both SDKs parse: Anthropic reads `error.type`/`error.message`, OpenAI
            // reads `error.message`/`type`/`param`/`code`.
            Family::V1 => (
                "application/json",
                json!({
                    "type": "error",
                    "error": {
                        "type": self.provider_type(),
                        "message": self.message,
                        "param": self.param,
                        "code": self.code,
                    }
                })
                .to_string(),
            ),
            Family::Page => ("text/plain; charset=utf-8", self.message.clone()),
        };
        Rendered { status: self.status, content_type, body, headers: self.headers.clone() }
    }
}

/// At most `max` bytes of `s`, cut on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn families_are_chosen_by_path_prefix() {
        assert_eq!(Family::of("/api/me"), Family::Api);
        assert_eq!(Family::of("/v1/messages"), Family::V1);
        assert_eq!(Family::of("/apiary"), Family::Page);
        assert_eq!(Family::of("/v10"), Family::Page);
        assert_eq!(Family::of("/"), Family::Page);
    }

    #[test]
    fn api_errors_render_code_and_message() {
        let r = ApiError::bad_request("invalid_json", "Bad.").render(Family::Api);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(v["error"]["code"], "invalid_json");
        assert_eq!(v["error"]["message"], "Bad.");
    }

    #[test]
    fn v1_errors_use_the_provider_type_names() {
        for (status, ty) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (402, "billing_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (502, "api_error"),
            (504, "timeout_error"),
        ] {
            let r = ApiError::new(status, "x", "m").render(Family::V1);
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(v["type"], "error");
            assert_eq!(v["error"]["type"], ty, "{status}");
            assert_eq!(v["error"]["message"], "m");
        }
    }

    #[test]
    fn method_not_allowed_carries_the_allow_header() {
        let e = ApiError::method_not_allowed("GET, HEAD".into());
        assert_eq!(e.status, 405);
        assert_eq!(e.headers, vec![("allow", "GET, HEAD".to_string())]);
    }

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
