//! Learners over HTTP: enrollment, keys, sessions, progress, quizzes, export and deletion, and
//! two learners trying to reach each other's data.

use crate::helpers::{json, spawn_app, spawn_app_with, Setup};
use serde_json::json;

#[tokio::test]
async fn enrollment_returns_the_key_once_with_a_session_cookie_and_the_default_budget() {
    let app = spawn_app().await;
    let resp = app.request("POST", "/api/enroll").json(&json!({"name": "Ada", "email": "ada@example.com"})).send().await.unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("aa_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"));
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    let (status, body) = json(resp).await;
    assert_eq!(status, 201, "{body}");
    let key = body["key"].as_str().unwrap();
    assert!(key.starts_with("aa_") && key.len() == 35);
    assert_eq!(body["key_prefix"], &key[..9]);
    assert_eq!(body["budget"]["limit_usd"], "5.000000");
    assert_eq!(body["budget"]["remaining_usd"], "1.000000");

    let (status, me) = json(app.as_key("GET", "/api/me", key).send().await.unwrap()).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["name"], "Ada");
    let keys = me["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(!me.to_string().contains(&key[9..]), "the key itself is never shown again");
}

#[tokio::test]
async fn the_session_cookie_and_the_key_both_authenticate() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let (s1, a) = json(app.as_key("GET", "/api/me", &l.key).send().await.unwrap()).await;
    let (s2, b) = json(app.as_cookie("GET", "/api/me", &l.cookie).send().await.unwrap()).await;
    let (s3, c) = json(app.request("GET", "/api/me").header("x-api-key", &l.key).send().await.unwrap()).await;
    assert_eq!((s1, s2, s3), (200, 200, 200));
    assert_eq!(a["learner_id"], b["learner_id"]);
    assert_eq!(a["learner_id"], c["learner_id"]);
    let (status, body) = json(app.get("/api/me").await).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthenticated");
}

#[tokio::test]
async fn bad_credentials_are_401_without_telling_which_part_was_wrong() {
    let app = spawn_app().await;
    let fake = format!("aa_{}", "A".repeat(32));
    for key in ["nope", fake.as_str(), "aa_", "sk-ant-api03-xyz"] {
        let (status, _) = json(app.as_key("GET", "/api/me", key).send().await.unwrap()).await;
        assert_eq!(status, 401, "{key}");
    }
    for cookie in ["aa_session=garbage", "aa_session=lrn_x.0.99999999999999.00", "aa_session="] {
        let (status, _) = json(app.as_cookie("GET", "/api/me", cookie).send().await.unwrap()).await;
        assert_eq!(status, 401, "{cookie}");
    }
}

#[tokio::test]
async fn progress_is_recorded_by_lesson_id_and_never_regresses() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let put = |status: &'static str| app.as_key("PUT", "/api/me/progress/model-api", &l.key).json(&json!({ "status": status }));
    let (s, body) = json(put("started").send().await.unwrap()).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["lesson"]["completed_at"].is_null());
    let (_, body) = json(put("completed").send().await.unwrap()).await;
    let completed_at = body["lesson"]["completed_at"].as_i64().unwrap();
    let (_, body) = json(put("started").send().await.unwrap()).await;
    assert_eq!(body["lesson"]["completed_at"].as_i64(), Some(completed_at));
    let (_, all) = json(app.as_key("GET", "/api/me/progress", &l.key).send().await.unwrap()).await;
    assert_eq!(all["completed"], 1);
    assert_eq!(all["lessons"][0]["lesson_id"], "model-api");
}

