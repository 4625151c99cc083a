//! A one-shot future: a result that arrives later, and the tasks waiting for it. Introduced by lesson 07.
//!
//! asyncio's `Future` is "a promise of a result or an error": somebody calls
//! `set_result` (or `set_exception`) once; whoever waits on it gets the value;
//! `add_done_callback` runs code when it completes. A task *is* a future that
//! runs a coroutine (`JoinHandle` wraps one).
//!
//! What makes futures worth having is the talk's "no more callbacks" slide: a
//! callback API becomes straight-line code by creating a future, completing it
//! from the callback, and waiting on it.
//!
//! ```text
//!   fn fetch(url) -> Result<Page, E> {            // reads like blocking code
//!       let future = Future::new();
//!       let f = future.clone();
//!       fetch_with_callback(url, move |r| f.complete(r));
//!       future.wait()                              // this task suspends here;
//!   }                                              // complete() wakes it
//! ```
//!
//! Not to be confused with [`std::future::Future`], Rust's trait for a
//! computation driven by `poll` (what an `async fn` returns): this `Future`
//! is asyncio's, a slot for a result plus the tasks waiting for it, and a
//! task waits by suspending its stack. Lesson 12 uses the std trait.
//!
//! How waiting works (asyncio's `Task._step` / `_wakeup`): `wait` adds the
//! current task to the future's waiter list and suspends it; completing the
//! future puts every waiter back on its loop's ready queue. Unlike asyncio,
//! done callbacks run at once, inside `set_result`, rather than through
//! `call_soon`; for a one-shot future nothing observable depends on it.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::io;
use std::mem;
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::reactor::cancel::Cancelled;
use crate::reactor::event_loop::Core;
use crate::reactor::instrument::{WaitOn, WakeCause};
use crate::reactor::task::{
    contain, current, CurrentTask, JoinHandle, NotInTask, TaskError, TaskState,
};

/// A result of type `Result<T, E>` that will be set once, later.
///
/// Clones are handles to the same future (one side sets, another waits).
pub struct Future<T, E = Box<dyn Error>> {
    shared: Rc<RefCell<Shared<T, E>>>,
}

/// Callback type for [`Future::add_done_callback`].
type DoneCallback<T, E> = Box<dyn FnOnce(&Result<T, E>)>;

struct Shared<T, E> {
    outcome: Outcome<T, E>,
    /// Run once, in order, when the future completes.
    callbacks: Vec<DoneCallback<T, E>>,
    /// Tasks suspended in `wait`, to be put back on their loop's ready queue.
    waiters: Vec<Waiter>,
}

enum Outcome<T, E> {
    Pending,
    Done(Result<T, E>),
    /// Done, and the result is lent to the done callbacks, which run outside
    /// any borrow of the future (see [`Future::complete`]).
    Lent,
    /// A `wait` took the result; it is one-shot, like `JoinHandle::join`.
    Taken,
}

/// A task waiting on a future: which loop, which task. The loop is held
/// weakly: a waiting future must not keep a dropped loop alive.
pub(crate) struct Waiter {
    pub(crate) core: Weak<Core>,
    pub(crate) task: usize,
}

impl Waiter {
    /// The task `task` is running in, to be woken later (lesson 09's
    /// primitives park their tasks with it too).
    pub(crate) fn of(task: &CurrentTask) -> Waiter {
        Waiter {
            core: task.core().weak(),
            task: task.key(),
        }
    }

    /// Puts the task back on its loop's ready queue, if it still waits.
    pub(crate) fn wake(&self, cause: WakeCause) {
        if let Some(core) = self.core.upgrade() {
            core.wake(self.task, TaskState::Waiting, cause);
        }
    }

    pub(crate) fn is(&self, core: &Core, task: usize) -> bool {
        self.task == task && std::ptr::eq(self.core.as_ptr(), core)
    }
}

/// Why waiting produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitError {
    /// `wait` was called outside a task on a future that is not done.
    NotInTask(NotInTask),
    /// An earlier `wait` already took the result.
    AlreadyTaken,
    /// The waiting task was cancelled while it waited (lesson 08); it is
    /// off the future's waiter list again.
    Cancelled(Cancelled),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::NotInTask(error) => error.fmt(f),
            WaitError::AlreadyTaken => f.write_str("the future's result was already taken"),
            WaitError::Cancelled(cancelled) => cancelled.fmt(f),
        }
    }
}

