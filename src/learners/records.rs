//! Rows the learners' store reads, as plain data the pages and JSON render.
//!
//! Pure.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct Profile {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: i64,
    pub disabled: i64,
    pub budget_micros: i64,
    pub daily_budget_micros: i64,
    pub spent_micros: i64,
    pub reserved_micros: i64,
    pub today_micros: i64,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct KeyRow {
    pub id: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ProgressRow {
    pub lesson_id: String,
    pub started_at: i64,
    pub completed_at: Option<i64>,
    pub best_score: Option<i64>,
    pub attempts: i64,
    pub lab_passed_at: Option<i64>,
}
