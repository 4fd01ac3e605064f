//! Building a **transcript**: one JSON document per model exchange (issue 6), stored in R2 as
//! `transcripts/{learner_id}/{day}/{request_id}.json`.
//!
//! `transcript` turns an `Exchange` (what the gateway knew when the exchange ended) into the
//! document: the request as the client sent it (model, parameters, system, messages, tools),
//! the allowlisted request headers, and the response normalised to Anthropic-style content
//! blocks in both dialects (`text`, `tool_use`, `thinking`, …), with the stop reason and any
//! error. A streamed response is **reassembled** from the exact SSE bytes the client received:
//! whatever a broken or garbage stream holds is kept, and nothing in it can make this panic.
//!
//! `to_bytes` serializes under a size cap by truncating the longest strings with a visible
//! marker — a document is never dropped. Redaction (`super::redact`) runs between the two.
//!
//! Pure: no worker, no clock (times come in the `Exchange`), no randomness.

use crate::time::rfc3339;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::gateway::pricing::MicroUsd;
use crate::gateway::usage::Usage;
use crate::gateway::Dialect;

/// The document format's version, bumped when a field changes meaning.
pub const VERSION: u64 = 1;

/// Request headers kept in a transcript (lower case); every other header is dropped.
pub const HEADER_ALLOWLIST: [&str; 9] = [
    "anthropic-version",
    "anthropic-beta",
    "content-type",
    "user-agent",
    "x-stainless-lang",
    "x-stainless-package-version",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-academy-lesson",
];

/// The marker that ends a string cut by `to_bytes`, before the count of bytes cut.
pub const TRUNCATION_MARKER: &str = "…[truncated by the academy: ";

/// What the client received from the upstream (or from the academy in its place).
#[derive(Debug, Clone, Copy)]
pub enum Received<'a> {
    /// A non-streamed JSON body.
    Json(&'a Value),
    /// The exact SSE bytes the client received.
    Stream(&'a [u8]),
    /// An error answer: its status and body as sent.
    Error { status: u16, body: &'a str },
    /// No answer at all (a timeout before the first byte, a refused request).
    Nothing,
}

/// One model exchange as the gateway saw it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub request_id: &'a str,
    pub learner_id: &'a str,
    pub dialect: Dialect,
    /// The catalogue alias the client asked for.
    pub model: &'a str,
    /// The provider's model id, when the exchange was forwarded.
    pub upstream_model: Option<&'a str>,
    /// The client's body as sent.
    pub request: &'a Map<String, Value>,
    pub stream: bool,
    pub received: Received<'a>,
    pub status: u16,
    pub outcome: &'a str,
    pub usage: &'a Usage,
    pub cost_micros: i64,
    pub estimated: bool,
    pub created_at_ms: u64,
    pub latency_ms: u64,
    pub ttfb_ms: Option<u64>,
    pub lesson_id: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub aig_log_id: Option<&'a str>,
    /// Raw request headers; only `HEADER_ALLOWLIST` is kept.
    pub request_headers: &'a [(String, String)],
}

/// The transcript document of one exchange (not yet redacted, not yet capped).
pub fn transcript(ex: &Exchange) -> Value {
    let endpoint = match ex.dialect {
        Dialect::Anthropic => "messages",
        Dialect::OpenAi => "chat_completions",
    };
    let usage = ex.usage;
    json!({
        "version": VERSION,
        "request_id": ex.request_id,
        "learner_id": ex.learner_id,
        "created_at": rfc3339(ex.created_at_ms),
        "lesson_id": ex.lesson_id,
        "run_id": ex.run_id,
        "endpoint": endpoint,
        "model": ex.model,
        "upstream_model": ex.upstream_model,
        "stream": ex.stream,
        "status": ex.status,
        "outcome": ex.outcome,
        "usage": {
            "input": usage.input,
            "cache_write_5m": usage.cache_write_5m,
            "cache_write_1h": usage.cache_write_1h,
            "cache_read": usage.cache_read,
            "output": usage.output,
        },
        "cost_micros": ex.cost_micros,
        "cost_usd": MicroUsd(ex.cost_micros).to_usd_string(),
        "estimated": ex.estimated,
        "timings": { "latency_ms": ex.latency_ms, "ttfb_ms": ex.ttfb_ms },
        "aig_log_id": ex.aig_log_id,
        "request": request_section(ex.dialect, ex.request),
        "request_headers": allowlisted(ex.request_headers),
        "response": response_section(ex.dialect, ex.received).to_json(),
    })
}

/// The R2 key of a transcript. `day` is the UTC `YYYY-MM-DD` of the exchange (`day`).
pub fn key(learner_id: &str, day: &str, request_id: &str) -> String {
    format!("transcripts/{learner_id}/{day}/{request_id}.json")
}

/// R2 custom metadata for listing: model, cost_usd, status, outcome, and lesson when present.
pub fn custom_metadata(doc: &Value) -> Vec<(String, String)> {
    let text = |field: &str| match doc.get(field) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut out = Vec::new();
    for (name, field) in [("model", "model"), ("cost_usd", "cost_usd"), ("status", "status"), ("outcome", "outcome"), ("lesson", "lesson_id")] {
        if let Some(value) = text(field) {
            out.push((name.to_string(), value));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The request

/// `{"model","params","system","messages","tools"}` of the client's body. `params` is every
/// other top-level field. For OpenAI, `system` is the text of the `system` and `developer`
/// messages (joined by a blank line) and `messages` the others, in their own shape.
fn request_section(dialect: Dialect, request: &Map<String, Value>) -> Value {
    let params: Map<String, Value> = request
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "model" | "messages" | "system" | "tools"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let messages = request.get("messages").cloned().unwrap_or_else(|| Value::Array(Vec::new()));
    let (system, messages) = match dialect {
        Dialect::Anthropic => (request.get("system").cloned().unwrap_or(Value::Null), messages),
        Dialect::OpenAi => split_openai_system(messages),
    };
    json!({
        "model": request.get("model").cloned().unwrap_or(Value::Null),
        "params": params,
        "system": system,
        "messages": messages,
        "tools": request.get("tools").cloned().unwrap_or(Value::Null),
    })
}

fn split_openai_system(messages: Value) -> (Value, Value) {
    let Value::Array(all) = messages else { return (Value::Null, messages) };
    let mut system = Vec::new();
    let mut rest = Vec::with_capacity(all.len());
    for m in all {
        match m.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => system.push(content_text(m.get("content"))),
            _ => rest.push(m),
        }
    }
    let system = if system.is_empty() { Value::Null } else { Value::String(system.join("\n\n")) };
    (system, Value::Array(rest))
}

/// The text of an OpenAI message `content`: a string, or the `text` of its parts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

fn allowlisted(headers: &[(String, String)]) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        if !HEADER_ALLOWLIST.contains(&name.as_str()) {
            continue;
        }
        match out.get_mut(&name) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            _ => {
                out.insert(name, Value::String(value.clone()));
            }
        }
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// The response

/// The response part of a transcript: Anthropic-style content blocks, stop reason, error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub content: Vec<Value>,
    pub stop_reason: Option<String>,
    pub error: Option<Value>,
}

impl Response {
    fn to_json(&self) -> Value {
        json!({ "content": self.content, "stop_reason": self.stop_reason, "error": self.error })
    }
}

fn response_section(dialect: Dialect, received: Received) -> Response {
    match received {
        Received::Json(body) => from_json(dialect, body),
        Received::Stream(bytes) => reassemble(dialect, bytes),
        Received::Error { status, body } => Response { error: Some(error_body(status, body)), ..Response::default() },
        Received::Nothing => Response::default(),
    }
}

/// The error of an error answer: the provider's `error` object when the body is JSON that has
/// one, the whole JSON otherwise, and the text itself when it is not JSON.
fn error_body(status: u16, body: &str) -> Value {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => match v.get("error") {
            Some(e) => e.clone(),
            None => v,
        },
        Err(_) => json!({ "type": "http_error", "status": status, "message": body }),
    }
}

