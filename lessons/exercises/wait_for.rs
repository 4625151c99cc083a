//! # wait_for: a time limit from `scope` and `cancel` (after lesson 08)
//!
//! `yieldloop::wait_for` exists; build your own from lesson 08's pieces:
//! run `work` as a child task in a `scope`, arrange for it to be cancelled
//! once `timeout` has passed (a timer, `Handle::call_later`, and
//! `JoinHandle::cancel`), and wait for it. Return `Some(value)` if it
//! finished in time and `None` if it was cancelled.
//!
//! Two things the check looks at besides the answer: when the work finishes
//! early, you return at once (not at the deadline), and when you return no
//! timer and no task of yours is left behind.
//!
//! Check it: `cargo run --bin workshop -- check wait_for`.

// I AM NOT DONE

use std::time::Duration;

#[allow(unused_imports)] // yours to use
use yieldloop::{scope, Handle, JoinHandle, SuspendError};

/// Runs `work` with a time limit: `Some(value)` in time, `None` if cancelled.
pub fn my_wait_for<T: 'static>(
    timeout: Duration,
    work: impl FnOnce() -> Result<T, SuspendError> + 'static,
) -> Option<T> {
    let _ = (timeout, work);
    todo!("scope, a child for the work, a timer that cancels it, a wait")
}
