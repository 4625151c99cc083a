//! # Exercise 2 (after lesson 03): write `run` yourself
//!
//! Write the min-wakeup scheduler without looking at `src/generators/run.rs`. You get a
//! list of coroutines; each yields `Request::Sleep(delay)` and finally
//! returns. Keep, for each, the time it wants to wake; repeatedly take the
//! earliest (the first one listed, when several are equally early), sleep
//! until then with `clock.sleep_until`, resume it with `send(())`, and note
//! its next wake-up as `clock.now() + delay`, until every coroutine has
//! returned.
//!
//! The tests check the order and the exact virtual time of every resume
//! against a model, with random coroutines, and that you never sleep longer
//! than needed.
//!
//! Check your work: `cargo test --features learner --test exercises`.

use yieldloop::generators::run::Coroutine;
use yieldloop::Clock;

/// Runs every coroutine until all have returned, on `clock`.
pub fn run(clock: &Clock, coroutines: Vec<Coroutine>) {
    let _ = (clock, coroutines);
    todo!("the min-wakeup loop")
}
