//! Tasks: functions that run on their own stack and suspend where they wait. Introduced by lesson 06.
//!
//! A task is asyncio's `Task`: something that runs a coroutine and puts it back
//! on the loop's ready queue when what it waits on is done. Here the coroutine
//! is a corosensei stackful coroutine, so *any* function can wait, however deep
//! in a call chain: `sleep`, `TcpStream::read`, `JoinHandle::join` look like
//! blocking calls but suspend only the calling task.
//!
//! ## Why not lesson 02's `Generator`?
//!
//! Lessons 03 and 05 resume a `Generator` and read what it yields: the
//! request *is* the yielded value. A task here yields nothing: before it
//! suspends, the waiting function has already told the loop what it waits
//! for (a timer, the selector, a future; see `Core::park`), so the loop only
//! has to resume it later. With nothing to send in or yield out, a bare
//! `corosensei::Coroutine<(), (), ()>` is the whole mechanism, and each task
//! switch is one `resume` and one `suspend` (about 10 ns; see the book's
//! Performance page). `Generator`'s `send`/`throw` plumbing has no work to
//! do here, so we leave it out.
//!
//! ## How a waiting function finds its task: the thread-local
//!
//! asyncio finds the running task through `_current_tasks[loop]`; a generator
//! would have to hand a yielder down every call. We keep one thread-local,
//! `CURRENT`, pointing at the `Running` record on the running task's own
//! stack. The record holds what suspending needs: the loop, the task's key, and
//! corosensei's `Yielder`.
//!
//! ```text
//!   loop's stack                     task 3's stack
//!   ────────────                     ──────────────
//!   run_once                         task_body: running = Running{core, 3, yielder}
//!   └ step(3) ── resume ──────────▶    CURRENT = &running
//!                                      └ handler()
//!                                         └ sleep(1s)
//!                                            └ CURRENT → park, yielder.suspend()
//!     ◀──────────── back to the loop ────────────────────────────┘
//!     CURRENT = what it was before resume (null on the loop's stack)
//! ```
//!
//! Why this is sound:
//! * **One thread.** The loop and all its tasks run on the thread that called
//!   `run_*`; corosensei coroutines are `!Send` and so is the loop, so no other
//!   thread can see or resume them, and a thread-local is exactly "this loop".
//! * **Set on every entry, cleared on every exit.** A task sets `CURRENT` when
//!   it starts and each time `suspend` returns into it; the loop restores the
//!   previous value as soon as `resume` returns. So `CURRENT` is non-null only
//!   while a task is running, and then it points at that task's `Running`,
//!   which lives on that task's stack for as long as the task exists.
//! * **Outside a task it is null**, and every waiting function then returns
//!   [`NotInTask`] instead of suspending something that is not there.

use std::borrow::Cow;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::time::Duration;

use corosensei::Yielder;

use crate::reactor::cancel::{CancelCause, Cancelled, SuspendError, TaskControl};
use crate::reactor::event_loop::Core;
use crate::reactor::future::{Future, WaitError};
use crate::reactor::stacks::NoStack;

// ANCHOR: current
thread_local! {
    /// The running task's [`Running`] record, or null when no task is running
    /// on this thread. See the module comment for why this is sound.
    static CURRENT: Cell<*const Running> = const { Cell::new(ptr::null()) };
}

/// What a running task needs to suspend itself. Lives on the task's own stack,
/// in [`task_body`], for the task's whole life.
pub(crate) struct Running {
    /// The loop that resumes this task. The loop drops (unwinds) its tasks
    /// before it goes away, so this outlives every task that holds it.
    core: *const Core,
    /// The task's slab key: its id, and its key in the selector.
    key: usize,
    /// corosensei's handle for suspending this coroutine.
    yielder: *const Yielder<(), ()>,
    /// Its cancellation requests (lesson 08), checked at every suspension.
    control: Rc<TaskControl>,
}
// ANCHOR_END: current

/// Reads [`CURRENT`]; the loop uses it to save and restore around `resume`.
#[inline(always)]
pub(crate) fn current_ptr() -> *const Running {
    CURRENT.with(Cell::get)
}

