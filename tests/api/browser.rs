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
}

#[tokio::test]
async fn course_in_chromium() {
    node_suite("course.test.mjs", &[]).await;
}

#[tokio::test]
async fn learner_journey_in_chromium() {
    node_suite("learner.test.mjs", &[]).await;
}
