//! The thread pool blocking calls run on: Python's `ThreadPoolExecutor`. Introduced by lesson 10.
//!
//! A queue of jobs under a mutex, and worker threads that take them one by
//! one. Two choices worth seeing:
//!
//! * **Threads start lazily**, one per job that finds no idle thread, up to
//!   the limit ([`crate::Builder::executor_threads`]). A loop that never
//!   calls `run_in_executor` starts none; one that makes one DNS lookup
//!   starts one.
//! * **Dropping the pool ends every thread** (`join`), so no thread outlives
//!   the loop that started it. Jobs not yet started are dropped unrun. A job
//!   already running is waited for: nothing can stop a thread that is inside
//!   a blocking system call (`read`, `getaddrinfo`, `sleep`) from the
//!   outside. POSIX `pthread_cancel` exists, but it kills a thread wherever
//!   it is — holding a lock, halfway through a `free` — and Rust (like
//!   Python, Java and Go) has no safe way to use it. So no runtime cancels a
//!   running blocking call: tokio's `spawn_blocking` and asyncio's
//!   `run_in_executor` both let it finish.
//!
//! The pool knows nothing about the loop: a job is any `FnOnce() + Send`.
//! [`super::run`] wraps the caller's closure so that it reports back.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

/// One unit of work for a pool thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The pool, owned by the loop's thread.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    /// At most this many threads.
    limit: usize,
    /// The threads started so far, to join.
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

/// What the loop's thread and the workers share.
struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool closes.
    work: Condvar,
}

struct State {
    queue: VecDeque<Job>,
    /// Workers waiting on `work` right now.
    idle: usize,
    closed: bool,
}

/// Locks, ignoring poisoning: every job catches its own panic (see
/// [`super::run`]), so a poisoned lock can only mean a bug in this file, and
/// the state is still consistent between statements.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// A pool of at most `limit` threads, none started yet.
    pub(crate) fn new(limit: usize) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    idle: 0,
                    closed: false,
                }),
                work: Condvar::new(),
            }),
            limit: limit.max(1),
            threads: Mutex::new(Vec::new()),
        }
    }

    // ANCHOR: submit
    /// Queues `job`, starting a thread if every thread is busy and the
    /// limit allows.
    pub(crate) fn submit(&self, job: Job) -> io::Result<()> {
        let mut state = lock(&self.shared.state);
        if state.closed {
            return Err(io::Error::other(
                "the executor is shut down: its loop was dropped",
            ));
        }
        state.queue.push_back(job);
        let busy = state.idle < state.queue.len();
        drop(state);
        self.shared.work.notify_one();
        let mut threads = lock(&self.threads);
        if busy && threads.len() < self.limit {
            let shared = self.shared.clone();
            let spawned = thread::Builder::new()
                .name("yieldloop-executor".into())
                .spawn(move || worker(&shared));
            match spawned {
                Ok(thread) => threads.push(thread),
                // Threads already running will take the job; with none, it
                // would wait forever, so the caller must know.
                Err(error) if threads.is_empty() => {
                    lock(&self.shared.state).queue.pop_back();
                    return Err(io::Error::new(
                        error.kind(),
                        format!("the executor could not start a thread: {error}"),
                    ));
                }
                Err(error) => {
                    tracing::warn!("the executor could not start another thread: {error}")
                }
            }
        }
        Ok(())
    }
    // ANCHOR_END: submit

    /// How many threads have been started.
    pub(crate) fn thread_count(&self) -> usize {
        lock(&self.threads).len()
    }

    /// Drops the queued jobs, lets running ones finish, ends every thread.
    pub(crate) fn shutdown(&self) {
        let unstarted = {
            let mut state = lock(&self.shared.state);
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        drop(unstarted); // outside the lock: a job's captures may do anything
        self.shared.work.notify_all();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            // A job's panic was caught inside the job; a worker cannot panic.
            let _ = thread.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// ANCHOR: worker
/// A pool thread: take a job, run it, repeat; end when the pool closes.
fn worker(shared: &Shared) {
    loop {
        let job = {
            let mut state = lock(&shared.state);
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break Some(job);
                }
                if state.closed {
                    break None;
                }
                state.idle += 1;
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.idle -= 1;
            }
        };
        match job {
            Some(job) => job(),
            None => return,
        }
    }
}
// ANCHOR_END: worker

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn starts_threads_only_as_needed_and_never_past_the_limit() {
        let pool = Pool::new(3);
        assert_eq!(pool.thread_count(), 0, "lazy: nothing submitted yet");
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate_rx));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let (gate, done) = (gate.clone(), done.clone());
            pool.submit(Box::new(move || {
                let _ = lock(&gate).recv();
                done.fetch_add(1, Ordering::SeqCst);
            }))
            .unwrap();
        }
        assert_eq!(pool.thread_count(), 3);
        for _ in 0..10 {
            gate_tx.send(()).unwrap();
        }
        let started = std::time::Instant::now();
        while done.load(Ordering::SeqCst) < 10 {
            assert!(
                started.elapsed().as_secs() < 10,
                "three threads ran ten jobs"
            );
            thread::sleep(std::time::Duration::from_millis(1));
        }
        pool.shutdown();
        assert_eq!(pool.thread_count(), 0);
        assert!(pool.submit(Box::new(|| {})).is_err(), "closed");
    }

    #[test]
    fn shutdown_waits_for_running_jobs_and_drops_queued_ones() {
        let pool = Pool::new(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        for _ in 0..3 {
            let (ran, started_tx) = (ran.clone(), started_tx.clone());
            pool.submit(Box::new(move || {
                let _ = started_tx.send(());
                thread::sleep(std::time::Duration::from_millis(100));
                ran.fetch_add(1, Ordering::SeqCst);
            }))
            .unwrap();
        }
        started_rx.recv().unwrap(); // the first is running
        pool.shutdown();
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "the running job finished, the queued did not start"
        );
    }
}
