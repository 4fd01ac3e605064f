//! HTTP plumbing shared by every capability: the error type and its three renderings, security
//! and CORS headers, and (on wasm32) the adapters that turn them into `worker::Response`s.
//!
//! Knows no capability: it renders what it is given.

pub mod cors;
pub mod error;
pub mod headers;
#[cfg(target_arch = "wasm32")]
pub mod respond;

pub use error::{ApiError, Family};

