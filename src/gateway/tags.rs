//! The `x-academy-lesson` request header: `<lesson-id>` or `<lesson-id>/<run-id>`, stored on the
//! usage row and in `cf-aig-metadata` so lab checkers can group a learner's calls into runs.
//!
//! Pure: the caller says which lesson ids are real.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessonTag {
    pub lesson: String,
    pub run: Option<String>,
}

/// Parses the header; `Err` is the sentence for a 400.
pub fn parse(raw: &str, is_lesson: impl Fn(&str) -> bool) -> Result<LessonTag, String> {
    let raw = raw.trim();
    let (lesson, run) = match raw.split_once('/') {
        Some((l, r)) => (l, Some(r)),
        None => (raw, None),
    };
    if !is_lesson(lesson) {
        return Err(format!(
            "`x-academy-lesson` names no lesson ({:?}); use a lesson id from /api/lessons, optionally followed by /<run-id>.",
            crate::http::error::truncate(lesson, 64)
        ));
    }
    if let Some(r) = run {
        let ok = (1..=64).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err("The run id in `x-academy-lesson` must be 1–64 letters, digits, `_` or `-`.".to_string());
        }
    }
    Ok(LessonTag { lesson: lesson.to_string(), run: run.map(str::to_string) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: &str) -> bool {
        id == "model-api"
    }

    #[test]
    fn a_lesson_and_an_optional_run_are_accepted() {
        assert_eq!(parse("model-api", known), Ok(LessonTag { lesson: "model-api".into(), run: None }));
        assert_eq!(parse(" model-api/run_1-a ", known).unwrap().run.as_deref(), Some("run_1-a"));
    }

    #[test]
    fn unknown_lessons_and_bad_runs_are_refused() {
        for raw in ["", "nope", "model-api/", "model-api/a b", "model-api/../x", &format!("model-api/{}", "a".repeat(65)), "/run"] {
            assert!(parse(raw, known).is_err(), "{raw}");
        }
    }
}