/// Writes [`CURRENT`].
#[inline(always)]
pub(crate) fn set_current(running: *const Running) {
    CURRENT.with(|current| current.set(running));
}

/// The running task, as seen from inside it.
///
/// Only code running *inside* that task can obtain one (through [`current`]),
/// and it must not keep it after the task ends; inside the crate we only use
/// it on the stack of the function that asked.
#[derive(Clone, Copy)]
pub(crate) struct CurrentTask {
    running: *const Running,
}

/// The task this code runs in, or an error naming `what` was called outside one.
#[inline(always)]
pub(crate) fn current(what: &'static str) -> Result<CurrentTask, NotInTask> {
    let running = current_ptr();
    if running.is_null() {
        Err(NotInTask { what })
    } else {
        Ok(CurrentTask { running })
    }
}

impl CurrentTask {
    #[inline(always)]
    fn running(&self) -> &Running {
        // SAFETY: `current` only hands out non-null pointers read from
        // `CURRENT` while this task runs, and the record lives on this task's
        // stack until the task ends (module comment).
        unsafe { &*self.running }
    }

    /// The loop running this task.
    #[inline(always)]
    pub(crate) fn core(&self) -> &Core {
        // SAFETY: the loop outlives its tasks (see `Running::core`).
        unsafe { &*self.running().core }
    }

    /// The task's slab key.
    #[inline(always)]
    pub(crate) fn key(&self) -> usize {
        self.running().key
    }

    /// The task's cancellation side (lesson 08).
    #[inline(always)]
    pub(crate) fn control(&self) -> &TaskControl {
        &self.running().control
    }

    /// The same, to keep (a `wait_for` timer holds it).
    pub(crate) fn control_rc(&self) -> Rc<TaskControl> {
        self.running().control.clone()
    }

    // ANCHOR: suspend
    /// Gives control back to the loop until something puts this task on the
    /// ready queue again. `state` says what may do that (see [`TaskState`]);
    /// the caller has already arranged for it (a timer, a selector
    /// registration, a future's waiter list). `Runnable` means "nothing":
    /// the task queues itself behind the others (`yield_now`).
    ///
    /// The suspension point is where a cancellation is delivered (lesson
    /// 08): one requested while the task ran is returned before suspending,
    /// one requested while it was suspended after it resumes. Either way
    /// the caller must take back what it arranged before returning the error.
    #[inline(always)]
    pub(crate) fn suspend(self, state: TaskState) -> Result<(), Cancelled> {
        self.control().deliver()?;
        if state == TaskState::Runnable {
            self.core().push_ready(self.key());
        } else {
            self.core().park(self.key(), state);
        }
        // SAFETY: the yielder belongs to the coroutine we are running on, and
        // it is valid for that coroutine's whole life.
        unsafe { (*self.running().yielder).suspend(()) };
        // Resumed: we are running again, so we are the current task again.
        set_current(self.running);
        self.control().deliver()
    }
    // ANCHOR_END: suspend
}

/// What a task is doing, as far as wake-ups are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    /// Running, or in the ready queue. Wake-ups are ignored: it will run anyway.
    Runnable,
    /// Suspended on a timer or a future; only those wake it.
    Waiting,
    /// Suspended on a descriptor; only a selector event for its key wakes it.
    /// Kept apart from `Waiting` so that a stale event for a task that has
    /// moved on to `sleep` cannot wake it early.
    WaitingIo,
}

/// Where a waiting function was called from outside any task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInTask {
    /// The function that was called.
    pub what: &'static str,
}

impl fmt::Display for NotInTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} was called outside a task: only a task running on a yieldloop EventLoop can \
             wait (it suspends the calling task, and plain code has none to suspend). \
             Call it from a function given to EventLoop::run_until_complete or spawn",
            self.what
        )
    }
}

impl std::error::Error for NotInTask {}

impl From<NotInTask> for io::Error {
    fn from(error: NotInTask) -> io::Error {
        io::Error::other(error)
    }
}

