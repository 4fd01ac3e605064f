//! The compiled catalogue: every lesson, the roadmap and the search index, generated at build
//! time by `build.rs` from `lessons/` (no Markdown is parsed per request).
//!
//! Pure. Quiz answers (`correct`, `why`) live here for grading only: views and the JSON API
//! never render them before a graded attempt.

pub struct TocEntry {
    pub level: u8,
    pub anchor: &'static str,
    pub text: &'static str,
}

pub struct Choice {
    pub id: &'static str,
    pub text: &'static str,
    pub correct: bool,
    pub why: &'static str,
}

pub struct Question {
    pub id: &'static str,
    pub question: &'static str,
    pub options: &'static [Choice],
}

pub struct Lesson {
    pub id: &'static str,
    pub title: &'static str,
    pub step: u8,
    pub order: u16,
    pub minutes: u16,
    pub objectives: &'static [&'static str],
    pub prerequisites: &'static [&'static str],
    pub lab: Option<&'static str>,
    /// The first paragraph, as plain text.
    pub summary: &'static str,
    pub html: &'static str,
    pub toc: &'static [TocEntry],
    pub quiz: &'static [Question],
    pub etag: &'static str,
}

pub struct Page {
    pub title: &'static str,
    pub description: &'static str,
    pub html: &'static str,
    pub toc: &'static [TocEntry],
    pub etag: &'static str,
}

/// One searchable section: a `##` section of a lesson (or of the roadmap when `lesson` is None).
pub struct Doc {
    pub lesson: Option<usize>,
    pub anchor: &'static str,
    pub heading: &'static str,
    pub text: &'static str,
    pub len: f32,
}

/// One index term: the term, its IDF, and its postings (section index, weighted frequency).
pub type Term = (&'static str, f32, &'static [(u16, u16)]);

include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));

/// The five steps of the course.
pub const STEPS: [(u8, &str, &str); 5] = [
    (1, "Fundamentals", "From deterministic to probabilistic systems: prompts as specification, the model API, the agentic loop."),
    (2, "Build a real agent", "Tools designed for models, MCP, workflows versus agents, and loops bounded on steps and cost."),
    (3, "Production-grade", "Evals from traces, judges and pass@k, token economics, the trust boundary, observability."),
    (4, "Retrieval and deliberate choices", "When RAG earns its place, hybrid retrieval and its evals, choosing model and platform."),
    (5, "Capstone", "Deploy this academy yourself, and write the design rationale a portfolio needs."),
];

pub fn lesson(id: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.id == id)
}

/// The lessons before and after `id` in course order.
pub fn neighbours(id: &str) -> (Option<&'static Lesson>, Option<&'static Lesson>) {
    let Some(i) = LESSONS.iter().position(|l| l.id == id) else { return (None, None) };
    (i.checked_sub(1).and_then(|p| LESSONS.get(p)), LESSONS.get(i + 1))
}

pub fn in_step(step: u8) -> impl Iterator<Item = &'static Lesson> {
    LESSONS.iter().filter(move |l| l.step == step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_course_has_at_least_fifteen_lessons_in_all_five_steps() {
        assert!(LESSONS.len() >= 15);
        for (step, _, _) in STEPS {
            assert!(in_step(step).count() > 0, "step {step} is empty");
        }
    }

    #[test]
    fn every_lesson_is_cited_and_every_quiz_has_one_answer() {
        for l in LESSONS {
            assert!(l.html.contains("id=\"sources\""), "{}", l.id);
            for q in l.quiz {
                assert_eq!(q.options.iter().filter(|c| c.correct).count(), 1, "{} {}", l.id, q.id);
            }
        }
    }

    #[test]
    fn tables_render_body_cells_as_td() {
        // See: rendering event by event reset the writer's table state and made every cell a <th>.
        let with_table = LESSONS.iter().find(|l| l.html.contains("<table>")).unwrap();
        assert!(with_table.html.contains("<td>"), "{}", with_table.id);
    }

    #[test]
    fn neighbours_follow_course_order() {
        let first = LESSONS.first().unwrap();
        let (prev, next) = neighbours(first.id);
        assert!(prev.is_none());
        assert_eq!(next.map(|l| l.order), LESSONS.get(1).map(|l| l.order));
        assert_eq!(neighbours("nope").0.map(|l| l.id), None);
    }

    #[test]
    fn the_search_index_is_sorted_for_binary_search() {
        assert!(TERMS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
