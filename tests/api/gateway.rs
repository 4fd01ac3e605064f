//! The metered gateway over HTTP, against the stub AI Gateway with priced models (`course-strong`
//! is forwarded to the stub and priced from the catalogue; the free `demo` answers offline).

use crate::helpers::{json, spawn_app, spawn_app_with, Learner, Setup, TestApp};
use crate::stub::stub;
use futures_util::StreamExt;
use serde_json::{json, Value};

fn catalogue() -> Value {
    serde_json::from_str(include_str!("../../src/gateway/catalogue.json")).unwrap()
}

/// micro-USD per million tokens of `kind` for `alias`, from the catalogue file.
fn price(alias: &str, kind: &str) -> u128 {
    let c = catalogue();
    let models = c.as_array().or_else(|| c["models"].as_array()).unwrap().clone();
    let m = models.iter().find(|m| m["alias"] == alias).unwrap();
    m["prices"][kind].as_u64().unwrap() as u128
}

/// The exact cost the academy must charge, rounded up once.
fn cost(alias: &str, input: u128, output: u128) -> i64 {
    let picos = input * price(alias, "input") + output * price(alias, "output");
    picos.div_ceil(1_000_000) as i64
}

fn usd(micros: i64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// A unique marker for this test's requests, so the stub's recorder can find them.
fn nonce() -> String {
    format!("t{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

fn messages(model: &str, prompt: &str, max_tokens: u64, stream: bool) -> Value {
    json!({"model": model, "max_tokens": max_tokens, "stream": stream, "messages": [{"role": "user", "content": prompt}]})
}

fn chat(model: &str, prompt: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_completion_tokens": 50, "messages": [{"role": "user", "content": prompt}]})
}

async fn post(app: &TestApp, l: &Learner, path: &str, body: &Value) -> reqwest::Response {
    app.as_key("POST", path, &l.key).json(body).send().await.unwrap()
}

#[tokio::test]
async fn a_plain_call_is_forwarded_metered_and_charged_exactly() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    let resp = post(&app, &l, "/v1/messages", &messages("course-strong", &format!("hello {n} [stub:usage=1234,56]"), 100, false)).await;
    assert_eq!(resp.status(), 200);
    let want = cost("course-strong", 1234, 56);
    assert_eq!(resp.headers()["x-academy-cost-usd"], usd(want).as_str());
    let request_id = resp.headers()["x-academy-request-id"].to_str().unwrap().to_string();
    assert!(request_id.starts_with("req_"));
    assert!(resp.headers().contains_key("x-academy-budget-remaining-usd"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["usage"]["input_tokens"], 1234);

    let rows = app.usage_rows(&l.key, 1).await;
    let row = &rows[0];
    assert_eq!(row["request_id"], request_id.as_str());
    assert_eq!((row["input_tokens"].as_i64(), row["output_tokens"].as_i64(), row["cost_micros"].as_i64()), (Some(1234), Some(56), Some(want)));
    assert_eq!(row["outcome"], "ok");
    assert_eq!(row["estimated"], 0);
    assert!(row["aig_log_id"].as_str().is_some_and(|s| !s.is_empty()));
    let b = app.settled(&l.key).await;
    assert_eq!(b["spent_usd"], usd(want).as_str());

    // What the stub received: the upstream id, the academy's credentials and tags only.
    let got = stub().requests_containing(&n);
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.body["model"], "claude-sonnet-5-5");
    assert_eq!(r.header("x-api-key"), Some(crate::helpers::ANTHROPIC_KEY), "the academy's provider key, not the learner's");
    assert!(!r.raw.contains(&l.key));
    let meta: Value = serde_json::from_str(r.header("cf-aig-metadata").unwrap()).unwrap();
    assert_eq!(meta["learner"].as_str(), Some(l.id.as_str()));
    assert_eq!(meta["request"].as_str(), Some(request_id.as_str()));
    assert_eq!(r.header("cf-aig-collect-log-payload"), Some("false"));
}

#[tokio::test]
async fn client_sent_gateway_headers_and_keys_are_never_forwarded() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    let resp = app
        .as_key("POST", "/v1/messages", &l.key)
        .header("cf-aig-authorization", "Bearer stolen")
        .header("cf-aig-metadata", "{\"learner\":\"someone-else\"}")
        .header("cf-aig-skip-cache", "true")
        .header("anthropic-beta", "some-billing-beta")
        .header("x-academy-lesson", "model-api/run-1")
        .json(&messages("course-strong", &format!("hi {n}"), 50, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = &stub().requests_containing(&n)[0];
    assert!(r.header("cf-aig-authorization").is_none());
    assert!(r.header("cf-aig-skip-cache").is_none());
    assert!(r.header("anthropic-beta").is_none(), "betas off the allowlist are dropped");
    let meta: Value = serde_json::from_str(r.header("cf-aig-metadata").unwrap()).unwrap();
    assert_eq!(meta["learner"].as_str(), Some(l.id.as_str()));
    assert_eq!(meta["lesson"], "model-api");
    assert_eq!(meta["run"], "run-1");
    let rows = app.usage_rows(&l.key, 1).await;
    assert_eq!((rows[0]["lesson_id"].as_str(), rows[0]["run_id"].as_str()), (Some("model-api"), Some("run-1")));
}

#[tokio::test]
async fn a_streamed_call_is_forwarded_verbatim_and_charged_from_its_final_usage() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    let resp = post(&app, &l, "/v1/messages", &messages("course-strong", &format!("stream {n} [stub:usage=300,40] [stub:usage-text]"), 100, true)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: message_start"));
    assert!(text.trim_end().ends_with("data: {\"type\":\"message_stop\"               }") || text.contains("event: message_stop"));
    let rows = app.usage_rows(&l.key, 1).await;
    assert_eq!((rows[0]["input_tokens"].as_i64(), rows[0]["output_tokens"].as_i64()), (Some(300), Some(40)), "usage-looking model text must not fool the meter");
    assert_eq!(rows[0]["cost_micros"].as_i64(), Some(cost("course-strong", 300, 40)));
    assert_eq!(rows[0]["stream"], 1);
    app.settled(&l.key).await;
}

#[tokio::test]
async fn openai_streams_get_usage_added_and_the_extra_chunk_hidden() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    let resp = post(&app, &l, "/v1/chat/completions", &chat("course-openai", &format!("hi {n} [stub:usage=77,9]"), true)).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("data: [DONE]"));
    assert!(!text.contains("\"prompt_tokens\""), "the usage chunk the academy asked for is not shown");
    let r = &stub().requests_containing(&n)[0];
    assert_eq!(r.body["stream_options"]["include_usage"], true);
    assert_eq!(r.body["max_completion_tokens"], 50);
    assert_eq!(r.header("authorization").map(str::to_string), Some(format!("Bearer {}", crate::helpers::OPENAI_KEY)));
    let rows = app.usage_rows(&l.key, 1).await;
    assert_eq!((rows[0]["input_tokens"].as_i64(), rows[0]["output_tokens"].as_i64(), rows[0]["estimated"].as_i64()), (Some(77), Some(9), Some(0)));

    // A client that asked for usage gets it.
    let n2 = nonce();
    let mut body = chat("course-openai", &format!("hi {n2} [stub:usage=5,3]"), true);
    body["stream_options"] = json!({"include_usage": true});
    let text = post(&app, &l, "/v1/chat/completions", &body).await.text().await.unwrap();
    assert!(text.contains("\"prompt_tokens\":5"));
}

#[tokio::test]
async fn upstream_errors_reach_the_client_shaped_and_charge_nothing() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    for (marker, want, ty) in [
        ("[stub:status=400]", 400, "invalid_request_error"),
        ("[stub:status=429]", 429, "rate_limit_error"),
        ("[stub:status=500]", 500, "api_error"),
        ("[stub:status=529]", 529, "overloaded_error"),
        ("[stub:status=401]", 502, "api_error"),
        ("[stub:aig-error]", 502, "api_error"),
    ] {
        let resp = post(&app, &l, "/v1/messages", &messages("course-strong", &format!("x {} {marker}", nonce()), 50, false)).await;
        let status = resp.status().as_u16();
        let should_retry = resp.headers().get("x-should-retry").map(|v| v.to_str().unwrap().to_string());
        let retry_after = resp.headers().get("retry-after").is_some();
        let (_, body) = json(resp).await;
        assert_eq!(status, want, "{marker}: {body}");
        assert_eq!(body["type"], "error", "{marker}");
        assert_eq!(body["error"]["type"], ty, "{marker}: {body}");
        if want == 502 {
            assert_eq!(should_retry.as_deref(), Some("false"), "{marker}");
        }
        if want == 429 {
            assert!(retry_after, "429 keeps retry-after");
        }
    }
    let rows = app.usage_rows(&l.key, 6).await;
    assert!(rows.iter().all(|r| r["cost_micros"] == 0 && r["outcome"] != "ok"), "{rows:?}");
    let b = app.settled(&l.key).await;
    assert_eq!(b["spent_usd"], "0.000000");
}

