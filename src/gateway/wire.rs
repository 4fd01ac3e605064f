//! Request validation for both provider dialects and the reservation's upper bound
//! (DESIGN.md §9 step 3 and §6 "Reserve before, settle after").
//!
//! `parse` turns a request body into a `ValidRequest` before any D1 or upstream call: the body
//! is a JSON object, `model` names a catalogue alias, `messages` is a non-empty array within
//! `Limits::max_messages`, the output limit (`max_tokens`; OpenAI `max_completion_tokens` or
//! the legacy `max_tokens`) is a positive integer — absent → the model's default, above the
//! model's maximum or the academy's cap → clamped — `stream` is a bool, OpenAI `n` is 1, and no
//! Anthropic server tool (`web_search_*`, `web_fetch_*`, `code_execution_*`, `tool_search_*`:
//! they bill per use and grow the input beyond what the body shows) is asked for.
//!
//! The body is kept as a `serde_json::Map`, so fields the academy doesn't know pass through to
//! the provider untouched; `ValidRequest::upstream_body` re-serializes it with the alias
//! replaced by the upstream id and the clamped output limit always set.
//!
//! The **upper bound** is what a request can cost at most, reserved before the call: input
//! tokens ≤ body bytes + 2,048, + 1,600 per image block, + the model's `block_allowance` per
//! document or other non-text block, at the dearest input rate of the tier that bound falls in;
//! output tokens = the clamped limit at the output rate; rounded up once.
//!
//! `WireError` says what was wrong in one sentence and carries a status-ready kind; it knows
//! nothing of HTTP types. Pure: no worker, no clock.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::catalogue::{Catalogue, Model, Provider};
use super::pricing::MicroUsd;
use super::Dialect;

/// Input tokens the bound adds for templates and tool definitions the body bytes undercount.
pub const INPUT_OVERHEAD_TOKENS: u64 = 2_048;
/// Input tokens the bound adds per image block: a URL image costs tokens its bytes don't show.
pub const IMAGE_BLOCK_TOKENS: u64 = 1_600;
/// How long a reservation lives before the sweep may settle it, before streaming time.
pub const RESERVATION_BASE_TTL_MS: u64 = 5 * 60 * 1_000;
/// Milliseconds a reservation adds per output token allowed: 20 tokens per second.
const RESERVATION_MS_PER_TOKEN: u64 = 1_000 / 20;

/// Anthropic tool types the provider runs itself (server tools), which the academy refuses.
const SERVER_TOOL_PREFIXES: [&str; 4] = ["web_search", "web_fetch", "code_execution", "tool_search"];

/// Request-shape limits from configuration (`MAX_MESSAGES`, `MAX_OUTPUT_TOKENS_CAP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_messages: usize,
    pub max_output_tokens_cap: u64,
}

/// Why a request was refused before it cost anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not JSON, or not a JSON object. 400 `invalid_json`.
    #[error("{message}")]
    InvalidJson { message: String },
    /// A field is missing or wrong. 400 `invalid_request`.
    #[error("{message}")]
    InvalidRequest { param: Option<&'static str>, message: String },
    /// `model` names no catalogue alias. 400 `unknown_model`.
    #[error("The model `{model}` is not offered by this academy. Use one of: {}.", allowed.join(", "))]
    UnknownModel { model: String, allowed: Vec<String> },
    /// The body is over `MAX_BODY_BYTES`. 413 `request_too_large`.
    #[error("The request body is larger than the academy's limit of {limit} bytes; send a smaller request.")]
    TooLarge { limit: u64 },
}

impl WireError {
    pub fn status(&self) -> u16 {
        match self {
            WireError::TooLarge { .. } => 413,
            _ => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            WireError::InvalidJson { .. } => "invalid_json",
            WireError::InvalidRequest { .. } => "invalid_request",
            WireError::UnknownModel { .. } => "unknown_model",
            WireError::TooLarge { .. } => "request_too_large",
        }
    }

    /// The request field at fault, for the provider-shaped `param`.
    pub fn param(&self) -> Option<&'static str> {
        match self {
            WireError::InvalidRequest { param, .. } => *param,
            WireError::UnknownModel { .. } => Some("model"),
            _ => None,
        }
    }

    fn invalid(param: &'static str, message: String) -> WireError {
        WireError::InvalidRequest { param: Some(param), message }
    }
}

/// Refuses a body over the limit (checked on `content-length` first, then on the bytes read).
pub fn check_body_len(len: u64, limit: u64) -> Result<(), WireError> {
    if len > limit {
        Err(WireError::TooLarge { limit })
    } else {
        Ok(())
    }
}

