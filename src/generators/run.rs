//! The slides' `run(*gens)`: the smallest scheduler there is. Introduced by lesson 03.
//!
//! Each coroutine yields a [`Request::Sleep`]. `run` remembers when each one
//! wants to wake, picks the earliest, sleeps until then, resumes it, and
//! notes its next wake-up, until every coroutine has returned. The Python
//! it mirrors fits on a slide:
//!
//! ```python
//! def run(*gens):
//!     wakes = {g: 0 for g in gens}
//!     while wakes:
//!         g = min(wakes, key=lambda g: wakes[g])
//!         time.sleep(max(0, wakes[g] - time.time()))
//!         try:
//!             wakes[g] = time.time() + next(g)
//!         except StopIteration:
//!             wakes.pop(g)
//! ```
//!
//! Finding the minimum by scanning is O(n) per step; lesson 06's reactor keeps
//! a heap instead. Here, readability is the point.

use std::time::Duration;

use crate::clock::Clock;
use crate::generators::generator::{Co, Generator, GeneratorState, Resumed};
use crate::generators::request::Request;
use crate::stepping::WaitOn;
use crate::stepping::{self, LoopView, StepHook, TaskSnapshot, TimerView};

/// A coroutine that `run` can schedule: sent nothing, yields requests.
pub type Coroutine = Generator<(), Request>;

/// The handle a [`Coroutine`]'s body yields through.
pub type Yield = Co<(), Request>;

/// Runs every coroutine until all have returned, on `clock`.
///
/// A panic inside a coroutine is not caught here: it comes out of `run` with
/// its backtrace, like an exception out of the slides' loop (lesson 04 shows
/// one). The reactor of lesson 06 isolates panicking tasks instead.
///
/// `run` only knows time. A coroutine that yields [`Request::Read`] or
/// [`Request::Write`] makes it panic with a message naming lesson 05's
/// [`select_loop::run`](crate::select::select_loop::run): that is a mistake in the
/// program (the wrong loop was chosen), never something input can cause, and a
/// `Result` here would make every sleep-only caller handle an error it cannot get.
// ANCHOR: run
pub fn run(clock: &Clock, coroutines: Vec<Coroutine>) {
    // (wake-up time, coroutine), in the order given: ties go to the earlier
    // one, as Python's `min` over a dict picks the first it meets.
    let start = clock.now();
    let mut wakes: Vec<(Duration, Coroutine)> =
        coroutines.into_iter().map(|c| (start, c)).collect();
    // Lesson 11's `--step` debugger, if installed (off: one branch a turn).
    let step_hook = stepping::installed();

    while let Some(i) = (0..wakes.len()).min_by_key(|&i| wakes[i].0) {
        if let Some(hook) = &step_hook {
            pause(hook.as_ref(), clock, &wakes, i);
        }
        clock.sleep_until(wakes[i].0);
        // `traced`: the same `send`, told to the timelines (lesson 11).
        match traced(&mut wakes[i].1, |coroutine| coroutine.send(())) {
            Ok(GeneratorState::Yielded(Request::Sleep(delay))) => wakes[i].0 = clock.now() + delay,
            Ok(GeneratorState::Returned(())) => drop(wakes.remove(i)),
            // `run` has no selector; see the note on `run` for why this panics.
            Ok(GeneratorState::Yielded(io)) => {
                panic!("run() can only sleep; {io:?} needs lesson 05's select_loop::run")
            }
            Err(finished) => unreachable!("a waiting coroutine cannot be finished: {finished}"),
        }
    }
}
// ANCHOR_END: run

