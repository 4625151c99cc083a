//! The loop's clock: real time, or virtual time that jumps. Introduced by lesson 01 (lesson 03 is where it matters).
//!
//! Every scheduler in the course asks two things of time: "what time is it?"
//! and "let me sleep until then". A [`Clock`] answers both, in seconds since
//! the clock was made (the slides' traces start at `0.000`).
//!
//! * [`Clock::real`] reads the wall clock and really sleeps.
//! * [`Clock::new_virtual`] never sleeps: asked to sleep until `t`, it jumps to
//!   `t` at once (trio's `MockClock(autojump_threshold=0)`, tokio's
//!   `time::pause`). A program that waits 1 s on it finishes instantly and
//!   still prints `1.000`, so tests are fast and exact.
//!
//! A clock is a cheap handle: clones share one time line, which is how the
//! trace printer ([`crate::course::trace`]) shows the same time the loop sees.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A shared handle to a real or virtual time line.
#[derive(Clone, Debug)]
pub struct Clock {
    kind: Arc<Kind>,
}

#[derive(Debug)]
enum Kind {
    /// Time is `Instant::now() - start`.
    Real { start: Instant },
    /// Time is whatever the last jump set, in nanoseconds since the start.
    /// Atomic only so that the trace printer, which tracing requires to be
    /// `Sync`, can read it; the loop itself is single-threaded.
    Virtual { now_nanos: AtomicU64 },
}

impl Clock {
    /// The last moment a clock can show: 2^64 − 1 nanoseconds, about 584
    /// years. The virtual clock stops there, so every deadline is clamped to
    /// it ([`deadline_after`](Clock::deadline_after)): a deadline beyond it
    /// (`sleep(Duration::MAX)`) could never be reached, and a loop jumping
    /// towards it would spin for ever instead of firing it.
    pub const END: Duration = Duration::from_nanos(u64::MAX);

    /// How long a loop on a virtual clock waits in real time for I/O before
    /// it jumps to the next timer, when something waits on a descriptor
    /// (trio's `autojump_threshold`). The clock cannot know when data will
    /// arrive; jumping at once would race virtual time ahead of it and spin
    /// the CPU on any periodic timer. Timer-only programs never wait: with
    /// nothing on I/O the jump is immediate.
    pub const IO_GRACE: Duration = Duration::from_millis(10);

    /// The deadline `delay` from now, clamped to [`Clock::END`] so that it
    /// can always be reached.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldloop::Clock;
    ///
    /// let clock = Clock::new_virtual();
    /// assert_eq!(clock.deadline_after(Duration::MAX), Clock::END);
    /// clock.sleep_until(clock.deadline_after(Duration::MAX));
    /// assert_eq!(clock.now(), Clock::END); // reached: a timer there fires
    /// ```
    pub fn deadline_after(&self, delay: Duration) -> Duration {
        self.now().saturating_add(delay).min(Clock::END)
    }

    /// A clock that reads real time, starting at zero now.
    pub fn real() -> Self {
        Clock {
            kind: Arc::new(Kind::Real {
                start: Instant::now(),
            }),
        }
    }

    /// A virtual clock at zero that jumps forward instead of sleeping.
    pub fn new_virtual() -> Self {
        Clock {
            kind: Arc::new(Kind::Virtual {
                now_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// The real clock, or the virtual one when `virtual_time` is set: what a
    /// lesson's `--virtual` flag chooses.
    pub fn choose(virtual_time: bool) -> Self {
        if virtual_time {
            Clock::new_virtual()
        } else {
            Clock::real()
        }
    }

    /// Whether this clock jumps instead of sleeping.
    pub fn is_virtual(&self) -> bool {
        matches!(*self.kind, Kind::Virtual { .. })
    }

    /// Time since the clock started (Python's `loop.time()`, from zero).
    pub fn now(&self) -> Duration {
        match &*self.kind {
            Kind::Real { start } => start.elapsed(),
            Kind::Virtual { now_nanos } => Duration::from_nanos(now_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Blocks until [`now`](Clock::now) reaches `deadline`; returns at once if
    /// it already has. The virtual clock jumps instead of blocking.
    pub fn sleep_until(&self, deadline: Duration) {
        match &*self.kind {
            Kind::Real { start } => {
                let elapsed = start.elapsed();
                if deadline > elapsed {
                    std::thread::sleep(deadline - elapsed);
                }
            }
            Kind::Virtual { now_nanos } => {
                // Saturate rather than wrap: 2^64 ns is 584 years.
                let target = u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX);
                now_nanos.fetch_max(target, Ordering::Relaxed);
            }
        }
    }

    /// Blocks for `duration` (a blocking `time.sleep`).
    pub fn sleep(&self, duration: Duration) {
        self.sleep_until(self.deadline_after(duration));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_jumps_and_never_goes_back() {
        let clock = Clock::new_virtual();
        assert_eq!(clock.now(), Duration::ZERO);
        clock.sleep_until(Duration::from_millis(1500));
        assert_eq!(clock.now(), Duration::from_millis(1500));
        clock.sleep_until(Duration::from_millis(200));
        assert_eq!(clock.now(), Duration::from_millis(1500));
        clock.sleep(Duration::from_millis(500));
        assert_eq!(clock.now(), Duration::from_secs(2));
    }

    #[test]
    fn clones_share_one_time_line() {
        let clock = Clock::new_virtual();
        let other = clock.clone();
        clock.sleep(Duration::from_secs(3));
        assert_eq!(other.now(), Duration::from_secs(3));
    }

    #[test]
    fn real_time_sleeps_at_least_as_asked() {
        let clock = Clock::real();
        clock.sleep(Duration::from_millis(20));
        assert!(clock.now() >= Duration::from_millis(20));
        assert!(!clock.is_virtual());
    }
}
