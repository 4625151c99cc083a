//! `run_in_executor`: a blocking call on a pool thread, while the task waits and the loop runs on. Introduced by lesson 10.
//!
//! ```text
//!   task (loop's thread)                pool thread
//!   ────────────────────                ───────────
//!   run_in_executor(f)
//!     jobs[id] = this task
//!     pool.submit(job) ───────────────▶ result = catch_unwind(f)
//!     suspend (Waiting)                 slot = Some(result)
//!        ⋮  other tasks run             inbox.post(JobDone(id)) ──▶ wake()
//!   loop: select returns, deliver:
//!     jobs.remove(id) → wake the task
//!     task resumes: takes the slot ◀─── (the thread takes the next job)
//! ```
//!
//! The result travels in a slot (`Arc<Mutex<Option<…>>>`) shared by the
//! task and the job, not through the inbox, so the inbox stays untyped. The
//! job's id, not the task's key, is what comes back: a cancelled task's key
//! may already belong to another task by then, and an id is never reused.
//!
//! **Cancelling the waiting task** (lesson 08) releases it at once: it
//! forgets its job id and returns `Cancelled`. The thread runs on (see
//! [`super::pool`] for why nothing can stop it); when it finishes, its
//! `JobDone` finds no one in `jobs` and is ignored, and the result is
//! dropped with the last `Arc` of the slot, on whichever side lets go last.
//! `T: Send` makes that drop safe on either thread.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use crate::reactor::cancel::Cancelled;
use crate::reactor::event_loop::{Core, Remote};
use crate::reactor::instrument::{WaitOn, WakeCause};
use crate::reactor::task::{current, panic_message, NotInTask, TaskError, TaskState};

use super::pool::Pool;
use super::threadsafe::{Arrival, Inbox};

/// The loop's side of the executor: the pool, the inbox, and who waits for
/// which job. One per loop, installed on first use as the loop's
/// [`Remote`].
pub(crate) struct Executor {
    inbox: Arc<Inbox>,
    pool: Pool,
    /// Job id → the key of the task waiting for it.
    jobs: RefCell<HashMap<u64, usize>>,
    next_job: Cell<u64>,
}

impl Executor {
    /// The loop's executor, made (no thread started yet) on first use.
    pub(crate) fn of(core: &Core) -> io::Result<Rc<Executor>> {
        if let Some(remote) = core.remote() {
            return remote
                .into_any()
                .downcast::<Executor>()
                .map_err(|_| io::Error::other("the loop's remote side is not an executor"));
        }
        let executor = Rc::new(Executor {
            inbox: Arc::new(Inbox::new(core.selector_waker()?)),
            pool: Pool::new(core.executor_threads()),
            jobs: RefCell::new(HashMap::new()),
            next_job: Cell::new(0),
        });
        core.install_remote(executor.clone());
        Ok(executor)
    }

    pub(crate) fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// How many pool threads have been started.
    pub(crate) fn thread_count(&self) -> usize {
        self.pool.thread_count()
    }

    /// Runs `job` on the pool for task `task`; returns the job's id.
    fn start(&self, task: usize, job: impl FnOnce() + Send + 'static) -> io::Result<u64> {
        let id = self.next_job.get();
        self.next_job.set(id + 1);
        let inbox = self.inbox.clone();
        self.jobs.borrow_mut().insert(id, task);
        let submitted = self.pool.submit(Box::new(move || {
            job();
            // Fails only if the loop is gone; then nobody is waiting.
            let _ = inbox.post(Arrival::JobDone(id));
        }));
        if let Err(error) = submitted {
            self.jobs.borrow_mut().remove(&id);
            return Err(error);
        }
        Ok(id)
    }

    /// The task waiting for job `id` stopped waiting (it was cancelled).
    fn forget(&self, id: u64) {
        self.jobs.borrow_mut().remove(&id);
    }
}

impl Remote for Executor {
    fn may_arrive(&self) -> bool {
        !self.jobs.borrow().is_empty() || self.inbox.may_have_mail()
    }

    // ANCHOR: deliver
    fn deliver(&self, core: &Core) {
        for arrival in self.inbox.take() {
            match arrival {
                // asyncio appends it to `_ready`: it runs in this iteration.
                Arrival::Callback(callback) => core.call_soon(callback),
                Arrival::Stop => core.request_stop(),
                Arrival::JobDone(id) => {
                    let waiting = self.jobs.borrow_mut().remove(&id);
                    if let Some(task) = waiting {
                        core.wake(task, TaskState::Waiting, WakeCause::Executor);
                    }
                }
            }
        }
    }
    // ANCHOR_END: deliver