/// The response of a non-streamed JSON body.
pub fn from_json(dialect: Dialect, body: &Value) -> Response {
    let error = body.get("error").filter(|e| !e.is_null()).cloned();
    match dialect {
        Dialect::Anthropic => Response {
            content: body
                .get("content")
                .and_then(Value::as_array)
                .map(|blocks| blocks.iter().filter(|b| b.is_object()).cloned().collect())
                .unwrap_or_default(),
            stop_reason: body.get("stop_reason").and_then(Value::as_str).map(str::to_string),
            error,
        },
        Dialect::OpenAi => {
            let choice = first_choice(body);
            let message = choice.and_then(|c| c.get("message"));
            let mut parts = OpenAiParts::default();
            if let Some(m) = message {
                parts.text = content_text(m.get("content"));
                parts.thinking = reasoning(m).unwrap_or_default().to_string();
                parts.refusal = m.get("refusal").and_then(Value::as_str).unwrap_or_default().to_string();
                for (i, call) in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    let f = call.get("function");
                    parts.tools.insert(
                        i as u64,
                        ToolCall {
                            id: str_of(call.get("id")),
                            name: str_of(f.and_then(|f| f.get("name"))),
                            arguments: str_of(f.and_then(|f| f.get("arguments"))),
                        },
                    );
                }
            }
            Response {
                content: parts.blocks(),
                stop_reason: choice.and_then(|c| c.get("finish_reason")).and_then(Value::as_str).map(str::to_string),
                error,
            }
        }
    }
}