#[tokio::test]
async fn bad_progress_and_quiz_input_gets_clear_4xx() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("PUT", "/api/me/progress/no-such-lesson", br#"{"status":"started"}"#.to_vec(), 404),
        ("PUT", "/api/me/progress/model-api", br#"{"status":"done"}"#.to_vec(), 400),
        ("PUT", "/api/me/progress/model-api", br#"{"status":1}"#.to_vec(), 400),
        ("PUT", "/api/me/progress/model-api", br#"{"status":"started","extra":true}"#.to_vec(), 400),
        ("PUT", "/api/me/progress/model-api", b"{not json".to_vec(), 400),
        ("PUT", "/api/me/progress/model-api", b"".to_vec(), 400),
        ("PUT", "/api/me/progress/model-api", b"[]".to_vec(), 400),
        ("PUT", "/api/me/progress/model-api", vec![b' '; 200_000], 413),
        ("POST", "/api/me/quiz/model-api", br#"{"answers":{"q9":"a"}}"#.to_vec(), 400),
        ("POST", "/api/me/quiz/model-api", br#"{"answers":{"q1":"z"}}"#.to_vec(), 400),
        ("POST", "/api/me/quiz/model-api", br#"{"answers":{"q1":1}}"#.to_vec(), 400),
        ("POST", "/api/me/quiz/model-api", br#"{"answers":"b"}"#.to_vec(), 400),
        ("POST", "/api/me/quiz/nope", br#"{"answers":{}}"#.to_vec(), 404),
    ];
    for (method, path, body, want) in cases {
        let (status, err) = json(app.as_key(method, path, &l.key).header("content-type", "application/json").body(body).send().await.unwrap()).await;
        assert_eq!(status, want, "{method} {path}: {err}");
        assert!(err["error"]["message"].as_str().unwrap().len() > 10);
    }
}

#[tokio::test]
async fn quiz_attempts_are_graded_stored_and_the_best_kept() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let attempt = |answers: serde_json::Value| app.as_key("POST", "/api/me/quiz/model-api", &l.key).json(&json!({ "answers": answers }));
    let (s, g) = json(attempt(json!({"q1": "b", "q2": "a", "q3": "b"})).send().await.unwrap()).await;
    assert_eq!(s, 200, "{g}");
    assert_eq!((g["score"].as_u64(), g["total"].as_u64()), (Some(2), Some(3)));
    let q2 = g["results"].as_array().unwrap().iter().find(|r| r["question"] == "q2").unwrap();
    assert_eq!(q2["correct"], false);
    assert_eq!(q2["correct_option"], "c");
    assert!(!q2["why"].as_str().unwrap().is_empty());
    let (_, g) = json(attempt(json!({"q1": "a"})).send().await.unwrap()).await;
    assert_eq!(g["score"], 0);
    assert_eq!(g["best_score"], 2);
    assert_eq!(g["attempts"], 2);
    let (_, p) = json(app.as_key("GET", "/api/me/progress", &l.key).send().await.unwrap()).await;
    assert_eq!(p["lessons"][0]["best_score"], 2);
}

#[tokio::test]
async fn two_learners_cannot_reach_each_others_data() {
    let app = spawn_app().await;
    let a = app.enroll().await;
    let b = app.enroll().await;
    app.as_key("PUT", "/api/me/progress/agentic-loop", &b.key).json(&json!({"status": "completed"})).send().await.unwrap();

    // Each credential sees only its owner.
    let (_, me_a) = json(app.as_key("GET", "/api/me", &a.key).send().await.unwrap()).await;
    assert_eq!(me_a["learner_id"].as_str(), Some(a.id.as_str()));
    let (_, pa) = json(app.as_cookie("GET", "/api/me/progress", &a.cookie).send().await.unwrap()).await;
    assert_eq!(pa["completed"], 0, "A sees none of B's progress");

    // A cannot revoke or rotate B's key by id, nor reach B through the operator API.
    let (s, _) = json(app.as_key("DELETE", &format!("/api/me/keys/{}", b.key_id), &a.key).send().await.unwrap()).await;
    assert_eq!(s, 404);
    let (s, _) = json(app.as_key("POST", "/api/me/keys/rotate", &a.key).json(&json!({"key_id": b.key_id})).send().await.unwrap()).await;
    assert_eq!(s, 404);
    let (s, _) = json(app.as_key("PATCH", &format!("/api/admin/learners/{}", b.id), &a.key).json(&json!({"budget_usd": "999"})).send().await.unwrap()).await;
    assert_eq!(s, 401);
    // B's key still works, so nothing of A's touched it.
    let (s, me_b) = json(app.as_key("GET", "/api/me", &b.key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(me_b["keys"][0]["revoked_at"], serde_json::Value::Null);
    // A's cookie with B's id spliced in is a forgery.
    let forged = a.cookie.replacen(&a.id, &b.id, 1);
    let (s, _) = json(app.as_cookie("GET", "/api/me", &forged).send().await.unwrap()).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once_and_rotation_keeps_progress() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    app.as_key("PUT", "/api/me/progress/mcp", &l.key).json(&json!({"status": "completed"})).send().await.unwrap();
    let (s, rotated) = json(app.as_key("POST", "/api/me/keys/rotate", &l.key).send().await.unwrap()).await;
    assert_eq!(s, 201, "{rotated}");
    let new_key = rotated["key"].as_str().unwrap();
    let (s, _) = json(app.as_key("GET", "/api/me", &l.key).send().await.unwrap()).await;
    assert_eq!(s, 401, "the old key is revoked");
    let (_, p) = json(app.as_key("GET", "/api/me/progress", new_key).send().await.unwrap()).await;
    assert_eq!(p["completed"], 1, "progress stays with the learner");

    let (s, extra) = json(app.as_key("POST", "/api/me/keys", new_key).send().await.unwrap()).await;
    assert_eq!(s, 201);
    let extra_id = extra["key_id"].as_str().unwrap();
    let (s, _) = json(app.as_key("DELETE", &format!("/api/me/keys/{extra_id}"), new_key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let (s, _) = json(app.as_key("GET", "/api/me", extra["key"].as_str().unwrap()).send().await.unwrap()).await;
    assert_eq!(s, 401);
    let (_, keys) = json(app.as_key("GET", "/api/me/keys", new_key).send().await.unwrap()).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn cookie_writes_need_our_own_origin_and_key_writes_do_not() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let body = json!({"status": "started"});
    let evil = app
        .request("PUT", "/api/me/progress/mcp")
        .header("cookie", &l.cookie)
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    let old_browser = app.request("PUT", "/api/me/progress/mcp").header("cookie", &l.cookie).header("origin", "https://evil.example").json(&body).send().await.unwrap();
    assert_eq!(old_browser.status(), 403);
    let no_headers = app.request("PUT", "/api/me/progress/mcp").header("cookie", &l.cookie).json(&body).send().await.unwrap();
    assert_eq!(no_headers.status(), 403);
    let same = app.request("PUT", "/api/me/progress/mcp").header("cookie", &l.cookie).header("origin", app.base.clone()).json(&body).send().await.unwrap();
    assert_eq!(same.status(), 200);
    let key = app.as_key("PUT", "/api/me/progress/mcp", &l.key).header("sec-fetch-site", "cross-site").json(&body).send().await.unwrap();
    assert_eq!(key.status(), 200);
}

#[tokio::test]
async fn sign_in_with_a_key_and_sign_out() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let resp = app.request("POST", "/api/session").json(&json!({"key": l.key})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let (s, _) = json(app.as_cookie("GET", "/api/me", &cookie).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let (s, _) = json(app.request("POST", "/api/session").json(&json!({"key": "aa_wrong"})).send().await.unwrap()).await;
    assert_eq!(s, 401);
    let (s, _) = json(app.request("POST", "/api/session").json(&json!({"key": 5})).send().await.unwrap()).await;
    assert_eq!(s, 400);
    let out = app.as_cookie("DELETE", "/api/session", &cookie).send().await.unwrap();
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn export_has_everything_and_deletion_removes_it() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    app.as_key("PUT", "/api/me/progress/model-api", &l.key).json(&json!({"status": "completed"})).send().await.unwrap();
    app.as_key("POST", "/api/me/quiz/model-api", &l.key).json(&json!({"answers": {"q1": "b"}})).send().await.unwrap();
    let (s, export) = json(app.as_key("GET", "/api/me/export", &l.key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(export["learner"]["id"].as_str(), Some(l.id.as_str()));
    assert_eq!(export["progress"].as_array().unwrap().len(), 1);
    assert_eq!(export["quiz_attempts"].as_array().unwrap().len(), 1);
    assert!(!export.to_string().contains("hash"));

    let (s, _) = json(app.as_cookie("DELETE", "/api/me", &l.cookie).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let (s, _) = json(app.as_key("GET", "/api/me", &l.key).send().await.unwrap()).await;
    assert_eq!(s, 401);
    let (s, _) = json(app.as_cookie("GET", "/api/me", &l.cookie).send().await.unwrap()).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn operators_set_budgets_and_nobody_else_can() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    let (s, body) = json(app.as_admin("PATCH", &format!("/api/admin/learners/{}", l.id)).json(&json!({"budget_usd": "12.5", "daily_budget_usd": 3})).send().await.unwrap()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["budget"]["limit_usd"], "12.500000");
    assert_eq!(body["budget"]["daily_limit_usd"], "3.000000");
    for bad in [json!({"budget_usd": "-1"}), json!({"budget_usd": "lots"}), json!({"budget_usd": [1]}), json!({"nope": 1})] {
        let (s, _) = json(app.as_admin("PATCH", &format!("/api/admin/learners/{}", l.id)).json(&bad).send().await.unwrap()).await;
        assert_eq!(s, 400, "{bad}");
    }
    let (s, _) = json(app.as_admin("PATCH", "/api/admin/learners/lrn_nobody").json(&json!({"disabled": true})).send().await.unwrap()).await;
    assert_eq!(s, 404);
    let (s, _) = json(app.request("PATCH", &format!("/api/admin/learners/{}", l.id)).bearer_auth("wrong-token-wrong-token").json(&json!({"disabled": true})).send().await.unwrap()).await;
    assert_eq!(s, 401);
    let (s, _) = json(app.as_admin("PATCH", &format!("/api/admin/learners/{}", l.id)).json(&json!({"disabled": true})).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let (s, _) = json(app.as_key("GET", "/api/me", &l.key).send().await.unwrap()).await;
    assert_eq!(s, 403, "a disabled learner is refused");
}

#[tokio::test]
async fn invite_codes_are_required_and_their_uses_are_taken_atomically() {
    let app = spawn_app_with(Setup::Invite).await;
    let (s, body) = json(app.request("POST", "/api/enroll").json(&json!({})).send().await.unwrap()).await;
    assert_eq!(s, 403);
    assert_eq!(body["error"]["code"], "invite_required");
    let (_, inv) = json(app.as_admin("POST", "/api/admin/invites").json(&json!({"uses": 2})).send().await.unwrap()).await;
    let code = inv["invite"].as_str().unwrap().to_string();
    let attempts = (0..6).map(|_| {
        let req = app.request("POST", "/api/enroll").json(&json!({ "invite": code }));
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 4, "{statuses:?}");
    for uses in [json!(0), json!(-1), json!("2"), json!(1.5)] {
        let (s, _) = json(app.as_admin("POST", "/api/admin/invites").json(&json!({ "uses": uses })).send().await.unwrap()).await;
        assert_eq!(s, 400, "{uses}");
    }
}

#[tokio::test]
async fn enrollment_and_sign_in_are_rate_limited_per_address() {
    let app = spawn_app_with(Setup::Tight).await;
    // The limiter's window is a fixed 60 s, so a burst may straddle two windows: 12 attempts
    // guarantee one window sees more than the 5 allowed.
    let mut codes = Vec::new();
    let mut refused = None;
    for _ in 0..12 {
        let resp = app.request("POST", "/api/enroll").json(&json!({})).send().await.unwrap();
        codes.push(resp.status().as_u16());
        if resp.status() == 429 && refused.is_none() {
            refused = Some(resp.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(&codes[..5], &[201; 5], "{codes:?}");
    assert_eq!(refused, Some(true), "a refusal with retry-after: {codes:?}");
    assert!(codes.iter().filter(|c| **c == 201).count() <= 10, "{codes:?}");
    let key_attempts: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..12 {
            v.push(app.request("POST", "/api/session").json(&json!({"key": format!("aa_{}", "x".repeat(32))})).send().await.unwrap().status().as_u16());
        }
        v
    };
    assert!(key_attempts.contains(&429), "sign-in attempts are limited too: {key_attempts:?}");
    assert!(key_attempts.iter().all(|c| *c == 401 || *c == 429), "{key_attempts:?}");
}

#[tokio::test]
async fn the_home_page_shows_progress_badges_privately() {
    let app = spawn_app().await;
    let l = app.enroll().await;
    app.as_key("PUT", "/api/me/progress/agentic-loop", &l.key).json(&json!({"status": "completed"})).send().await.unwrap();
    let resp = app.request("GET", "/").header("cookie", &l.cookie).send().await.unwrap();
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    assert_eq!(resp.headers()["vary"], "Cookie");
    let html = resp.text().await.unwrap();
    let at = html.find("href=\"/lessons/agentic-loop\"").unwrap();
    assert!(html[at..at + 300].contains("completed"), "{}", &html[at..at + 300]);
    let anon = app.get("/").await.text().await.unwrap();
    assert!(!anon.contains("✓ completed"));
    let me = app.request("GET", "/me").header("cookie", &l.cookie).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let me = me.text().await.unwrap();
    assert!(me.contains("1 of "), "completion shown");
    let signed_out = app.get("/me").await;
    assert_eq!(signed_out.status(), 303);
}
