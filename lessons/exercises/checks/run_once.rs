//! Check for the `run_once` exercise: timers and callbacks on the virtual clock.

use std::time::Duration;

use yieldloop::Clock;

use super::report::{compare_traces, guarded, millis_of, trace, Log, Outcome};

/// What the check needs of the learner's loop, whichever file it is in.
pub trait Loop: Sized + 'static {
    /// The boxed callback type of that loop.
    type Callback;
    /// A new loop.
    fn new(clock: Clock) -> Self;
    /// Its `call_soon`.
    fn soon(&mut self, callback: impl FnOnce(&mut Self) + 'static);
    /// Its `call_later`.
    fn later(&mut self, delay: Duration, callback: impl FnOnce(&mut Self) + 'static);
    /// Its `run_once`.
    fn turn(&mut self);
    /// Its `is_idle`.
    fn idle(&self) -> bool;
}

/// Implements [`Loop`] for a `MiniLoop` as the exercise defines it.
#[macro_export]
macro_rules! impl_mini_loop {
    ($module:path) => {
        impl $crate::checks::run_once::Loop for $module {
            type Callback = ();
            fn new(clock: yieldloop::Clock) -> Self {
                <$module>::new(clock)
            }
            fn soon(&mut self, callback: impl FnOnce(&mut Self) + 'static) {
                self.call_soon(Box::new(callback));
            }
            fn later(
                &mut self,
                delay: std::time::Duration,
                callback: impl FnOnce(&mut Self) + 'static,
            ) {
                self.call_later(delay, Box::new(callback));
            }
            fn turn(&mut self) {
                self.run_once();
            }
            fn idle(&self) -> bool {
                self.is_idle()
            }
        }
    };
}

/// a at 1.0, b at 0.5 and 1.0 (scheduled after a), c soon, and a
/// callback that reschedules itself twice.
pub fn check<L: Loop>() -> Outcome {
    let clock = Clock::new_virtual();
    let log = Log::default();
    let mut mini = L::new(clock.clone());
    let ms = Duration::from_millis;
    let say = |what: &'static str| {
        let (log, clock) = (log.clone(), clock.clone());
        move |_: &mut L| log.at(clock.now(), what)
    };
    mini.later(ms(1000), say("a timer"));
    mini.later(ms(500), {
        let (log, clock, again) = (log.clone(), clock.clone(), say("b second timer"));
        move |mini: &mut L| {
            log.at(clock.now(), "b first timer");
            mini.later(ms(500), again);
        }
    });
    mini.soon(say("c soon"));
    mini.soon({
        let (log, clock, last) = (log.clone(), clock.clone(), say("d turn 3"));
        move |mini: &mut L| {
            log.at(clock.now(), "d turn 1");
            let (log, clock) = (log.clone(), clock.clone());
            mini.soon(move |mini: &mut L| {
                log.at(clock.now(), "d turn 2");
                mini.soon(last);
            })
        }
    });
    guarded("your run_once()", || {
        for _ in 0..100 {
            if mini.idle() {
                break;
            }
            mini.turn();
        }
    })?;
    let expected = trace(&[
        (0, "c soon"),
        (0, "d turn 1"),
        (0, "d turn 2"),
        (0, "d turn 3"),
        (500, "b first timer"),
        (1000, "a timer"),
        (1000, "b second timer"),
    ]);
    compare_traces(&expected, &log.lines(), |want, got| {
        match (want.and_then(millis_of), got.and_then(millis_of)) {
            (Some(_), None) => "a timer never ran: does run_once move the due timers to `ready`?".into(),
            (Some(w), Some(g)) if g != w => "a timer ran at the wrong time: only timers whose deadline has come are due".into(),
            _ => "two timers are due at once: the earlier deadline first, then the one scheduled first".into(),
        }
    })
}