/// How long a reservation may stay open: 5 minutes plus the time to stream `max_tokens` at
/// 20 tokens per second (a stream can run for minutes while its client listens).
pub fn reservation_ttl_ms(max_tokens: u64) -> u64 {
    RESERVATION_BASE_TTL_MS.saturating_add(max_tokens.saturating_mul(RESERVATION_MS_PER_TOKEN))
}

/// The most a request can cost, reserved before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperBound {
    /// Prompt tokens the request can at most consume, of any kind.
    pub input_tokens: u64,
    /// The clamped output limit.
    pub output_tokens: u64,
    /// Input at the dearest input rate plus output at the output rate, in the tier
    /// `input_tokens` falls in, rounded up once.
    pub cost: MicroUsd,
}

/// A request that passed validation, ready to reserve for and forward.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest<'c> {
    dialect: Dialect,
    model: &'c Model,
    body: Map<String, Value>,
    stream: bool,
    max_tokens: u64,
    requested_max_tokens: Option<u64>,
    ceiling: u64,
    added_include_usage: bool,
    image_blocks: u64,
    other_blocks: u64,
}

/// Validates a request body of either dialect against the catalogue and limits.
pub fn parse<'c>(
    dialect: Dialect,
    body: &[u8],
    catalogue: &'c Catalogue,
    limits: &Limits,
) -> Result<ValidRequest<'c>, WireError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| WireError::InvalidJson { message: format!("The request body is not valid JSON: {e}.") })?;
    let Value::Object(body) = value else {
        return Err(WireError::InvalidJson {
            message: format!("The request body must be a JSON object; got {}.", describe(&value)),
        });
    };

    let model = parse_model(&body, catalogue)?;
    check_dialect(dialect, model)?;
    let messages = parse_messages(&body, limits)?;
    let requested_max_tokens = parse_output_limit(dialect, &body)?;
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(WireError::invalid(
                "stream",
                format!("`stream` must be true or false; got {}.", describe(other)),
            ))
        }
    };
    let mut added_include_usage = false;
    match dialect {
        Dialect::OpenAi => {
            check_n(&body)?;
            let include_usage = match body.get("stream_options") {
                None | Some(Value::Null) => false,
                Some(Value::Object(options)) => options.get("include_usage") == Some(&Value::Bool(true)),
                Some(other) => {
                    return Err(WireError::invalid(
                        "stream_options",
                        format!("`stream_options` must be an object; got {}.", describe(other)),
                    ))
                }
            };
            // The meter needs the usage chunk; one the learner didn't ask for is hidden again.
            added_include_usage = stream && !include_usage;
        }
        Dialect::Anthropic => check_tools(&body)?,
    }

    let ceiling = model.max_output_tokens.min(limits.max_output_tokens_cap).max(1);
    let max_tokens = requested_max_tokens.unwrap_or(model.default_max_tokens).min(ceiling);
    let mut blocks = BlockCount::default();
    for message in messages {
        blocks.count(dialect, message.get("content"), 0);
    }
    if dialect == Dialect::Anthropic {
        blocks.count(dialect, body.get("system"), 0);
    }

    Ok(ValidRequest {
        dialect,
        model,
        body,
        stream,
        max_tokens,
        requested_max_tokens,
        ceiling,
        added_include_usage,
        image_blocks: blocks.images,
        other_blocks: blocks.others,
    })
}

impl<'c> ValidRequest<'c> {
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The catalogue alias the learner named.
    pub fn alias(&self) -> &str {
        &self.model.alias
    }

