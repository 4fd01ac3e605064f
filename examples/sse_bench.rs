//! Native throughput of the SSE usage meter (`gateway::sse::Meter`): the recorded fixture
//! streams of each dialect, repeated to about 100 MB, fed in 4 KiB chunks as a pump would.
//!
//! Run: `cargo run --release --example sse_bench` (the release profile is the deployed one,
//! `opt-level = "z"`; `CARGO_PROFILE_RELEASE_OPT_LEVEL=3` shows what speed-tuned code does).
//! Timings are for comparing runs on one machine, never assertions.

use std::hint::black_box;
use std::time::Instant;

use ai_architect_academy::gateway::sse::Meter;
use ai_architect_academy::gateway::Dialect;

const TARGET_BYTES: usize = 100 << 20;
const CHUNK: usize = 4 << 10;
const ROUNDS: usize = 3;

const ANTHROPIC: [&[u8]; 6] = [
    include_bytes!("../tests/fixtures/anthropic/stream-text.sse"),
    include_bytes!("../tests/fixtures/anthropic/stream-text-cache-read.sse"),
    include_bytes!("../tests/fixtures/anthropic/stream-tool-use.sse"),
    include_bytes!("../tests/fixtures/anthropic/stream-server-tool-use.sse"),
    include_bytes!("../tests/fixtures/anthropic/stream-error.sse"),
    include_bytes!("../tests/fixtures/anthropic/stream-error-observed.sse"),
];

const OPENAI: [&[u8]; 4] = [
    include_bytes!("../tests/fixtures/openai/stream-text.sse"),
    include_bytes!("../tests/fixtures/openai/stream-text-cached.sse"),
    include_bytes!("../tests/fixtures/openai/stream-tool-calls.sse"),
    include_bytes!("../tests/fixtures/openai/stream-text-no-usage.sse"),
];

/// The fixtures concatenated and repeated to at least `TARGET_BYTES`.
fn corpus(files: &[&[u8]]) -> Vec<u8> {
    let one: Vec<u8> = files.concat();
    let mut all = Vec::with_capacity(TARGET_BYTES + one.len());
    while all.len() < TARGET_BYTES {
        all.extend_from_slice(&one);
    }
    all
}

/// Seconds to meter `corpus` once, the best of `ROUNDS`; and the bytes forwarded.
fn time(dialect: Dialect, hide: bool, corpus: &[u8]) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut forwarded = 0;
    for _ in 0..ROUNDS {
        let mut meter = Meter::new(dialect, hide);
        let mut out = Vec::with_capacity(2 * CHUNK);
        forwarded = 0;
        let start = Instant::now();
        for chunk in corpus.chunks(CHUNK) {
            out.clear();
            meter.feed_into(black_box(chunk), &mut out);
            forwarded += out.len();
        }
        forwarded += meter.finish().len();
        black_box(meter.outcome());
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, forwarded)
}

fn main() {
    // An optional argument picks the rows whose name contains it (e.g. `anthropic`).
    let only = std::env::args().nth(1).unwrap_or_default();
    println!("SSE meter, {CHUNK}-byte chunks, best of {ROUNDS}");
    println!("{:<28} {:>10} {:>10} {:>10}", "stream", "MB", "ms", "MB/s");
    let mut total_bytes = 0.0;
    let mut total_secs = 0.0;
    for (name, dialect, hide, files) in [
        ("anthropic fixtures", Dialect::Anthropic, false, &ANTHROPIC[..]),
        ("openai fixtures", Dialect::OpenAi, false, &OPENAI[..]),
        ("openai, hiding usage chunk", Dialect::OpenAi, true, &OPENAI[..]),
    ] {
        if !name.contains(only.as_str()) {
            continue;
        }
        let data = corpus(files);
        let (secs, forwarded) = time(dialect, hide, &data);
        assert!(forwarded <= data.len());
        let mb = data.len() as f64 / 1e6;
        println!("{name:<28} {mb:>10.1} {:>10.1} {:>10.0}", secs * 1e3, mb / secs);
        total_bytes += mb;
        total_secs += secs;
    }
    println!("{:<28} {total_bytes:>10.1} {:>10.1} {:>10.0}", "all", total_secs * 1e3, total_bytes / total_secs);
}
