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
//!   [`NotInTask`] instead of suspending something that is not there. That
//!   includes callbacks (`call_soon`, done callbacks): `run_once` clears it
//!   while it runs them, so a callback of a loop nested inside a task cannot
//!   suspend the *outer* task in the middle of the inner loop's iteration.
//! * **Restored even when a panic unwinds.** `step` restores it with a drop
//!   guard ([`RestoreCurrent`]), so no panic, however it escapes, leaves it
//!   pointing at a finished task's stack.
//!
//! ## Shutdown: unwinding the tasks a dropped loop leaves behind
//!
//! Dropping the loop resumes each suspended task once more; its `suspend`
//! sees the loop closing and unwinds the task's stack with a private panic
//! ([`Shutdown`]), so every `Drop` guard on it runs. `task_body` catches that
//! panic and completes the task's future with [`TaskError::Cancelled`]. A
//! task that catches the unwinding itself (a supervisor looping around
//! `catch_unwind`) and then waits again is not unwound forever: it is stopped
//! where it stands, reported, and its stack is leaked (see `Core::shut_down`).

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
use crate::reactor::instrument::{WaitOn, TASK_TARGET};
use crate::reactor::stacks::NoStack;
use crate::stack_guard::GuardedStack;

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
    /// The task's slab key: its id, and the name its wake-ups use (a timer's
    /// action, a socket's waiter record, a future's waiter list).
    key: usize,
    /// corosensei's handle for suspending this coroutine.
    yielder: *const Yielder<(), ()>,
    /// Its cancellation requests (lesson 08), checked at every suspension.
    control: Rc<TaskControl>,
    /// Where the task's stack and its guard page are, and its name: what the
    /// stack-overflow handler ([`crate::stack_guard`]) reads.
    pub(crate) stack: GuardedStack,
    /// The task's [`Completion`], to cancel its future if the loop has to
    /// abandon the task at shutdown (see `stop_runaway`).
    completion: *const dyn Cancel,
}
// ANCHOR_END: current

thread_local! {
    /// The task whose stack the loop's shutdown is unwinding right now, or
    /// null. Read only on the cold path of [`current`]: code that runs there
    /// while no panic is unwinding caught the shutdown and kept going.
    static SHUTTING_DOWN: Cell<*const Running> = const { Cell::new(ptr::null()) };
}

/// The panic payload that unwinds a suspended task when its loop is dropped.
/// Private, so that only the loop raises it.
pub(crate) struct Shutdown;

/// Adds one line to the panic hook's report, once per process: when a panic
/// starts while the loop's shutdown unwinds a task, it comes from a `Drop`
/// guard on that task's stack, and if it leaves the guard Rust aborts the
/// process ("panic in a destructor during cleanup"). No runtime can catch
/// that; the line says which task and what to do. Everything else goes to
/// the hook that was there before.
pub(crate) fn install_shutdown_hook() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let running = SHUTTING_DOWN.with(Cell::get);
            if !running.is_null() {
                // SAFETY: `SHUTTING_DOWN` points at the `Running` of the task
                // being unwound, on the stack this panic happens on.
                let completion = unsafe { &*(*running).completion };
                eprintln!(
                    "yieldloop: task {:?} panicked in a Drop guard while the loop's shutdown \
                     unwound it; a panic that leaves a Drop during unwinding makes Rust abort \
                     the process. Guards should not panic (check std::thread::panicking())",
                    completion.name()
                );
            }
            previous(info);
        }));
    });
}

/// Saves [`SHUTTING_DOWN`] and puts it back when dropped: a loop dropped
/// inside a task that is itself being shut down (a guard owning a loop)
/// must not make the outer shutdown forget which task it unwinds.
pub(crate) struct KeepShuttingDown {
    outer: *const Running,
}

impl KeepShuttingDown {
    pub(crate) fn save() -> Self {
        KeepShuttingDown {
            outer: SHUTTING_DOWN.with(Cell::get),
        }
    }
}

impl Drop for KeepShuttingDown {
    fn drop(&mut self) {
        SHUTTING_DOWN.with(|cell| cell.set(self.outer));
    }
}