impl Error for WaitError {}

impl From<NotInTask> for WaitError {
    fn from(error: NotInTask) -> Self {
        WaitError::NotInTask(error)
    }
}

impl From<WaitError> for io::Error {
    fn from(error: WaitError) -> io::Error {
        match error {
            WaitError::Cancelled(cancelled) => cancelled.into(),
            error => io::Error::other(error),
        }
    }
}

/// `set_result` or `set_error` on a future that is already done (asyncio's
/// `InvalidStateError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyDone;

impl fmt::Display for AlreadyDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future is already done: a future completes only once")
    }
}

impl Error for AlreadyDone {}

impl<T, E> Clone for Future<T, E> {
    fn clone(&self) -> Self {
        Future {
            shared: self.shared.clone(),
        }
    }
}

// ANCHOR: dropped_with_waiters
/// Debug mode (lesson 11): asyncio warns when a pending task is destroyed;
/// the stackful equivalent here is a pending future that loses the last
/// handle able to complete it. A waiting task holds one handle (the one it
/// called `wait` on) and cannot complete it while it waits, so when every
/// handle left after this drop is a waiter's, the waiters are stranded.
///
/// Only a report: the waiters stay where they are, and the loop later ends
/// with `TaskError::Stuck` or cancels them at shutdown, as before. Nothing
/// here runs user code, and the future is only `try_borrow`ed, so a drop in
/// any state (even inside one of its own done callbacks) cannot panic.
impl<T, E> Drop for Future<T, E> {
    fn drop(&mut self) {
        let Ok(shared) = self.shared.try_borrow() else {
            return;
        };
        if !matches!(shared.outcome, Outcome::Pending) || shared.waiters.is_empty() {
            return;
        }
        // Handles left once this one is gone. A waiter that holds two
        // handles keeps this above the count: no report (a false negative
        // costs nothing; a false alarm would teach learners to ignore them).
        if Rc::strong_count(&self.shared) - 1 > shared.waiters.len() {
            return;
        }
        let Some(core) = shared.waiters.iter().find_map(|w| w.core.upgrade()) else {
            return;
        };
        // At shutdown the loop unwinds every task, and the completers go
        // first as often as not: nothing to report there that the
        // pending-at-shutdown report does not already say.
        if !core.debug_mode() || core.is_closing() {
            return;
        }
        let waiters: Vec<(u64, String)> = shared
            .waiters
            .iter()
            .filter_map(|waiter| core.task_label(waiter.task))
            .collect();
        drop(shared);
        crate::reactor::instrument::debug_report(
            &crate::reactor::instrument::future_dropped_message(&waiters),
        );
    }
}
// ANCHOR_END: dropped_with_waiters

impl<T, E> Default for Future<T, E> {
    fn default() -> Self {
        Future {
            shared: Rc::new(RefCell::new(Shared {
                outcome: Outcome::Pending,
                callbacks: Vec::new(),
                waiters: Vec::new(),
            })),
        }
    }
}

impl<T, E> Future<T, E> {
    /// A pending future.
    pub fn new() -> Self {
        Future::default()
    }

    /// Completes the future with a value (asyncio: `set_result`).
    pub fn set_result(&self, value: T) -> Result<(), AlreadyDone> {
        self.complete(Ok(value))
    }

    /// Completes the future with an error (asyncio: `set_exception`).
    pub fn set_error(&self, error: impl Into<E>) -> Result<(), AlreadyDone> {
        self.complete(Err(error.into()))
    }