    pub fn model(&self) -> &'c Model {
        self.model
    }

    pub fn stream(&self) -> bool {
        self.stream
    }

    /// The output limit sent upstream: requested or default, clamped to the model's maximum
    /// and the academy's cap.
    pub fn max_tokens(&self) -> u64 {
        self.max_tokens
    }

    /// The output limit the request named, before clamping.
    pub fn requested_max_tokens(&self) -> Option<u64> {
        self.requested_max_tokens
    }

    /// Whether the requested output limit was lowered.
    pub fn clamped(&self) -> bool {
        self.requested_max_tokens.is_some_and(|n| n > self.max_tokens)
    }

    /// Whether the academy added `stream_options.include_usage` to an OpenAI stream, so the
    /// meter must hide the usage-only chunk the learner didn't ask for.
    pub fn added_include_usage(&self) -> bool {
        self.added_include_usage
    }

    /// The body as the learner sent it (validated; unknown fields kept).
    pub fn body(&self) -> &Map<String, Value> {
        &self.body
    }

    /// Image blocks in the messages (each adds `IMAGE_BLOCK_TOKENS` to the bound).
    pub fn image_blocks(&self) -> u64 {
        self.image_blocks
    }

    /// Documents and other non-text blocks (each adds the model's `block_allowance`).
    pub fn other_blocks(&self) -> u64 {
        self.other_blocks
    }

    /// The body to forward: `model` replaced by the upstream id, the clamped output limit
    /// always set (OpenAI: `max_completion_tokens`, with the legacy `max_tokens` removed;
    /// Anthropic: `max_tokens`), and for OpenAI streams `stream_options.include_usage: true`.
    pub fn upstream_body(&self) -> Vec<u8> {
        // Serializing a map with string keys cannot fail; an empty body would be refused by
        // the provider rather than charged.
        serde_json::to_vec(&UpstreamBody(self)).unwrap_or_default()
    }

    /// The most this request can cost, given the byte length of its body.
    pub fn upper_bound(&self, body_len: usize) -> UpperBound {
        let input_tokens = self.input_bound(body_len);
        let prices = self.model.prices_for(input_tokens);
        let picos = u128::from(input_tokens) * u128::from(prices.dearest_input())
            + u128::from(self.max_tokens) * u128::from(prices.output);
        UpperBound { input_tokens, output_tokens: self.max_tokens, cost: MicroUsd::from_picos_ceil(picos) }
    }

    /// The largest `max_tokens` whose upper bound fits in `remaining` (for a refusal that
    /// shows the arithmetic); 0 when even the input bound does not fit.
    pub fn largest_affordable_max_tokens(&self, body_len: usize, remaining: MicroUsd) -> u64 {
        let input_tokens = self.input_bound(body_len);
        let prices = self.model.prices_for(input_tokens);
        let Ok(remaining) = u128::try_from(remaining.0) else { return 0 };
        let budget_picos = remaining * 1_000_000;
        let input_picos = u128::from(input_tokens) * u128::from(prices.dearest_input());
        let Some(left) = budget_picos.checked_sub(input_picos) else { return 0 };
        let affordable = left.checked_div(u128::from(prices.output)).unwrap_or(u128::MAX);
        u64::try_from(affordable).unwrap_or(u64::MAX).min(self.ceiling)
    }

    fn input_bound(&self, body_len: usize) -> u64 {
        u64::try_from(body_len)
            .unwrap_or(u64::MAX)
            .saturating_add(INPUT_OVERHEAD_TOKENS)
            .saturating_add(self.image_blocks.saturating_mul(IMAGE_BLOCK_TOKENS))
            .saturating_add(self.other_blocks.saturating_mul(self.model.block_allowance))
    }
}

/// Serializes the body with the academy's changes, without copying it.
struct UpstreamBody<'a, 'c>(&'a ValidRequest<'c>);

impl Serialize for UpstreamBody<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let req = self.0;
        let limit_key = match req.dialect {
            Dialect::Anthropic => "max_tokens",
            Dialect::OpenAi => "max_completion_tokens",
        };
        let replaced = |key: &str| {
            key == "model"
                || key == "max_tokens"
                || key == "max_completion_tokens"
                || (req.added_include_usage && key == "stream_options")
        };
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in req.body.iter().filter(|(key, _)| !replaced(key)) {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("model", &req.model.upstream)?;
        map.serialize_entry(limit_key, &req.max_tokens)?;
        if req.added_include_usage {
            let mut options = match req.body.get("stream_options") {
                Some(Value::Object(options)) => options.clone(),
                _ => Map::new(),
            };
            options.insert("include_usage".to_owned(), Value::Bool(true));
            map.serialize_entry("stream_options", &options)?;
        }
        map.end()
    }
}

fn parse_model<'c>(body: &Map<String, Value>, catalogue: &'c Catalogue) -> Result<&'c Model, WireError> {
    let allowed = || catalogue.aliases().join(", ");
    match body.get("model") {
        None => Err(WireError::invalid("model", format!("`model` is required: one of {}.", allowed()))),
        Some(Value::String(alias)) => catalogue.get(alias).ok_or_else(|| WireError::UnknownModel {
            model: truncate(alias, 100),
            allowed: catalogue.aliases().into_iter().map(str::to_owned).collect(),
        }),
        Some(other) => Err(WireError::invalid(
            "model",
            format!("`model` must be a string naming one of {}; got {}.", allowed(), describe(other)),
        )),
    }
}

