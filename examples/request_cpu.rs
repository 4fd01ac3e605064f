//! The CPU the academy's own code spends on one gateway request, natively (the pure parts of
//! the path: validation and the reservation bound; the upstream body; metering a non-streamed
//! answer and a streamed one; pricing; building, redacting and serialising the transcript).
//! The Workers Free plan allows 10 ms of CPU per request; WASM runs these at roughly half the
//! native speed, so the printed figure ×2 is a fair estimate of the in-worker cost.
//!
//! `cargo run --release --example request_cpu`

// A measurement over fixed, known-good inputs (the tests' fixtures), not request handling.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use ai_architect_academy::gateway::catalogue::Catalogue;
use ai_architect_academy::gateway::sse::Meter;
use ai_architect_academy::gateway::usage::Usage;
use ai_architect_academy::gateway::wire::{self, Limits};
use ai_architect_academy::gateway::{pricing, Dialect};
use ai_architect_academy::transcripts::{build, redact};
use std::time::Instant;

fn main() {
    let catalogue = Catalogue::builtin();
    let limits = Limits { max_messages: 1000, max_output_tokens_cap: 16_384 };
    // A realistic lab request: a system prompt, a few turns, one tool.
    let body = serde_json::json!({
        "model": "course-strong", "max_tokens": 1024, "system": "You triage support tickets. Answer JSON only.",
        "tools": [{"name": "lookup_order", "description": "Look up an order by id", "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}}],
        "messages": [
            {"role": "user", "content": "Checkout returns HTTP 500 for all customers since 09:10. ".repeat(20)},
            {"role": "assistant", "content": "Looking into it."},
            {"role": "user", "content": "Order ORD-123456 failed too; my key is aa_abcdefghijklmnopqrstuvwxyz012345."},
        ]
    })
    .to_string()
    .into_bytes();
    let json_answer: serde_json::Value = serde_json::from_str(include_str!("../tests/fixtures/anthropic/message-tool-use.json")).unwrap();
    let sse = include_bytes!("../tests/fixtures/anthropic/stream-text.sse");
    let secrets = ["aa_abcdefghijklmnopqrstuvwxyz012345", "sk-ant-api03-academy"];

    let n = 20_000;
    let t = Instant::now();
    let mut sink = 0usize;
    for i in 0..n {
        let valid = wire::parse(Dialect::Anthropic, &body, catalogue, &limits).unwrap();
        let bound = valid.upper_bound(body.len());
        let upstream = valid.upstream_body();
        let stream = i % 2 == 0;
        let (usage, received_sse);
        if stream {
            let mut meter = Meter::new(Dialect::Anthropic, false);
            let mut out = Vec::new();
            for chunk in sse.chunks(512) {
                meter.feed_into(chunk, &mut out);
            }
            usage = meter.outcome().exact_usage().unwrap_or_default();
            received_sse = Some(out);
        } else {
            usage = Usage::from_anthropic(&json_answer["usage"]);
            received_sse = None;
        }
        let cost = pricing::cost(valid.model(), &usage);
        let received = match &received_sse {
            Some(bytes) => build::Received::Stream(bytes),
            None => build::Received::Json(&json_answer),
        };
        let ex = build::Exchange {
            request_id: "req_01JBENCH", learner_id: "lrn_bench", dialect: Dialect::Anthropic, model: "course-strong",
            upstream_model: Some("claude-sonnet-5-5"), request: valid.body(), stream, received, status: 200, outcome: "ok",
            usage: &usage, cost_micros: cost.0, estimated: false, created_at_ms: 1_795_700_000_000, latency_ms: 900,
            ttfb_ms: Some(120), lesson_id: Some("agentic-loop"), run_id: None, aig_log_id: Some("log"), request_headers: &[],
        };
        let mut doc = build::transcript(&ex);
        redact::redact(&mut doc, &secrets);
        let bytes = build::to_bytes(&doc, 1024 * 1024);
        sink += bytes.len() + upstream.len() + bound.cost.0 as usize;
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("native CPU per gateway request (pure parts, half streamed): {per:.1} µs  ({} bytes of request; check {sink})", body.len());
}
