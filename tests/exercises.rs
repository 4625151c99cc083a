//! Checks for the workshop exercises in `lessons/exercises/`.
//!
//! By default these check the reference solutions (that is what CI runs, so
//! the checks are known to pass for a correct answer). A learner checks their
//! own work with:
//!
//! ```text
//! cargo test --features learner --test exercises
//! ```

mod common;

#[cfg_attr(feature = "learner", path = "../lessons/exercises/ex1_grep.rs")]
#[cfg_attr(
    not(feature = "learner"),
    path = "../lessons/exercises/solutions/ex1_grep.rs"
)]
mod ex1_grep;

#[cfg_attr(feature = "learner", path = "../lessons/exercises/ex2_run.rs")]
#[cfg_attr(
    not(feature = "learner"),
    path = "../lessons/exercises/solutions/ex2_run.rs"
)]
mod ex2_run;

use proptest::prelude::*;
use yieldloop::secs;
use yieldloop::GeneratorState::Yielded;

#[test]
fn ex1_grep_yields_matching_lines_only() {
    let mut g = ex1_grep::grep("python");
    assert_eq!(g.send("data".into()), Ok(Yielded(None)));
    assert_eq!(
        g.send("deep python".into()),
        Ok(Yielded(Some("deep python".into())))
    );
    assert_eq!(g.send("rust".into()), Ok(Yielded(None)));
    assert_eq!(
        g.send("python again".into()),
        Ok(Yielded(Some("python again".into())))
    );
    assert!(!g.is_finished());
}

#[test]
fn ex1_grep_checks_the_very_first_line_too() {
    let mut g = ex1_grep::grep("a");
    assert_eq!(g.send("a".into()), Ok(Yielded(Some("a".into()))));
}

#[test]
fn ex2_run_on_lesson_03s_a_and_b() {
    let (one, half) = (secs(1.0), secs(0.5));
    common::model::check(ex2_run::run, &[vec![one], vec![half, half]])
        .expect("a and b as in lesson 03");
}

proptest! {
    #[test]
    fn ex2_run_matches_the_model(all_sleeps in common::model::sleeps()) {
        common::model::check(ex2_run::run, &all_sleeps)?;
    }
}