/// A provider's model is only served in its own API shape; the demo speaks both.
fn check_dialect(dialect: Dialect, model: &Model) -> Result<(), WireError> {
    let endpoint = match (dialect, model.provider) {
        (_, Provider::Demo) | (Dialect::Anthropic, Provider::Anthropic) | (Dialect::OpenAi, Provider::OpenAi) => {
            return Ok(())
        }
        (Dialect::Anthropic, Provider::OpenAi) => "POST /v1/chat/completions (the OpenAI Chat Completions shape)",
        (Dialect::OpenAi, Provider::Anthropic) => "POST /v1/messages (the Anthropic Messages shape)",
    };
    Err(WireError::invalid(
        "model",
        format!("The model `{}` is served on {endpoint}, not on this endpoint.", model.alias),
    ))
}

fn parse_messages<'b>(body: &'b Map<String, Value>, limits: &Limits) -> Result<&'b Vec<Value>, WireError> {
    match body.get("messages") {
        None => {
            Err(WireError::invalid("messages", "`messages` is required: a non-empty array of messages.".to_owned()))
        }
        Some(Value::Array(messages)) if messages.is_empty() => {
            Err(WireError::invalid("messages", "`messages` must contain at least one message.".to_owned()))
        }
        Some(Value::Array(messages)) if messages.len() > limits.max_messages => Err(WireError::invalid(
            "messages",
            format!(
                "`messages` has {} entries; the academy accepts at most {} per request.",
                messages.len(),
                limits.max_messages
            ),
        )),
        Some(Value::Array(messages)) => Ok(messages),
        Some(other) => {
            Err(WireError::invalid("messages", format!("`messages` must be an array; got {}.", describe(other))))
        }
    }
}

/// The output limit the request names, if any.
fn parse_output_limit(dialect: Dialect, body: &Map<String, Value>) -> Result<Option<u64>, WireError> {
    let names: &[&'static str] = match dialect {
        Dialect::Anthropic => &["max_tokens"],
        // `max_completion_tokens` wins; the legacy `max_tokens` is still validated.
        Dialect::OpenAi => &["max_completion_tokens", "max_tokens"],
    };
    let mut found = None;
    for name in names {
        if let Some(value) = body.get(*name) {
            let n = positive_integer(value).ok_or_else(|| {
                WireError::invalid(name, format!("`{name}` must be a positive integer; got {}.", describe(value)))
            })?;
            found = found.or(Some(n));
        }
    }
    Ok(found)
}

fn check_n(body: &Map<String, Value>) -> Result<(), WireError> {
    match body.get("n") {
        None | Some(Value::Null) => Ok(()),
        Some(value) => match positive_integer(value) {
            Some(1) => Ok(()),
            Some(n) => Err(WireError::invalid(
                "n",
                format!(
                    "`n` must be 1: the academy meters one choice per request; got {n}. Send {n} requests instead."
                ),
            )),
            None => Err(WireError::invalid("n", format!("`n` must be a positive integer; got {}.", describe(value)))),
        },
    }
}

fn check_tools(body: &Map<String, Value>) -> Result<(), WireError> {
    let Some(Value::Array(tools)) = body.get("tools") else { return Ok(()) };
    for tool in tools {
        let Some(kind) = tool.get("type").and_then(Value::as_str) else { continue };
        if SERVER_TOOL_PREFIXES.iter().any(|prefix| kind.starts_with(prefix)) {
            return Err(WireError::invalid(
                "tools",
                format!(
                    "The server tool `{}` is not offered by this academy: server tools bill per use and grow the \
                     input beyond what the request shows. Define a client tool (`name`, `description`, \
                     `input_schema`) and run it yourself instead.",
                    truncate(kind, 100)
                ),
            ));
        }
    }
    Ok(())
}

/// Content blocks whose token cost the request bytes may not show.
#[derive(Default)]
struct BlockCount {
    images: u64,
    others: u64,
}

