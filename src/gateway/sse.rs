//! The incremental SSE usage meter (DESIGN.md §9, last paragraphs): a pure state machine over
//! the bytes of a streamed response, fed chunk by chunk as they arrive from the upstream.
//!
//! `Meter::feed` frames **events** by their blank line (`\n\n` or `\r\n\r\n`; a lone `\r` line
//! ending is not supported) and returns the bytes of every whole event, verbatim — `event:`
//! lines included, because the Anthropic SDK dispatches on them — buffering a partial event
//! until its blank line arrives. Split at any byte, even inside a multi-byte UTF-8 character,
//! the stream gives the same forwarded bytes and the same outcome. The one event not forwarded
//! is OpenAI's usage-only chunk (`choices` empty, `usage` non-null) when the academy added
//! `stream_options.include_usage` itself (`hide_usage_chunk`).
//!
//! Usage is read only from the protocol's usage fields, never from model text, and JSON is
//! parsed, never substring-matched:
//! - Anthropic, by event name: `message_start` → `message.usage`; `message_delta` → `usage`,
//!   whose fields *replace* those seen so far (cumulative, never summed); `message_stop` →
//!   complete; `error` → the upstream error. `content_block_delta` is only skimmed for the
//!   byte length of its text; `ping` and unknown events are forwarded unread.
//! - OpenAI: every `data:` line but `[DONE]` (which completes the stream), reading the
//!   top-level `usage` when non-null, `choices[].finish_reason` and the output deltas.
//!
//! Events are read by `skim`, a small allocation-free JSON cursor that follows strings (escapes
//! included) and nesting exactly, so `"usage"` inside model text is only ever text; the usage
//! objects it finds are then deserialized with `serde_json` into `usage::AnthropicCounts` /
//! `OpenAiCounts`. Output bytes (text, thinking, tool input and tool-call argument deltas,
//! decoded) feed the upper **estimate** of DESIGN.md §6 for streams that break or end without
//! usage. A partial event left when the stream ends is forwarded but not metered: SSE clients
//! don't dispatch it either.
//!
//! Speed matters (it runs inside the Workers CPU budget): each byte is scanned for newlines
//! once, eight or sixteen bytes at a time, whole events are forwarded straight from the chunk,
//! and only a partial event is copied. `examples/sse_bench.rs` measures it. Pure: no worker,
//! no clock.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::usage::{AnthropicCounts, OpenAiCounts, Usage};
use super::Dialect;

/// The largest partial event buffered while waiting for its blank line. A longer one (no
/// provider sends one) is forwarded unread, and its bytes are counted as output.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// Longest upstream error text kept.
const MAX_ERROR_CHARS: usize = 500;

/// What a stream told the meter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterOutcome {
    /// The stream ended properly (`message_stop` / `data: [DONE]`) and reported no error.
    pub complete: bool,
    /// The usage last reported by the protocol's usage fields; partial unless
    /// `usage_is_final` (an Anthropic `message_start` alone holds a placeholder output count).
    pub usage: Option<Usage>,
    /// Whether `usage` came from the final report (Anthropic `message_delta`, OpenAI's usage chunk).
    pub usage_is_final: bool,
    /// UTF-8 bytes of the output deltas received (text, thinking, tool input, tool-call arguments).
    pub output_bytes: u64,
    /// Anthropic `stop_reason` / OpenAI `finish_reason`.
    pub stop_reason: Option<String>,
    /// An error the upstream sent inside the stream (`type: message`).
    pub upstream_error: Option<String>,
    /// The response's id (`msg_…` / `chatcmpl-…`).
    pub message_id: Option<String>,
    /// The model the upstream says answered (fully qualified, e.g. `claude-haiku-4-5-20251001`).
    pub model: Option<String>,
    /// Whole events framed.
    pub events: u64,
    /// Usage-bearing events whose JSON did not parse.
    pub malformed_events: u64,
    /// Events longer than `MAX_EVENT_BYTES`, forwarded unread.
    pub oversized_events: u64,
}

impl MeterOutcome {
    /// The usage to settle at exactly: reported in full by a stream that completed.
    pub fn exact_usage(&self) -> Option<Usage> {
        self.usage.filter(|_| self.complete && self.usage_is_final)
    }

    /// An upper estimate for a stream that broke or ended without usage (DESIGN.md §6,
    /// "Estimates"): the prompt tokens as last reported (`message_start`'s), else the
    /// reservation's input bound as uncached input; output the larger of the last reported
    /// output tokens and the output bytes received (a token is at least one byte), capped at
    /// `max_tokens`. The caller still caps the cost at the reservation.
    pub fn estimate(&self, reserved_input_bound: u64, max_tokens: u64) -> Usage {
        estimate(self.usage, self.output_bytes, reserved_input_bound, max_tokens)
    }
}

fn estimate(usage: Option<Usage>, output_bytes: u64, reserved_input_bound: u64, max_tokens: u64) -> Usage {
    let mut estimate = usage.unwrap_or(Usage { input: reserved_input_bound, ..Usage::default() });
    estimate.output = estimate.output.max(output_bytes).min(max_tokens);
    estimate
}

/// The incremental meter of one streamed response.
#[derive(Debug, Clone)]
pub struct Meter {
    dialect: Dialect,
    hide_usage_chunk: bool,
    /// The partial event waiting for its blank line, from its first byte.
    pending: Vec<u8>,
    /// The lines read so far of the event being framed.
    lines: EventLines,
    state: State,
}

/// What the framer has read of the event in progress. Offsets count from the event's first
/// byte, so they stay valid when a partial event moves into `Meter::pending`.
#[derive(Debug, Clone, Copy, Default)]
struct EventLines {
    /// Where the line being read starts.
    line_start: usize,
    /// The value of the last `event:` field.
    name: Option<(usize, usize)>,
    /// The value of the first `data:` field.
    data: Option<(usize, usize)>,
    /// More than one `data:` line: they are joined with `\n` at dispatch.
    more_data: bool,
    /// A line other than a blank one was seen.
    any: bool,
    /// The event outgrew `MAX_EVENT_BYTES` and is forwarded unread.
    skipping: bool,
    /// The part of the current line forwarded early (oversized event) was not empty.
    line_has_content: bool,
}

#[derive(Debug, Clone, Default)]
struct State {
    terminal: bool,
    usage: Option<Usage>,
    usage_is_final: bool,
    output_bytes: u64,
    stop_reason: Option<String>,
    upstream_error: Option<String>,
    message_id: Option<String>,
    model: Option<String>,
    events: u64,
    malformed_events: u64,
    oversized_events: u64,
}

impl Meter {
    /// A meter for a stream of `dialect`. `hide_usage_chunk`: drop OpenAI's usage-only chunk
    /// (the academy asked for it; the learner did not). Ignored for Anthropic.
    pub fn new(dialect: Dialect, hide_usage_chunk: bool) -> Meter {
        Meter {
            dialect,
            hide_usage_chunk: hide_usage_chunk && dialect == Dialect::OpenAi,
            pending: Vec::new(),
            lines: EventLines::default(),
            state: State::default(),
        }
    }