/// Why a task produced no result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked. The panic was caught at the task's boundary; the
    /// loop and every other task went on.
    Panicked {
        /// The task's name, as given to `spawn`.
        task: String,
        /// The panic message.
        message: String,
    },
    /// No stack could be mapped for the task, so it never ran.
    NoStack {
        /// The task's name.
        task: String,
        /// Why, naming `vm.max_map_count`.
        reason: NoStack,
    },
    /// The task was cancelled before it finished: by a request (its
    /// [`JoinHandle::cancel`], a scope, a `wait_for`; the cancellation
    /// propagated out of it, or it never started), or because the loop was
    /// dropped or stopped (a suspended task is unwound, its `Drop` guards
    /// run). `cause` says which.
    Cancelled {
        /// The task's name.
        task: String,
        /// Who cancelled it.
        cause: CancelCause,
    },
    /// A child of a [`crate::scope`] returned an error; the error itself
    /// went to the scope (which returns the first one), this is its text.
    Failed {
        /// The task's name.
        task: String,
        /// The error's message.
        message: String,
    },
    /// `run_until_complete`'s task could never finish: nothing was ready, no
    /// timer pending and no task waiting on I/O, so nothing could wake it.
    Stuck {
        /// The task's name.
        task: String,
    },
    /// The loop could not wait for events (the selector failed).
    LoopFailed {
        /// The operating system's error.
        error: String,
    },
    /// `join` or `wait` was called outside a task on an unfinished task.
    NotInTask(NotInTask),
    /// The result was already taken by an earlier `join`.
    AlreadyJoined,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked { task, message } => write!(f, "task {task:?} panicked: {message}"),
            TaskError::NoStack { task, reason } => write!(f, "task {task:?} never ran: {reason}"),
            TaskError::Cancelled {
                task,
                cause: CancelCause::Requested(_),
            } => write!(
                f,
                "task {task:?} was cancelled (by JoinHandle::cancel, a scope or wait_for) \
                 before it finished"
            ),
            TaskError::Cancelled {
                task,
                cause: CancelCause::LoopEnded,
            } => write!(
                f,
                "task {task:?} was cancelled: the loop ended before it finished"
            ),
            TaskError::Failed { task, message } => write!(f, "task {task:?} failed: {message}"),
            TaskError::Stuck { task } => write!(
                f,
                "task {task:?} can never finish: it waits on something nobody will complete \
                 (nothing is ready, no timer is pending and no task waits on I/O)"
            ),
            TaskError::LoopFailed { error } => write!(f, "the event loop failed: {error}"),
            TaskError::NotInTask(error) => error.fmt(f),
            TaskError::AlreadyJoined => f.write_str("the task's result was already taken"),
        }
    }
}

impl std::error::Error for TaskError {}

impl From<NotInTask> for TaskError {
    fn from(error: NotInTask) -> Self {
        TaskError::NotInTask(error)
    }
}

impl From<WaitError> for TaskError {
    fn from(error: WaitError) -> Self {
        match error {
            WaitError::NotInTask(error) => TaskError::NotInTask(error),
            WaitError::AlreadyTaken => TaskError::AlreadyJoined,
            WaitError::Cancelled(cancelled) => cancelled.into(),
        }
    }
}

/// A task's result, to be waited for: `asyncio.Task` seen as a future.
///
/// Dropping the handle detaches the task: it runs on, and its result is
/// dropped. Holding it and waiting on it (`join`, `gather`, `wait`) makes
/// the waiter the task's owner: if the waiter is cancelled while it waits,
/// the task is cancelled too and waited for (lesson 08; [`crate::shield`]
/// opts out).
#[must_use = "a JoinHandle does nothing unless joined; drop it to detach the task"]
pub struct JoinHandle<T> {
    pub(crate) done: Future<T, TaskError>,
    /// How to cancel the task; `None` for a task that never started, and for
    /// a shielded handle, which may not cancel it.
    pub(crate) control: Option<Rc<TaskControl>>,
}

