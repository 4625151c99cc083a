//! Reference solution to the `run` exercise.
//!
//! Written differently from `src/generators/run.rs` on purpose, to show the
//! same loop can be held another way: finished coroutines leave a `None` in
//! their slot, so the indices never shift.

use std::time::Duration;

use yieldloop::generators::run::Coroutine;
use yieldloop::{Clock, GeneratorState, Request};

/// Runs every coroutine until all have returned, on `clock`.
pub fn run(clock: &Clock, coroutines: Vec<Coroutine>) {
    let start = clock.now();
    let mut slots: Vec<Option<(Duration, Coroutine)>> =
        coroutines.into_iter().map(|c| Some((start, c))).collect();
    loop {
        // The earliest wake-up; the first listed wins a tie (strict `<`).
        let mut earliest: Option<(usize, Duration)> = None;
        for (i, slot) in slots.iter().enumerate() {
            if let Some((wake, _)) = slot {
                if earliest.is_none_or(|(_, best)| *wake < best) {
                    earliest = Some((i, *wake));
                }
            }
        }
        let Some((i, wake)) = earliest else { return };
        clock.sleep_until(wake);
        let Some((wake, coroutine)) = &mut slots[i] else {
            return;
        };
        match coroutine.send(()) {
            Ok(GeneratorState::Yielded(Request::Sleep(delay))) => *wake = clock.now() + delay,
            _ => slots[i] = None,
        }
    }
}
