//! The route table as data: which paths exist and which methods each accepts.
//!
//! Pure (no worker): `resolve` turns a method and a path into a `Route` with its parameters, or
//! tells 404, 405 (with the `allow` list) or a preflight apart. `lib.rs` dispatches on `Route`.

/// Every route the worker serves. Parameters are raw path segments, validated by the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Static(String),
    Home,
    Roadmap,
    Lesson(String),
    LessonQuiz(String),
    LessonProgressForm(String),
    Search,
    ApiLessons,
    ApiLesson(String),
    ApiSearch,
    SigninPage,
    SigninForm,
    SignoutForm,
    EnrollForm,
    MePage,
    MeRotateForm,
    MeDeleteForm,
    ApiEnroll,
    ApiSessionCreate,
    ApiSessionDelete,
    ApiMe,
    ApiMeDelete,
    ApiProgress,
    ApiProgressPut(String),
    ApiQuiz(String),
    ApiKeys,
    ApiKeysCreate,
    ApiKeyDelete(String),
    ApiKeysRotate,
    ApiExport,
    ApiUsage,
    ApiTranscripts,
    ApiTranscript(String),
    ApiTranscriptsJsonl,
    TranscriptsPage,
    TranscriptPage(String),
    AdminLearner(String),
    AdminInvites,
    V1Messages,
    V1ChatCompletions,
    V1Models,
    #[cfg(feature = "bench")]
    BenchForward,
    #[cfg(feature = "bench")]
    BenchForwardD1,
}

/// What a method and a path resolve to.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    Found(Route),
    /// `OPTIONS` on a known path: answered by the preflight, with these methods allowed.
    Options(String),
    /// The path exists but not for this method; the string is the `allow` header.
    MethodNotAllowed(String),
    NotFound,
}

/// The methods a path accepts, each with the route it resolves to.
fn table(segments: &[&str]) -> Vec<(&'static str, Route)> {
    match segments {
        [] => vec![("GET", Route::Home)],
        ["healthz"] => vec![("GET", Route::Health)],
        ["static", name] => vec![("GET", Route::Static((*name).to_string()))],
        ["roadmap"] => vec![("GET", Route::Roadmap)],
        ["lessons", id] => vec![("GET", Route::Lesson((*id).to_string()))],
        ["lessons", id, "quiz"] => vec![("POST", Route::LessonQuiz((*id).to_string()))],
        ["lessons", id, "progress"] => vec![("POST", Route::LessonProgressForm((*id).to_string()))],
        ["search"] => vec![("GET", Route::Search)],
        ["api", "lessons"] => vec![("GET", Route::ApiLessons)],
        ["api", "lessons", id] => vec![("GET", Route::ApiLesson((*id).to_string()))],
        ["api", "search"] => vec![("GET", Route::ApiSearch)],
        ["signin"] => vec![("GET", Route::SigninPage), ("POST", Route::SigninForm)],
        ["signout"] => vec![("POST", Route::SignoutForm)],
        ["enroll"] => vec![("POST", Route::EnrollForm)],
        ["me"] => vec![("GET", Route::MePage)],
        ["me", "keys", "rotate"] => vec![("POST", Route::MeRotateForm)],
        ["me", "delete"] => vec![("POST", Route::MeDeleteForm)],
        ["api", "enroll"] => vec![("POST", Route::ApiEnroll)],
        ["api", "session"] => vec![("POST", Route::ApiSessionCreate), ("DELETE", Route::ApiSessionDelete)],
        ["api", "me"] => vec![("GET", Route::ApiMe), ("DELETE", Route::ApiMeDelete)],
        ["api", "me", "progress"] => vec![("GET", Route::ApiProgress)],
        ["api", "me", "progress", id] => vec![("PUT", Route::ApiProgressPut((*id).to_string()))],
        ["api", "me", "quiz", id] => vec![("POST", Route::ApiQuiz((*id).to_string()))],
        ["api", "me", "keys"] => vec![("GET", Route::ApiKeys), ("POST", Route::ApiKeysCreate)],
        ["api", "me", "keys", "rotate"] => vec![("POST", Route::ApiKeysRotate)],
        ["api", "me", "keys", id] => vec![("DELETE", Route::ApiKeyDelete((*id).to_string()))],
        ["api", "me", "export"] => vec![("GET", Route::ApiExport)],
        ["api", "me", "usage"] => vec![("GET", Route::ApiUsage)],
        ["api", "me", "transcripts"] => vec![("GET", Route::ApiTranscripts)],
        ["api", "me", "transcripts.jsonl"] => vec![("GET", Route::ApiTranscriptsJsonl)],
        ["api", "me", "transcripts", id] => vec![("GET", Route::ApiTranscript((*id).to_string()))],
        ["me", "transcripts"] => vec![("GET", Route::TranscriptsPage)],
        ["me", "transcripts", id] => vec![("GET", Route::TranscriptPage((*id).to_string()))],
        ["api", "admin", "learners", id] => vec![("PATCH", Route::AdminLearner((*id).to_string()))],
        ["api", "admin", "invites"] => vec![("POST", Route::AdminInvites)],
        ["v1", "messages"] => vec![("POST", Route::V1Messages)],
        ["v1", "chat", "completions"] => vec![("POST", Route::V1ChatCompletions)],
        ["v1", "models"] => vec![("GET", Route::V1Models)],
        #[cfg(feature = "bench")]
        ["bench", "forward"] => vec![("POST", Route::BenchForward)],
        #[cfg(feature = "bench")]
        ["bench", "forward-d1"] => vec![("POST", Route::BenchForwardD1)],
        _ => Vec::new(),
    }
}

