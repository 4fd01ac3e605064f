//! Small helpers over D1 for the adapters: binding values the way D1 accepts them, and mapping
//! its errors to a logged 500. D1 binds integers as i32 at most; larger ones go as f64, exact
//! below 2^53 (TOOLCHAIN.md).

use crate::http::ApiError;
use wasm_bindgen::JsValue;
use worker::{D1PreparedStatement, D1Result};

pub fn text(v: &str) -> JsValue {
    JsValue::from_str(v)
}

pub fn int(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

pub fn opt_text(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

pub fn opt_int(v: Option<i64>) -> JsValue {
    v.map_or(JsValue::NULL, int)
}

/// Logs a D1 failure with its context and returns the generic 500.
pub fn fail(context: &'static str) -> impl Fn(worker::Error) -> ApiError {
    move |e| {
        worker::console_error!("d1 {context}: {e}");
        ApiError::internal("database_error")
    }
}

pub fn bind(stmt: D1PreparedStatement, values: &[JsValue], context: &'static str) -> Result<D1PreparedStatement, ApiError> {
    stmt.bind(values).map_err(fail(context))
}

/// Rows changed by a statement (0 when D1 does not say).
pub fn changes(result: &D1Result) -> usize {
    result.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0)
}