    // ANCHOR: complete
    /// Completes the future with `result`: wakes every waiting task, then runs
    /// the done callbacks. The second completion is refused.
    ///
    /// A done callback that panics is logged and the others still run (the
    /// panic never reaches the caller: this is how a task's end reports its
    /// result, and it must not unwind into the loop). While the callbacks
    /// run, the result is lent to them outside the future, so that nothing
    /// is borrowed while user code runs: a callback may call `is_done`,
    /// `add_done_callback` or even `wait` on this same future (`wait` then
    /// gets [`WaitError::AlreadyTaken`]: the callbacks are being shown it).
    pub fn complete(&self, result: Result<T, E>) -> Result<(), AlreadyDone> {
        let (waiters, callbacks) = {
            // `try_`: a done callback completing its own future is refused, not a panic.
            let Ok(mut shared) = self.shared.try_borrow_mut() else {
                return Err(AlreadyDone);
            };
            if !matches!(shared.outcome, Outcome::Pending) {
                return Err(AlreadyDone);
            }
            shared.outcome = Outcome::Lent;
            let shared = &mut *shared;
            (
                mem::take(&mut shared.waiters),
                mem::take(&mut shared.callbacks),
            )
        };
        // asyncio's `_wakeup`: each waiter goes back on its loop's ready queue.
        for waiter in &waiters {
            waiter.wake(WakeCause::Future);
        }
        self.run_callbacks(callbacks, result);
        Ok(())
    }

    /// Shows `result` to each callback, with the future in the `Lent` state
    /// and no borrow held, then puts the result back. Callbacks added by the
    /// callbacks run too, after them.
    fn run_callbacks(&self, mut callbacks: Vec<DoneCallback<T, E>>, result: Result<T, E>) {
        while !callbacks.is_empty() {
            for callback in callbacks {
                contain(&"a done callback", || callback(&result));
            }
            // Callbacks added by the callbacks, while the result was lent.
            callbacks = mem::take(&mut self.shared.borrow_mut().callbacks);
        }
        self.shared.borrow_mut().outcome = Outcome::Done(result);
    }
    // ANCHOR_END: complete

    /// Whether the future has a result (or had one, taken by `wait`).
    pub fn is_done(&self) -> bool {
        !matches!(self.shared.borrow().outcome, Outcome::Pending)
    }

