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
/// `0.5`. Negative, NaN or endless values become zero: "do not wait".
pub fn secs(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::ZERO)
}
