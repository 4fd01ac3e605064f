//! The metered model gateway (issue 5): the Anthropic- and OpenAI-compatible endpoints,
//! forwarded through AI Gateway and charged against each learner's budget.
//!
//! Pure modules (native-tested): `catalogue` (models and prices), `pricing` (exact integer
//! cost), `usage` (tokens by kind, one constructor per dialect), `sse` (the incremental
//! stream meter), `wire` (request validation and the reservation's upper bound), `demo`
//! (the offline model). Adapters that touch D1, R2 or `fetch` come with the routes.

pub mod catalogue;
pub mod demo;
pub mod pricing;
pub mod reserve;
#[cfg(target_arch = "wasm32")]
pub mod routes;
#[cfg(target_arch = "wasm32")]
pub mod store;
pub mod sse;
pub mod tags;
pub mod usage;
pub mod wire;

/// Which provider API shape a request or response speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// `POST /v1/messages`, Anthropic Messages API.
    Anthropic,
    /// `POST /v1/chat/completions`, OpenAI Chat Completions.
    #[serde(rename = "openai")]
    OpenAi,
}