fn str_of(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Choice 0 (the gateway refuses `n > 1`; a stray other choice is ignored).
fn first_choice(body: &Value) -> Option<&Value> {
    let choices = body.get("choices")?.as_array()?;
    choices
        .iter()
        .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
}

/// Reasoning text some OpenAI-compatible upstreams send (`reasoning_content` or `reasoning`).
fn reasoning(v: &Value) -> Option<&str> {
    v.get("reasoning_content").or_else(|| v.get("reasoning")).and_then(Value::as_str)
}

/// One OpenAI tool call as it accumulates.
#[derive(Debug, Default)]
struct ToolCall {
    id: String,
    name: String,
    arguments: String,
}

/// An OpenAI assistant message's parts, non-streamed or accumulated from chunks.
#[derive(Debug, Default)]
struct OpenAiParts {
    thinking: String,
    text: String,
    refusal: String,
    tools: BTreeMap<u64, ToolCall>,
}

impl OpenAiParts {
    /// Anthropic-style blocks: thinking, text, refusal, then one `tool_use` per call (its
    /// `input` the parsed arguments, or the raw string when they don't parse).
    fn blocks(self) -> Vec<Value> {
        let mut out = Vec::new();
        if !self.thinking.is_empty() {
            out.push(json!({ "type": "thinking", "thinking": self.thinking }));
        }
        if !self.text.is_empty() {
            out.push(json!({ "type": "text", "text": self.text }));
        }
        if !self.refusal.is_empty() {
            out.push(json!({ "type": "refusal", "text": self.refusal }));
        }
        for call in self.tools.into_values() {
            out.push(json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": parse_input(&call.arguments) }));
        }
        out
    }
}

/// Tool input from its JSON text: the parsed value, `{}` when empty, the raw text otherwise.
fn parse_input(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Streams

/// The response a stream carried, reassembled from its SSE bytes. Truncated or malformed
/// streams give what they hold; unparseable events are skipped.
pub fn reassemble(dialect: Dialect, bytes: &[u8]) -> Response {
    let events = sse_events(bytes);
    match dialect {
        Dialect::Anthropic => reassemble_anthropic(&events),
        Dialect::OpenAi => reassemble_openai(&events),
    }
}

/// One SSE event: its `event:` name, if any, and its `data:` lines joined by `\n`.
struct Event {
    name: Option<String>,
    data: String,
}

/// Frames SSE events by their blank lines (`\n` or `\r\n` line endings). A last event without
/// its blank line (a cut stream) is still returned.
fn sse_events(bytes: &[u8]) -> Vec<Event> {
    let text = String::from_utf8_lossy(bytes);
    let mut events = Vec::new();
    let mut name: Option<String> = None;
    let mut data: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            flush(&mut name, &mut data, &mut events);
        } else if let Some(v) = line.strip_prefix("event:") {
            name = Some(v.strip_prefix(' ').unwrap_or(v).to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            let v = v.strip_prefix(' ').unwrap_or(v);
            match data.as_mut() {
                Some(d) => {
                    d.push('\n');
                    d.push_str(v);
                }
                None => data = Some(v.to_string()),
            }
        }
    }
    flush(&mut name, &mut data, &mut events);
    events
}

/// Ends the event being read, if it has data (an event without data is not dispatched).
fn flush(name: &mut Option<String>, data: &mut Option<String>, events: &mut Vec<Event>) {
    if let Some(d) = data.take() {
        events.push(Event { name: name.take(), data: d });
    }
    *name = None;
}

/// One Anthropic content block as it accumulates.
#[derive(Debug, Default)]
struct BlockAcc {
    block: Map<String, Value>,
    text: String,
    thinking: String,
    signature: String,
    json: String,
    citations: Vec<Value>,
}

impl BlockAcc {
    fn from_delta_type(kind: &str) -> BlockAcc {
        let block = match kind {
            "input_json_delta" => json!({ "type": "tool_use", "input": {} }),
            "thinking_delta" | "signature_delta" => json!({ "type": "thinking", "thinking": "" }),
            _ => json!({ "type": "text", "text": "" }),
        };
        BlockAcc { block: block.as_object().cloned().unwrap_or_default(), ..BlockAcc::default() }
    }

    fn append(&mut self, delta: &Value) {
        let field = |name: &str| delta.get(name).and_then(Value::as_str).unwrap_or_default();
        match delta.get("type").and_then(Value::as_str).unwrap_or_default() {
            "text_delta" => self.text.push_str(field("text")),
            "input_json_delta" => self.json.push_str(field("partial_json")),
            "thinking_delta" => self.thinking.push_str(field("thinking")),
            "signature_delta" => self.signature.push_str(field("signature")),
            "citations_delta" => {
                if let Some(c) = delta.get("citation") {
                    self.citations.push(c.clone());
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> Value {
        let BlockAcc { mut block, text, thinking, signature, json, citations } = self;
        let mut extend = |field: &str, more: String| {
            if !more.is_empty() {
                let mut s = block.get(field).and_then(Value::as_str).unwrap_or_default().to_string();
                s.push_str(&more);
                block.insert(field.to_string(), Value::String(s));
            }
        };
        extend("text", text);
        extend("thinking", thinking);
        if !signature.is_empty() {
            block.insert("signature".to_string(), Value::String(signature));
        }
        if !json.is_empty() {
            block.insert("input".to_string(), parse_input(&json));
        }
        if !citations.is_empty() {
            let mut all = block.get("citations").and_then(Value::as_array).cloned().unwrap_or_default();
            all.extend(citations);
            block.insert("citations".to_string(), Value::Array(all));
        }
        Value::Object(block)
    }
}

fn reassemble_anthropic(events: &[Event]) -> Response {
    let mut blocks: BTreeMap<u64, BlockAcc> = BTreeMap::new();
    let mut done: BTreeMap<u64, Value> = BTreeMap::new();
    let mut out = Response::default();
    for event in events {
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else { continue };
        let kind = data.get("type").and_then(Value::as_str).or(event.name.as_deref()).unwrap_or_default();
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "content_block_start" => {
                let block = data.get("content_block").and_then(Value::as_object).cloned().unwrap_or_default();
                blocks.insert(index, BlockAcc { block, ..BlockAcc::default() });
            }
            "content_block_delta" => {
                let Some(delta) = data.get("delta") else { continue };
                let kind = delta.get("type").and_then(Value::as_str).unwrap_or_default();
                blocks.entry(index).or_insert_with(|| BlockAcc::from_delta_type(kind)).append(delta);
            }
            "content_block_stop" => {
                if let Some(acc) = blocks.remove(&index) {
                    done.insert(index, acc.finish());
                }
            }
            "message_delta" => {
                if let Some(reason) = data.get("delta").and_then(|d| d.get("stop_reason")).and_then(Value::as_str) {
                    out.stop_reason = Some(reason.to_string());
                }
            }
            "error" => out.error = Some(data.get("error").cloned().unwrap_or(data)),
            _ => {}
        }
    }
    // Blocks a cut stream never stopped keep what arrived.
    for (index, acc) in blocks {
        done.insert(index, acc.finish());
    }
    out.content = done.into_values().collect();
    out
}

fn reassemble_openai(events: &[Event]) -> Response {
    let mut parts = OpenAiParts::default();
    let mut out = Response::default();
    for event in events {
        if event.data.trim() == "[DONE]" {
            continue;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else { continue };
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            out.error = Some(error.clone());
            continue;
        }
        let Some(choice) = first_choice(&chunk) else { continue };
        if let Some(delta) = choice.get("delta") {
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                parts.text.push_str(text);
            }
            if let Some(text) = reasoning(delta) {
                parts.thinking.push_str(text);
            }
            if let Some(text) = delta.get("refusal").and_then(Value::as_str) {
                parts.refusal.push_str(text);
            }
            for (position, call) in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let index = call.get("index").and_then(Value::as_u64).unwrap_or(position as u64);
                let acc = parts.tools.entry(index).or_default();
                let f = call.get("function");
                // The id and name come with the first delta of a call only.
                if acc.id.is_empty() {
                    acc.id = str_of(call.get("id"));
                }
                if acc.name.is_empty() {
                    acc.name = str_of(f.and_then(|f| f.get("name")));
                }
                if let Some(args) = f.and_then(|f| f.get("arguments")).and_then(Value::as_str) {
                    acc.arguments.push_str(args);
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            out.stop_reason = Some(reason.to_string());
        }
    }
    out.content = parts.blocks();
    out
}

// ---------------------------------------------------------------------------------------------
// The size cap

/// Strings kept whole below this many bytes (before the marker).
const MIN_KEEP: usize = 64;
/// An upper bound on the bytes a marker adds: prefix, up to 20 digits, suffix.
const MARKER_MAX: usize = TRUNCATION_MARKER.len() + 20 + " bytes]".len();

/// Serializes a transcript in at most `max_bytes` when it can. Over the cap, the longest
/// strings of the request, its headers and the response are cut (all to one common length,
/// as little as needed), each cut tail replaced by `…[truncated by the academy: N bytes]`, and
/// `"truncated": true` is set. If that is not enough (a huge object key, thousands of short
/// strings), only the metadata is kept, with `"truncated": true`. The document is never
/// dropped; below a few hundred bytes of cap even the metadata may not fit, and is returned.
pub fn to_bytes(doc: &Value, max_bytes: usize) -> Vec<u8> {
    let full = serde_json::to_vec(doc).unwrap_or_default();
    if full.len() <= max_bytes {
        return full;
    }
    let mut doc = doc.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("truncated".to_string(), Value::Bool(true));
    }
    // Each pass only under-estimates what cutting saves (an escaped character is longer than
    // its byte), so one pass nearly always suffices; a few more cover the rest.
    for _ in 0..4 {
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        let Some(need) = bytes.len().checked_sub(max_bytes).filter(|n| *n > 0) else { return bytes };
        if !shrink(&mut doc, need) {
            break;
        }
    }
    let bytes = serde_json::to_vec(&doc).unwrap_or_default();
    if bytes.len() <= max_bytes {
        return bytes;
    }
    metadata_only(&doc)
}

/// Cuts the longest strings to one common length chosen to save at least `need` bytes.
/// Returns false when no string can be cut any more.
fn shrink(doc: &mut Value, need: usize) -> bool {
    let mut strings: Vec<&mut String> = Vec::new();
    if let Some(obj) = doc.as_object_mut() {
        for (field, value) in obj.iter_mut() {
            if matches!(field.as_str(), "request" | "request_headers" | "response") {
                collect_strings(value, &mut strings);
            }
        }
    }
    let longest = strings.iter().map(|s| s.len()).max().unwrap_or(0);
    if longest <= MIN_KEEP + MARKER_MAX {
        return false;
    }
    // Raw bytes saved by cutting every string longer than `level + MARKER_MAX` to `level`; a
    // lower bound on the serialized bytes saved.
    let saved = |level: usize| -> usize {
        strings
            .iter()
            .map(|s| s.len().saturating_sub(level.saturating_add(MARKER_MAX)))
            .fold(0usize, usize::saturating_add)
    };
    // The highest level that saves enough (`saved` falls as the level rises).
    let (mut lo, mut hi) = (MIN_KEEP, longest);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if saved(mid) >= need {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    for s in strings {
        if s.len() > lo.saturating_add(MARKER_MAX) {
            cut(s, lo);
        }
    }
    true
}

fn collect_strings<'a>(value: &'a mut Value, out: &mut Vec<&'a mut String>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter_mut().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.iter_mut().for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
    }
}

/// Keeps the first `keep` bytes (at a character boundary) and appends the marker, counting
/// every byte cut so far (a string cut before keeps its earlier count).
fn cut(s: &mut String, keep: usize) {
    let (body_len, before) = match s.rfind(TRUNCATION_MARKER) {
        Some(at) if s.ends_with(" bytes]") => {
            let count = s
                .get(at + TRUNCATION_MARKER.len()..s.len() - " bytes]".len())
                .and_then(|n| n.parse::<u64>().ok());
            match count {
                Some(n) => (at, n),
                None => (s.len(), 0),
            }
        }
        _ => (s.len(), 0),
    };
    let mut keep = keep.min(body_len);
    while keep > 0 && !s.is_char_boundary(keep) {
        keep -= 1;
    }
    let cut_now = (body_len - keep) as u64;
    s.truncate(keep);
    s.push_str(TRUNCATION_MARKER);
    s.push_str(&before.saturating_add(cut_now).to_string());
    s.push_str(" bytes]");
}

/// The last resort: every top-level field but the request, its headers and the response.
fn metadata_only(doc: &Value) -> Vec<u8> {
    let mut meta: Map<String, Value> = doc
        .as_object()
        .map(|obj| {
            obj.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "request" | "request_headers" | "response"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    meta.insert("truncated".to_string(), Value::Bool(true));
    serde_json::to_vec(&Value::Object(meta)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{day, rfc3339};

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn fixture_json(path: &str) -> Value {
        serde_json::from_slice(&fixture(path)).unwrap()
    }

    fn exchange<'a>(request: &'a Map<String, Value>, usage: &'a Usage, received: Received<'a>, dialect: Dialect) -> Exchange<'a> {
        Exchange {
            request_id: "req_01JZ0000000000000000000000",
            learner_id: "lrn_abc",
            dialect,
            model: "haiku",
            upstream_model: Some("claude-haiku-4-5-20251001"),
            request,
            stream: false,
            received,
            status: 200,
            outcome: "ok",
            usage,
            cost_micros: 402,
            estimated: false,
            created_at_ms: 1_751_918_538_123,
            latency_ms: 900,
            ttfb_ms: Some(120),
            lesson_id: Some("agentic-loop"),
            run_id: None,
            aig_log_id: Some("01JAIG"),
            request_headers: &[],
        }
    }

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_751_918_538_123), "2025-07-07T20:02:18.123Z");
        assert_eq!(day(951_782_400_000), "2000-02-29");
        assert_eq!(day(951_868_799_999), "2000-02-29");
        assert_eq!(day(951_868_800_000), "2000-03-01");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        // Far-out inputs do not panic.
        let _ = rfc3339(u64::MAX);
    }

    #[test]
    fn a_transcript_has_every_documented_field() {
        let request = object(json!({
            "model": "haiku", "max_tokens": 100, "temperature": 0.2, "stop_sequences": ["END"],
            "system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
        }));
        let usage = Usage { input: 10, cache_write_5m: 1, cache_write_1h: 2, cache_read: 3, output: 4 };
        let body = fixture_json("anthropic/message-tool-use.json");
        let headers = vec![
            ("Anthropic-Version".to_string(), "2023-06-01".to_string()),
            ("x-api-key".to_string(), "aa_secret".to_string()),
            ("Authorization".to_string(), "Bearer x".to_string()),
            ("User-Agent".to_string(), "Anthropic/Python 0.60.0".to_string()),
            ("cookie".to_string(), "a=b".to_string()),
        ];
        let mut ex = exchange(&request, &usage, Received::Json(&body), Dialect::Anthropic);
        ex.request_headers = &headers;
        let doc = transcript(&ex);
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["endpoint"], "messages");
        assert_eq!(doc["created_at"], "2025-07-07T20:02:18.123Z");
        assert_eq!(doc["cost_usd"], "0.000402");
        assert_eq!(doc["usage"], json!({"input": 10, "cache_write_5m": 1, "cache_write_1h": 2, "cache_read": 3, "output": 4}));
        assert_eq!(doc["timings"], json!({"latency_ms": 900, "ttfb_ms": 120}));
        assert_eq!(doc["run_id"], Value::Null);
        assert_eq!(doc["request"]["model"], "haiku");
        assert_eq!(doc["request"]["params"], json!({"max_tokens": 100, "temperature": 0.2, "stop_sequences": ["END"]}));
        assert_eq!(doc["request"]["system"], "Be brief.");
        assert_eq!(doc["request"]["messages"][0]["content"], "Hi");
        assert_eq!(doc["request"]["tools"][0]["name"], "get_weather");
        assert_eq!(
            doc["request_headers"],
            json!({"anthropic-version": "2023-06-01", "user-agent": "Anthropic/Python 0.60.0"})
        );
        assert_eq!(doc["response"]["stop_reason"], "tool_use");
        assert_eq!(doc["response"]["content"][1]["input"], json!({"location": "San Francisco, CA", "units": "f"}));
        assert_eq!(doc["response"]["error"], Value::Null);
    }

    #[test]
    fn openai_system_and_developer_messages_become_the_system_prompt() {
        let request = object(json!({
            "model": "gpt", "stream": true, "stream_options": {"include_usage": true},
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
                {"role": "user", "content": "Hi"},
            ],
        }));
        let usage = Usage::default();
        let doc = transcript(&exchange(&request, &usage, Received::Nothing, Dialect::OpenAi));
        assert_eq!(doc["endpoint"], "chat_completions");
        assert_eq!(doc["request"]["system"], "Be brief.\n\nUse tools.");
        assert_eq!(doc["request"]["messages"], json!([{"role": "user", "content": "Hi"}]));
        assert_eq!(doc["request"]["params"], json!({"stream": true, "stream_options": {"include_usage": true}}));
        assert_eq!(doc["request"]["tools"], Value::Null);
        assert_eq!(doc["response"], json!({"content": [], "stop_reason": null, "error": null}));
    }

    #[test]
    fn openai_tool_calls_become_tool_use_blocks() {
        let r = from_json(Dialect::OpenAi, &fixture_json("openai/completion-tool-calls.json"));
        assert_eq!(
            r.content,
            vec![json!({"type": "tool_use", "id": "call_iCOm6DD573YR20VIOuY97fZo", "name": "add", "input": {"a": 2, "b": 2}})]
        );
        assert_eq!(r.stop_reason.as_deref(), Some("tool_calls"));
        let text = from_json(Dialect::OpenAi, &fixture_json("openai/completion.json"));
        assert_eq!(text.content.len(), 1);
        assert_eq!(text.content[0]["type"], "text");
        assert!(text.content[0]["text"].as_str().unwrap().starts_with("Well, lemme tell ya"));
    }

    #[test]
    fn tool_arguments_that_do_not_parse_are_kept_as_text() {
        let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}, "finish_reason": "tool_calls"}]});
        let r = from_json(Dialect::OpenAi, &body);
        assert_eq!(r.content[0]["input"], "{not json");
    }

    #[test]
    fn error_answers_keep_the_provider_error() {
        let body = String::from_utf8(fixture("anthropic/error-429.json")).unwrap();
        let request = Map::new();
        let usage = Usage::default();
        let doc = transcript(&exchange(&request, &usage, Received::Error { status: 429, body: &body }, Dialect::Anthropic));
        assert_eq!(doc["response"]["error"]["type"], "rate_limit_error");
        let plain = error_body(502, "Bad gateway");
        assert_eq!(plain, json!({"type": "http_error", "status": 502, "message": "Bad gateway"}));
        let gateway = error_body(502, r#"{"success":false,"error":[{"code":2001,"message":"x"}]}"#);
        assert_eq!(gateway, json!([{"code": 2001, "message": "x"}]));
    }

    #[test]
    fn an_anthropic_text_stream_reassembles_like_its_message() {
        let r = reassemble(Dialect::Anthropic, &fixture("anthropic/stream-text.sse"));
        let message = json!({"content": [{"type": "text", "text":
            "The weather in San Francisco, CA is currently:\n- **Temperature:** 68°F\n- **Condition:** Sunny\n\nIt's a nice sunny day!"}],
            "stop_reason": "end_turn"});
        assert_eq!(r, from_json(Dialect::Anthropic, &message));
    }

    #[test]
    fn an_anthropic_tool_stream_reassembles_its_tool_input() {
        let r = reassemble(Dialect::Anthropic, &fixture("anthropic/stream-tool-use.sse"));
        let message = json!({"content": [
            {"type": "text", "text": "I'll check the current weather in Paris for you."},
            {"type": "tool_use", "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "name": "get_weather", "input": {"location": "Paris"}},
        ], "stop_reason": "tool_use"});
        assert_eq!(r, from_json(Dialect::Anthropic, &message));
    }

    #[test]
    fn an_anthropic_error_event_becomes_the_response_error() {
        let r = reassemble(Dialect::Anthropic, &fixture("anthropic/stream-error-observed.sse"));
        assert_eq!(r.error, Some(json!({"details": null, "type": "overloaded_error", "message": "Overloaded"})));
        assert_eq!(r.content, vec![json!({"type": "text", "text": "The weather in San Francisco, CA is currently:"})]);
        assert_eq!(r.stop_reason, None);
    }

    #[test]
    fn anthropic_thinking_deltas_build_a_thinking_block() {
        let sse = b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me \"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"think.\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
        let r = reassemble(Dialect::Anthropic, sse);
        assert_eq!(r.content, vec![json!({"type": "thinking", "thinking": "Let me think.", "signature": "sig"})]);
    }

    #[test]
    fn an_openai_text_stream_reassembles_like_its_completion() {
        let r = reassemble(Dialect::OpenAi, &fixture("openai/stream-text.sse"));
        let completion = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "The square of 2 is 4."}, "finish_reason": "stop"}]});
        assert_eq!(r, from_json(Dialect::OpenAi, &completion));
    }

    #[test]
    fn an_openai_tool_call_stream_reassembles_its_arguments() {
        let r = reassemble(Dialect::OpenAi, &fixture("openai/stream-tool-calls.sse"));
        let completion = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_BPhRQvs8mbUXeHhEE6RAXTCW", "type": "function", "function": {"name": "calculate_square_tool", "arguments": "{\"x\":2}"}}]},
            "finish_reason": "tool_calls"}]});
        assert_eq!(r, from_json(Dialect::OpenAi, &completion));
        assert_eq!(r.content[0]["input"], json!({"x": 2}));
    }

    #[test]
    fn an_openai_error_chunk_becomes_the_response_error() {
        let sse = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n\
data: {\"error\":{\"message\":\"server overloaded\",\"type\":\"server_error\"}}\n\n";
        let r = reassemble(Dialect::OpenAi, sse);
        assert_eq!(r.content, vec![json!({"type": "text", "text": "Hel"})]);
        assert_eq!(r.error, Some(json!({"message": "server overloaded", "type": "server_error"})));
    }

    #[test]
    fn a_stream_cut_in_half_reassembles_its_first_half() {
        let full = fixture("anthropic/stream-text.sse");
        let text = String::from_utf8(full.clone()).unwrap();
        // Cut just after the delta that ends in "Temperature:**".
        let at = text.find("68°F").unwrap();
        let r = reassemble(Dialect::Anthropic, &full[..at]);
        assert_eq!(r.content, vec![json!({"type": "text", "text": "The weather in San Francisco, CA is currently:\n- **Temperature:**"})]);
        assert_eq!(r.stop_reason, None);

        let tools = fixture("openai/stream-tool-calls.sse");
        let text = String::from_utf8(tools.clone()).unwrap();
        let at = text.find("\"2\"").unwrap();
        let r = reassemble(Dialect::OpenAi, &tools[..at]);
        assert_eq!(r.content[0]["name"], "calculate_square_tool");
        assert_eq!(r.content[0]["input"], "{\"x\":");

        let anthropic_tool = fixture("anthropic/stream-tool-use.sse");
        let text = String::from_utf8(anthropic_tool.clone()).unwrap();
        let at = text.find("is\\\"}").unwrap();
        let r = reassemble(Dialect::Anthropic, &anthropic_tool[..at]);
        assert_eq!(r.content[1]["input"], "{\"location\": \"Par");
    }

    #[test]
    fn streams_cut_at_any_byte_or_full_of_garbage_never_panic() {
        for path in ["anthropic/stream-text.sse", "anthropic/stream-tool-use.sse", "openai/stream-tool-calls.sse", "openai/stream-text.sse"] {
            let bytes = fixture(path);
            for at in 0..bytes.len() {
                let _ = reassemble(Dialect::Anthropic, &bytes[..at]);
                let _ = reassemble(Dialect::OpenAi, &bytes[..at]);
            }
        }
        let garbage: &[&[u8]] = &[
            b"\xff\xfe\x00data: {",
            b"data: [1,2,3]\n\ndata: null\n\ndata: {\"choices\":7}\n\n",
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":99999999999,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
            b"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":18446744073709551615,\"function\":{\"arguments\":5}}]}}]}\n\n",
            b"\r\n\r\n\n\n:comment\n\nevent:\ndata:\n\n",
        ];
        for g in garbage {
            let _ = reassemble(Dialect::Anthropic, g);
            let _ = reassemble(Dialect::OpenAi, g);
        }
    }

    #[test]
    fn crlf_framed_streams_reassemble_too() {
        let bytes = String::from_utf8(fixture("openai/stream-text.sse")).unwrap().replace('\n', "\r\n");
        let r = reassemble(Dialect::OpenAi, bytes.as_bytes());
        assert_eq!(r.content, vec![json!({"type": "text", "text": "The square of 2 is 4."})]);
    }

    #[test]
    fn a_five_megabyte_message_fits_a_one_mebibyte_cap_with_a_marker() {
        let huge = "x".repeat(5 * 1024 * 1024);
        let request = object(json!({"model": "haiku", "messages": [{"role": "user", "content": huge}]}));
        let usage = Usage::default();
        let doc = transcript(&exchange(&request, &usage, Received::Nothing, Dialect::Anthropic));
        let cap = 1 << 20;
        let bytes = to_bytes(&doc, cap);
        assert!(bytes.len() <= cap, "{} > {cap}", bytes.len());
        assert!(bytes.len() > cap - 1024, "cut far more than needed: {}", bytes.len());
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        let content = parsed["request"]["messages"][0]["content"].as_str().unwrap();
        assert!(content.contains(TRUNCATION_MARKER));
        assert!(content.ends_with(" bytes]"));
        assert_eq!(parsed["truncated"], true);
        assert_eq!(parsed["request_id"], doc["request_id"]);
    }

    #[test]
    fn many_long_strings_are_cut_evenly_and_escapes_are_counted() {
        let messages: Vec<Value> =
            (0..40).map(|i| json!({"role": "user", "content": format!("{i}{}", "\"\n\u{1}é".repeat(20_000))})).collect();
        let request = object(json!({"model": "haiku", "messages": messages}));
        let usage = Usage::default();
        let doc = transcript(&exchange(&request, &usage, Received::Nothing, Dialect::Anthropic));
        let bytes = to_bytes(&doc, 200_000);
        assert!(bytes.len() <= 200_000);
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        let all = parsed["request"]["messages"].as_array().unwrap();
        assert_eq!(all.len(), 40);
        assert!(all.iter().all(|m| m["content"].as_str().unwrap().contains(TRUNCATION_MARKER)));
    }

    #[test]
    fn a_cut_string_cut_again_counts_every_byte_removed() {
        let mut s = "a".repeat(1000);
        cut(&mut s, 600);
        assert!(s.ends_with("…[truncated by the academy: 400 bytes]"));
        cut(&mut s, 100);
        assert_eq!(s, format!("{}…[truncated by the academy: 900 bytes]", "a".repeat(100)));
        let mut multibyte = "é".repeat(10);
        cut(&mut multibyte, 5);
        assert!(multibyte.starts_with("éé…"));
    }

    #[test]
    fn a_document_that_cannot_shrink_keeps_its_metadata() {
        let mut input = Map::new();
        for i in 0..20_000 {
            input.insert(format!("k{i}"), json!(i));
        }
        let request = object(json!({"model": "haiku", "messages": [{"role": "user", "content": "hi"}], "metadata": input}));
        let usage = Usage::default();
        let doc = transcript(&exchange(&request, &usage, Received::Nothing, Dialect::Anthropic));
        let bytes = to_bytes(&doc, 4096);
        assert!(bytes.len() <= 4096);
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed["truncated"], true);
        assert_eq!(parsed["request_id"], doc["request_id"]);
        assert_eq!(parsed["cost_usd"], "0.000402");
        assert!(parsed.get("request").is_none());
    }

    #[test]
    fn a_document_under_the_cap_is_serialized_unchanged() {
        let request = object(json!({"model": "haiku", "messages": []}));
        let usage = Usage::default();
        let doc = transcript(&exchange(&request, &usage, Received::Nothing, Dialect::Anthropic));
        assert_eq!(to_bytes(&doc, 1 << 20), serde_json::to_vec(&doc).unwrap());
    }

    #[test]
    fn keys_and_metadata_name_the_transcript() {
        assert_eq!(key("lrn_abc", "2025-07-07", "req_01J"), "transcripts/lrn_abc/2025-07-07/req_01J.json");
        let request = Map::new();
        let usage = Usage::default();
        let mut ex = exchange(&request, &usage, Received::Nothing, Dialect::Anthropic);
        let doc = transcript(&ex);
        let meta = custom_metadata(&doc);
        let pairs: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            vec![("model", "haiku"), ("cost_usd", "0.000402"), ("status", "200"), ("outcome", "ok"), ("lesson", "agentic-loop")]
        );
        ex.lesson_id = None;
        assert!(!custom_metadata(&transcript(&ex)).iter().any(|(k, _)| k == "lesson"));
    }
}
