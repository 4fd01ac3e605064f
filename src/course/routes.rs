//! The course's routes: pages (`/`, `/roadmap`, `/lessons/{id}`, `/search`, the quiz form) and
//! JSON (`/api/lessons`, `/api/lessons/{id}`, `/api/search`). Parse, decide, respond.

use super::catalogue::{self, Lesson, CATALOGUE_ETAG, LESSONS, ROADMAP};
use super::pages::{self, Viewer};
use super::search;
use crate::http::{headers, respond, ApiError};
use serde_json::{json, Value};
use worker::{Request, Response};

type Result<T> = std::result::Result<T, ApiError>;

const SEARCH_LIMIT: usize = 20;

thread_local! {
    /// Anonymous pages are the same for everyone until the next deploy (their ETags are
    /// computed at build time): rendered once per isolate, then served from here.
    static RENDERED: std::cell::RefCell<std::collections::HashMap<&'static str, std::rc::Rc<str>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// An HTML page: anonymous readers get a public, revalidatable copy (304 without rendering
/// when they hold it; rendered once per isolate otherwise); signed-in learners a private one
/// that no cache keeps (it shows their progress).
fn html_page(req: &Request, viewer: &Viewer, etag: &'static str, render: impl FnOnce() -> String) -> Result<Response> {
    let mut response = if viewer.signed_in {
        let mut r = Response::ok(render()).map_err(respond::internal)?;
        respond::set(r.headers_mut(), "content-type", "text/html; charset=utf-8")?;
        respond::set(r.headers_mut(), "cache-control", headers::PRIVATE)?;
        r
    } else if respond::fresh(req, etag) {
        respond::cached(req, "text/html; charset=utf-8", "", etag, headers::PUBLIC_PAGE)?
    } else {
        let html = RENDERED.with(|cache| {
            let found = cache.borrow().get(etag).cloned();
            found.unwrap_or_else(|| {
                let page: std::rc::Rc<str> = render().into();
                cache.borrow_mut().insert(etag, page.clone());
                page
            })
        });
        respond::cached(req, "text/html; charset=utf-8", &html, etag, headers::PUBLIC_PAGE)?
    };
    respond::set(response.headers_mut(), "vary", "Cookie")?;
    Ok(response)
}

fn known(id: &str) -> Result<&'static Lesson> {
    catalogue::lesson(id).ok_or_else(|| ApiError::not_found("There is no lesson with this id. The course home lists every lesson."))
}

pub fn home(req: &Request, viewer: &Viewer) -> Result<Response> {
    html_page(req, viewer, CATALOGUE_ETAG, || pages::home(viewer))
}

pub fn roadmap(req: &Request, viewer: &Viewer) -> Result<Response> {
    html_page(req, viewer, ROADMAP.etag, pages::roadmap)
}

pub fn lesson_page(req: &Request, viewer: &Viewer, id: &str) -> Result<Response> {
    let l = known(id)?;
    html_page(req, viewer, l.etag, || pages::lesson(l, viewer))
}

/// The search query from `?q=`, trimmed and capped (a longer one is cut, not refused).
fn query(req: &Request) -> Result<String> {
    let url = req.url().map_err(|_| ApiError::bad_request("invalid_url", "The URL could not be parsed."))?;
    let q = url.query_pairs().find(|(k, _)| k == "q").map(|(_, v)| v.into_owned()).unwrap_or_default();
    Ok(crate::http::error::truncate(q.trim(), search::MAX_QUERY_BYTES).to_string())
}

pub fn search_page(req: &Request) -> Result<Response> {
    let q = query(req)?;
    let hits = search::search(&q, SEARCH_LIMIT);
    let mut r = Response::ok(pages::search(&q, &hits)).map_err(respond::internal)?;
    respond::set(r.headers_mut(), "content-type", "text/html; charset=utf-8")?;
    respond::set(r.headers_mut(), "cache-control", headers::PUBLIC_PAGE)?;
    Ok(r)
}

pub fn api_search(req: &Request) -> Result<Response> {
    let q = query(req)?;
    let hits = search::search(&q, SEARCH_LIMIT);
    let mut r = respond::json(200, &json!({ "query": q, "hits": hits }))?;
    respond::set(r.headers_mut(), "cache-control", headers::PUBLIC_PAGE)?;
    Ok(r)
}

fn summary(l: &Lesson) -> Value {
    json!({
        "id": l.id, "title": l.title, "step": l.step, "order": l.order, "minutes": l.minutes,
        "objectives": l.objectives, "prerequisites": l.prerequisites, "lab": l.lab,
        "url": format!("/lessons/{}", l.id), "quiz_questions": l.quiz.len(),
    })
}

pub fn api_lessons(req: &Request) -> Result<Response> {
    let steps: Vec<Value> = catalogue::STEPS.iter().map(|(n, name, blurb)| json!({"step": n, "name": name, "summary": blurb})).collect();
    let body = json!({ "steps": steps, "lessons": LESSONS.iter().map(summary).collect::<Vec<_>>() });
    respond::cached(req, "application/json", &body.to_string(), &format!("\"{}-j\"", CATALOGUE_ETAG.trim_matches('"')), headers::PUBLIC_PAGE)
}

pub fn api_lesson(req: &Request, id: &str) -> Result<Response> {
    let l = known(id)?;
    let toc: Vec<Value> = l.toc.iter().map(|t| json!({"level": t.level, "anchor": t.anchor, "text": t.text})).collect();
    // Questions and option texts only: answers and explanations come with a graded attempt.
    let quiz: Vec<Value> = l
        .quiz
        .iter()
        .map(|q| json!({"id": q.id, "question": q.question, "options": q.options.iter().map(|c| json!({"id": c.id, "text": c.text})).collect::<Vec<_>>()}))
        .collect();
    let mut body = summary(l);
    if let Value::Object(map) = &mut body {
        map.insert("html".into(), json!(l.html));
        map.insert("toc".into(), Value::Array(toc));
        map.insert("quiz".into(), Value::Array(quiz));
    }
    respond::cached(req, "application/json", &body.to_string(), &format!("\"{}-j\"", l.etag.trim_matches('"')), headers::PUBLIC_PAGE)
}