#[tokio::test]
async fn a_hung_upstream_is_a_504_with_nothing_charged() {
    let app = spawn_app_with(Setup::Timeout).await;
    let l = app.enroll().await;
    let resp = post(&app, &l, "/v1/messages", &messages("course-strong", &format!("x {} [stub:hang]", nonce()), 50, false)).await;
    assert_eq!(resp.status(), 504);
    let (_, body) = json(resp).await;
    assert_eq!(body["error"]["type"], "timeout_error");
    let rows = app.usage_rows(&l.key, 1).await;
    assert_eq!((rows[0]["outcome"].as_str(), rows[0]["cost_micros"].as_i64()), (Some("timeout"), Some(0)));
    let b = app.settled(&l.key).await;
    assert_eq!(b["spent_usd"], "0.000000");
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_in_an_error_event_and_an_estimated_charge() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    let resp = post(&app, &l, "/v1/messages", &messages("course-strong", &format!("cut {n} [stub:usage=200,30] [stub:cut]"), 100, true)).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap_or_default();
    assert!(text.contains("event: error"), "{text}");
    let rows = app.usage_rows(&l.key, 1).await;
    let row = &rows[0];
    assert_eq!(row["estimated"], 1);
    assert_eq!(row["outcome"], "cut");
    assert_eq!(row["input_tokens"], 200, "message_start's input is kept");
    let out = row["output_tokens"].as_i64().unwrap();
    assert!(out > 0 && out <= 100, "output estimated from what arrived, capped at max_tokens: {out}");
    app.settled(&l.key).await;
}