impl<T: 'static> JoinHandle<T> {
    // ANCHOR: join
    /// Waits for the task and returns its result (asyncio: `await task`).
    ///
    /// Inside a task this suspends until the task is done. Outside a task it
    /// returns the result if the task has finished, else
    /// [`TaskError::NotInTask`].
    ///
    /// If the *joining* task is cancelled meanwhile, the joined task is
    /// cancelled as well (unless this handle is shielded), `join` waits until
    /// it has finished its cleanup, and returns the joiner's own
    /// cancellation as [`TaskError::Cancelled`]: innermost first, as asyncio
    /// cancels `grandfather → father → son`.
    pub fn join(self) -> Result<T, TaskError> {
        match self.done.wait_done("JoinHandle::join") {
            Ok(()) => self.done.wait(),
            Err(WaitError::Cancelled(cancelled)) => {
                if self.control.is_some() {
                    // We own the task: it goes too, and we wait for its cleanup.
                    self.cancel();
                    self.done.wait_done_through_cancel();
                }
                Err(cancelled.into())
            }
            Err(error) => Err(error.into()),
        }
    }
    // ANCHOR_END: join

    // ANCHOR: cancel
    /// Asks the task to stop (asyncio: `task.cancel()`): it gets
    /// [`Cancelled`] at its next suspension point (at once, if it is
    /// suspended now), or never starts if it has not yet. Returns `false`,
    /// doing nothing, if the task has finished (or this handle is shielded).
    /// A second request before the first is delivered is the same request:
    /// the task gets it once.
    pub fn cancel(&self) -> bool {
        match &self.control {
            Some(control) if !self.done.is_done() => {
                control.request();
                !control.is_finished()
            }
            _ => false,
        }
    }
    // ANCHOR_END: cancel

    /// Whether the task has finished (returned, panicked, or never ran).
    pub fn is_finished(&self) -> bool {
        self.done.is_done()
    }

    /// The future that completes with the task's result.
    pub fn future(&self) -> &Future<T, TaskError> {
        &self.done
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}

/// The slab entry for one task. Boxed in the slab, so that its address stays
/// put while the slab grows (a running task may spawn others).
pub(crate) struct Task {
    /// For logs.
    pub(crate) name: Cow<'static, str>,
    /// What may wake it. A `Cell`, so that wake-ups need only a shared
    /// borrow of the slab, which never overlaps the running coroutine.
    pub(crate) state: Cell<TaskState>,
    /// The coroutine. Only the loop touches it: to resume it (`step`, through
    /// the pointer from `UnsafeCell::get`) and to drop it (when it finishes,
    /// or when the loop is dropped), never both at once.
    pub(crate) coroutine: UnsafeCell<TaskCoroutine>,
}

/// A task's coroutine: resumed with nothing, yields nothing, returns nothing
/// (the result goes into the task's [`Future`]).
pub(crate) type TaskCoroutine =
    corosensei::Coroutine<(), (), (), crate::reactor::stacks::TaskStack>;

/// Completes a task's future exactly once. If the task is unwound before it
/// finishes (the loop is dropped), dropping this marks it cancelled.
pub(crate) struct Completion<T> {
    pub(crate) done: Future<T, TaskError>,
    pub(crate) name: Cow<'static, str>,
    /// The task's cancellation side, handed to its `Running` record.
    pub(crate) control: Rc<TaskControl>,
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        let task = self.name.to_string();
        self.control.mark_finished();
        // Fails harmlessly if the task already completed its future.
        let _ = self.done.set_error(TaskError::Cancelled {
            task,
            cause: CancelCause::LoopEnded,
        });
    }
}

