//! Reference solution to the `call_later` exercise.

use std::error::Error;
use std::time::Duration;

use yieldloop::{Future, Handle};

/// Suspends the calling task for `delay`, without using `yieldloop::sleep`.
pub fn nap(delay: Duration) -> Result<(), Box<dyn Error>> {
    let handle = Handle::current()?;
    let woken: Future<()> = Future::new();
    // The callback gets its own handle on the same future (a clone shares
    // it), because the timer outlives this call's borrow.
    let wake = woken.clone();
    handle.call_later(delay, move || {
        let _ = wake.set_result(());
    });
    woken.wait()
}