/// Puts [`CURRENT`] back to what it was when dropped: on the normal path and
/// when a panic unwinds, so the pointer never outlives the task it names.
pub(crate) struct RestoreCurrent {
    outer: *const Running,
}

impl RestoreCurrent {
    /// Saves the current pointer and sets it to `running` (null: no task).
    #[inline(always)]
    pub(crate) fn set(running: *const Running) -> Self {
        let outer = current_ptr();
        set_current(running);
        RestoreCurrent { outer }
    }
}

impl Drop for RestoreCurrent {
    #[inline(always)]
    fn drop(&mut self) {
        set_current(self.outer);
    }
}

/// The slab key of the task running now, if it runs on the loop `core`:
/// who spawns a new task (its parent, lesson 11).
pub(crate) fn running_key_in(core: *const Core) -> Option<usize> {
    let running = current_ptr();
    if running.is_null() {
        return None;
    }
    // SAFETY: non-null `CURRENT` points at the running task's `Running`,
    // which lives on that task's stack while it runs (module comment).
    let running = unsafe { &*running };
    ptr::eq(running.core, core).then_some(running.key)
}

/// Reads [`CURRENT`]; the loop uses it to save and restore around `resume`.
#[inline(always)]
pub(crate) fn current_ptr() -> *const Running {
    CURRENT.with(Cell::get)
}

/// The running task's stack bounds and name, or null: what the
/// stack-overflow handler ([`crate::stack_guard`]) asks. Async-signal-safe:
/// one read of a `const`-initialised thread-local.
pub(crate) fn running_stack() -> *const GuardedStack {
    let running = current_ptr();
    if running.is_null() {
        ptr::null()
    } else {
        // SAFETY: non-null `CURRENT` points at the running task's `Running`;
        // `addr_of!` takes the field's address without reading it.
        unsafe { ptr::addr_of!((*running).stack) }
    }
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
        stop_runaway(what);
        Err(NotInTask { what })
    } else {
        Ok(CurrentTask { running })
    }
}