#[tokio::test]
async fn a_client_that_disconnects_is_still_charged_the_real_usage() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    let resp = post(&app, &l, "/v1/messages", &messages("course-strong", &format!("slow {n} [stub:usage=150,12] [stub:slow=150]"), 100, true)).await;
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(stream);
    let rows = app.usage_rows(&l.key, 1).await;
    assert_eq!((rows[0]["input_tokens"].as_i64(), rows[0]["output_tokens"].as_i64(), rows[0]["estimated"].as_i64()), (Some(150), Some(12), Some(0)));
    app.settled(&l.key).await;
}

#[tokio::test]
async fn concurrent_requests_cannot_overspend_a_budget() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    // Each answer takes 2 s, so every reservation is still held while the other 49 try theirs.
    let body = messages("course-strong", &format!("race {n} [stub:slow=2000]"), 100, false);
    let len = serde_json::to_vec(&body).unwrap().len() as u128;
    // The reservation's upper bound (DESIGN.md §6): body bytes + 2048 at the dearest input rate,
    // plus max_tokens at the output rate, rounded up once.
    let dearest = price("course-strong", "input").max(price("course-strong", "cache_write_5m")).max(price("course-strong", "cache_write_1h"));
    let bound = ((len + 2048) * dearest + 100 * price("course-strong", "output")).div_ceil(1_000_000) as i64;
    let (s, _) = json(app.as_admin("PATCH", &format!("/api/admin/learners/{}", l.id)).json(&json!({"budget_usd": usd(bound * 5), "daily_budget_usd": "100"})).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let calls = (0..50).map(|_| {
        let req = app.as_key("POST", "/v1/messages", &l.key).json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 402).count(), 45, "{statuses:?}");
    assert_eq!(stub().count_containing(&n), 5, "refused requests never reach the upstream");
    let b = app.settled(&l.key).await;
    let spent: f64 = b["spent_usd"].as_str().unwrap().parse().unwrap();
    assert!(spent * 1e6 <= (bound * 5) as f64);
}