impl BlockCount {
    /// Counts the blocks of a `content` (a string has none), descending into tool results.
    fn count(&mut self, dialect: Dialect, content: Option<&Value>, depth: u8) {
        let Some(Value::Array(blocks)) = content else { return };
        for block in blocks {
            // A block without a string `type` is malformed; the provider refuses it uncharged.
            let Some(kind) = block.get("type").and_then(Value::as_str) else { continue };
            match (dialect, kind) {
                (_, "text") | (Dialect::OpenAi, "refusal") => {}
                (Dialect::Anthropic, "tool_use" | "thinking" | "redacted_thinking" | "search_result") => {}
                (Dialect::Anthropic, "tool_result") if depth < 4 => {
                    self.count(dialect, block.get("content"), depth.saturating_add(1))
                }
                (Dialect::Anthropic, "image") | (Dialect::OpenAi, "image_url") => {
                    self.images = self.images.saturating_add(1)
                }
                // Documents, files, audio and types the academy doesn't know yet.
                _ => self.others = self.others.saturating_add(1),
            }
        }
    }
}

/// A JSON integer ≥ 1. Floats (even `2.0`), strings, null and the rest are not.
fn positive_integer(value: &Value) -> Option<u64> {
    value.as_u64().filter(|n| *n > 0)
}