/// The cold path of [`current`]: not in a task. Normally that is just plain
/// code, or a `Drop` guard that runs while the loop's shutdown unwinds its
/// task (`join` gets `NotInTask`, as the loop is going away; `sleep` and
/// `yield_now` return at once, see `cut_short`). But code that asks
/// while the shutdown is under way and *no panic is unwinding* caught the
/// shutdown's unwinding (`catch_unwind`) and kept running: a supervisor that
/// restarts what panicked would loop for ever here, every wait failing at
/// once. So that task is stopped: its future is cancelled and it suspends
/// for the last time; the loop sees it suspend and abandons it.
#[cold]
fn stop_runaway(what: &'static str) {
    let running = SHUTTING_DOWN.with(Cell::get);
    if running.is_null() || std::thread::panicking() {
        return;
    }
    SHUTTING_DOWN.with(|cell| cell.set(ptr::null()));
    // SAFETY: `SHUTTING_DOWN` is set only while the loop's shutdown resumes
    // this very task (see `CurrentTask::suspend`), whose `Running` lives on
    // the stack we are running on.
    let running = unsafe { &*running };
    // SAFETY: the completion lives in `task_body`'s frame, below us on this
    // stack, and the task never returns to it (it is abandoned).
    let completion = unsafe { &*running.completion };
    tracing::error!(
        "task {:?} caught the loop's shutdown unwinding and kept running (it called {what}): \
         it is stopped without finishing its unwinding, so the values still on its stack \
         are leaked. Let the shutdown's panic go on: resume_unwind payloads you do not own",
        completion.name()
    );
    contain(&"cancelling an abandoned task", || completion.cancel());
    // SAFETY: the yielder belongs to the coroutine we are running on. The
    // loop does not resume it again (`Core::shut_down` resets it).
    unsafe { (*running.yielder).suspend(()) };
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
    /// ready queue again. `wait` says what may do that (see [`WaitOn`]);
    /// the caller has already arranged for it (a timer, a selector
    /// registration, a future's waiter list). `Ready` means "nothing":
    /// the task queues itself behind the others (`yield_now`).
    ///
    /// The suspension point is where a cancellation is delivered (lesson
    /// 08): one requested while the task ran is returned before suspending,
    /// one requested while it was suspended after it resumes. Either way
    /// the caller must take back what it arranged before returning the error.
    #[inline(always)]
    pub(crate) fn suspend(self, wait: WaitOn) -> Result<(), Cancelled> {
        self.control().deliver()?;
        if wait == WaitOn::Ready {
            self.core().push_ready(self.key());
        } else {
            self.core().park(self.key(), wait);
        }
        // SAFETY: the yielder belongs to the coroutine we are running on, and
        // it is valid for that coroutine's whole life.
        unsafe { (*self.running().yielder).suspend(()) };
        // One flag covers the two rare reasons to be resumed while still
        // waiting: the loop's shutdown, and `dump_tasks` (lesson 11).
        if self.core().needs_attention() {
            self.attend();
        }
        // Resumed: we are running again, so we are the current task again.
        set_current(self.running);
        self.control().deliver()
    }

    /// Resumed while still waiting, for one of the loop's rare reasons:
    /// the shutdown (unwind, see below), or a request to capture this
    /// task's backtrace (`dump_tasks`, lesson 11).
    ///
    /// Why answering the capture here is sound and does not disturb the
    /// wait: we are still inside `suspend`, before `CURRENT` is set and
    /// before a cancellation is delivered, so no code of the task runs.
    /// `Backtrace::force_capture` only walks this stack (and allocates).
    /// Then we suspend again through the same yielder; the task's state,
    /// timer, selector registration and waiter lists were not touched, so
    /// whatever would have woken it still will. The loop asked from its
    /// own stack with no `RefCell` borrowed and no task running.
    #[cold]
    #[inline(never)]
    fn attend(self) {
        loop {
            if self.core().is_closing() {
                self.unwind_for_shutdown();
            }
            if !self.core().capture_requested() {
                return;
            }
            let backtrace = std::backtrace::Backtrace::force_capture();
            self.core().answer_capture(backtrace);
            // SAFETY: as in `suspend`: our own coroutine's yielder.
            unsafe { (*self.running().yielder).suspend(()) };
            if !self.core().needs_attention() {
                return;
            }
        }
    }

    /// The loop was dropped while this task waited, and resumed it one last
    /// time to unwind its stack: raise the private [`Shutdown`] panic, which
    /// runs every `Drop` guard on the way to `task_body`. `CURRENT` stays
    /// null meanwhile, so a guard that tries to wait cannot suspend (`sleep`
    /// returns at once, `join` gets `NotInTask`).
    #[cold]
    fn unwind_for_shutdown(self) -> ! {
        SHUTTING_DOWN.with(|cell| cell.set(self.running));
        // `resume_unwind`, not `panic!`: no panic hook, no message.
        panic::resume_unwind(Box::new(Shutdown))
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
        /// Why: the `vm.max_map_count` ceiling (per-stack mappings), memory,
        /// or an absurd size.
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
        let joined = WaitOn::Join {
            task: self.control.as_ref().map_or(0, |control| control.id()),
        };
        match self.done.wait_done_on("JoinHandle::join", joined) {
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
    ///
    /// ```
    /// use yieldloop::{secs, sleep, spawn, Builder, Clock, TaskError};
    ///
    /// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
    /// let joined = event_loop.run_until_complete(|| {
    ///     let sleeper = spawn("sleeper", || sleep(secs(10.0))); // `?`-able error
    ///     sleep(secs(1.0)).unwrap();
    ///     assert!(sleeper.cancel()); // its sleep returns Err(Cancelled) now
    ///     sleeper.join()
    /// }).unwrap();
    /// assert!(matches!(joined, Err(TaskError::Cancelled { task, .. }) if task == "sleeper"));
    /// assert_eq!(event_loop.time(), secs(1.0)); // nobody waited the 10 s
    /// ```
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
    /// Its id, never reused (lesson 11; the slab key is).
    pub(crate) id: u64,
    /// The id of the task that spawned it, if a task did.
    pub(crate) parent: Option<u64>,
    /// What it waits on, and since when in loop time (lesson 11).
    pub(crate) waits_on: Cell<WaitOn>,
    pub(crate) since: Cell<Duration>,
    /// Its `tracing` span, entered for each step (empty when nobody listens).
    pub(crate) span: tracing::Span,
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

/// Completes a task's future exactly once. If the task never runs (the loop
/// is dropped first), dropping this marks it cancelled.
pub(crate) struct Completion<T> {
    pub(crate) done: Future<T, TaskError>,
    pub(crate) name: Cow<'static, str>,
    /// The task's cancellation side, handed to its `Running` record.
    pub(crate) control: Rc<TaskControl>,
}

impl<T> Completion<T> {
    /// Completes the future with the task's outcome, then lets go of it. Both
    /// run user code: the done callbacks (contained by `Future::complete`)
    /// and, if nobody holds the handle any more, the drop of the result,
    /// which is contained here.
    fn finish(mut self, result: Result<T, TaskError>) {
        // Taken, not cloned: no allocation at every task's end. (Our `Drop`
        // below then finds the future done and does nothing.)
        let name = std::mem::take(&mut self.name);
        contain(&Finishing(&name), move || {
            let _ = self.done.complete(result);
            drop(self);
        });
    }
}

/// Names a task's ending in the log when a done callback or the drop of the
/// result panics.
struct Finishing<'a>(&'a str);

impl fmt::Display for Finishing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "finishing task {:?} (a done callback, or dropping its result)",
            self.0
        )
    }
}