/// Resolves a request. `HEAD` is served as `GET`; `OPTIONS` on any known path is a preflight,
/// and under `/v1/` on any path at all (SDKs in browsers preflight before they learn of a 404).
pub fn resolve(method: &str, path: &str) -> Resolved {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let segments: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    let routes = table(&segments);
    let lookup = if method == "HEAD" { "GET" } else { method };
    let mut allow: Vec<&str> = routes.iter().map(|(m, _)| *m).collect();
    if allow.contains(&"GET") {
        allow.push("HEAD");
    }
    allow.push("OPTIONS");
    let allow = allow.join(", ");
    if method == "OPTIONS" && (!routes.is_empty() || path.starts_with("/v1/")) {
        return Resolved::Options(allow);
    }
    match routes.into_iter().find(|(m, _)| *m == lookup) {
        Some((_, route)) => Resolved::Found(route),
        None if allow == "OPTIONS" => Resolved::NotFound,
        None => Resolved::MethodNotAllowed(allow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_resolve_to_their_route() {
        assert_eq!(resolve("GET", "/healthz"), Resolved::Found(Route::Health));
        assert_eq!(resolve("HEAD", "/healthz"), Resolved::Found(Route::Health));
        assert_eq!(resolve("GET", "/"), Resolved::Found(Route::Home));
        assert_eq!(resolve("GET", ""), Resolved::Found(Route::Home));
        assert_eq!(resolve("GET", "/lessons/x"), Resolved::Found(Route::Lesson("x".into())));
    }

    #[test]
    fn a_known_path_with_the_wrong_method_lists_what_is_allowed() {
        assert_eq!(
            resolve("POST", "/healthz"),
            Resolved::MethodNotAllowed("GET, HEAD, OPTIONS".into())
        );
    }

    #[test]
    fn unknown_paths_and_path_tricks_are_not_found() {
        for path in ["/nope", "/healthz/", "//healthz", "/healthz/../healthz", "/static", "/lessons", "/lessons/a/b"] {
            assert_eq!(resolve("GET", path), Resolved::NotFound, "{path}");
        }
    }

    #[test]
    fn options_is_a_preflight_on_known_paths_and_anywhere_under_v1() {
        assert!(matches!(resolve("OPTIONS", "/healthz"), Resolved::Options(_)));
        assert!(matches!(resolve("OPTIONS", "/v1/anything"), Resolved::Options(_)));
        assert_eq!(resolve("OPTIONS", "/nope"), Resolved::NotFound);
    }
}
