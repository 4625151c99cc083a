//! # run: the min-wakeup scheduler, from memory (after lesson 03)
//!
//! Write lesson 03's loop without looking at `src/generators/run.rs`. You get
//! a list of coroutines; each yields `Request::Sleep(delay)` and finally
//! returns. Keep, for each, the time it wants to wake; repeatedly take the
//! earliest (the first one listed, when several are equally early), sleep
//! until then with `clock.sleep_until`, resume it with `send(())`, and note
//! its next wake-up as `clock.now() + delay`, until every coroutine has
//! returned.
//!
//! The check runs your loop on the virtual clock with the slides' `a` and
//! `b` and with many random coroutines, and shows your trace beside the
//! expected one where they differ.
//!
//! Check it: `cargo run --bin workshop -- check run`.

// I AM NOT DONE

use yieldloop::generators::run::Coroutine;
use yieldloop::Clock;

/// Runs every coroutine until all have returned, on `clock`.
pub fn run(clock: &Clock, coroutines: Vec<Coroutine>) {
    let _ = (clock, coroutines);
    todo!("the min-wakeup loop")
}