/// Cancelling a task's future without knowing its result type: what the loop
/// does to a task it has to abandon at shutdown.
pub(crate) trait Cancel {
    fn cancel(&self);
    fn name(&self) -> &str;
}

impl<T> Cancel for Completion<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn cancel(&self) {
        if self.done.is_done() {
            return; // the usual case: the task completed its future
        }
        let task = self.name.to_string();
        self.control.mark_finished();
        let _ = self.done.set_error(TaskError::Cancelled {
            task,
            cause: CancelCause::LoopEnded,
        });
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        self.cancel();
    }
}

// ANCHOR: task_body
/// The function every task's coroutine runs: asyncio's `Task._step` for the
/// first step, and the place where a panic stops.
///
/// Nothing may unwind out of here: a panic that reached corosensei would come
/// out of the loop's `resume`. So the task's function runs under
/// `catch_unwind`, and so does everything after it that runs user code (the
/// done callbacks, the drop of the panic payload and of the result).
pub(crate) fn task_body<T, F>(
    core: *const Core,
    key: usize,
    yielder: &Yielder<(), ()>,
    stack: GuardedStack,
    completion: Completion<T>,
    f: F,
) where
    T: 'static,
    F: FnOnce() -> Result<T, TaskError>,
{
    let control = completion.control.clone();
    let running = Running {
        core,
        key,
        yielder,
        control,
        stack: stack.named(&completion.name),
        completion: &completion as &dyn Cancel,
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
    // The task's own code is over: what runs from here on (done callbacks)
    // is not the task, and must not be able to suspend it.
    set_current(ptr::null());
    SHUTTING_DOWN.with(|cell| cell.set(ptr::null()));
    let result = match outcome {
        // A cancellation still in flight turns the result into `Cancelled`.
        Ok(result) => running.control.settle(result),
        Err(payload) => {
            running.control.mark_finished();
            let task = completion.name.to_string();
            let error = if payload.is::<Shutdown>() {
                // The loop was dropped and unwound this task's stack; its
                // guards ran on the way here.
                TaskError::Cancelled {
                    task,
                    cause: CancelCause::LoopEnded,
                }
            } else {
                let message = panic_message(payload.as_ref());
                // SAFETY: the loop outlives its tasks (see `Running::core`).
                unsafe { (*core).note_panicked_step() };
                TaskError::Panicked { task, message }
            };
            drop_payload(payload);
            Err(error)
        }
    };
    // Debug mode (lesson 11): a failed task that nobody holds a handle to
    // any more: its error can never be looked at (asyncio's "Task exception
    // was never retrieved"). The completion's own future is the one holder.
    // SAFETY: the loop outlives its tasks (see `Running::core`).
    if result.is_err() && completion.done.holders() == 1 && unsafe { (*core).debug_mode() } {
        if let Err(error) = &result {
            // A cancellation is no failure; a scope child's `Failed` error
            // went to its scope, which returns it.
            if !matches!(
                error,
                TaskError::Cancelled { .. } | TaskError::Failed { .. }
            ) {
                crate::reactor::instrument::debug_report(
                    &crate::reactor::instrument::never_retrieved_message(
                        running.control.id(),
                        error,
                    ),
                );
            }
        }
    }
    if crate::reactor::instrument::task_events_on() {
        let outcome = match &result {
            Ok(_) => "returned".to_string(),
            Err(error) => error.to_string(),
        };
        tracing::debug!(target: TASK_TARGET, task = running.control.id(), %outcome, "finish");
    }
    completion.finish(result);
}
// ANCHOR_END: task_body
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

/// Runs user code that must not unwind into the loop (a callback, a done
/// callback, the drop of a value the user gave us): a panic is logged with
/// `what` (which callback, which task) and the loop goes on, as asyncio logs
/// an exception raised by a callback.
pub(crate) fn contain(what: &dyn fmt::Display, f: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        tracing::error!("{what} panicked: {}", panic_message(payload.as_ref()));
        drop_payload(payload);
    }
}