#[tokio::test]
async fn a_refusal_for_budget_shows_the_arithmetic() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    app.as_admin("PATCH", &format!("/api/admin/learners/{}", l.id)).json(&json!({"budget_usd": "0.01"})).send().await.unwrap();
    let resp = post(&app, &l, "/v1/messages", &messages("course-strong", "hello", 100_000, false)).await;
    assert_eq!(resp.status(), 402);
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let (_, body) = json(resp).await;
    assert_eq!(body["error"]["type"], "billing_error");
    let m = body["error"]["message"].as_str().unwrap();
    assert!(m.contains("$0.010000 left") && m.contains("Lower `max_tokens` to at most"), "{m}");
}

#[tokio::test]
async fn bad_input_is_refused_before_any_upstream_call() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    let many: Vec<Value> = (0..10_000).map(|_| json!({"role": "user", "content": n})).collect();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (format!("{{not json {n}").into_bytes(), 400),
        (json!({"model": "course-strong", "messages": [{"role": "user", "content": n}], "max_tokens": -5}).to_string().into_bytes(), 400),
        (json!({"model": "course-strong", "messages": [{"role": "user", "content": n}], "max_tokens": 1.5}).to_string().into_bytes(), 400),
        (json!({"model": "course-strong", "messages": [{"role": "user", "content": n}], "max_tokens": "100"}).to_string().into_bytes(), 400),
        (format!(r#"{{"model":"course-strong","messages":[{{"role":"user","content":"{n}"}}],"max_tokens":NaN}}"#).into_bytes(), 400),
        (json!({"model": "course-strong", "messages": [], "max_tokens": 5, "n": n}).to_string().into_bytes(), 400),
        (json!({"model": "gpt-17-ultra", "messages": [{"role": "user", "content": n}], "max_tokens": 5}).to_string().into_bytes(), 400),
        (json!({"model": "course-strong", "messages": many, "max_tokens": 5}).to_string().into_bytes(), 400),
        (json!({"model": "course-strong", "messages": [{"role": "user", "content": format!("{n}{}", "x".repeat(2_000_000))}], "max_tokens": 5}).to_string().into_bytes(), 413),
        (json!({"model": "course-strong", "messages": [{"role": "user", "content": n}], "max_tokens": 5, "stream": "yes"}).to_string().into_bytes(), 400),
        (json!({"model": "course-strong", "messages": [{"role": "user", "content": n}], "max_tokens": 5, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}).to_string().into_bytes(), 400),
    ];
    for (body, want) in cases {
        let resp = app.as_key("POST", "/v1/messages", &l.key).header("content-type", "application/json").body(body.clone()).send().await.unwrap();
        let (status, err) = json(resp).await;
        assert_eq!(status, want, "{}: {err}", String::from_utf8_lossy(&body[..body.len().min(80)]));
        assert_eq!(err["type"], "error");
    }
    let chat_n = json!({"model": "course-openai", "messages": [{"role": "user", "content": n}], "n": 3});
    let (s, _) = json(post(&app, &l, "/v1/chat/completions", &chat_n).await).await;
    assert_eq!(s, 400);
    let ok = messages("course-strong", &n, 5, false);
    let (s, _) = json(app.request("POST", "/v1/messages").json(&ok).send().await.unwrap()).await;
    assert_eq!(s, 401, "no key");
    let (s, _) = json(app.as_key("POST", "/v1/messages", "aa_notakey").json(&ok).send().await.unwrap()).await;
    assert_eq!(s, 401);
    let (s, _) = json(app.as_key("POST", "/v1/messages", &l.key).header("x-academy-lesson", "no-such-lesson").json(&ok).send().await.unwrap()).await;
    assert_eq!(s, 400);
    let (_, rotated) = json(app.as_key("POST", "/api/me/keys/rotate", &l.key).send().await.unwrap()).await;
    let (s, _) = json(app.as_key("POST", "/v1/messages", &l.key).json(&ok).send().await.unwrap()).await;
    assert_eq!(s, 401, "a revoked key is refused on its next request");
    assert_eq!(stub().count_containing(&n), 0, "nothing reached the upstream");
    assert!(rotated["key"].is_string());
    assert_eq!(app.budget(rotated["key"].as_str().unwrap()).await["reserved_usd"], "0.000000");
}

