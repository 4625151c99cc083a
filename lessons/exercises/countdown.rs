//! # countdown: `sleep` as a helper (after lesson 04)
//!
//! Lesson 04 hides `co.yield_(Request::Sleep(delay))` behind a function, so
//! that code deep inside a coroutine can wait without knowing how. Write that
//! `sleep` helper, then use it from another helper, `countdown`, that says
//! each number from `from` down to 1, one second apart, then says `liftoff`:
//!
//! ```text
//! 0.000 a 3
//! 1.000 a 2
//! 2.000 a 1
//! 3.000 a liftoff
//! ```
//!
//! The check runs two countdowns side by side under lesson 03's `run`, on
//! the virtual clock.
//!
//! Check it: `cargo run --bin workshop -- check countdown`.

// I AM NOT DONE

use std::time::Duration;

use yieldloop::generators::run::Yield;

/// Suspends the coroutine that owns `co` for `delay`.
pub fn sleep(co: &Yield, delay: Duration) {
    let _ = (co, delay);
    todo!("yield a Request::Sleep")
}

/// Says `from`, `from - 1`, ..., `1` one second apart, then `liftoff`.
pub fn countdown(co: &Yield, from: u32, say: &dyn Fn(&str)) {
    let _ = (co, from, say);
    todo!("say each number, then sleep one second with your `sleep`")
}
