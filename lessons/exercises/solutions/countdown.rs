//! Reference solution to the `countdown` exercise.

use std::time::Duration;

use yieldloop::generators::run::Yield;
use yieldloop::Request;

/// Suspends the coroutine that owns `co` for `delay`.
pub fn sleep(co: &Yield, delay: Duration) {
    // `run`'s coroutines cannot be thrown into (`Infallible`), so there is
    // no error to pass on.
    let Ok(()) = co.yield_(Request::Sleep(delay));
}

/// Says `from`, `from - 1`, ..., `1` one second apart, then `liftoff`.
pub fn countdown(co: &Yield, from: u32, say: &dyn Fn(&str)) {
    for number in (1..=from).rev() {
        say(&number.to_string());
        sleep(co, Duration::from_secs(1));
    }
    say("liftoff");
}
