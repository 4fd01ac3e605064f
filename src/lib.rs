//! AI Architect Academy: one Cloudflare Worker that serves the course, meters learners' model
//! calls through AI Gateway and keeps transcripts.
//!
//! This file holds the entry points and the route table, nothing else. Pure modules compile
//! natively (`cargo test`); everything that names `worker` is behind `cfg(target_arch = "wasm32")`.

pub mod course;
pub mod gateway;
pub mod http;
pub mod ids;
pub mod learners;
pub mod routes;
pub mod time;
pub mod transcripts;
pub mod views;

#[cfg(target_arch = "wasm32")]
mod env;
#[cfg(target_arch = "wasm32")]
mod d1;
#[cfg(target_arch = "wasm32")]
mod health;
#[cfg(target_arch = "wasm32")]
mod platform;

#[cfg(target_arch = "wasm32")]
mod entry {
    use crate::course::{self, pages::Viewer};
    use crate::routes::{self, Resolved, Route};
    use crate::{env::Config, health, http};
    use crate::gateway::Dialect;
    use worker::{event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

    #[event(start)]
    fn start() {
        console_error_panic_hook::set_once();
    }

    /// The cron sweep (every 5 minutes): settles reservations whose request died.
    #[event(scheduled)]
    async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
        crate::gateway::routes::sweep(&env).await;
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
        ctx: &Context,
    ) -> std::result::Result<Response, http::ApiError> {
        use crate::learners::routes as me;
        use crate::transcripts::routes as transcripts;
        let config = Config::cached(env);
        let learner = || me::Ctx::new(env, &config);
        match route {
            Route::Health => health::check(env, &config).await,
            Route::Static(name) => http::respond::asset(&req, &name),
            Route::Home => course::routes::home(&req, &me::viewer(&req, env, &config).await),
            Route::Roadmap => course::routes::roadmap(&req, &Viewer::default()),
            Route::Lesson(id) => course::routes::lesson_page(&req, &me::viewer(&req, env, &config).await, &id),
            Route::LessonQuiz(id) => me::quiz_form(req, &learner()?, &id).await,
            Route::LessonProgressForm(id) => me::progress_form(req, &learner()?, &id).await,
            Route::Search => course::routes::search_page(&req),
            Route::ApiLessons => course::routes::api_lessons(&req),
            Route::ApiLesson(id) => course::routes::api_lesson(&req, &id),
            Route::ApiSearch => course::routes::api_search(&req),
            Route::SigninPage => me::signin_page(&req, &learner()?).await,
            Route::SigninForm => me::signin_form(req, &learner()?).await,
            Route::SignoutForm => me::signout_form(&req, &learner()?),
            Route::EnrollForm => me::enroll_form(req, &learner()?).await,
            Route::MePage => me::me_page(&req, &learner()?).await,
            Route::MeRotateForm => me::me_rotate_form(&req, &learner()?).await,
            Route::MeDeleteForm => me::me_delete_form(req, &learner()?).await,
            Route::ApiEnroll => me::enroll_api(req, &learner()?).await,
            Route::ApiSessionCreate => me::session_create(req, &learner()?).await,
            Route::ApiSessionDelete => me::session_delete(&learner()?),
            Route::ApiMe => me::me(&req, &learner()?).await,
            Route::ApiMeDelete => me::me_delete(&req, &learner()?).await,
            Route::ApiProgress => me::progress_get(&req, &learner()?).await,
            Route::ApiProgressPut(id) => me::progress_put(req, &learner()?, &id).await,
            Route::ApiQuiz(id) => me::quiz_post(req, &learner()?, &id).await,
            Route::ApiKeys => me::keys_get(&req, &learner()?).await,
            Route::ApiKeysCreate => me::keys_post(&req, &learner()?).await,
            Route::ApiKeyDelete(id) => me::key_delete(&req, &learner()?, &id).await,
            Route::ApiKeysRotate => me::keys_rotate(req, &learner()?).await,
            Route::ApiExport => me::export(&req, &learner()?).await,
            Route::ApiUsage => me::usage(&req, &learner()?).await,
            Route::ApiTranscripts => transcripts::list_api(&req, &learner()?).await,
            Route::ApiTranscript(id) => transcripts::show_api(&req, &learner()?, &id).await,
            Route::ApiTranscriptsJsonl => transcripts::jsonl(&req, &learner()?).await,
            Route::TranscriptsPage => transcripts::list_page(&req, &learner()?).await,
            Route::TranscriptPage(id) => transcripts::show_page(&req, &learner()?, &id).await,
            Route::AdminLearner(id) => me::admin_learner(req, &learner()?, &id).await,
            Route::AdminInvites => me::admin_invite(req, &learner()?).await,
            Route::V1Messages => crate::gateway::routes::call(req, env, &config, ctx, Dialect::Anthropic).await,
            Route::V1ChatCompletions => crate::gateway::routes::call(req, env, &config, ctx, Dialect::OpenAi).await,
            Route::V1Models => crate::gateway::routes::models(&config),
            #[cfg(feature = "bench")]
            Route::BenchForward => crate::gateway::routes::bench_forward(req, &config, None).await,
            #[cfg(feature = "bench")]
            Route::BenchForwardD1 => crate::gateway::routes::bench_forward(req, &config, Some(env)).await,
        }
    }
}
