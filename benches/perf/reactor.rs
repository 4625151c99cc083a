//! The yieldloop side of the measurements: the same work as the baselines in
//! `micro.rs` and `sleepers.rs`, on yieldloop's reactor, with its defaults
//! (`EventLoop::new()`: 256 KiB stacks, the epoll selector, a real clock).
//!
//! Each function builds its own loop, runs the work inside a `main` task with
//! `run_until_complete` (as tokio's `block_on` runs the baselines), and
//! returns how long the work took, or why it could not run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use yieldloop::{run_in_executor, sleep, spawn, wait_for, yield_now, EventLoop};

use crate::sleepers::{self, SleepersResult};

/// Runs `work` as the `main` task of a fresh loop.
pub fn on_a_fresh_loop<T: 'static>(work: impl FnOnce() -> T + 'static) -> Result<T, String> {
    let mut event_loop = EventLoop::new().map_err(|e| format!("EventLoop::new: {e}"))?;
    event_loop
        .run_until_complete(work)
        .map_err(|e| e.to_string())
}

/// Two tasks each calling `yield_now` `n / 2` times: `n` switches, all through
/// the ready queue (the `main` task waits in `join` meanwhile).
pub fn switches(n: u64) -> Result<Duration, String> {
    on_a_fresh_loop(move || {
        let start = Instant::now();
        let a = spawn("a", move || yielder_task(n / 2));
        let b = spawn("b", move || yielder_task(n / 2));
        let (a, b) = (a.join(), b.join());
        let elapsed = start.elapsed();
        a.and(b).map(|_| elapsed).map_err(|e| e.to_string())
    })?
}

fn yielder_task(n: u64) -> Result<(), String> {
    for _ in 0..n {
        yield_now().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `n` times: spawn an empty task and join it.
pub fn spawn_joins(n: u64) -> Result<Duration, String> {
    on_a_fresh_loop(move || {
        let start = Instant::now();
        for i in 0..n {
            let handle = spawn("empty", move || black_box(i));
            black_box(handle.join().map_err(|e| e.to_string())?);
        }
        Ok(start.elapsed())
    })?
}

/// `n` times: `wait_for` (1 s) around work that yields once and finishes
/// in time; the same work as `micro::tokio_timeouts_in_time`.
pub fn timeouts_in_time(n: u64) -> Result<Duration, String> {
    on_a_fresh_loop(move || {
        let start = Instant::now();
        for i in 0..n {
            let work = move || yield_now().map(|()| black_box(i));
            let answer = wait_for(Duration::from_secs(1), work).map_err(|e| e.to_string())?;
            black_box(answer.map_err(|e| e.to_string())?);
        }
        Ok(start.elapsed())
    })?
}

/// `n` times: spawn a task that sleeps 1 s, let it start, cancel it, join
/// it; the same work as `micro::tokio_spawn_abort_joins`.
pub fn spawn_cancel_joins(n: u64) -> Result<Duration, String> {
    on_a_fresh_loop(move || {
        let start = Instant::now();
        for _ in 0..n {
            let handle = spawn("sleeper", || sleep(Duration::from_secs(1)));
            yield_now().map_err(|e| e.to_string())?; // it starts and parks on its timer
            handle.cancel();
            black_box(handle.join().is_err());
        }
        Ok(start.elapsed())
    })?
}

/// `tasks` tasks each sleeping one second, all joined; run in a fresh child
/// process (see `sleepers.rs`).
pub fn sleepers(tasks: u64) -> Result<SleepersResult, String> {
    let mut event_loop = EventLoop::new().map_err(|e| format!("EventLoop::new: {e}"))?;
    let mut outcome = Ok(());
    let figures = sleepers::measure(|| {
        outcome = event_loop
            .run_until_complete(move || {
                let handles: Vec<_> = (0..tasks)
                    .map(|_| spawn("sleeper", || sleep(Duration::from_secs(1))))
                    .collect();
                // Join every one, then report the first failure, if any.
                let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
                results
                    .into_iter()
                    .find_map(|r| match r {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(e.to_string()),
                        Err(e) => Some(e.to_string()),
                    })
                    .map_or(Ok(()), Err)
            })
            .map_err(|e| e.to_string())
            .and_then(|inner| inner);
    })
    .map_err(|e| e.to_string())?;
    outcome.map(|()| figures)
}

/// `n` sequential `run_in_executor` round trips of an empty closure (lesson
/// 10): submit, a pool thread runs it, the selector is woken, the task
/// resumes.
pub fn executor_round_trips(n: u64) -> Result<Duration, String> {
    on_a_fresh_loop(move || {
        let start = Instant::now();
        for i in 0..n {
            black_box(run_in_executor(move || black_box(i)).map_err(|e| e.to_string())?);
        }
        Ok(start.elapsed())
    })?
}

/// One other thread sends `n` callbacks with `call_soon_threadsafe`; the
/// time until the last has run on the loop (the loop returns from
/// `run_forever` when the sender's handle is gone and the inbox is empty).
pub fn threadsafe_calls(n: u64) -> Result<Duration, String> {
    use std::cell::Cell;
    thread_local!(static RAN: Cell<u64> = const { Cell::new(0) });
    let mut event_loop = EventLoop::new().map_err(|e| format!("EventLoop::new: {e}"))?;
    let handle = event_loop
        .threadsafe_handle()
        .map_err(|e| format!("threadsafe_handle: {e}"))?;
    RAN.with(|ran| ran.set(0));
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        for _ in 0..n {
            handle
                .call_soon_threadsafe(|| RAN.with(|ran| ran.set(ran.get() + 1)))
                .map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    });
    event_loop.run_forever().map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    sender
        .join()
        .map_err(|_| "the sender panicked".to_string())??;
    let ran = RAN.with(Cell::get);
    if ran != n {
        return Err(format!("{ran} of {n} callbacks ran"));
    }
    Ok(elapsed)
}
