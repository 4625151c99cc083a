//! What a coroutine asks its scheduler for when it yields. Introduced by lesson 03.
//!
//! In the slides a generator yields a bare number, "wake me in this many
//! seconds". Real loops need to be asked for more than that, so the request is
//! an `enum` from the start: lesson 05 adds "wake me when this socket can be
//! read, or written" (Beazley's `yield 'recv', sock`), and every scheduler must
//! say what it does with each variant, because Rust's `match` will not let it
//! forget one.

use std::os::fd::RawFd;
use std::time::Duration;

/// A coroutine's request to the scheduler that resumed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Resume me once this much time has passed (the slides' `yield 0.5`).
    Sleep(Duration),
    /// Resume me when this descriptor can be read without blocking, or has a
    /// connection to accept (lesson 05). The task keeps owning its socket; the
    /// request only names the descriptor, which stays open because the task
    /// that owns it is suspended, not dropped, until the loop resumes it.
    Read(RawFd),
    /// Resume me when this descriptor can be written without blocking (lesson 05).
    Write(RawFd),
}

/// Seconds as a [`Duration`], so lessons can write `secs(0.5)` like Python's
/// `0.5`.
///
/// It is meant for numbers written in the code. A negative, NaN or endless
/// number is a bug in that code, so it panics and says which number, as
/// [`Duration::from_secs_f64`] does; it used to become zero ("do not wait"),
/// which hid the bug. Numbers a user types go through
/// [`crate::course::cli::parse_seconds`], which refuses them with a message.
///
/// ```
/// use yieldloop::secs;
/// assert_eq!(secs(0.5), std::time::Duration::from_millis(500));
/// ```
///
/// # Panics
///
/// If `seconds` is negative, NaN, or too large for a `Duration`.
pub fn secs(seconds: f64) -> Duration {
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) => duration,
        Err(error) => panic!("secs({seconds}): {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "secs(-1)")]
    fn a_negative_number_of_seconds_is_a_bug_not_zero() {
        secs(-1.0);
    }

    #[test]
    #[should_panic(expected = "secs(inf)")]
    fn an_endless_number_of_seconds_is_a_bug_not_zero() {
        secs(f64::INFINITY);
    }
}
