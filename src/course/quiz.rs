//! Quiz grading on the server: answers in, a score and per-question verdicts with explanations
//! out. The explanations and correct answers leave the server only in a graded result.
//!
//! Pure.

use super::catalogue::Lesson;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuizError {
    #[error("This lesson has no quiz.")]
    NoQuiz,
    #[error("Unknown question `{0}`; this quiz has {1}.")]
    UnknownQuestion(String, String),
    #[error("Question `{0}` has no option `{1}`.")]
    UnknownOption(String, String),
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Verdict {
    pub question: &'static str,
    pub chosen: Option<String>,
    pub correct: bool,
    pub correct_option: &'static str,
    /// Why the chosen option is right or wrong (or, unanswered, why the right one is).
    pub why: &'static str,
    /// Every option's explanation, revealed after grading.
    pub options: Vec<OptionReveal>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct OptionReveal {
    pub id: &'static str,
    pub text: &'static str,
    pub correct: bool,
    pub why: &'static str,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Graded {
    pub score: u32,
    pub total: u32,
    pub results: Vec<Verdict>,
}

/// Grades `answers` (question id → option id). Unanswered questions count as wrong; unknown
/// question or option ids are errors, so a typo is not silently graded as wrong.
pub fn grade(lesson: &Lesson, answers: &BTreeMap<String, String>) -> Result<Graded, QuizError> {
    if lesson.quiz.is_empty() {
        return Err(QuizError::NoQuiz);
    }
    for (q, o) in answers {
        let Some(question) = lesson.quiz.iter().find(|x| x.id == q) else {
            let ids: Vec<&str> = lesson.quiz.iter().map(|x| x.id).collect();
            return Err(QuizError::UnknownQuestion(crate::http::error::truncate(q, 40).to_string(), ids.join(", ")));
        };
        if !question.options.iter().any(|c| c.id == o) {
            return Err(QuizError::UnknownOption(question.id.to_string(), crate::http::error::truncate(o, 40).to_string()));
        }
    }
    let mut score = 0;
    let mut results = Vec::new();
    for q in lesson.quiz {
        let chosen = answers.get(q.id).cloned();
        let right = q.options.iter().find(|c| c.correct);
        let picked = chosen.as_deref().and_then(|c| q.options.iter().find(|o| o.id == c));
        let correct = picked.is_some_and(|p| p.correct);
        if correct {
            score += 1;
        }
        results.push(Verdict {
            question: q.id,
            chosen,
            correct,
            correct_option: right.map_or("", |r| r.id),
            why: picked.or(right).map_or("", |p| p.why),
            options: q.options.iter().map(|c| OptionReveal { id: c.id, text: c.text, correct: c.correct, why: c.why }).collect(),
        });
    }
    Ok(Graded { score, total: lesson.quiz.len() as u32, results })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::catalogue::{lesson, LESSONS};

    fn answers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(q, o)| (q.to_string(), o.to_string())).collect()
    }

    fn quizzed() -> &'static Lesson {
        LESSONS.iter().find(|l| !l.quiz.is_empty()).unwrap()
    }

    #[test]
    fn all_correct_answers_score_full_marks() {
        let l = quizzed();
        let all: Vec<(&str, &str)> = l.quiz.iter().map(|q| (q.id, q.options.iter().find(|c| c.correct).unwrap().id)).collect();
        let g = grade(l, &answers(&all)).unwrap();
        assert_eq!((g.score, g.total), (l.quiz.len() as u32, l.quiz.len() as u32));
    }

    #[test]
    fn a_wrong_answer_is_explained_and_the_right_one_named() {
        let l = quizzed();
        let q = &l.quiz[0];
        let wrong = q.options.iter().find(|c| !c.correct).unwrap();
        let g = grade(l, &answers(&[(q.id, wrong.id)])).unwrap();
        assert_eq!(g.score, 0);
        assert!(!g.results[0].correct);
        assert_eq!(g.results[0].why, wrong.why);
        assert_eq!(g.results[0].correct_option, q.options.iter().find(|c| c.correct).unwrap().id);
    }

    #[test]
    fn unknown_questions_and_options_are_errors_not_wrong_answers() {
        let l = quizzed();
        assert!(matches!(grade(l, &answers(&[("zz", "a")])), Err(QuizError::UnknownQuestion(..))));
        assert!(matches!(grade(l, &answers(&[(l.quiz[0].id, "zz")])), Err(QuizError::UnknownOption(..))));
    }

    #[test]
    fn the_model_api_quiz_matches_the_curriculum() {
        let l = lesson("model-api").unwrap();
        let g = grade(l, &answers(&[("q1", "b"), ("q2", "c"), ("q3", "b")])).unwrap();
        assert_eq!(g.score, 3);
    }
}