    /// Runs `callback` with the result when the future completes, or at once
    /// if it already has. A callback added after `wait` took the result is
    /// not run (there is nothing left to show it).
    pub fn add_done_callback(&self, callback: impl FnOnce(&Result<T, E>) + 'static)
    where
        T: 'static,
        E: 'static,
    {
        let mut shared = self.shared.borrow_mut();
        match mem::replace(&mut shared.outcome, Outcome::Lent) {
            Outcome::Done(result) => {
                // Lend the result to the callback with nothing borrowed.
                drop(shared);
                self.run_callbacks(vec![Box::new(callback)], result);
            }
            outcome @ Outcome::Lent => {
                // Added by a done callback while the callbacks run: queued,
                // it runs after them.
                shared.outcome = outcome;
                shared.callbacks.push(Box::new(callback));
            }
            Outcome::Taken => shared.outcome = Outcome::Taken,
            Outcome::Pending => {
                shared.outcome = Outcome::Pending;
                shared.callbacks.push(Box::new(callback));
            }
        }
    }

    // ANCHOR: wait
    /// Suspends the calling task until the future is done (asyncio: `await
    /// future`), then takes the result. The result is one-shot: a second
    /// `wait` gets [`WaitError::AlreadyTaken`] (converted into `E`).
    ///
    /// Outside a task, returns the result if it is already there, else
    /// [`WaitError::NotInTask`].
    pub fn wait(&self) -> Result<T, E>
    where
        E: From<WaitError>,
    {
        self.wait_as("Future::wait")
    }

    /// [`wait`](Future::wait), with the name of the function the user called
    /// for the `NotInTask` message (`JoinHandle::join` waits through here).
    pub(crate) fn wait_as(&self, what: &'static str) -> Result<T, E>
    where
        E: From<WaitError>,
    {
        self.wait_done(what)?;
        let mut shared = self.shared.borrow_mut();
        if !matches!(shared.outcome, Outcome::Done(_)) {
            // Taken already, or lent to the done callbacks (one of which is
            // calling us): nothing to hand out.
            return Err(WaitError::AlreadyTaken.into());
        }
        match mem::replace(&mut shared.outcome, Outcome::Taken) {
            Outcome::Done(result) => result,
            _ => Err(WaitError::AlreadyTaken.into()),
        }
    }

    /// How many handles share this future (lesson 11's debug mode: one means
    /// nobody but the task itself can ever look at its result).
    pub(crate) fn holders(&self) -> usize {
        Rc::strong_count(&self.shared)
    }

    /// Suspends the calling task until the future is done, without taking
    /// the result. A cancelled wait leaves the waiter list before it returns.
    pub(crate) fn wait_done(&self, what: &'static str) -> Result<(), WaitError> {
        self.wait_done_on(what, WaitOn::Future { what })
    }

    /// [`Future::wait_done`], saying what the task waits on (a join names
    /// the joined task) for the instrumentation (lesson 11).
    pub(crate) fn wait_done_on(&self, what: &'static str, on: WaitOn) -> Result<(), WaitError> {
        while !self.is_done() {
            let task = current(what)?;
            self.add_waiter(task.core(), task.key());
            if let Err(cancelled) = task.suspend(on) {
                self.remove_waiter(task.core(), task.key());
                return Err(WaitError::Cancelled(cancelled));
            }
        }
        Ok(())
    }
    // ANCHOR_END: wait

    /// Waits until the future is done even if the task is cancelled again
    /// meanwhile: what an owner does after cancelling the task it waits on,
    /// so that the task's cleanup is over before the owner's own goes on. A
    /// cancellation that arrives meanwhile is delivered at the task's next
    /// suspension point instead of being lost.
    pub(crate) fn wait_done_through_cancel(&self) {
        let mut deferred = None;
        loop {
            match self.wait_done("a cancelled wait") {
                Ok(()) | Err(WaitError::NotInTask(_) | WaitError::AlreadyTaken) => break,
                Err(WaitError::Cancelled(again)) => {
                    deferred.get_or_insert(again);
                }
            }
        }
        if let (Some(again), Ok(task)) = (deferred, current("a cancelled wait")) {
            task.control().redeliver_later(again);
        }
    }

    /// How many tasks wait on this future (for tests: a cancelled wait must
    /// leave the list).
    pub fn waiter_count(&self) -> usize {
        self.shared.borrow().waiters.len()
    }

    fn add_waiter(&self, core: &Core, task: usize) {
        self.shared.borrow_mut().waiters.push(Waiter {
            core: core.weak(),
            task,
        });
    }

    fn remove_waiter(&self, core: &Core, task: usize) {
        self.shared
            .borrow_mut()
            .waiters
            .retain(|waiter| !waiter.is(core, task));
    }
}

impl<T, E> fmt::Debug for Future<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Future")
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

// ANCHOR: gather
/// Waits for every task and returns their results in the order given
/// (asyncio: `gather(*tasks, return_exceptions=True)`). The tasks already run
/// concurrently; joining them one after the other only collects the results,
/// so the whole wait lasts as long as the slowest task, not the sum.
///
/// The gathering task owns the tasks: if it is cancelled while it waits,
/// every unfinished task is cancelled and waited for, their results are
/// returned, and the gatherer's own cancellation is delivered again at its
/// next suspension point (the `Vec` has no place for it).
pub fn gather<T: 'static>(
    handles: impl IntoIterator<Item = JoinHandle<T>>,
) -> Vec<Result<T, TaskError>> {
    let handles: Vec<JoinHandle<T>> = handles.into_iter().collect();
    for (index, handle) in handles.iter().enumerate() {
        if let Err(WaitError::Cancelled(cancelled)) = handle.done.wait_done("yieldloop::gather") {
            cancel_and_wait(&handles[index..]);
            if let Ok(task) = current("yieldloop::gather") {
                task.control().redeliver_later(cancelled);
            }
            break;
        }
    }
    handles.into_iter().map(JoinHandle::join).collect()
}
// ANCHOR_END: gather

/// What an owner does when it is cancelled while it waits on `handles`:
/// cancel them all at once, then wait until each has finished its cleanup.
pub(crate) fn cancel_and_wait<T: 'static>(handles: &[JoinHandle<T>]) {
    for handle in handles {
        handle.cancel();
    }
    for handle in handles {
        handle.done.wait_done_through_cancel();
    }
}