    fn close(&self) {
        self.inbox.close();
        self.pool.shutdown();
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}

/// A job's outcome, as the pool thread leaves it for the task.
type Slot<T> = Arc<Mutex<Option<std::thread::Result<T>>>>;

// ANCHOR: run_in_executor
/// Runs the blocking closure `f` on one of the loop's executor threads and
/// suspends the calling task until it returns (asyncio: `await
/// loop.run_in_executor(None, f)`). The loop and the other tasks run
/// meanwhile. Returns what `f` returned.
///
/// If `f` panics, the panic stays in the pool thread and comes back as
/// [`ExecutorError::Panicked`], naming the task. If the task is cancelled
/// while it waits, it gets [`ExecutorError::Cancelled`] at once; `f` runs
/// to its end anyway (nothing can stop a thread in a blocking call) and its
/// result is dropped.
///
/// ```
/// # use yieldloop::{run_in_executor, EventLoop};
/// let mut event_loop = EventLoop::new().unwrap();
/// let sum = event_loop
///     .run_until_complete(|| run_in_executor(|| (1..=100).sum::<u64>()))
///     .unwrap();
/// assert_eq!(sum.unwrap(), 5050);
/// ```
pub fn run_in_executor<T, F>(f: F) -> Result<T, ExecutorError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = current("yieldloop::run_in_executor")?;
    let executor = Executor::of(task.core()).map_err(ExecutorError::unavailable)?;
    let slot: Slot<T> = Arc::new(Mutex::new(None));
    let id = executor
        .start(task.key(), {
            let slot = slot.clone();
            move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(f));
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
            }
        })
        .map_err(ExecutorError::unavailable)?;
    loop {
        if let Err(cancelled) = task.suspend(WaitOn::Executor) {
            executor.forget(id);
            return Err(ExecutorError::Cancelled(cancelled));
        }
        let outcome = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        match outcome {
            Some(Ok(value)) => return Ok(value),
            Some(Err(payload)) => {
                return Err(ExecutorError::Panicked {
                    task: task.control().name().to_string(),
                    message: panic_message(payload.as_ref()),
                })
            }
            // Only the job's arrival or a cancellation wakes a task waiting
            // here; anything else would be a stray wake-up: wait again.
            None => {}
        }
    }
}
// ANCHOR_END: run_in_executor

/// How many executor threads the running loop has started so far (for
/// tests and the lesson: they start lazily).
pub fn executor_thread_count() -> Result<usize, NotInTask> {
    let task = current("yieldloop::executor_thread_count")?;
    Ok(task
        .core()
        .remote()
        .and_then(|remote| remote.into_any().downcast::<Executor>().ok())
        .map_or(0, |executor| executor.thread_count()))
}

/// Why [`run_in_executor`] returned no value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecutorError {
    /// Called outside a task: there is no task to suspend.
    NotInTask(NotInTask),
    /// The task was cancelled while it waited (lesson 08). The closure runs
    /// to its end on its thread; its result is dropped.
    Cancelled(Cancelled),
    /// The closure panicked on its pool thread.
    Panicked {
        /// The task that called `run_in_executor`.
        task: String,
        /// The panic message.
        message: String,
    },
    /// No pool thread could run it: none could be started, or the
    /// selector could not make its wake-up descriptor.
    Unavailable {
        /// The operating system's error.
        error: String,
    },
}

impl ExecutorError {
    fn unavailable(error: io::Error) -> ExecutorError {
        ExecutorError::Unavailable {
            error: error.to_string(),
        }
    }
}

impl fmt::Display for ExecutorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutorError::NotInTask(error) => error.fmt(f),
            ExecutorError::Cancelled(cancelled) => cancelled.fmt(f),
            ExecutorError::Panicked { task, message } => write!(
                f,
                "the blocking call task {task:?} ran in the executor panicked: {message}"
            ),
            ExecutorError::Unavailable { error } => {
                write!(f, "run_in_executor could not run the call: {error}")
            }
        }
    }
}

impl Error for ExecutorError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ExecutorError::Cancelled(cancelled) => Some(cancelled),
            ExecutorError::NotInTask(error) => Some(error),
            _ => None,
        }
    }
}

impl From<NotInTask> for ExecutorError {
    fn from(error: NotInTask) -> Self {
        ExecutorError::NotInTask(error)
    }
}

/// A cancellation stays a [`Cancelled`] inside the `io::Error`, so
/// [`Cancelled::find`] sees it and `?` keeps it in flight.
impl From<ExecutorError> for io::Error {
    fn from(error: ExecutorError) -> io::Error {
        match error {
            ExecutorError::Cancelled(cancelled) => cancelled.into(),
            other => io::Error::other(other),
        }
    }
}

impl From<ExecutorError> for TaskError {
    fn from(error: ExecutorError) -> TaskError {
        match error {
            ExecutorError::Cancelled(cancelled) => cancelled.into(),
            ExecutorError::NotInTask(error) => TaskError::NotInTask(error),
            ExecutorError::Panicked { task, message } => TaskError::Panicked { task, message },
            other @ ExecutorError::Unavailable { .. } => TaskError::LoopFailed {
                error: other.to_string(),
            },
        }
    }
}
