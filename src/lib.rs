//! AI Architect Academy: one Cloudflare Worker that serves the course, meters learners' model
//! calls through AI Gateway and keeps transcripts.
//!
//! This file holds the entry points and the route table, nothing else. Pure modules compile
//! natively (`cargo test`); everything that names `worker` is behind `cfg(target_arch = "wasm32")`.

pub mod course;
pub mod gateway;
pub mod http;
pub mod routes;
pub mod views;

#[cfg(target_arch = "wasm32")]
mod env;
#[cfg(target_arch = "wasm32")]
mod health;

#[cfg(target_arch = "wasm32")]
mod entry {
    use crate::course::{self, pages::Viewer};
    use crate::routes::{self, Resolved, Route};
    use crate::{env::Config, health, http};
    use worker::{event, Context, Env, Request, Response, Result};

    #[event(start)]
    fn start() {
        console_error_panic_hook::set_once();
    }

    #[event(fetch)]
    async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
        let path = req.path();
        let family = http::Family::of(&path);
        let method = req.inner().method();
        let response = match routes::resolve(&method, &path) {
            Resolved::Found(route) => handle(route, req, &env, &ctx).await,
            Resolved::Options(allow) => http::respond::preflight(&req, family, &allow),
            Resolved::MethodNotAllowed(allow) => Err(http::ApiError::method_not_allowed(allow)),
            Resolved::NotFound => Err(http::ApiError::not_found_for(family, &path)),
        };
        http::respond::finish(response, family)
    }

    /// The route table: one arm per route, each a call into the capability that owns it.
    async fn handle(
        route: Route,
        req: Request,
        env: &Env,
        _ctx: &Context,
    ) -> std::result::Result<Response, http::ApiError> {
        let config = Config::from_env(env);
        let viewer = Viewer::default();
        match route {
            Route::Health => health::check(env, &config).await,
            Route::Static(name) => http::respond::asset(&req, &name),
            Route::Home => course::routes::home(&req, &viewer),
            Route::Roadmap => course::routes::roadmap(&req, &viewer),
            Route::Lesson(id) => course::routes::lesson_page(&req, &viewer, &id),
            Route::LessonQuiz(id) => course::routes::quiz_form(req, &id).await,
            Route::Search => course::routes::search_page(&req),
            Route::ApiLessons => course::routes::api_lessons(&req),
            Route::ApiLesson(id) => course::routes::api_lesson(&req, &id),
            Route::ApiSearch => course::routes::api_search(&req),
        }
    }
}