/// When [`wait`] returns (asyncio's `return_when`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// As soon as one task is done (`FIRST_COMPLETED`).
    FirstCompleted,
    /// When every task is done (`ALL_COMPLETED`).
    AllCompleted,
}

/// The finished and the unfinished handles, as [`wait`] returns them.
pub type DoneAndPending<T> = (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>);

/// Waits until one or all of `handles` are done, then returns them split
/// into `(done, pending)` (asyncio: `asyncio.wait`). The done ones can be
/// joined without waiting; the pending ones keep running.
pub fn wait<T: 'static>(
    handles: Vec<JoinHandle<T>>,
    mode: WaitMode,
) -> Result<DoneAndPending<T>, WaitError> {
    wait_until(handles, mode, None, "yieldloop::wait")
}

/// [`wait`] with a time limit (asyncio: `asyncio.wait(tasks, timeout=t)`):
/// returns `(done, pending)` when `mode` is satisfied or when `timeout` has
/// passed, whichever comes first. Unlike [`crate::wait_for`], running out of
/// time cancels nothing: the pending handles come back still running, for
/// the caller to wait on again, cancel, or join later.
///
/// ```
/// use yieldloop::{secs, sleep, spawn, wait_timeout, Builder, Clock, WaitMode};
///
/// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build()?;
/// let (done, pending) = event_loop.run_until_complete(|| {
///     let fast = spawn("fast", || sleep(secs(0.1)));
///     let slow = spawn("slow", || sleep(secs(5.0)));
///     let (done, pending) = wait_timeout(vec![fast, slow], WaitMode::AllCompleted, secs(1.0))
///         .expect("in a task");
///     (done.len(), pending.len())
/// })?;
/// assert_eq!((done, pending), (1, 1)); // the slow one is still running
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wait_timeout<T: 'static>(
    handles: Vec<JoinHandle<T>>,
    mode: WaitMode,
    timeout: Duration,
) -> Result<DoneAndPending<T>, WaitError> {
    wait_until(handles, mode, Some(timeout), "yieldloop::wait_timeout")
}

/// [`wait`] and [`wait_timeout`]: suspends until `mode` is satisfied or,
/// with a `timeout`, until it has passed.
fn wait_until<T: 'static>(
    handles: Vec<JoinHandle<T>>,
    mode: WaitMode,
    timeout: Option<Duration>,
    what: &'static str,
) -> Result<DoneAndPending<T>, WaitError> {
    let enough = |handles: &[JoinHandle<T>]| match mode {
        WaitMode::FirstCompleted => handles.is_empty() || handles.iter().any(|h| h.is_finished()),
        WaitMode::AllCompleted => handles.iter().all(|h| h.is_finished()),
    };
    if enough(&handles) {
        return Ok(handles.into_iter().partition(|h| h.is_finished()));
    }
    let task = current(what)?;
    // With a time limit, one timer for the whole wait: it wakes this task
    // as a finishing handle does, and is taken out however the wait ends.
    let timer = timeout.map(|timeout| task.core().wake_later(task.key(), timeout));
    let in_time = || timer.is_none_or(|(_, deadline)| task.core().time() < deadline);
    let mut woken = Ok(());
    while !enough(&handles) && in_time() {
        for handle in &handles {
            handle.done.add_waiter(task.core(), task.key());
        }
        woken = task.suspend(WaitOn::Future { what });
        // Woken by one of them (or the timer): leave the others' waiter
        // lists, so that they cannot wake this task later while it waits on
        // something else.
        for handle in &handles {
            handle.done.remove_waiter(task.core(), task.key());
        }
        if woken.is_err() {
            break;
        }
    }
    if let Some((timer, _)) = timer {
        task.core().cancel_timer(timer);
    }
    if let Err(cancelled) = woken {
        // The waiter owns the handles, which would be lost with the
        // error: cancel them and wait for their cleanup first.
        cancel_and_wait(&handles);
        return Err(WaitError::Cancelled(cancelled));
    }
    Ok(handles.into_iter().partition(|h| h.is_finished()))
}
