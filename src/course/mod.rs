//! The course: the compiled catalogue, search and quiz grading (pure), and the pages and JSON
//! routes that serve them (wasm32).

pub mod catalogue;
pub mod quiz;
pub mod search;
pub mod text;
#[cfg(target_arch = "wasm32")]
pub mod routes;
pub mod pages;
