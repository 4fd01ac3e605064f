//! Real clients in Node (headless Chromium through playwright-core; later the official SDKs),
//! launched from here so one `cargo test` runs everything, with the academy's and the stub's
//! URLs in their environment.

use crate::helpers::{root, spawn_app};
use std::process::Command;

/// Runs one `node --test` file against the default instance; fails with its output.
pub async fn node_suite(file: &str, extra_env: &[(&str, String)]) {
    let app = spawn_app().await;
    let root = root();
    let mut cmd = Command::new("node");
    cmd.current_dir(&root)
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg(root.join("tests/node").join(file))
        .env("ACADEMY_URL", &app.base)
        .env("STUB_URL", crate::stub::stub().origin());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{file} failed:\n{text}\n--- worker log ---\n{}", app.log());
    // A suite that ran nothing must not pass.
    let passed = text.lines().find_map(|l| l.trim().strip_prefix("ℹ pass ")).and_then(|n| n.trim().parse::<u32>().ok());
    assert!(passed.is_some_and(|n| n > 0), "{file} ran no tests:\n{text}");
}

#[tokio::test]
async fn course_in_chromium() {
    node_suite("course.test.mjs", &[]).await;
}

#[tokio::test]
async fn learner_journey_in_chromium() {
    node_suite("learner.test.mjs", &[]).await;
}

#[tokio::test]
async fn official_sdks_against_the_academy() {
    let app = spawn_app().await;
    let rich = app.enroll().await;
    let poor = app.enroll().await;
    let resp = app.as_admin("PATCH", &format!("/api/admin/learners/{}", poor.id)).json(&serde_json::json!({"budget_usd": "0"})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    node_suite("sdk.test.mjs", &[("ACADEMY_KEY", rich.key), ("ACADEMY_POOR_KEY", poor.key)]).await;
}
