//! `run` against a model: random coroutines with random sleeps, on the virtual
//! clock, must be resumed in wake-up order and at exactly the right times.
//!
//! The model: coroutine `i`'s `k`-th resume happens at the sum of its first
//! `k` sleeps (nothing else takes virtual time). When several are due at the
//! same instant, `run` picks the earliest-listed one, and a coroutine that
//! sleeps zero stays due, so it is resumed again before those listed after
//! it. Sorting every expected resume by (time, coroutine, step) gives the one
//! order `run` must produce.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use yieldloop::run::{run, Coroutine};
use yieldloop::{Clock, Generator, Request};

/// (virtual time of the resume, coroutine index, step within it)
type Resume = (Duration, usize, usize);

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

fn sleeps() -> impl Strategy<Value = Vec<Vec<Duration>>> {
    // Millisecond sleeps from a small range, so that ties are common.
    let delay = (0u64..20).prop_map(|ms| Duration::from_millis(ms * 50));
    prop::collection::vec(prop::collection::vec(delay, 0..8), 0..8)
}

proptest! {
    #[test]
    fn resumes_follow_the_wake_up_order(all_sleeps in sleeps()) {
        let clock = Clock::new_virtual();
        let log = Rc::new(RefCell::new(Vec::new()));
        let coroutines = all_sleeps
            .iter()
            .enumerate()
            .map(|(i, s)| recording_coroutine(i, s.clone(), clock.clone(), log.clone()))
            .collect();
        run(&clock, coroutines);

        let seen = log.borrow().clone();
        prop_assert_eq!(&seen, &model(&all_sleeps));
        // And the loop ends when the last coroutine's last sleep is over.
        let longest = all_sleeps.iter().map(|s| s.iter().sum::<Duration>()).max();
        prop_assert_eq!(clock.now(), longest.unwrap_or(Duration::ZERO));
    }
}