/// A value as an error message quotes it.
fn describe(value: &Value) -> String {
    match value {
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        Value::String(s) => format!("the string {}", Value::String(truncate(s, 40))),
        other => truncate(&other.to_string(), 40),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or_default()),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: Limits = Limits { max_messages: 3, max_output_tokens_cap: 100_000 };

    fn cat() -> &'static Catalogue {
        Catalogue::builtin()
    }

    /// An Anthropic-shaped body for `course-fast`, with `extra` fields set (or `"<remove>"`d).
    fn body(extra: Value) -> Vec<u8> {
        body_for("course-fast", extra)
    }

    /// The same for OpenAI's `course-openai`.
    fn oa(extra: Value) -> Vec<u8> {
        body_for("course-openai", extra)
    }

    fn body_for(model: &str, extra: Value) -> Vec<u8> {
        let mut base = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            if v == &json!("<remove>") {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        serde_json::to_vec(&base).unwrap()
    }

    #[track_caller]
    fn refused(dialect: Dialect, raw: &[u8], code: &str, param: Option<&str>, needle: &str) {
        let err = parse(dialect, raw, cat(), &LIMITS).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert_eq!(err.param(), param, "{err}");
        assert!(err.to_string().contains(needle), "{err:?} should mention {needle:?}");
    }

    #[track_caller]
    fn max_tokens_case(dialect: Dialect, extra: Value, want: u64) {
        let raw = if dialect == Dialect::OpenAi { oa(extra.clone()) } else { body(extra.clone()) };
        let req = parse(dialect, &raw, cat(), &LIMITS).unwrap();
        assert_eq!(req.max_tokens(), want, "{extra}");
    }

    #[test]
    fn bodies_that_are_not_json_objects_are_invalid_json() {
        refused(Dialect::Anthropic, b"{", "invalid_json", None, "not valid JSON: EOF while parsing");
        refused(Dialect::Anthropic, b"", "invalid_json", None, "not valid JSON");
        refused(Dialect::OpenAi, b"[1]", "invalid_json", None, "must be a JSON object; got an array");
        refused(Dialect::OpenAi, b"\"hi\"", "invalid_json", None, "must be a JSON object");
    }

    #[test]
    fn the_model_must_name_a_catalogue_alias() {
        refused(
            Dialect::Anthropic,
            &body(json!({"model": "gpt-9"})),
            "unknown_model",
            Some("model"),
            "`gpt-9` is not offered",
        );
        refused(
            Dialect::Anthropic,
            &body(json!({"model": "gpt-9"})),
            "unknown_model",
            Some("model"),
            "course-fast, course-openai",
        );
        refused(
            Dialect::Anthropic,
            &body(json!({"model": "<remove>"})),
            "invalid_request",
            Some("model"),
            "`model` is required: one of",
        );
        refused(Dialect::OpenAi, &oa(json!({"model": 5})), "invalid_request", Some("model"), "got 5");
        refused(Dialect::OpenAi, &oa(json!({"model": "Course-Fast"})), "unknown_model", Some("model"), "Course-Fast");
    }

    #[test]
    fn a_providers_model_is_served_only_in_its_own_shape() {
        refused(
            Dialect::OpenAi,
            &body(json!({"model": "course-fast"})),
            "invalid_request",
            Some("model"),
            "served on POST /v1/messages",
        );
        refused(
            Dialect::Anthropic,
            &body(json!({"model": "gpt-5"})),
            "invalid_request",
            Some("model"),
            "served on POST /v1/chat/completions",
        );
        assert!(parse(Dialect::OpenAi, &oa(json!({"model": "demo"})), cat(), &LIMITS).is_ok());
    }

    #[test]
    fn messages_must_be_a_non_empty_array_within_the_limit() {
        refused(
            Dialect::Anthropic,
            &body(json!({"messages": "<remove>"})),
            "invalid_request",
            Some("messages"),
            "is required",
        );
        refused(
            Dialect::Anthropic,
            &body(json!({"messages": []})),
            "invalid_request",
            Some("messages"),
            "at least one",
        );
        refused(
            Dialect::OpenAi,
            &oa(json!({"messages": {"role": "user"}})),
            "invalid_request",
            Some("messages"),
            "got an object",
        );
        let four = json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]);
        refused(
            Dialect::OpenAi,
            &oa(json!({"messages": four})),
            "invalid_request",
            Some("messages"),
            "has 4 entries; the academy accepts at most 3",
        );
    }

    #[test]
    fn output_limits_must_be_positive_integers() {
        for bad in [
            json!(-5),
            json!(0),
            json!(1.5),
            json!(2.0),
            json!("100"),
            json!(null),
            json!(true),
            json!([1]),
            json!(1e300),
        ] {
            let shown = describe(&bad);
            refused(
                Dialect::Anthropic,
                &body(json!({"max_tokens": bad.clone()})),
                "invalid_request",
                Some("max_tokens"),
                &format!("`max_tokens` must be a positive integer; got {shown}"),
            );
            refused(
                Dialect::OpenAi,
                &oa(json!({"max_completion_tokens": bad.clone()})),
                "invalid_request",
                Some("max_completion_tokens"),
                "positive integer",
            );
            refused(
                Dialect::OpenAi,
                &oa(json!({"max_tokens": bad})),
                "invalid_request",
                Some("max_tokens"),
                "positive integer",
            );
        }
        refused(Dialect::Anthropic, &body(json!({"max_tokens": -5})), "invalid_request", Some("max_tokens"), "got -5.");
        refused(
            Dialect::Anthropic,
            &body(json!({"max_tokens": "100"})),
            "invalid_request",
            Some("max_tokens"),
            "got the string \"100\"",
        );
    }

    #[test]
    fn output_limits_default_to_the_model_and_clamp_to_its_maximum_and_the_cap() {
        max_tokens_case(Dialect::Anthropic, json!({}), 4096);
        max_tokens_case(Dialect::Anthropic, json!({"max_tokens": 7}), 7);
        max_tokens_case(Dialect::Anthropic, json!({"max_tokens": 200_000}), 100_000); // the cap
        max_tokens_case(Dialect::OpenAi, json!({"model": "gpt-4o-mini", "max_tokens": 50_000}), 16_384); // the model
        max_tokens_case(Dialect::OpenAi, json!({"max_completion_tokens": 9, "max_tokens": 11}), 9);
        max_tokens_case(Dialect::OpenAi, json!({"max_tokens": 11}), 11);
        max_tokens_case(Dialect::OpenAi, json!({"model": "demo"}), 1024);
        let req = parse(Dialect::Anthropic, &body(json!({"max_tokens": u64::MAX})), cat(), &LIMITS).unwrap();
        assert!(req.clamped());
        assert_eq!(req.requested_max_tokens(), Some(u64::MAX));
    }

    #[test]
    fn openai_requests_ask_for_one_choice() {
        refused(Dialect::OpenAi, &oa(json!({"n": 2})), "invalid_request", Some("n"), "`n` must be 1");
        refused(Dialect::OpenAi, &oa(json!({"n": 0})), "invalid_request", Some("n"), "positive integer; got 0");
        assert!(parse(Dialect::OpenAi, &oa(json!({"n": 1})), cat(), &LIMITS).is_ok());
        assert!(parse(Dialect::OpenAi, &oa(json!({"n": null})), cat(), &LIMITS).is_ok());
    }

    #[test]
    fn stream_must_be_a_bool() {
        refused(Dialect::OpenAi, &oa(json!({"stream": "yes"})), "invalid_request", Some("stream"), "true or false");
        refused(Dialect::Anthropic, &body(json!({"stream": 1})), "invalid_request", Some("stream"), "got 1");
        refused(
            Dialect::OpenAi,
            &oa(json!({"stream": true, "stream_options": 3})),
            "invalid_request",
            Some("stream_options"),
            "must be an object",
        );
        assert!(parse(Dialect::Anthropic, &body(json!({"stream": true})), cat(), &LIMITS).unwrap().stream());
        assert!(!parse(Dialect::Anthropic, &body(json!({"stream": null})), cat(), &LIMITS).unwrap().stream());
    }

    #[test]
    fn anthropic_server_tools_are_refused_and_client_tools_pass() {
        for kind in
            ["web_search_20250305", "web_fetch_20250910", "code_execution_20250825", "tool_search_tool_regex_20251119"]
        {
            let tools = json!([{"name": "x", "input_schema": {}}, {"type": kind, "name": "s"}]);
            refused(
                Dialect::Anthropic,
                &body(json!({"tools": tools})),
                "invalid_request",
                Some("tools"),
                &format!("`{kind}` is not offered"),
            );
        }
        let client = json!([{"name": "get_weather", "input_schema": {"type": "object"}}, {"type": "custom", "name": "t", "input_schema": {}},
                            {"type": "bash_20250124", "name": "bash"}, {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}]);
        assert!(parse(Dialect::Anthropic, &body(json!({"tools": client})), cat(), &LIMITS).is_ok());
    }

    #[test]
    fn the_upstream_body_names_the_upstream_model_and_the_clamped_limit() {
        let raw = body(json!({"max_tokens": 200_000, "metadata": {"user_id": "u"}, "x_future_field": [1, 2]}));
        let req = parse(Dialect::Anthropic, &raw, cat(), &LIMITS).unwrap();
        let sent: Value = serde_json::from_slice(&req.upstream_body()).unwrap();
        assert_eq!(sent["model"], "claude-haiku-5-5");
        assert_eq!(sent["max_tokens"], 100_000);
        assert_eq!(sent["x_future_field"], json!([1, 2]));
        assert_eq!(sent["metadata"], json!({"user_id": "u"}));
        assert_eq!(sent["messages"], json!([{"role": "user", "content": "hi"}]));
        assert_eq!(req.body()["model"], "course-fast", "the learner's body keeps the alias");
        assert_eq!(req.alias(), "course-fast");
    }

    #[test]
    fn openai_upstream_bodies_send_max_completion_tokens_only() {
        let raw = body(json!({"model": "course-openai", "max_tokens": 77}));
        let req = parse(Dialect::OpenAi, &raw, cat(), &LIMITS).unwrap();
        let sent: Value = serde_json::from_slice(&req.upstream_body()).unwrap();
        assert_eq!(sent["model"], "gpt-5-mini");
        assert_eq!(sent["max_completion_tokens"], 77);
        assert!(sent.get("max_tokens").is_none());
        assert!(sent.get("stream_options").is_none(), "not a stream");
        assert!(!req.added_include_usage());
    }

    #[track_caller]
    fn include_usage_case(extra: Value, added: bool, sent_options: Option<Value>) {
        let req = parse(Dialect::OpenAi, &oa(extra.clone()), cat(), &LIMITS).unwrap();
        assert_eq!(req.added_include_usage(), added, "{extra}");
        let sent: Value = serde_json::from_slice(&req.upstream_body()).unwrap();
        assert_eq!(sent.get("stream_options").cloned(), sent_options, "{extra}");
    }

    #[test]
    fn openai_streams_always_ask_for_usage_and_say_when_the_academy_added_it() {
        include_usage_case(json!({"stream": true}), true, Some(json!({"include_usage": true})));
        include_usage_case(json!({"stream": true, "stream_options": null}), true, Some(json!({"include_usage": true})));
        include_usage_case(
            json!({"stream": true, "stream_options": {"include_usage": false, "include_obfuscation": false}}),
            true,
            Some(json!({"include_usage": true, "include_obfuscation": false})),
        );
        include_usage_case(
            json!({"stream": true, "stream_options": {"include_usage": true}}),
            false,
            Some(json!({"include_usage": true})),
        );
        include_usage_case(json!({"stream": false, "stream_options": {"x": 1}}), false, Some(json!({"x": 1})));
    }

    #[test]
    fn the_upper_bound_counts_body_bytes_overhead_images_and_documents() {
        let content = json!([
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {}}]}
        ]);
        let raw = body(
            json!({"model": "claude-haiku-4-5", "max_tokens": 1000, "messages": [{"role": "user", "content": content}]}),
        );
        let req = parse(Dialect::Anthropic, &raw, cat(), &LIMITS).unwrap();
        assert_eq!((req.image_blocks(), req.other_blocks()), (2, 1));
        let bound = req.upper_bound(1000);
        assert_eq!(bound.input_tokens, 1000 + 2048 + 2 * 1600 + 100_000);
        assert_eq!(bound.output_tokens, 1000);
        // Haiku 4.5: dearest input is the 1h write at $2/MTok; output $5/MTok.
        assert_eq!(bound.cost, MicroUsd::from_picos_ceil(106_248 * 2_000_000 + 1000 * 5_000_000));
        assert_eq!(bound.cost, MicroUsd(217_496));
    }

    #[test]
    fn openai_image_and_file_parts_count_toward_the_bound() {
        let content = json!([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                             {"type": "file", "file": {"file_id": "f"}}, {"type": "input_audio", "input_audio": {}}]);
        let raw = body(
            json!({"model": "course-openai", "messages": [{"role": "user", "content": content}, {"role": "user", "content": "plain"}]}),
        );
        let req = parse(Dialect::OpenAi, &raw, cat(), &LIMITS).unwrap();
        assert_eq!((req.image_blocks(), req.other_blocks()), (1, 2));
    }

    #[test]
    fn the_bound_uses_the_tier_it_falls_in() {
        let raw = body(json!({"model": "claude-haiku-5-5", "max_tokens": 10}));
        let req = parse(Dialect::Anthropic, &raw, cat(), &LIMITS).unwrap();
        // 97_952 + 2_048 = 100_000 prompt tokens: the base tier, dearest input $0.20 (1h writes).
        assert_eq!(req.upper_bound(97_952).cost, MicroUsd::from_picos_ceil(100_000 * 200_000 + 10 * 500_000));
        // One byte more: the >100K tier, $1.00 dearest input and $2.50 output.
        assert_eq!(req.upper_bound(97_953).cost, MicroUsd::from_picos_ceil(100_001 * 1_000_000 + 10 * 2_500_000));
    }

    #[test]
    fn the_settled_cost_never_exceeds_the_bound() {
        use crate::gateway::{pricing::cost, usage::Usage};
        for model in cat().iter() {
            let dialect = if model.provider == Provider::OpenAi { Dialect::OpenAi } else { Dialect::Anthropic };
            let alias = &model.alias;
            let raw = body(json!({"model": alias, "max_tokens": 500}));
            let req = parse(dialect, &raw, cat(), &LIMITS).unwrap();
            let bound = req.upper_bound(raw.len());
            // Spread the bound's prompt tokens over the kinds in several ways.
            let p = bound.input_tokens;
            for usage in [
                Usage { input: p, output: 500, ..Usage::default() },
                Usage { cache_write_1h: p, output: 500, ..Usage::default() },
                Usage { cache_write_5m: p / 2, cache_read: p - p / 2, output: 500, ..Usage::default() },
                Usage { input: 1, output: 1, ..Usage::default() },
            ] {
                assert!(cost(req.model(), &usage) <= bound.cost, "{alias}: {usage:?}");
            }
        }
    }

    #[test]
    fn the_largest_affordable_max_tokens_fits_the_remaining_budget() {
        let raw = body(json!({"model": "claude-haiku-4-5", "max_tokens": 5000}));
        let req = parse(Dialect::Anthropic, &raw, cat(), &LIMITS).unwrap();
        let budget = MicroUsd(10_000);
        let n = req.largest_affordable_max_tokens(100, budget);
        // 2148 tokens × $2/MTok = 4296 micro-USD of input; 5704 left at $5/MTok = 1140 tokens.
        assert_eq!(n, 1140);
        assert_eq!(req.largest_affordable_max_tokens(100, MicroUsd(4000)), 0);
        assert_eq!(req.largest_affordable_max_tokens(100, MicroUsd(-1)), 0);
        assert_eq!(req.largest_affordable_max_tokens(100, MicroUsd::MAX), 64_000);
        let demo = parse(Dialect::Anthropic, &body(json!({"model": "demo"})), cat(), &LIMITS).unwrap();
        assert_eq!(demo.largest_affordable_max_tokens(100, MicroUsd::ZERO), 16_384);
    }

    #[test]
    fn reservations_live_five_minutes_plus_streaming_time() {
        assert_eq!(reservation_ttl_ms(0), 300_000);
        assert_eq!(reservation_ttl_ms(4096), 300_000 + 204_800);
        assert_eq!(reservation_ttl_ms(u64::MAX), u64::MAX);
    }

    #[test]
    fn body_size_is_checked_against_the_limit() {
        assert!(check_body_len(10, 10).is_ok());
        let err = check_body_len(11, 10).unwrap_err();
        assert_eq!((err.status(), err.code()), (413, "request_too_large"));
    }
}