/// How many nested panics from dropping panic payloads we follow before we
/// give up and leak the last payload.
const PAYLOAD_DROPS: usize = 8;

/// Drops a caught panic's payload. The payload is a user value, and its own
/// `Drop` may panic; that panic's payload may do the same. We follow the
/// chain a few times, then leak what is left rather than let it unwind.
pub(crate) fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    let mut payload = payload;
    for _ in 0..PAYLOAD_DROPS {
        match panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => {
                tracing::error!(
                    "dropping a panic's payload panicked: {}",
                    panic_message(next.as_ref())
                );
                payload = next;
            }
        }
    }
    std::mem::forget(payload);
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
    let task = match current("yieldloop::yield_now") {
        Ok(task) => task,
        Err(error) => return cut_short(error),
    };
    task.suspend(WaitOn::Ready)?;
    Ok(())
}
// ANCHOR_END: yield_now

/// Why `sleep` or `yield_now` could not suspend. Outside a task that is an
/// error. But in a `Drop` guard of a task that the loop's shutdown is
/// unwinding there is nothing left to wait for (the loop will not run
/// again), and an error there would most likely be unwrapped into a panic
/// during unwinding, which aborts the process: so the wait is cut short and
/// returns `Ok` at once.
#[cold]
fn cut_short(error: NotInTask) -> Result<(), SuspendError> {
    if std::thread::panicking() && !SHUTTING_DOWN.with(Cell::get).is_null() {
        Ok(())
    } else {
        Err(error.into())
    }
}

// ANCHOR: sleep
/// Suspends the calling task for `delay` (asyncio: `await asyncio.sleep(d)`);
/// the other tasks run meanwhile. A zero delay is [`yield_now`]. In a `Drop`
/// guard that runs while the loop's shutdown unwinds the task, it returns
/// at once (see the Guarantees page).
///
/// If the task is cancelled while it sleeps, `sleep` removes its timer and
/// returns [`SuspendError::Cancelled`] at once (lesson 08).
pub fn sleep(delay: Duration) -> Result<(), SuspendError> {
    if delay.is_zero() {
        return yield_now();
    }
    let task = match current("yieldloop::sleep") {
        Ok(task) => task,
        Err(error) => return cut_short(error),
    };
    let (timer, deadline) = task.core().wake_later(task.key(), delay);
    if let Err(cancelled) = task.suspend(WaitOn::Timer { deadline }) {
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