    /// Meters a chunk and returns the bytes to forward: every event completed so far, whole.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pending.len().saturating_add(chunk.len()));
        self.feed_into(chunk, &mut out);
        out
    }

    /// `feed`, appending to a buffer the caller reuses.
    pub fn feed_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut rest = chunk;
        if !self.pending.is_empty() {
            // Complete the pending event line by line, copying only what it needs.
            let mut pending = std::mem::take(&mut self.pending);
            let completed = loop {
                let Some((line_end, after)) =
                    find_byte(rest, b'\n').and_then(|i| rest.split_at_checked(i.saturating_add(1)))
                else {
                    pending.extend_from_slice(rest);
                    break false;
                };
                pending.extend_from_slice(line_end);
                rest = after;
                if self.on_line(&pending, pending.len().saturating_sub(1)) {
                    break true;
                }
            };
            if completed {
                if !self.dispatch(&pending) {
                    out.extend_from_slice(&pending);
                }
                pending.clear();
            }
            self.pending = pending;
            if !completed {
                self.limit_pending(out);
                return;
            }
        }
        // The common case: frame the chunk in place and keep only its partial tail.
        let consumed = self.frame(rest, out);
        self.pending.extend_from_slice(rest.get(consumed..).unwrap_or_default());
        self.limit_pending(out);
    }

    /// Ends the stream: returns whatever partial event remains, verbatim. It is not metered:
    /// an event without its blank line is never dispatched by SSE clients either.
    pub fn finish(&mut self) -> Vec<u8> {
        self.lines = EventLines::default();
        std::mem::take(&mut self.pending)
    }

    /// What the stream has told the meter so far.
    pub fn outcome(&self) -> MeterOutcome {
        let s = &self.state;
        MeterOutcome {
            complete: s.terminal && s.upstream_error.is_none(),
            usage: s.usage,
            usage_is_final: s.usage_is_final,
            output_bytes: s.output_bytes,
            stop_reason: s.stop_reason.clone(),
            upstream_error: s.upstream_error.clone(),
            message_id: s.message_id.clone(),
            model: s.model.clone(),
            events: s.events,
            malformed_events: s.malformed_events,
            oversized_events: s.oversized_events,
        }
    }

    /// See `MeterOutcome::estimate`.
    pub fn estimate(&self, reserved_input_bound: u64, max_tokens: u64) -> Usage {
        estimate(self.state.usage, self.state.output_bytes, reserved_input_bound, max_tokens)
    }

    /// Frames the whole events of `buf`, whose first byte starts an event (or continues one
    /// being skipped), and appends the bytes to forward to `out`. Returns the bytes consumed:
    /// the rest is a partial event.
    fn frame(&mut self, buf: &[u8], out: &mut Vec<u8>) -> usize {
        // Positions stay within `buf`: plain `+` and `-` cannot overflow here.
        let mut event_start = 0;
        let mut scan = 0;
        // Forwarded bytes are copied in runs; a hidden event ends one.
        let mut run_start = 0;
        while let Some(found) = buf.get(scan..).and_then(|rest| find_byte(rest, b'\n')) {
            let newline = scan + found;
            scan = newline + 1;
            let event = buf.get(event_start..).unwrap_or_default();
            if self.on_line(event, newline - event_start) {
                if self.dispatch(buf.get(event_start..scan).unwrap_or_default()) {
                    out.extend_from_slice(buf.get(run_start..event_start).unwrap_or_default());
                    run_start = scan;
                }
                event_start = scan;
            }
        }
        out.extend_from_slice(buf.get(run_start..event_start).unwrap_or_default());
        event_start
    }

    /// Reads the line of `event` that ends at the `\n` at `newline`; returns whether it is the
    /// blank line that ends the event.
    #[inline]
    fn on_line(&mut self, event: &[u8], newline: usize) -> bool {
        let start = self.lines.line_start;
        self.lines.line_start = newline + 1;
        let had_content = std::mem::take(&mut self.lines.line_has_content);
        let mut line = event.get(start..newline).unwrap_or_default();
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.is_empty() {
            return !had_content;
        }
        self.lines.any = true;
        if self.lines.skipping {
            return false;
        }
        // Slice patterns, not `starts_with`: no call into memcmp per line. A field's value
        // starts after its colon and one optional space.
        let end = start + line.len();
        let value = |rest: &[u8]| (end - rest.len() + usize::from(rest.first() == Some(&b' ')), end);
        match line {
            [b'd', b'a', b't', b'a', b':', rest @ ..] => self.data_line(value(rest)),
            [b'd', b'a', b't', b'a'] => self.data_line((end, end)),
            [b'e', b'v', b'e', b'n', b't', b':', rest @ ..] => self.lines.name = Some(value(rest)),
            _ => {}
        }
        false
    }

    #[inline]
    fn data_line(&mut self, value: (usize, usize)) {
        if self.lines.data.is_some() {
            self.lines.more_data = true;
        } else {
            self.lines.data = Some(value);
        }
    }

    /// Meters one whole event (the lines read are in `self.lines`); returns whether to hide
    /// it from the client.
    fn dispatch(&mut self, event: &[u8]) -> bool {
        // Fields one by one: a whole-struct copy right after `on_line`'s field stores stalls
        // on store forwarding (measured: 7% of the meter's time).
        let EventLines { name, data, more_data, any, skipping, .. } = self.lines;
        self.lines.line_start = 0;
        self.lines.name = None;
        self.lines.data = None;
        self.lines.more_data = false;
        self.lines.any = false;
        self.lines.skipping = false;
        self.lines.line_has_content = false;
        if skipping {
            self.state.output_bytes = self.state.output_bytes.saturating_add(event.len() as u64);
            return false;
        }
        if !any {
            return false; // blank lines alone
        }
        self.state.events = self.state.events.saturating_add(1);
        let name = name.and_then(|(from, to)| event.get(from..to)).unwrap_or_default();
        let data = if more_data {
            Cow::Owned(joined_data(event))
        } else {
            // An event without data is not dispatched (SSE).
            let Some(data) = data.and_then(|(from, to)| event.get(from..to)) else { return false };
            Cow::Borrowed(data)
        };
        match self.dialect {
            Dialect::Anthropic => {
                self.on_anthropic(name, &data);
                false
            }
            Dialect::OpenAi => self.on_openai(name, &data),
        }
    }

    /// Forwards a partial event that outgrew `MAX_EVENT_BYTES` unread, counting its bytes as
    /// output; the rest of it follows unread too.
    fn limit_pending(&mut self, out: &mut Vec<u8>) {
        if self.pending.len() <= MAX_EVENT_BYTES {
            return;
        }
        let partial_line = self.pending.get(self.lines.line_start..).unwrap_or_default();
        self.lines.line_has_content = !(partial_line.is_empty() || partial_line == b"\r");
        self.lines.line_start = 0;
        if !self.lines.skipping {
            self.lines.skipping = true;
            self.state.oversized_events = self.state.oversized_events.saturating_add(1);
        }
        self.state.output_bytes = self.state.output_bytes.saturating_add(self.pending.len() as u64);
        out.extend_from_slice(&self.pending);
        self.pending.clear();
    }

    fn on_anthropic(&mut self, name: &[u8], data: &[u8]) {
        // Without an `event:` line (a proxy may drop it), the data's `type` names the event.
        let typed;
        let name = if name.is_empty() {
            typed = skim::member_string(data, b"type").unwrap_or_default();
            typed.as_bytes()
        } else {
            name
        };
        match name {
            b"content_block_delta" => {
                let bytes = skim::anthropic_delta_bytes(data);
                self.state.output_bytes = self.state.output_bytes.saturating_add(bytes);
            }
            b"message_start" | b"message_delta" => {
                let mut message = skim::AnthropicMessage::default();
                if skim::anthropic_message(data, &mut message).is_none() {
                    self.state.malformed_events = self.state.malformed_events.saturating_add(1);
                    return;
                }
                if let Some(raw) = message.usage {
                    let Some(counts) = self.parse_usage::<AnthropicCounts>(raw) else { return };
                    if name == b"message_start" {
                        self.state.usage = Some(Usage::default());
                    } else {
                        self.state.usage_is_final = true;
                    }
                    self.state.usage.get_or_insert_with(Usage::default).merge_anthropic_counts(&counts);
                }
                if let Some(id) = message.id.and_then(skim::string) {
                    self.state.message_id = Some(id);
                }
                if let Some(model) = message.model.and_then(skim::string) {
                    self.state.model = Some(model);
                }
                if let Some(reason) = message.stop_reason.and_then(skim::string) {
                    self.state.stop_reason = Some(reason);
                }
            }
            b"message_stop" => self.state.terminal = true,
            b"error" => {
                let error = self.parse::<Value>(data);
                self.state.upstream_error = Some(describe_error(error.as_ref(), data));
            }
            _ => {}
        }
    }

    fn on_openai(&mut self, name: &[u8], data: &[u8]) -> bool {
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.state.terminal = true;
            return false;
        }
        let mut chunk = skim::OpenAiChunk::default();
        if skim::openai_chunk(data, &mut chunk).is_none() {
            self.state.malformed_events = self.state.malformed_events.saturating_add(1);
            if name == b"error" {
                self.state.upstream_error = Some(describe_error(None, data));
            }
            return false;
        }
        self.state.output_bytes = self.state.output_bytes.saturating_add(chunk.output_bytes);
        if let Some(raw) = chunk.finish_reason {
            self.state.stop_reason = skim::string(raw).or(self.state.stop_reason.take());
        }
        if self.state.message_id.is_none() {
            self.state.message_id = chunk.id.and_then(skim::string);
        }
        if self.state.model.is_none() {
            self.state.model = chunk.model.and_then(skim::string);
        }
        if name == b"error" || chunk.error.is_some() {
            let error = self.parse::<Value>(data);
            self.state.upstream_error = Some(describe_error(error.as_ref(), data));
        }
        let Some(raw) = chunk.usage else { return false };
        let Some(counts) = self.parse_usage::<OpenAiCounts>(raw) else { return false };
        self.state.usage = Some(Usage::from_openai_counts(&counts));
        self.state.usage_is_final = true;
        self.hide_usage_chunk && chunk.choices == 0
    }

    /// A usage object's counts; one that is not an object is malformed (serde would read an
    /// array positionally).
    fn parse_usage<T: DeserializeOwned>(&mut self, raw: &[u8]) -> Option<T> {
        if raw.first() != Some(&b'{') {
            self.state.malformed_events = self.state.malformed_events.saturating_add(1);
            return None;
        }
        self.parse(raw)
    }

    fn parse<T: DeserializeOwned>(&mut self, json: &[u8]) -> Option<T> {
        let parsed = serde_json::from_slice(json).ok();
        if parsed.is_none() {
            self.state.malformed_events = self.state.malformed_events.saturating_add(1);
        }
        parsed
    }
}

