//! Integration tests over HTTP against the real worker in `wrangler dev` (local D1 and R2), with
//! a stub AI Gateway in this process. One binary; `helpers.rs` is the harness.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod helpers;
mod stub;

mod browser;
mod course;
mod docs;
mod gateway;
mod health;
mod hostile;
mod learners;
mod transcripts;