// ANCHOR: task_body
/// The function every task's coroutine runs: asyncio's `Task._step` for the
/// first step, and the place where a panic stops.
pub(crate) fn task_body<T, F>(
    core: *const Core,
    key: usize,
    yielder: &Yielder<(), ()>,
    completion: Completion<T>,
    f: F,
) where
    F: FnOnce() -> Result<T, TaskError>,
{
    let control = completion.control.clone();
    let running = Running {
        core,
        key,
        yielder,
        control,
    };
    set_current(&running);
    // Cancelled before its first step: it never starts (lesson 08).
    if let Err(cancelled) = running.control.deliver() {
        running.control.mark_finished();
        let _ = completion.done.set_error(cancelled);
        return;
    }
    // Catch the panic here, at the task's boundary, so that it ends this task
    // only: the loop and the other tasks carry on.
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    // SAFETY: the loop outlives its tasks (see `Running::core`).
    let closing = unsafe { (*core).is_closing() };
    let result = match outcome {
        // A cancellation still in flight turns the result into `Cancelled`.
        Ok(result) => running.control.settle(result),
        // The loop is being dropped and corosensei is unwinding this stack to
        // run its `Drop` guards: let that unwinding go on to its end.
        Err(payload) if closing => panic::resume_unwind(payload),
        Err(payload) => {
            running.control.mark_finished();
            Err(TaskError::Panicked {
                task: completion.name.to_string(),
                message: panic_message(payload.as_ref()),
            })
        }
    };
    let _ = completion.done.complete(result);
}
// ANCHOR_END: task_body

/// The text of a panic, as the default panic hook would print it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic with a non-text payload)".to_string()
    }
}

/// Starts `f` as a new task on the running loop (asyncio: `create_task`).
/// It runs once the caller next waits; its result comes out of the handle.
///
/// Called outside a task, the handle's `join` returns [`TaskError::NotInTask`]
/// (from outside, use [`crate::EventLoop::spawn`]). If no stack can be had,
/// `join` returns [`TaskError::NoStack`].
pub fn spawn<T, F>(name: impl Into<Cow<'static, str>>, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    match current("yieldloop::spawn") {
        Ok(task) => task.core().spawn(name.into(), move || Ok(f())),
        Err(error) => JoinHandle::failed(TaskError::NotInTask(error)),
    }
}

impl<T: 'static> JoinHandle<T> {
    /// A handle for a task that never started.
    pub(crate) fn failed(error: TaskError) -> Self {
        let done = Future::new();
        let _ = done.set_error(error);
        JoinHandle {
            done,
            control: None,
        }
    }
}

// ANCHOR: yield_now
/// Lets every other ready task run, then carries on (asyncio: `await
/// asyncio.sleep(0)`). The cheapest suspension there is: the task puts itself
/// at the back of the ready queue and suspends.
//
// Why `inline(always)` here and on everything it calls: the CPU predicts
// where each `ret` goes with a small stack of return addresses filled by
// `call`s (the return stack buffer). A coroutine switch is a `call` on one
// stack and a `ret` on the other, which keeps that stack balanced only if
// the switch sits directly in the task's own code. Left as a function, the
// task returns from `yield_now` into a frame it entered in an *earlier*
// activation, the predictions go wrong on both sides, and a round trip
// costs about 35 ns instead of about 10 ns (measured in release builds).
#[inline(always)]
pub fn yield_now() -> Result<(), SuspendError> {
    let task = current("yieldloop::yield_now")?;
    task.suspend(TaskState::Runnable)?;
    Ok(())
}
// ANCHOR_END: yield_now

// ANCHOR: sleep
/// Suspends the calling task for `delay` (asyncio: `await asyncio.sleep(d)`);
/// the other tasks run meanwhile. A zero delay is [`yield_now`].
///
/// If the task is cancelled while it sleeps, `sleep` removes its timer and
/// returns [`SuspendError::Cancelled`] at once (lesson 08).
pub fn sleep(delay: Duration) -> Result<(), SuspendError> {
    if delay.is_zero() {
        return yield_now();
    }
    let task = current("yieldloop::sleep")?;
    let timer = task.core().wake_later(task.key(), delay);
    if let Err(cancelled) = task.suspend(TaskState::Waiting) {
        // Woken early: the timer must not wake this task later, in the
        // middle of whatever it waits on next.
        task.core().cancel_timer(timer);
        return Err(cancelled.into());
    }
    Ok(())
}
// ANCHOR_END: sleep

/// The loop's time, as seen from a task (asyncio: `loop.time()`): seconds
/// since the loop's clock started; virtual on a virtual clock.
pub fn now() -> Result<Duration, NotInTask> {
    Ok(current("yieldloop::now")?.core().time())
}