/// The `data:` values of an event joined with `\n` (the rare multi-line case).
fn joined_data(event: &[u8]) -> Vec<u8> {
    let mut joined: Option<Vec<u8>> = None;
    for line in Lines(event) {
        let value = match line.strip_prefix(b"data") {
            Some(b"") => &b""[..],
            Some(rest) => match rest.strip_prefix(b":") {
                Some(value) => value.strip_prefix(b" ").unwrap_or(value),
                None => continue,
            },
            None => continue,
        };
        match joined.as_mut() {
            None => joined = Some(value.to_vec()),
            Some(joined) => {
                joined.push(b'\n');
                joined.extend_from_slice(value);
            }
        }
    }
    joined.unwrap_or_default()
}

/// The lines of an event, without their `\n` or `\r\n`.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        let (line, rest) = match find_byte(self.0, b'\n') {
            Some(at) => (self.0.get(..at).unwrap_or_default(), self.0.get(at.saturating_add(1)..).unwrap_or_default()),
            None => (self.0, &b""[..]),
        };
        self.0 = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// `type: message` of a provider error object, or the raw data when it has none.
fn describe_error(event: Option<&Value>, data: &[u8]) -> String {
    let error = event.and_then(|e| e.get("error"));
    let field = |key: &str| error.and_then(|e| e.get(key)).and_then(Value::as_str);
    let text = match (field("type").or(field("code")), field("message")) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (Some(kind), None) => kind.to_owned(),
        (None, Some(message)) => message.to_owned(),
        (None, None) => String::from_utf8_lossy(data).into_owned(),
    };
    text.chars().take(MAX_ERROR_CHARS).collect()
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` that are zero, flagged by their high bit. The lowest flag is exact
/// (flags above a zero byte may be false), which is all a first-match search needs.
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(LO) & !word & HI
}

/// The first `needle` in `hay`, sixteen bytes at a time.
#[inline]
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO128: u128 = u128::MAX / 255;
    const HI128: u128 = LO128 << 7;
    let splat = LO128.wrapping_mul(u128::from(needle));
    let (blocks, tail) = hay.as_chunks::<16>();
    let mut offset = 0_usize;
    for block in blocks {
        let x = u128::from_le_bytes(*block) ^ splat;
        let hits = x.wrapping_sub(LO128) & !x & HI128;
        if hits != 0 {
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 16;
    }
    let at = tail.iter().position(|&c| c == needle)?;
    Some(offset + at)
}

/// The first `a` or `b` in `hay`, eight bytes at a time.
#[inline(always)]
fn find_either(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    let (splat_a, splat_b) = (LO.wrapping_mul(u64::from(a)), LO.wrapping_mul(u64::from(b)));
    let (words, tail) = hay.as_chunks::<8>();
    let mut offset = 0_usize;
    // `offset` stays below `hay.len()`: plain `+` cannot overflow.
    for bytes in words {
        let w = u64::from_le_bytes(*bytes);
        let hits = zero_bytes(w ^ splat_a) | zero_bytes(w ^ splat_b);
        if hits != 0 {
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let at = tail.iter().position(|&c| c == a || c == b)?;
    Some(offset + at)
}

/// An allocation-free JSON reader for the frequent events: a cursor that walks objects and
/// arrays member by member, exact about strings (escapes included) and nesting, so text
/// inside a string is never taken for structure. It is lenient only about what it skips:
/// a skipped value is delimited, not validated. Every walk returns `None` on malformed input.
mod skim {
    use super::{find_either, Cow};

    /// Positions only ever grow by small steps within `s`, so plain `+` cannot overflow.
    pub(super) struct Cursor<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl<'a> Cursor<'a> {
        pub(super) fn new(s: &'a [u8]) -> Cursor<'a> {
            Cursor { s, i: 0 }
        }

        /// The next byte that is not whitespace (not consumed).
        #[inline(always)]
        pub(super) fn peek(&mut self) -> Option<u8> {
            loop {
                let b = *self.s.get(self.i)?;
                if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                    return Some(b);
                }
                self.i += 1;
            }
        }

        #[inline(always)]
        fn eat(&mut self, byte: u8) -> Option<()> {
            if self.peek()? == byte {
                self.i += 1;
                Some(())
            } else {
                None
            }
        }

        /// Enters the object here; `Some(false)` when it is empty (and consumed).
        #[inline(always)]
        pub(super) fn object(&mut self) -> Option<bool> {
            self.eat(b'{')?;
            if self.peek()? == b'}' {
                self.i += 1;
                return Some(false);
            }
            Some(true)
        }

        /// Enters the array here; `Some(false)` when it is empty (and consumed).
        #[inline(always)]
        pub(super) fn array(&mut self) -> Option<bool> {
            self.eat(b'[')?;
            if self.peek()? == b']' {
                self.i += 1;
                return Some(false);
            }
            Some(true)
        }

        /// The next member's key, decoded; the cursor moves to its value.
        #[inline(always)]
        pub(super) fn key(&mut self) -> Option<Cow<'a, [u8]>> {
            if self.peek()? != b'"' {
                return None;
            }
            let start = self.i;
            let escaped = self.string()?;
            let key = if escaped {
                // A key spelled with escapes (`"us\u0061ge"`) is still that key.
                let quoted = self.s.get(start..self.i)?;
                Cow::Owned(serde_json::from_slice::<String>(quoted).ok()?.into_bytes())
            } else {
                Cow::Borrowed(self.s.get(start.saturating_add(1)..self.i.saturating_sub(1))?)
            };
            self.eat(b':')?;
            Some(key)
        }

        /// After a member: whether another follows (`,`) or the object ends (`}`).
        #[inline(always)]
        pub(super) fn next_member(&mut self) -> Option<bool> {
            self.after(b'}')
        }

        /// After an element: whether another follows (`,`) or the array ends (`]`).
        #[inline(always)]
        pub(super) fn next_element(&mut self) -> Option<bool> {
            self.after(b']')
        }

        /// Walks the object here: `f` gets each member's key with the cursor on its value, and
        /// must consume the value. An empty object calls nothing.
        #[inline(always)]
        pub(super) fn members(&mut self, mut f: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
            if !self.object()? {
                return Some(());
            }
            loop {
                let key = self.key()?;
                f(self, &key)?;
                if !self.next_member()? {
                    return Some(());
                }
            }
        }

        /// Walks the array here: `f` is called on each element and must consume it.
        #[inline(always)]
        pub(super) fn elements(&mut self, mut f: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
            if !self.array()? {
                return Some(());
            }
            loop {
                f(self)?;
                if !self.next_element()? {
                    return Some(());
                }
            }
        }

        #[inline(always)]
        fn after(&mut self, close: u8) -> Option<bool> {
            let b = self.peek()?;
            self.i += 1;
            if b == b',' {
                Some(true)
            } else if b == close {
                Some(false)
            } else {
                None
            }
        }

        /// From an opening quote: moves past the closing one; says whether it held an escape.
        #[inline(always)]
        fn string(&mut self) -> Option<bool> {
            let mut j = self.i + 1;
            let mut escaped = false;
            loop {
                j += find_either(self.s.get(j..)?, b'"', b'\\')?;
                if *self.s.get(j)? == b'"' {
                    self.i = j + 1;
                    return Some(escaped);
                }
                escaped = true;
                j += 2;
            }
        }

        /// Skips the value here.
        #[inline(always)]
        pub(super) fn skip(&mut self) -> Option<()> {
            match self.peek()? {
                b'"' => self.string().map(|_| ()),
                b'{' | b'[' => self.skip_container(),
                _ => {
                    let start = self.i;
                    while let Some(b) = self.s.get(self.i) {
                        if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                            break;
                        }
                        self.i += 1;
                    }
                    (self.i > start).then_some(())
                }
            }
        }

        fn skip_container(&mut self) -> Option<()> {
            let mut depth = 0_usize;
            loop {
                match *self.s.get(self.i)? {
                    b'"' => {
                        self.string()?;
                        continue;
                    }
                    b'{' | b'[' => depth = depth.saturating_add(1),
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            self.i += 1;
                            return Some(());
                        }
                    }
                    _ => {}
                }
                self.i += 1;
            }
        }

        /// The decoded UTF-8 length of the string value here (0 for any other value, skipped),
        /// read in one pass when the string has no escapes.
        #[inline(always)]
        pub(super) fn string_len(&mut self) -> Option<u64> {
            if self.peek()? != b'"' {
                self.skip()?;
                return Some(0);
            }
            let start = self.i;
            let escaped = self.string()?;
            let raw = self.s.get(start..self.i)?;
            Some(if escaped { decoded_len(raw) } else { raw.len().saturating_sub(2) as u64 })
        }

        /// Skips the value here and returns its text.
        #[inline(always)]
        pub(super) fn raw(&mut self) -> Option<&'a [u8]> {
            self.peek()?;
            let start = self.i;
            self.skip()?;
            self.s.get(start..self.i)
        }
    }

    /// A JSON value's text if it is not `null`.
    #[inline]
    fn non_null(raw: &[u8]) -> Option<&[u8]> {
        (raw != b"null").then_some(raw)
    }

    /// A JSON string value (with its quotes) decoded; `None` for any other value.
    pub(super) fn string(raw: &[u8]) -> Option<String> {
        if raw.first() != Some(&b'"') {
            return None;
        }
        serde_json::from_slice(raw).ok()
    }

    /// The UTF-8 length of a JSON string value (with its quotes) once decoded; 0 for any
    /// other value.
    pub(super) fn decoded_len(raw: &[u8]) -> u64 {
        let Some(inner) = raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) else { return 0 };
        let mut total = 0_u64;
        let mut rest = inner;
        while let Some(at) = rest.iter().position(|&b| b == b'\\') {
            total = total.saturating_add(at as u64);
            let escape = rest.get(at..).unwrap_or_default();
            let (bytes, len) = match escape.get(1) {
                Some(b'u') => {
                    let unit = hex4(escape.get(2..6));
                    let low = if escape.get(6..8) == Some(&b"\\u"[..]) { hex4(escape.get(8..12)) } else { None };
                    match (unit, low) {
                        (Some(0xD800..=0xDBFF), Some(0xDC00..=0xDFFF)) => (4, 12),
                        (Some(cp), _) if cp < 0x80 => (1, 6),
                        (Some(cp), _) if cp < 0x800 => (2, 6),
                        (Some(_), _) => (3, 6),
                        (None, _) => (1, 2),
                    }
                }
                _ => (1, 2),
            };
            total = total.saturating_add(bytes);
            rest = escape.get(len..).unwrap_or_default();
        }
        total.saturating_add(rest.len() as u64)
    }

    fn hex4(digits: Option<&[u8]>) -> Option<u32> {
        let digits = std::str::from_utf8(digits?).ok()?;
        u32::from_str_radix(digits, 16).ok()
    }

    /// The decoded string value of a top-level member, if it is one.
    pub(super) fn member_string(data: &[u8], name: &[u8]) -> Option<String> {
        let mut c = Cursor::new(data);
        if !c.object()? {
            return None;
        }
        loop {
            let key = c.key()?;
            let raw = c.raw()?;
            if *key == *name {
                return string(raw);
            }
            if !c.next_member()? {
                return None;
            }
        }
    }

    /// The decoded output bytes of an Anthropic `content_block_delta`: its delta's `text`
    /// (text_delta), `partial_json` (input_json_delta) or `thinking` (thinking_delta).
    pub(super) fn anthropic_delta_bytes(data: &[u8]) -> u64 {
        let mut bytes = 0_u64;
        let _ = anthropic_delta(&mut Cursor::new(data), &mut bytes);
        bytes
    }

    fn anthropic_delta(c: &mut Cursor<'_>, bytes: &mut u64) -> Option<()> {
        c.members(|c, key| {
            // (An empty object is consumed by `object()`: test the brace first.)
            if key == b"delta" && c.peek()? == b'{' {
                c.members(|c, key| {
                    if matches!(key, b"text" | b"partial_json" | b"thinking") {
                        *bytes = bytes.saturating_add(c.string_len()?);
                        Some(())
                    } else {
                        c.skip()
                    }
                })
            } else {
                c.skip()
            }
        })
    }

    /// What the meter reads from an Anthropic `message_start` or `message_delta`; slices keep
    /// their JSON form.
    #[derive(Default)]
    pub(super) struct AnthropicMessage<'a> {
        pub id: Option<&'a [u8]>,
        pub model: Option<&'a [u8]>,
        /// `message_start.message.usage` / `message_delta.usage`, when not null.
        pub usage: Option<&'a [u8]>,
        /// `message_delta.delta.stop_reason`, when a string.
        pub stop_reason: Option<&'a [u8]>,
    }

    /// Reads a `message_start` (`{"message": {"id", "model", "usage"}}`) or a
    /// `message_delta` (`{"delta": {"stop_reason"}, "usage"}`).
    pub(super) fn anthropic_message<'a>(data: &'a [u8], message: &mut AnthropicMessage<'a>) -> Option<()> {
        Cursor::new(data).members(|c, key| match key {
            b"message" | b"delta" if c.peek()? == b'{' => c.members(|c, key| {
                let raw = c.raw()?;
                match key {
                    b"id" => message.id = Some(raw),
                    b"model" => message.model = Some(raw),
                    b"usage" => message.usage = non_null(raw),
                    b"stop_reason" => message.stop_reason = Some(raw),
                    _ => {}
                }
                Some(())
            }),
            b"usage" => {
                message.usage = non_null(c.raw()?);
                Some(())
            }
            _ => c.skip(),
        })
    }

    /// What the meter reads from an OpenAI chunk; slices keep their JSON form.
    #[derive(Default)]
    pub(super) struct OpenAiChunk<'a> {
        pub id: Option<&'a [u8]>,
        pub model: Option<&'a [u8]>,
        /// The top-level `usage` when not null.
        pub usage: Option<&'a [u8]>,
        pub error: Option<&'a [u8]>,
        /// How many `choices` the chunk has.
        pub choices: usize,
        pub finish_reason: Option<&'a [u8]>,
        pub output_bytes: u64,
    }

    /// Walks one OpenAI chunk's top level and its choices' deltas.
    pub(super) fn openai_chunk<'a>(data: &'a [u8], chunk: &mut OpenAiChunk<'a>) -> Option<()> {
        Cursor::new(data).members(|c, key| {
            match key {
                b"choices" if c.peek()? == b'[' => {
                    return c.elements(|c| {
                        chunk.choices = chunk.choices.saturating_add(1);
                        openai_choice(c, chunk)
                    })
                }
                b"usage" => chunk.usage = non_null(c.raw()?),
                b"id" => chunk.id = non_null(c.raw()?),
                b"model" => chunk.model = non_null(c.raw()?),
                b"error" => chunk.error = non_null(c.raw()?),
                _ => c.skip()?,
            }
            Some(())
        })
    }

    fn openai_choice<'a>(c: &mut Cursor<'a>, chunk: &mut OpenAiChunk<'a>) -> Option<()> {
        if c.peek()? != b'{' {
            return c.skip();
        }
        c.members(|c, key| match key {
            b"finish_reason" => {
                let raw = c.raw()?;
                if raw.first() == Some(&b'"') {
                    chunk.finish_reason = Some(raw);
                }
                Some(())
            }
            b"delta" if c.peek()? == b'{' => c.members(|c, key| match key {
                b"content" | b"refusal" | b"reasoning_content" => {
                    chunk.output_bytes = chunk.output_bytes.saturating_add(c.string_len()?);
                    Some(())
                }
                b"tool_calls" if c.peek()? == b'[' => openai_tool_calls(c, chunk),
                _ => c.skip(),
            }),
            _ => c.skip(),
        })
    }

    /// Counts the `function.name` and `function.arguments` bytes of `tool_calls` deltas.
    fn openai_tool_calls(c: &mut Cursor<'_>, chunk: &mut OpenAiChunk<'_>) -> Option<()> {
        c.elements(|c| {
            if c.peek()? != b'{' {
                return c.skip();
            }
            c.members(|c, key| {
                if key == b"function" && c.peek()? == b'{' {
                    c.members(|c, key| {
                        if matches!(key, b"name" | b"arguments") {
                            chunk.output_bytes = chunk.output_bytes.saturating_add(c.string_len()?);
                            Some(())
                        } else {
                            c.skip()
                        }
                    })
                } else {
                    c.skip()
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn usage(input: u64, w5: u64, w1h: u64, read: u64, output: u64) -> Usage {
        Usage { input, cache_write_5m: w5, cache_write_1h: w1h, cache_read: read, output }
    }

    /// Feeds `stream` in the given pieces; returns the forwarded bytes and the outcome.
    fn run(dialect: Dialect, hide: bool, pieces: &[&[u8]]) -> (Vec<u8>, MeterOutcome) {
        let mut meter = Meter::new(dialect, hide);
        let mut forwarded = Vec::new();
        for piece in pieces {
            forwarded.extend(meter.feed(piece));
        }
        forwarded.extend(meter.finish());
        (forwarded, meter.outcome())
    }

    /// What a fixture must meter to, whatever its split.
    struct Want {
        complete: bool,
        usage: Option<Usage>,
        usage_is_final: bool,
        stop_reason: Option<&'static str>,
        error: Option<&'static str>,
    }

    /// Output bytes counted independently, by parsing every event with serde_json.
    fn output_bytes_by_serde(dialect: Dialect, stream: &[u8]) -> u64 {
        let text = std::str::from_utf8(stream).unwrap();
        let mut total = 0;
        for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            let len = |v: &Value| v.as_str().map_or(0, |s| s.len() as u64);
            match dialect {
                Dialect::Anthropic if v["type"] == "content_block_delta" => {
                    total += len(&v["delta"]["text"]) + len(&v["delta"]["partial_json"]) + len(&v["delta"]["thinking"]);
                }
                Dialect::OpenAi => {
                    for choice in v["choices"].as_array().into_iter().flatten() {
                        let delta = &choice["delta"];
                        total += len(&delta["content"]) + len(&delta["refusal"]);
                        for call in delta["tool_calls"].as_array().into_iter().flatten() {
                            total += len(&call["function"]["name"]) + len(&call["function"]["arguments"]);
                        }
                    }
                }
                _ => {}
            }
        }
        total
    }

    #[track_caller]
    fn check(stream: &[u8], dialect: Dialect, want: &Want, forwarded: &[u8], outcome: &MeterOutcome, how: &str) {
        assert_eq!(forwarded, stream, "{how}: forwarded bytes differ from the input");
        assert_eq!(outcome.complete, want.complete, "{how}: complete");
        assert_eq!(outcome.usage, want.usage, "{how}: usage");
        assert_eq!(outcome.usage_is_final, want.usage_is_final, "{how}: usage_is_final");
        assert_eq!(outcome.stop_reason.as_deref(), want.stop_reason, "{how}: stop reason");
        assert_eq!(outcome.upstream_error.as_deref(), want.error, "{how}: error");
        assert_eq!(outcome.output_bytes, output_bytes_by_serde(dialect, stream), "{how}: output bytes");
        assert_eq!(outcome.malformed_events, 0, "{how}: malformed");
    }

    /// Feeds a fixture whole, one byte at a time, and split in two at every byte offset.
    #[track_caller]
    fn case(path: &str, want: Want) {
        let dialect = if path.starts_with("openai/") { Dialect::OpenAi } else { Dialect::Anthropic };
        let stream = fixture(path);
        let (forwarded, outcome) = run(dialect, false, &[&stream]);
        check(&stream, dialect, &want, &forwarded, &outcome, &format!("{path} whole"));

        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let (forwarded, one_by_one) = run(dialect, false, &bytes);
        check(&stream, dialect, &want, &forwarded, &one_by_one, &format!("{path} one byte at a time"));
        assert_eq!(one_by_one, outcome, "{path}: one byte at a time");

        every_split(&stream, |head, tail, at| {
            let (forwarded, split) = run(dialect, false, &[head, tail]);
            assert_eq!(forwarded, stream, "{path} split at {at}: forwarded bytes");
            assert_eq!(split, outcome, "{path} split at {at}: outcome");
        });
    }

    /// Calls `check(head, tail, at)` for the stream split in two at every byte offset, on
    /// every core (the 31 KB fixture makes this the slowest test in a debug build).
    fn every_split(stream: &[u8], check: impl Fn(&[u8], &[u8], usize) + Sync) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::thread::scope(|scope| {
            for first in 0..threads {
                let check = &check;
                scope.spawn(move || {
                    for at in (first..=stream.len()).step_by(threads) {
                        let (head, tail) = stream.split_at(at);
                        check(head, tail, at);
                    }
                });
            }
        });
    }

    #[test]
    fn anthropic_text_stream_takes_the_last_message_delta_usage() {
        case(
            "anthropic/stream-text.sse",
            Want {
                complete: true,
                usage: Some(usage(770, 0, 0, 0, 38)),
                usage_is_final: true,
                stop_reason: Some("end_turn"),
                error: None,
            },
        );
        let (_, outcome) = run(Dialect::Anthropic, false, &[&fixture("anthropic/stream-text.sse")]);
        assert_eq!(outcome.message_id.as_deref(), Some("msg_016HxyUMAncysqX7dn1kWNRx"));
        assert_eq!(outcome.model.as_deref(), Some("claude-haiku-4-5-20251001"));
    }

    #[test]
    fn anthropic_older_deltas_keep_the_cache_read_from_message_start() {
        case(
            "anthropic/stream-text-cache-read.sse",
            Want {
                complete: true,
                usage: Some(usage(11, 0, 0, 1031, 100)),
                usage_is_final: true,
                stop_reason: Some("max_tokens"),
                error: None,
            },
        );
    }

    #[test]
    fn anthropic_tool_use_stream_is_metered() {
        case(
            "anthropic/stream-tool-use.sse",
            Want {
                complete: true,
                usage: Some(usage(377, 0, 0, 0, 65)),
                usage_is_final: true,
                stop_reason: Some("tool_use"),
                error: None,
            },
        );
    }

    #[test]
    fn anthropic_server_tool_stream_takes_the_grown_input() {
        case(
            "anthropic/stream-server-tool-use.sse",
            Want {
                complete: true,
                usage: Some(usage(1595, 0, 0, 0, 143)),
                usage_is_final: true,
                stop_reason: Some("tool_use"),
                error: None,
            },
        );
    }

    #[test]
    fn anthropic_streams_that_end_in_an_error_are_incomplete() {
        for path in ["anthropic/stream-error.sse", "anthropic/stream-error-observed.sse"] {
            case(
                path,
                Want {
                    complete: false,
                    usage: Some(usage(770, 0, 0, 0, 8)),
                    usage_is_final: false,
                    stop_reason: None,
                    error: Some("overloaded_error: Overloaded"),
                },
            );
        }
    }

    #[test]
    fn openai_text_stream_reads_the_usage_chunk() {
        case(
            "openai/stream-text.sse",
            Want {
                complete: true,
                usage: Some(usage(83, 0, 0, 0, 10)),
                usage_is_final: true,
                stop_reason: Some("stop"),
                error: None,
            },
        );
        let (_, outcome) = run(Dialect::OpenAi, false, &[&fixture("openai/stream-text.sse")]);
        assert_eq!(outcome.message_id.as_deref(), Some("chatcmpl-BqmKYqwBD1AwIesOKSDmGws7VVbxp"));
        assert_eq!(outcome.model.as_deref(), Some("gpt-4o-2024-08-06"));
    }

    #[test]
    fn openai_cached_prompt_tokens_are_taken_out_of_the_input() {
        case(
            "openai/stream-text-cached.sse",
            Want {
                complete: true,
                usage: Some(usage(140, 0, 0, 1280, 100)),
                usage_is_final: true,
                stop_reason: Some("length"),
                error: None,
            },
        );
    }

    #[test]
    fn openai_tool_call_stream_counts_argument_bytes() {
        case(
            "openai/stream-tool-calls.sse",
            Want {
                complete: true,
                usage: Some(usage(58, 0, 0, 0, 15)),
                usage_is_final: true,
                stop_reason: Some("tool_calls"),
                error: None,
            },
        );
        let (_, outcome) = run(Dialect::OpenAi, false, &[&fixture("openai/stream-tool-calls.sse")]);
        assert_eq!(outcome.output_bytes, ("calculate_square_tool".len() + r#"{"x":2}"#.len()) as u64);
    }

    #[test]
    fn openai_stream_without_include_usage_has_no_usage() {
        case(
            "openai/stream-text-no-usage.sse",
            Want { complete: true, usage: None, usage_is_final: false, stop_reason: Some("stop"), error: None },
        );
        let (_, outcome) = run(Dialect::OpenAi, false, &[&fixture("openai/stream-text-no-usage.sse")]);
        assert_eq!(outcome.exact_usage(), None);
        assert!(outcome.output_bytes > 0);
    }

    /// The fixture without its usage-only event (found by looking, in the test only).
    fn without_usage_chunk(stream: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(stream).unwrap();
        text.split_inclusive("\n\n").filter(|event| !event.contains(r#""choices":[]"#)).collect::<String>().into_bytes()
    }

    #[test]
    fn the_usage_chunk_the_academy_added_is_metered_but_not_forwarded() {
        for path in ["openai/stream-text.sse", "openai/stream-text-cached.sse", "openai/stream-tool-calls.sse"] {
            let stream = fixture(path);
            let want = without_usage_chunk(&stream);
            assert!(want.len() < stream.len(), "{path}");
            let (_, whole) = run(Dialect::OpenAi, false, &[&stream]);
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            assert_eq!(run(Dialect::OpenAi, true, &bytes), (want.clone(), whole.clone()), "{path} one byte at a time");
            if stream.len() > 10_000 {
                continue; // split at every offset by `case` already; hiding changes no framing
            }
            every_split(&stream, |head, tail, at| {
                let (forwarded, outcome) = run(Dialect::OpenAi, true, &[head, tail]);
                assert_eq!(forwarded, want, "{path} split at {at}");
                assert_eq!(outcome, whole, "{path} split at {at}");
            });
        }
    }

    #[test]
    fn hiding_applies_only_to_openai_usage_only_chunks() {
        let stream = fixture("anthropic/stream-text.sse");
        assert_eq!(run(Dialect::Anthropic, true, &[&stream]).0, stream);
        let no_usage = fixture("openai/stream-text-no-usage.sse");
        assert_eq!(run(Dialect::OpenAi, true, &[&no_usage]).0, no_usage);
        // A chunk with choices *and* usage is the learner's content: forwarded.
        let both = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n";
        let (forwarded, outcome) = run(Dialect::OpenAi, true, &[both]);
        assert_eq!(forwarded, both);
        assert_eq!(outcome.usage, Some(usage(3, 0, 0, 0, 1)));
    }

    #[test]
    fn crlf_framed_streams_meter_and_forward_the_same() {
        for (path, dialect) in
            [("anthropic/stream-text.sse", Dialect::Anthropic), ("openai/stream-tool-calls.sse", Dialect::OpenAi)]
        {
            let lf = fixture(path);
            let crlf = String::from_utf8(lf.clone()).unwrap().replace('\n', "\r\n").into_bytes();
            let (_, want) = run(dialect, false, &[&lf]);
            every_split(&crlf, |head, tail, at| {
                let (forwarded, outcome) = run(dialect, false, &[head, tail]);
                assert_eq!(forwarded, crlf, "{path} split at {at}");
                assert_eq!(outcome, want, "{path} split at {at}");
            });
        }
    }

    #[test]
    fn only_whole_events_are_forwarded() {
        let mut meter = Meter::new(Dialect::Anthropic, false);
        assert_eq!(meter.feed(b"event: ping\ndata: {\"type\": \"ping\"}\n"), b"");
        assert_eq!(meter.feed(b"\nevent: pi"), b"event: ping\ndata: {\"type\": \"ping\"}\n\n");
        assert_eq!(meter.feed(b"ng\ndata: {}\n\n: comment\n\n"), b"event: ping\ndata: {}\n\n: comment\n\n");
        assert_eq!(meter.feed(b"data: partial"), b"");
        assert_eq!(meter.finish(), b"data: partial");
        assert_eq!(meter.outcome().events, 3);
    }

    #[test]
    fn model_text_that_looks_like_usage_is_only_text() {
        // OpenAI: content that spells a usage chunk, an empty-choices look-alike in a string,
        // and a tool argument with an event boundary in it (escaped, as JSON requires).
        let openai = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\\"usage\\\":{\\\"prompt_tokens\\\":999999,\\\"completion_tokens\\\":999999}\"}}],\"usage\":null}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\\"choices\\\":[],\\\"usage\\\":{\\\"prompt_tokens\\\":5}\"}}],\"usage\":null}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\n\\ndata: [DONE]\\n\\n\"}}]}}]}\n\n",
        );
        let (forwarded, outcome) = run(Dialect::OpenAi, true, &[openai.as_bytes()]);
        assert_eq!(forwarded, openai.as_bytes());
        assert_eq!(outcome.usage, None);
        assert!(!outcome.complete, "[DONE] inside a string is not the end");
        assert_eq!(outcome.output_bytes, output_bytes_by_serde(Dialect::OpenAi, openai.as_bytes()));

        // Anthropic: a text delta that spells message_delta usage and message_stop.
        let anthropic = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"event: message_delta\\ndata: {\\\"type\\\":\\\"message_delta\\\",\\\"usage\\\":{\\\"output_tokens\\\":999999}}\\n\\nevent: message_stop\"}}\n\n",
        );
        let (forwarded, outcome) = run(Dialect::Anthropic, false, &[anthropic.as_bytes()]);
        assert_eq!(forwarded, anthropic.as_bytes());
        assert_eq!(outcome.usage, Some(usage(10, 0, 0, 0, 1)));
        assert!(!outcome.complete);
        assert_eq!(outcome.output_bytes, output_bytes_by_serde(Dialect::Anthropic, anthropic.as_bytes()));
    }

    #[test]
    fn a_usage_key_spelled_with_escapes_is_still_the_usage_key() {
        let chunk =
            b"data: {\"choices\":[],\"us\\u0061ge\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        let (forwarded, outcome) = run(Dialect::OpenAi, true, &[chunk]);
        assert_eq!(outcome.exact_usage(), Some(usage(7, 0, 0, 0, 2)));
        assert_eq!(forwarded, b"data: [DONE]\n\n");
    }

    #[test]
    fn anthropic_events_without_event_lines_are_named_by_their_type() {
        let stream = String::from_utf8(fixture("anthropic/stream-text.sse")).unwrap();
        let bare: String = stream.split_inclusive('\n').filter(|line| !line.starts_with("event:")).collect();
        let (_, outcome) = run(Dialect::Anthropic, false, &[bare.as_bytes()]);
        let (_, want) = run(Dialect::Anthropic, false, &[stream.as_bytes()]);
        assert_eq!(outcome, want);
    }

    #[test]
    fn multi_line_data_is_joined_before_parsing() {
        let stream = b"event: message_start\ndata: {\"type\":\"message_start\",\ndata: \"message\":{\"usage\":{\"input_tokens\":4}}}\n\nevent: message_stop\ndata: {}\n\n";
        let outcome = run(Dialect::Anthropic, false, &[stream]).1;
        assert_eq!(outcome.usage, Some(usage(4, 0, 0, 0, 0)));
        assert!(outcome.complete);
        assert_eq!(outcome.exact_usage(), None, "no message_delta: the output count is a placeholder");
    }

    #[test]
    fn broken_json_in_usage_events_is_counted_not_fatal() {
        let stream =
            b"event: message_start\ndata: {\"type\":\"message_start\",\"mess\n\nevent: message_stop\ndata: {}\n\n";
        let outcome = run(Dialect::Anthropic, false, &[stream]).1;
        assert_eq!((outcome.malformed_events, outcome.usage, outcome.complete), (1, None, true));
        let openai = b"data: {\"choices\":[\n\ndata: not json\n\n";
        let outcome = run(Dialect::OpenAi, false, &[openai]).1;
        assert_eq!(outcome.malformed_events, 2);
    }

    #[test]
    fn empty_objects_and_arrays_are_walked_not_refused() {
        let openai = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":null}],\"usage\":null}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{},{\"function\":{}},{\"function\":{\"arguments\":\"ab\"}}]}}]}\n\n",
            "data: {\"choices\":[{}, {\"delta\":null,\"finish_reason\":\"stop\"}], \"x\": [[], {}, [{}]] }\n\n",
            "data: {}\n\ndata: {\"choices\":[],\"usage\":{}}\n\ndata: [DONE]\n\n",
        );
        let outcome = run(Dialect::OpenAi, false, &[openai.as_bytes()]).1;
        assert_eq!(outcome.malformed_events, 0);
        assert_eq!(outcome.output_bytes, 2);
        assert_eq!(outcome.stop_reason.as_deref(), Some("stop"));
        assert_eq!(outcome.exact_usage(), Some(Usage::default()));
        let anthropic = concat!(
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{}}\n\n",
            "event: content_block_delta\ndata: {\"delta\":{},\"index\":1}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":3}}\n\n",
        );
        let outcome = run(Dialect::Anthropic, false, &[anthropic.as_bytes()]).1;
        assert_eq!(outcome.malformed_events, 0);
        assert_eq!(outcome.usage, Some(usage(0, 0, 0, 0, 3)));
    }

    #[test]
    fn openai_errors_inside_a_stream_are_recorded() {
        let stream = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
        let outcome = run(Dialect::OpenAi, false, &[stream]).1;
        assert_eq!(outcome.upstream_error.as_deref(), Some("server_error: The server had an error"));
        assert!(!outcome.complete);
    }

    #[test]
    fn an_oversized_event_is_forwarded_unread_and_counted_as_output() {
        let mut meter = Meter::new(Dialect::Anthropic, false);
        let mut forwarded = Vec::new();
        let big = vec![b'x'; MAX_EVENT_BYTES + 10];
        forwarded.extend(meter.feed(b"data: "));
        forwarded.extend(meter.feed(&big));
        assert!(forwarded.len() >= MAX_EVENT_BYTES, "the big event is not held back");
        let stream = fixture("anthropic/stream-text.sse");
        forwarded.extend(meter.feed(b"\n"));
        forwarded.extend(meter.feed(b"\n"));
        forwarded.extend(meter.feed(&stream));
        forwarded.extend(meter.finish());
        let mut want = b"data: ".to_vec();
        want.extend(&big);
        want.extend(b"\n\n");
        want.extend(&stream);
        assert_eq!(forwarded, want);
        let outcome = meter.outcome();
        assert_eq!(outcome.oversized_events, 1);
        assert_eq!(outcome.exact_usage(), Some(usage(770, 0, 0, 0, 38)), "later events are still metered");
        assert!(outcome.output_bytes > MAX_EVENT_BYTES as u64);
    }

    #[test]
    fn a_stream_cut_mid_event_forwards_the_rest_unmetered() {
        let stream = fixture("anthropic/stream-text.sse");
        let cut = stream.len() - 20; // inside the final message_stop event
        let mut meter = Meter::new(Dialect::Anthropic, false);
        let mut forwarded = meter.feed(&stream[..cut]);
        forwarded.extend(meter.finish());
        assert_eq!(forwarded, &stream[..cut]);
        let outcome = meter.outcome();
        assert!(!outcome.complete);
        assert_eq!(outcome.usage, Some(usage(770, 0, 0, 0, 38)));
        assert_eq!(outcome.exact_usage(), None);
    }

    #[track_caller]
    fn estimate_case(path: &str, bound: u64, max_tokens: u64, want: Usage) {
        let dialect = if path.starts_with("openai/") { Dialect::OpenAi } else { Dialect::Anthropic };
        let mut meter = Meter::new(dialect, false);
        meter.feed(&fixture(path));
        assert_eq!(meter.estimate(bound, max_tokens), want, "{path}");
        assert_eq!(meter.outcome().estimate(bound, max_tokens), want, "{path}");
    }

    #[test]
    fn estimates_take_message_start_input_and_the_larger_output_capped_at_max_tokens() {
        // stream-error.sse: input 770 from message_start; 46 bytes of text beat the placeholder 8.
        let text_bytes = output_bytes_by_serde(Dialect::Anthropic, &fixture("anthropic/stream-error.sse"));
        assert_eq!(text_bytes, 46);
        estimate_case("anthropic/stream-error.sse", 5000, 1000, usage(770, 0, 0, 0, 46));
        estimate_case("anthropic/stream-error.sse", 5000, 20, usage(770, 0, 0, 0, 20));
        // No usage at all: the reserved input bound, and the output bytes.
        let bytes = output_bytes_by_serde(Dialect::OpenAi, &fixture("openai/stream-text-no-usage.sse"));
        estimate_case("openai/stream-text-no-usage.sse", 5000, 1000, usage(5000, 0, 0, 0, bytes));
        estimate_case("openai/stream-text-no-usage.sse", 5000, 3, usage(5000, 0, 0, 0, 3));
        // A complete stream's reported usage, with the output never below the bytes seen.
        let bytes = output_bytes_by_serde(Dialect::Anthropic, &fixture("anthropic/stream-text-cache-read.sse"));
        assert!(bytes > 100);
        estimate_case("anthropic/stream-text-cache-read.sse", 5000, 1000, usage(11, 0, 0, 1031, bytes));
        // Reported output above the byte count wins.
        let mut meter = Meter::new(Dialect::Anthropic, false);
        meter.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"cache_read_input_tokens\":4,\"output_tokens\":8}}}\n\n");
        assert_eq!(meter.estimate(5000, 1000), usage(9, 0, 0, 4, 8));
    }

    #[test]
    fn decoded_lengths_follow_json_escapes() {
        for text in ["plain", "68°F", "a\nb\t\"q\"\\", "é", "€", "😀 emoji", "\u{1}", ""] {
            let raw = serde_json::to_vec(&text).unwrap();
            assert_eq!(skim::decoded_len(&raw), text.len() as u64, "{text:?}");
            let ascii_escaped = serde_json::to_string(&text)
                .unwrap()
                .chars()
                .map(|c| {
                    if c.is_ascii() {
                        c.to_string()
                    } else {
                        let mut buf = [0u16; 2];
                        c.encode_utf16(&mut buf).iter().map(|u| format!("\\u{u:04x}")).collect()
                    }
                })
                .collect::<String>();
            assert_eq!(skim::decoded_len(ascii_escaped.as_bytes()), text.len() as u64, "{ascii_escaped}");
        }
        assert_eq!(skim::decoded_len(b"null"), 0);
    }

    #[test]
    fn find_either_finds_the_first_match_at_every_position() {
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'a'; len];
                hay[at] = b'"';
                if at + 3 < len {
                    hay[at + 3] = b'\\';
                }
                assert_eq!(find_either(&hay, b'"', b'\\'), Some(at));
                assert_eq!(find_byte(&hay, b'\\'), if at + 3 < len { Some(at + 3) } else { None });
            }
            assert_eq!(find_byte(&vec![0x80; len], 0x00), None);
        }
    }
}