#[tokio::test]
async fn max_tokens_above_the_model_maximum_is_clamped_not_refused() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let n = nonce();
    let resp = post(&app, &l, "/v1/messages", &messages("course-strong", &format!("clamp {n}"), 10_000_000, false)).await;
    assert_eq!(resp.status(), 200);
    let sent = stub().requests_containing(&n)[0].body["max_tokens"].as_u64().unwrap();
    assert!(sent < 10_000_000 && sent > 0, "{sent}");
}

#[tokio::test]
async fn models_list_is_one_body_both_sdks_accept() {
    let app = spawn_app().await;
    let (s, body) = json(app.get("/v1/models").await).await;
    assert_eq!(s, 200);
    assert_eq!(body["object"], "list");
    assert_eq!(body["has_more"], false);
    let data = body["data"].as_array().unwrap();
    assert!(data.iter().any(|m| m["id"] == "demo"));
    assert!(data.iter().any(|m| m["id"] == "course-strong"));
    for m in data {
        for field in ["id", "object", "type", "display_name", "created", "created_at", "owned_by"] {
            assert!(!m[field].is_null(), "{field} in {m}");
        }
    }
    assert_eq!(body["first_id"], data[0]["id"]);
}

#[tokio::test]
async fn the_offline_demo_model_answers_both_shapes_for_free() {
    let app = spawn_app_with(Setup::Offline).await;
    let l = app.enroll().await;
    let resp = post(&app, &l, "/v1/messages", &messages("demo", "Say hello", 200, false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-academy-cost-usd"], "0.000000");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert!(body["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let text = post(&app, &l, "/v1/chat/completions", &chat("demo", "Say hello", true)).await.text().await.unwrap();
    assert!(text.contains("data: [DONE]"));
    let (s, err) = json(post(&app, &l, "/v1/messages", &messages("course-strong", "hi", 20, false)).await).await;
    assert_eq!(s, 400, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("demo"));
    let (_, models) = json(app.get("/v1/models").await).await;
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
    let rows = app.usage_rows(&l.key, 2).await;
    assert!(rows.iter().all(|r| r["cost_micros"] == 0 && r["provider"] == "demo"));
}

#[tokio::test]
async fn the_sweep_settles_nothing_that_is_still_live() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    post(&app, &l, "/v1/messages", &messages("course-strong", &format!("{} sweep", nonce()), 10, false)).await;
    let resp = app.get("/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*").await;
    assert!(resp.status().is_success());
    let rows = app.usage_rows(&l.key, 1).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "ok");
}

#[tokio::test]
async fn the_sweep_settles_reservations_whose_request_died() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    // A reservation left behind by a worker that died an hour ago (written straight into the
    // local D1, as the dead worker would have; the `reservations_take` trigger moves the counters).
    let (_, me) = json(app.as_key("GET", "/api/me/keys", &l.key).send().await.unwrap()).await;
    let key_id = me["keys"][0]["id"].as_str().unwrap().to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let day = crate::helpers::utc_day(now);
    let id = format!("req_0DEAD{}", &nonce()[1..]).chars().take(30).collect::<String>();
    let sql = format!(
        "INSERT INTO reservations (id, learner_id, key_id, day, amount_micros, created_at, expires_at) VALUES ('{id}', '{lid}', '{key_id}', '{day}', 777, {c}, {e});",
        lid = l.id,
        c = now - 3_600_000,
        e = now - 60_000
    );
    crate::helpers::d1_execute(&app, &sql).await;
    assert_eq!(app.budget(&l.key).await["reserved_usd"], "0.000777");
    let resp = app.get("/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*").await;
    assert!(resp.status().is_success());
    let rows = app.usage_rows(&l.key, 1).await;
    let row = rows.iter().find(|r| r["request_id"] == id.as_str()).unwrap();
    assert_eq!((row["outcome"].as_str(), row["estimated"].as_i64(), row["cost_micros"].as_i64()), (Some("abandoned"), Some(1), Some(777)));
    let b = app.settled(&l.key).await;
    assert_eq!(b["spent_usd"], "0.000777");
}