/// `--step` (lesson 11): `run`'s state before it resumes coroutine `next`.
/// Its only queue is the wake-up times: the ones already due are "ready",
/// the others are its timers. Coroutines have no names here, so they are
/// called by the function that made them (`coroutine "a"`).
#[cold]
fn pause(hook: &dyn StepHook, clock: &Clock, wakes: &[(Duration, Coroutine)], next: usize) {
    let now = clock.now();
    let mut order: Vec<usize> = (0..wakes.len()).collect();
    order.sort_by_key(|&i| wakes[i].0); // stable: ties keep `run`'s order
    let label = |i: usize| format!("coroutine {:?}", wakes[i].1.body_name());
    let (due, sleeping): (Vec<usize>, Vec<usize>) =
        order.into_iter().partition(|&i| wakes[i].0 <= now);
    let timeout = wakes[next].0.saturating_sub(now);
    let view = LoopView {
        loop_name: "run",
        now,
        ready: due.into_iter().map(label).collect(),
        timers: sleeping
            .into_iter()
            .map(|i| TimerView {
                deadline: wakes[i].0,
                owner: label(i),
            })
            .collect(),
        watches: Vec::new(),
        timeout: Some(timeout),
        why: if timeout.is_zero() {
            "a coroutine is due: do not wait"
        } else {
            "until the earliest wake-up"
        },
    };
    let dump = || {
        (0..wakes.len())
            .map(|i| TaskSnapshot {
                id: i as u64,
                name: wakes[i].1.body_name().to_string(),
                parent: None,
                waits_on: WaitOn::Timer {
                    deadline: wakes[i].0,
                },
                since: wakes[i].1.suspended_since(),
                backtrace: wakes[i].1.suspended_backtrace(),
            })
            .collect()
    };
    // The step runs once `run` has slept until `next` is due.
    stepping::set_step_time(wakes[next].0.max(now));
    hook.before_iteration(&view, &dump);
    hook.before_task_step(&label(next), &dump);
}

/// The `tracing` target of the per-task events, here and in every later
/// loop (re-exported as [`crate::reactor::instrument::TASK_TARGET`]): the
/// events lesson 11's timelines are drawn from.
pub const TASK_TARGET: &str = "yieldloop::task";

/// Resumes `coroutine` with `step` (a `send` or a `throw`), and tells
/// `tracing` what happened the way lesson 06's reactor does: `resume`, then
/// `suspend` with what it asked for, or `finish`. The timelines of lesson 11
/// (`--timeline`) are drawn from these events; with nobody listening they
/// cost a load and a branch each.
pub(crate) fn traced<S, R, E>(
    coroutine: &mut Generator<S, Request, R, E>,
    step: impl FnOnce(&mut Generator<S, Request, R, E>) -> Resumed<Request, R, E>,
) -> Resumed<Request, R, E> {
    let task = coroutine.id();
    let name = coroutine.name().unwrap_or_default();
    tracing::trace!(target: TASK_TARGET, task, name, "resume");
    let result = step(coroutine);
    match &result {
        Ok(GeneratorState::Yielded(request)) => {
            let kind = match request {
                Request::Sleep(_) => "timer",
                Request::Read(_) | Request::Write(_) => "io",
            };
            tracing::trace!(target: TASK_TARGET, task, kind, on = ?request, "suspend");
        }
        Ok(GeneratorState::Returned(_)) => {
            tracing::debug!(target: TASK_TARGET, task, outcome = "returned", "finish")
        }
        Err(_) => tracing::debug!(target: TASK_TARGET, task, outcome = "failed", "finish"),
    }
    result
}

/// Suspends the calling coroutine for `delay`: the request hidden behind a
/// function, as lesson 04 teaches. A plain call, not `yield from`.
///
/// Generic over the error `E` a loop may throw in, so the same `sleep` serves
/// `run`'s coroutines (which cannot fail, `E = Infallible`) and lesson 05's
/// tasks (which can, `E = io::Error`).
pub fn sleep<E>(co: &Co<(), Request, E>, delay: Duration) -> Result<(), E> {
    co.yield_(Request::Sleep(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "needs lesson 05's select_loop::run")]
    fn an_io_request_names_the_loop_that_can_serve_it() {
        let reader: Coroutine = Generator::new(|co, ()| co.yield_(Request::Read(0)));
        run(&Clock::new_virtual(), vec![reader]);
    }
}
