//! # run_once: one turn of a reactor, one part missing (after lesson 06)
//!
//! Below is a small callback loop, asyncio's shape without the I/O: a
//! `ready` queue of callbacks and a list of `timers`. One turn, `run_once`,
//! does three things, and the middle one is missing:
//!
//! 1. if nothing is ready, sleep until the earliest timer's deadline (given);
//! 2. **move every timer whose deadline has come to the `ready` queue,
//!    earliest first; equal deadlines in the order they were scheduled**
//!    (yours);
//! 3. run the callbacks that were ready when the turn began (given): the
//!    ones they schedule wait for the next turn, so a callback that keeps
//!    rescheduling itself cannot starve the rest.
//!
//! The check schedules callbacks on the virtual clock and compares the
//! trace with the expected one.
//!
//! Check it: `cargo run --bin workshop -- check run_once`.

// I AM NOT DONE

use std::collections::VecDeque;
use std::time::Duration;

use yieldloop::Clock;

/// A callback: gets the loop, so it can schedule more.
pub type Callback = Box<dyn FnOnce(&mut MiniLoop)>;

/// A ready queue and timers.
pub struct MiniLoop {
    /// The loop's time.
    pub clock: Clock,
    /// Callbacks to run on the next turn, in order.
    pub ready: VecDeque<Callback>,
    /// (deadline, order scheduled, callback), in no particular order.
    pub timers: Vec<(Duration, u64, Callback)>,
    /// How many timers have been scheduled, for the tie-break.
    pub scheduled: u64,
}

impl MiniLoop {
    /// An empty loop on `clock`.
    pub fn new(clock: Clock) -> MiniLoop {
        MiniLoop {
            clock,
            ready: VecDeque::new(),
            timers: Vec::new(),
            scheduled: 0,
        }
    }

    /// Runs `callback` on the next turn.
    pub fn call_soon(&mut self, callback: Callback) {
        self.ready.push_back(callback);
    }

    /// Runs `callback` once `delay` has passed.
    pub fn call_later(&mut self, delay: Duration, callback: Callback) {
        let deadline = self.clock.now() + delay;
        self.timers.push((deadline, self.scheduled, callback));
        self.scheduled += 1;
    }

    /// Whether anything is left to do.
    pub fn is_idle(&self) -> bool {
        self.ready.is_empty() && self.timers.is_empty()
    }

    /// One turn of the loop.
    pub fn run_once(&mut self) {
        // 1. Nothing to do now: sleep until the earliest deadline.
        if self.ready.is_empty() {
            if let Some(earliest) = self.timers.iter().map(|t| t.0).min() {
                self.clock.sleep_until(earliest);
            }
        }

        // 2. Due timers to the ready queue.
        self.move_due_timers();

        // 3. Run what was ready when the turn began.
        for _ in 0..self.ready.len() {
            if let Some(callback) = self.ready.pop_front() {
                callback(self);
            }
        }
    }

    /// Step 2: every timer whose deadline has come, to the back of `ready`:
    /// earliest deadline first; equal deadlines in the order scheduled.
    fn move_due_timers(&mut self) {
        todo!("move every timer whose deadline <= clock.now() to `ready`, earliest first")
    }
}