#[tokio::test]
async fn a_key_over_its_request_rate_gets_429_with_retry_after() {
    let app = spawn_app_with(Setup::TightKey).await;
    let l = app.enroll().await;
    let body = messages("demo", "hi", 5, false);
    let mut statuses = Vec::new();
    let mut limited = None;
    // The limiter's window is a fixed 60 s: a burst may straddle two windows, so 130 requests
    // guarantee that one window sees more than 60.
    for _ in 0..130 {
        let resp = post(&app, &l, "/v1/messages", &body).await;
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 && limited.is_none() {
            limited = Some((resp.headers().get("retry-after").is_some(), resp.json::<Value>().await.unwrap()));
        }
    }
    assert!(statuses.iter().filter(|s| **s == 200).count() <= 120, "{statuses:?}");
    let (retry_after, body) = limited.expect("more than 60 requests in a window are refused");
    assert!(retry_after);
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn a_stream_without_usage_is_charged_an_estimate_never_zero() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let text = post(&app, &l, "/v1/chat/completions", &chat("course-openai", &format!("{} [stub:no-usage] [stub:usage=40,10]", nonce()), true)).await.text().await.unwrap();
    assert!(text.contains("data: [DONE]"));
    let rows = app.usage_rows(&l.key, 1).await;
    let row = &rows[0];
    assert_eq!((row["estimated"].as_i64(), row["outcome"].as_str()), (Some(1), Some("no_usage")));
    assert!(row["output_tokens"].as_i64().unwrap() > 0);
    assert!(row["cost_micros"].as_i64().unwrap() > 0, "an upper estimate, never 0");
    app.settled(&l.key).await;
}

#[tokio::test]
async fn a_malformed_event_does_not_break_metering_or_the_stream() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let text = post(&app, &l, "/v1/messages", &messages("course-strong", &format!("{} [stub:malformed] [stub:usage=70,11]", nonce()), 50, true)).await.text().await.unwrap();
    assert!(text.contains("event: message_stop"));
    let rows = app.usage_rows(&l.key, 1).await;
    assert_eq!((rows[0]["input_tokens"].as_i64(), rows[0]["output_tokens"].as_i64(), rows[0]["estimated"].as_i64()), (Some(70), Some(11), Some(0)));
}

#[tokio::test]
async fn an_openai_stream_cut_mid_way_is_estimated_and_ends_in_an_error_chunk() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let resp = post(&app, &l, "/v1/chat/completions", &chat("course-openai", &format!("{} [stub:cut] [stub:usage=50,30]", nonce()), true)).await;
    let text = resp.text().await.unwrap_or_default();
    assert!(text.contains("\"error\""), "{text}");
    assert!(!text.contains("[DONE]"));
    let rows = app.usage_rows(&l.key, 1).await;
    assert_eq!((rows[0]["estimated"].as_i64(), rows[0]["outcome"].as_str()), (Some(1), Some("cut")));
    assert!(rows[0]["cost_micros"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn a_json_answer_without_usage_is_charged_the_reservation_as_an_estimate() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let resp = post(&app, &l, "/v1/messages", &messages("course-strong", &format!("{} [stub:no-usage]", nonce()), 30, false)).await;
    assert_eq!(resp.status(), 200);
    let rows = app.usage_rows(&l.key, 1).await;
    assert_eq!((rows[0]["estimated"].as_i64(), rows[0]["outcome"].as_str()), (Some(1), Some("no_usage")));
    assert!(rows[0]["cost_micros"].as_i64().unwrap() > 0);
}
