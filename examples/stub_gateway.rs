//! The tests' stub AI Gateway as a standalone server, for the bench (and for trying SDKs by
//! hand): `cargo run --release --example stub_gateway -- 8788` serves
//! `http://127.0.0.1:8788/v1/{account}/{gateway}/{anthropic/v1/messages,openai/chat/completions}`.

#[path = "../tests/api/stub.rs"]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod stub;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8788);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("stub AI Gateway on http://127.0.0.1:{port}/v1/test-account/test-gateway");
    stub::serve(listener).await
}
