//! The reactor's timers: what must happen at a given time, in deadline order. Introduced by lesson 06.
//!
//! asyncio keeps `loop._scheduled`, a heap of `TimerHandle`s, and cancels a
//! timer by flagging it and skipping it when it comes up. We keep an ordered
//! map keyed by `(deadline, sequence number)` instead: cancelling removes the
//! entry at once, and "which timers are due" is "take from the front while
//! the deadline has passed". Both are O(log n).
//!
//! ```text
//!   (0.500, #3) ──▶ wake task 2        ◀── first(): the next deadline
//!   (1.000, #1) ──▶ wake task 0
//!   (1.000, #4) ──▶ callback: stop()   ◀── same deadline: #1 fires first
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

/// Names one scheduled timer so that it can be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId {
    /// When it fires, in loop time (the clock's seconds since start).
    pub deadline: Duration,
    /// Order of scheduling: makes ids unique, and breaks ties between equal
    /// deadlines first-come first-served, as asyncio's heap does.
    seq: u64,
}

// ANCHOR: timers
/// Timers, each holding a `T` (the reactor stores "wake this task" or
/// "run this callback").
///
/// Invariant: every entry is live (a cancelled timer is removed at once),
/// keys are unique (`seq` only grows), and iteration order is firing order.
#[derive(Debug)]
pub struct Timers<T> {
    entries: BTreeMap<TimerId, T>,
    next_seq: u64,
}
// ANCHOR_END: timers

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            entries: BTreeMap::new(),
            next_seq: 0,
        }
    }
}

impl<T> Timers<T> {
    /// Schedules `what` for `deadline`.
    pub fn insert(&mut self, deadline: Duration, what: T) -> TimerId {
        let id = TimerId {
            deadline,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.entries.insert(id, what);
        id
    }

    /// Removes a timer that has not fired; returns what it held, or `None` if
    /// it already fired or was cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        self.entries.remove(&id)
    }

    /// The earliest deadline, if any timer is pending.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.entries.first_key_value().map(|(id, _)| id.deadline)
    }

    /// Takes the earliest timer if its deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Duration) -> Option<T> {
        if self.next_deadline()? > now {
            return None;
        }
        self.entries.pop_first().map(|(_, what)| what)
    }

    /// Removes every timer, returning what they held in firing order (the
    /// loop's drop disposes of them one by one, outside any borrow).
    pub fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.entries).into_values().collect()
    }

    /// Every pending timer, in firing order (for lesson 11's `--step`).
    pub fn iter(&self) -> impl Iterator<Item = (&TimerId, &T)> {
        self.entries.iter()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn due_timers_come_out_in_deadline_then_insertion_order() {
        let mut timers = Timers::default();
        timers.insert(ms(1000), "a");
        timers.insert(ms(500), "b");
        timers.insert(ms(1000), "c");
        assert_eq!(timers.next_deadline(), Some(ms(500)));
        assert_eq!(timers.pop_due(ms(400)), None);
        assert_eq!(timers.pop_due(ms(1000)), Some("b"));
        assert_eq!(timers.pop_due(ms(1000)), Some("a"));
        assert_eq!(timers.pop_due(ms(1000)), Some("c"));
        assert!(timers.is_empty());
    }

    #[test]
    fn a_cancelled_timer_never_fires() {
        let mut timers = Timers::default();
        let id = timers.insert(ms(10), 1);
        timers.insert(ms(20), 2);
        assert_eq!(timers.cancel(id), Some(1));
        assert_eq!(timers.cancel(id), None);
        assert_eq!(timers.pop_due(ms(100)), Some(2));
        assert_eq!(timers.pop_due(ms(100)), None);
    }

    proptest! {
        /// Whatever is inserted and cancelled, what fires is the rest, sorted
        /// by deadline, ties in insertion order.
        #[test]
        fn fires_the_uncancelled_in_order(
            deadlines in proptest::collection::vec(0u64..50, 0..40),
            cancel_mask in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let mut timers = Timers::default();
            let ids: Vec<_> = deadlines.iter().enumerate()
                .map(|(i, &d)| timers.insert(ms(d), i)).collect();
            let mut expected = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                if cancel_mask[i] { timers.cancel(*id); } else { expected.push((deadlines[i], i)); }
            }
            expected.sort();
            let mut fired = Vec::new();
            while let Some(i) = timers.pop_due(ms(1000)) { fired.push((deadlines[i], i)); }
            prop_assert_eq!(fired, expected);
        }
    }
}
