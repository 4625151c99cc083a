//! Reference solution to the `wait_for` exercise.

use std::rc::Rc;
use std::time::Duration;

use yieldloop::{scope, Handle, SuspendError};

/// Runs `work` with a time limit: `Some(value)` in time, `None` if cancelled.
pub fn my_wait_for<T: 'static>(
    timeout: Duration,
    work: impl FnOnce() -> Result<T, SuspendError> + 'static,
) -> Option<T> {
    let handle = Handle::current().ok()?;
    let finished = scope(|s| {
        // Shared with the timer, which must be able to cancel the child.
        let child = Rc::new(s.spawn("work", work));
        let deadline = handle.call_later(timeout, {
            let child = child.clone();
            move || {
                child.cancel();
            }
        });
        let result = child.future().wait();
        // Finished first: the deadline must not fire later into nothing.
        if let Some(deadline) = deadline {
            deadline.cancel();
        }
        result.ok()
    });
    // A cancelled child is not a failure of the scope, so `finished` is
    // `Ok(None)` then; `Err` would be our own cancellation.
    finished.ok().flatten()
}
