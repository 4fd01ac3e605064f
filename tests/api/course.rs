//! The course over HTTP: pages, JSON, search, caching, the quiz form and hostile input.

use crate::helpers::{json, spawn_app};

#[tokio::test]
async fn the_home_page_lists_every_lesson_by_step_with_minutes() {
    let app = spawn_app().await;
    let (_, api) = json(app.get("/api/lessons").await).await;
    let lessons = api["lessons"].as_array().unwrap();
    assert!(lessons.len() >= 15);
    assert_eq!(api["steps"].as_array().unwrap().len(), 5);
    let resp = app.get("/").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["vary"], "Cookie");
    let html = resp.text().await.unwrap();
    assert!(html.contains("href=\"/roadmap\""));
    for l in lessons {
        assert!(html.contains(&format!("href=\"/lessons/{}\"", l["id"].as_str().unwrap())), "{}", l["id"]);
    }
    for step in 1..=5 {
        assert!(html.contains(&format!("id=\"step-{step}\"")));
    }
}

#[tokio::test]
async fn a_lesson_page_has_objectives_contents_body_quiz_and_pager() {
    let app = spawn_app().await;
    let resp = app.get("/lessons/model-api").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["cache-control"].to_str().unwrap().starts_with("public"));
    let html = resp.text().await.unwrap();
    for needle in [
        "<h1>Messages, tokens, stop reasons, streaming</h1>",
        "You will be able to",
        "On this page",
        "id=\"sources\"",
        "id=\"lab\"",
        "class=\"language-python\"",
        "class=\"hl-k\"",
        "action=\"/lessons/model-api/quiz\"",
        "rel=\"prev\"",
        "rel=\"next\"",
        "class=\"skip\" href=\"#main\"",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
}

#[tokio::test]
async fn answers_and_explanations_are_never_sent_before_grading() {
    let app = spawn_app().await;
    let html = app.get("/lessons/model-api").await.text().await.unwrap();
    let (_, api) = json(app.get("/api/lessons/model-api").await).await;
    let text = api.to_string();
    // The explanation of q1's correct option, from the lesson's front matter.
    let why = "means your own output limit cut the generation";
    assert!(!html.contains(why));
    assert!(!text.contains(why));
    assert!(!text.contains("\"correct\""));
    assert!(!text.contains("\"why\""));
    assert_eq!(api["quiz"][0]["options"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn the_quiz_form_is_graded_on_the_server_with_explanations() {
    let app = spawn_app().await;
    let resp = app
        .request("POST", "/lessons/model-api/quiz")
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("q1=b&q2=a&q3=b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    let html = resp.text().await.unwrap();
    assert!(html.contains("Your score: 2 of 3"), "{html}");
    assert!(html.contains("means your own output limit cut the generation"));

    let cross = app
        .request("POST", "/lessons/model-api/quiz")
        .header("sec-fetch-site", "cross-site")
        .body("q1=b")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let bad = app
        .request("POST", "/lessons/model-api/quiz")
        .header("sec-fetch-site", "same-origin")
        .body("q9=z")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn unknown_lessons_are_real_404s_in_both_shapes() {
    let app = spawn_app().await;
    for id in ["nope", "MODEL-API", "..%2f..%2fetc", "%3Cscript%3E", &"x".repeat(3000)] {
        let resp = app.get(&format!("/lessons/{id}")).await;
        assert_eq!(resp.status(), 404, "{id}");
        assert!(resp.text().await.unwrap().contains("Page not found"));
        let (status, body) = json(app.get(&format!("/api/lessons/{id}")).await).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn pages_revalidate_with_etags() {
    let app = spawn_app().await;
    for path in ["/", "/roadmap", "/lessons/agentic-loop", "/api/lessons", "/api/lessons/agentic-loop"] {
        let resp = app.get(path).await;
        let etag = resp.headers()["etag"].to_str().unwrap().to_string();
        let again = app.request("GET", path).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        let other = app.request("GET", path).header("if-none-match", "\"stale\"").send().await.unwrap();
        assert_eq!(other.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn search_ranks_the_lesson_about_the_query_first() {
    let app = spawn_app().await;
    let (status, body) = json(app.get("/api/search?q=prompt%20injection%20trifecta").await).await;
    assert_eq!(status, 200);
    let first = &body["hits"][0];
    assert_eq!(first["lesson"], "trust-boundary", "{body}");
    assert!(first["url"].as_str().unwrap().starts_with("/lessons/trust-boundary"));
    assert!(!first["snippet"].as_str().unwrap().is_empty());

    let html = app.get("/search?q=stop_reason").await.text().await.unwrap();
    assert!(html.contains("<mark>"));
    assert!(html.contains("href=\"/lessons/model-api"));
}

#[tokio::test]
async fn odd_queries_answer_cleanly_and_escape_what_they_echo() {
    let app = spawn_app().await;
    let long = "a%20".repeat(5000);
    for q in ["", "%20%20", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "%F0%9F%A6%80%E2%80%AE", "%00", "%ff%fe", long.as_str(), "q=1&q=2"] {
        let resp = app.get(&format!("/search?q={q}")).await;
        assert_eq!(resp.status(), 200, "{q}");
        let html = resp.text().await.unwrap();
        assert!(!html.contains("<script>alert"), "{q}");
        let (status, body) = json(app.get(&format!("/api/search?q={q}")).await).await;
        assert_eq!(status, 200, "{q}");
        assert!(body["hits"].is_array());
    }
}

#[tokio::test]
async fn the_roadmap_links_every_step_to_its_lessons() {
    let app = spawn_app().await;
    let html = app.get("/roadmap").await.text().await.unwrap();
    let (_, api) = json(app.get("/api/lessons").await).await;
    for l in api["lessons"].as_array().unwrap() {
        assert!(html.contains(&format!("/lessons/{}", l["id"].as_str().unwrap())), "{}", l["id"]);
    }
    assert!(html.contains("id=\"faq\""));
    assert!(html.contains("id=\"sources\""));
}
