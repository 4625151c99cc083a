//! A model of the min-wakeup `run` loop, shared by `tests/run_model.rs` (the
//! library's `run`) and `tests/exercises.rs` (the learner's).
//!
//! Coroutine `i`'s `k`-th resume happens at the sum of its first `k` sleeps
//! (nothing else takes virtual time). When several are due at the same
//! instant, `run` picks the earliest-listed one, and a coroutine that sleeps
//! zero stays due, so it is resumed again before those listed after it.
//! Sorting every expected resume by (time, coroutine, step) gives the one
//! order `run` must produce.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use yieldloop::generators::run::Coroutine;
use yieldloop::{Clock, Generator, Request};

/// (virtual time of the resume, coroutine index, step within it)
type Resume = (Duration, usize, usize);

/// A scheduler under test: `yieldloop::generators::run::run` or an exercise's.
pub type RunFn = fn(&Clock, Vec<Coroutine>);

fn recording_coroutine(
    index: usize,
    sleeps: Vec<Duration>,
    clock: Clock,
    log: Rc<RefCell<Vec<Resume>>>,
) -> Coroutine {
    Generator::new(move |co, ()| {
        for (step, delay) in sleeps.into_iter().enumerate() {
            log.borrow_mut().push((clock.now(), index, step));
            co.yield_(Request::Sleep(delay))?;
        }
        Ok(())
    })
}

fn model(all_sleeps: &[Vec<Duration>]) -> Vec<Resume> {
    let mut resumes = Vec::new();
    for (index, sleeps) in all_sleeps.iter().enumerate() {
        let mut at = Duration::ZERO;
        for (step, delay) in sleeps.iter().enumerate() {
            resumes.push((at, index, step));
            at += *delay;
        }
    }
    resumes.sort();
    resumes
}

/// Up to eight coroutines of up to eight sleeps each, drawn from a small set
/// of durations so that ties are common.
pub fn sleeps() -> impl Strategy<Value = Vec<Vec<Duration>>> {
    let delay = (0u64..20).prop_map(|ms| Duration::from_millis(ms * 50));
    prop::collection::vec(prop::collection::vec(delay, 0..8), 0..8)
}

/// Runs coroutines that sleep `all_sleeps` under `run` on a virtual clock and
/// checks every resume's order and time, and the time the loop ends. A `run`
/// that never returns (a learner's, say) fails the case after
/// [`super::LOOP_DEADLINE`] instead of hanging.
pub fn check(run: RunFn, all_sleeps: &[Vec<Duration>]) -> Result<(), TestCaseError> {
    let all_sleeps = all_sleeps.to_vec();
    super::within(
        "run on the model's coroutines",
        super::LOOP_DEADLINE,
        move || check_here(run, &all_sleeps),
    )
}

/// [`check`], on the calling thread.
fn check_here(run: RunFn, all_sleeps: &[Vec<Duration>]) -> Result<(), TestCaseError> {
    let clock = Clock::new_virtual();
    let log = Rc::new(RefCell::new(Vec::new()));
    let coroutines = all_sleeps
        .iter()
        .enumerate()
        .map(|(i, s)| recording_coroutine(i, s.clone(), clock.clone(), log.clone()))
        .collect();
    run(&clock, coroutines);

    let seen = log.borrow().clone();
    prop_assert_eq!(&seen, &model(all_sleeps));
    // The loop ends when the last coroutine's last sleep is over, not later.
    let longest = all_sleeps.iter().map(|s| s.iter().sum::<Duration>()).max();
    prop_assert_eq!(clock.now(), longest.unwrap_or(Duration::ZERO));
    Ok(())
}
