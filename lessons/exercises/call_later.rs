//! # call_later: `sleep` made of a timer and a future (after lesson 06)
//!
//! The reactor's `sleep` is not magic: it is a timer that completes
//! something the task waits on. Build your own, `nap(delay)`, from three
//! public pieces:
//!
//! - `Handle::current()`: the running loop, from inside a task;
//! - `handle.call_later(delay, callback)`: run `callback` once `delay` has
//!   passed (asyncio's `loop.call_later`);
//! - `Future::new()`, `future.set_result(value)`, `future.wait()`: a
//!   result that is not there yet, and a way to suspend the task until it is.
//!
//! The check runs lesson 03's `a` and `b` with your `nap` on the reactor's
//! virtual clock, and checks that no timer is left behind.
//!
//! Check it: `cargo run --bin workshop -- check call_later`.

// I AM NOT DONE

use std::error::Error;
use std::time::Duration;

#[allow(unused_imports)] // yours to use
use yieldloop::{Future, Handle};

/// Suspends the calling task for `delay`, without using `yieldloop::sleep`.
pub fn nap(delay: Duration) -> Result<(), Box<dyn Error>> {
    let _ = delay;
    todo!("a Future, a call_later that completes it, and a wait")
}
