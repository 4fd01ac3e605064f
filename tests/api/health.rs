//! The foundation: health, the three error shapes, 404/405, preflights, and hostile requests.

use crate::helpers::{json, spawn_app, spawn_app_with, Setup};

#[tokio::test]
async fn healthz_reports_both_checks_ok() {
    let app = spawn_app().await;
    let (status, body) = json(app.get("/healthz").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    assert_eq!(body["checks"]["d1"], "ok");
    assert_eq!(body["checks"]["r2"], "ok");
    assert_eq!(body["checks"]["secrets"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn healthz_is_503_naming_a_missing_binding() {
    let app = spawn_app_with(Setup::NoR2).await;
    let (status, body) = json(app.get("/healthz").await).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ok"], false);
    assert_eq!(body["checks"]["d1"], "ok");
    assert_eq!(body["checks"]["r2"], "missing binding TRANSCRIPTS");
    assert_eq!(body["checks"]["secrets"], "missing SESSION_SECRET, ADMIN_TOKEN");
    // The routes that need a missing secret say which, and nothing crashes.
    let (status, body) = json(app.request("POST", "/api/enroll").json(&serde_json::json!({})).send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert!(body["error"]["message"].as_str().unwrap().contains("SESSION_SECRET"));
    let (status, body) = json(app.request("POST", "/api/admin/invites").bearer_auth("x").json(&serde_json::json!({"uses": 1})).send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert!(body["error"]["message"].as_str().unwrap().contains("ADMIN_TOKEN"));
}

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let app = spawn_app().await;
    let (status, body) = json(app.get("/api/nope").await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("/api/nope"));
}

#[tokio::test]
async fn unknown_v1_routes_are_provider_shaped_404s_that_say_so() {
    let app = spawn_app().await;
    for path in ["/v1/embeddings", "/v1/responses", "/v1/messages/count_tokens"] {
        let resp = app.request("POST", path).body("{}").send().await.unwrap();
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
        let (status, body) = json(resp).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "not_found_error");
        assert!(body["error"]["message"].as_str().unwrap().contains("does not serve"), "{body}");
    }
}

#[tokio::test]
async fn unknown_pages_are_html_404s_with_a_way_back() {
    let app = spawn_app().await;
    let resp = app.get("/no/such/page").await;
    assert_eq!(resp.status(), 404);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("Page not found"));
    assert!(html.contains("href=\"/\""));
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = spawn_app().await;
    // Unknown methods (e.g. BREW) never reach the worker: the runtime answers 501 itself.
    for method in ["POST", "DELETE", "PUT", "PATCH"] {
        let resp = app.request(method, "/healthz").send().await.unwrap();
        assert_eq!(resp.status(), 405, "{method}");
        assert_eq!(resp.headers()["allow"], "GET, HEAD, OPTIONS");
    }
}

#[tokio::test]
async fn options_is_a_cors_preflight_under_v1_only() {
    let app = spawn_app().await;
    let resp = app
        .request("OPTIONS", "/v1/messages")
        .header("origin", "https://example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-api-key, content-type, x-stainless-os, x-evil")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-max-age"], "86400");
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("x-api-key") && allowed.contains("x-stainless-os"));
    assert!(!allowed.contains("x-evil"));
    assert!(h.get("access-control-allow-credentials").is_none());

    let resp = app.request("OPTIONS", "/healthz").header("origin", "https://example.com").send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["allow"], "GET, HEAD, OPTIONS");
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/healthz", "/api/nope", "/v1/nope", "/nope"] {
        let resp = app.get(path).await;
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin", "{path}");
        assert!(h["content-security-policy"].to_str().unwrap().contains("script-src 'self'"), "{path}");
    }
}

#[tokio::test]
async fn hostile_requests_get_clean_4xx_answers() {
    let app = spawn_app().await;
    let long = format!("/{}", "a".repeat(8000));
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("GET", long.clone(), vec![]),
        ("GET", "/%00%ff%fe".into(), vec![]),
        ("GET", "/../../etc/passwd".into(), vec![]),
        ("GET", "/static/..%2f..%2fCargo.toml".into(), vec![]),
        ("GET", "/api/%e2%80%ae".into(), vec![]),
        ("POST", "/api/nope".into(), b"{not json".to_vec()),
        ("POST", "/v1/nope".into(), vec![0xff; 100_000]),
        ("PUT", "/healthz".into(), vec![b'x'; 2_000_000]),
    ];
    for (method, path, body) in cases {
        let resp = app
            .request(method, &path)
            .header("content-type", "application/json")
            .header("x-weird", ";;;===\"\\")
            .header("cookie", "a=\"; __Host-aa_session=garbage")
            .body(body)
            .send()
            .await;
        let status = resp.map(|r| r.status().as_u16()).unwrap_or(0);
        assert!((400..500).contains(&status), "{method} {}: {status}", &path[..path.len().min(40)]);
    }
    // The instance survived all of it.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn static_assets_are_immutable_and_revalidate() {
    let app = spawn_app().await;
    let html = app.get("/nope").await.text().await.unwrap();
    let start = html.find("/static/app.").unwrap();
    let href = &html[start..start + html[start..].find('"').unwrap()];
    let resp = app.get(href).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "public, max-age=31536000, immutable");
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    let again = app.request("GET", href).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(app.get("/static/app.css").await.status(), 404);
}
