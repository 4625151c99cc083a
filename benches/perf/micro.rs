//! Micro-benchmarks: what one task switch costs, and what spawning and
//! joining an empty task costs, for each runtime.
//!
//! A "task switch" here is one round trip through the scheduler: a running
//! task gives up the CPU (`yield_now`) and is later resumed. Two tasks take
//! turns, so every switch really goes through the ready queue and never
//! short-cuts back into the task that just yielded. The raw corosensei figure
//! is the floor: a bare resume + suspend of one coroutine, with no loop, no
//! queue and no bookkeeping around it. The loop's overhead is the difference.
//!
//! Each measurement runs `repeats` times and reports the median, which a
//! single slow run (another process on our 2 cores) cannot move much.

use std::hint::black_box;
use std::time::{Duration, Instant};

use corosensei::{Coroutine, Yielder};

/// Runs `measure` (which performs `ops` operations and returns how long they
/// took, or why it could not) `repeats` times; returns the median in
/// nanoseconds per operation, or the first failure.
pub fn median_ns_per_op(
    repeats: usize,
    ops: u64,
    mut measure: impl FnMut() -> Result<Duration, String>,
) -> Result<f64, String> {
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        samples.push(measure()?.as_nanos() as f64 / ops as f64);
    }
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    // Every round, for the regression guard's noise (`--compare`).
    crate::compare::note_rounds(median, &samples);
    Ok(median)
}

/// `n` resume + suspend round trips of one bare corosensei coroutine.
pub fn corosensei_round_trips(n: u64) -> Duration {
    let mut coroutine = Coroutine::new(move |yielder: &Yielder<(), ()>, ()| {
        for _ in 0..n {
            yielder.suspend(());
        }
    });
    let start = Instant::now();
    // The coroutine suspends n times and then returns: n + 1 resumes.
    while coroutine.resume(()).as_yield().is_some() {
        black_box(());
    }
    start.elapsed()
}

/// tokio's single-threaded runtime: the baseline yieldloop is measured against.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current_thread runtime builds")
}

/// Two tokio tasks each calling `yield_now` `n / 2` times: `n` switches.
pub fn tokio_switches(n: u64) -> Duration {
    let runtime = tokio_runtime();
    runtime.block_on(async move {
        let start = Instant::now();
        let a = tokio::spawn(yielder_task(n / 2));
        let b = tokio::spawn(yielder_task(n / 2));
        let _ = a.await;
        let _ = b.await;
        start.elapsed()
    })
}

async fn yielder_task(n: u64) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// `n` times: spawn an empty tokio task and await its `JoinHandle`.
pub fn tokio_spawn_joins(n: u64) -> Duration {
    let runtime = tokio_runtime();
    runtime.block_on(async move {
        let start = Instant::now();
        for i in 0..n {
            let handle = tokio::spawn(async move { black_box(i) });
            black_box(handle.await.ok());
        }
        start.elapsed()
    })
}

/// `n` times: `tokio::time::timeout` (1 s) around work that yields once and
/// then finishes, well in time: the common case. The yield makes both
/// runtimes arm the deadline for real (tokio polls the work first and
/// registers its timer only once the work is pending).
pub fn tokio_timeouts_in_time(n: u64) -> Duration {
    let runtime = tokio_runtime();
    runtime.block_on(async move {
        let start = Instant::now();
        for i in 0..n {
            let work = async move {
                tokio::task::yield_now().await;
                black_box(i)
            };
            black_box(
                tokio::time::timeout(Duration::from_secs(1), work)
                    .await
                    .ok(),
            );
        }
        start.elapsed()
    })
}

/// `n` times: spawn a task that sleeps 1 s, let it start, abort it, and
/// await its `JoinHandle` (which reports the cancellation).
pub fn tokio_spawn_abort_joins(n: u64) -> Duration {
    let runtime = tokio_runtime();
    runtime.block_on(async move {
        let start = Instant::now();
        for _ in 0..n {
            let handle = tokio::spawn(tokio::time::sleep(Duration::from_secs(1)));
            tokio::task::yield_now().await; // it starts and parks on its timer
            handle.abort();
            black_box(handle.await.is_err());
        }
        start.elapsed()
    })
}

/// `n` sequential `spawn_blocking` round trips of an empty closure: the
/// baseline for `reactor::executor_round_trips`.
pub fn tokio_spawn_blocking_round_trips(n: u64) -> Duration {
    let runtime = tokio_runtime();
    runtime.block_on(async move {
        let start = Instant::now();
        for i in 0..n {
            black_box(tokio::task::spawn_blocking(move || black_box(i)).await.ok());
        }
        start.elapsed()
    })
}

/// Another thread spawns `n` tiny tasks onto the runtime through its
/// `Handle` (tokio's door from other threads); the time until the last has
/// run. The baseline for `reactor::threadsafe_calls`.
pub fn tokio_spawns_from_another_thread(n: u64) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let runtime = tokio_runtime();
    let handle = runtime.handle().clone();
    let count = Arc::new(AtomicU64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let start = Instant::now();
    let sender = {
        let (count, done) = (count.clone(), done.clone());
        std::thread::spawn(move || {
            for _ in 0..n {
                let (count, done) = (count.clone(), done.clone());
                handle.spawn(async move {
                    if count.fetch_add(1, Ordering::Relaxed) + 1 == n {
                        done.notify_one();
                    }
                });
            }
        })
    };
    runtime.block_on(done.notified());
    let elapsed = start.elapsed();
    let _ = sender.join();
    elapsed
}
