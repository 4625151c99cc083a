//! Cancellation: stopping a task where it waits, and the waits built on it (`wait_for`, `shield`). Introduced by lesson 08.
//!
//! asyncio cancels a task by throwing `CancelledError` into its coroutine at
//! the `await` it is suspended in; the exception climbs the stack, `finally`
//! blocks run, and if it escapes the coroutine the task ends "cancelled". A
//! stackful task has no exception to throw, so we do what Rust does with
//! every failure: **the waiting call returns an error**, `?` carries it up,
//! and `Drop` guards run on the way, exactly where `finally` would.
//!
//! ```text
//!   handle.cancel()                 the task, suspended in sleep(10 s)
//!   ────────────────                ───────────────────────────────────
//!   pending = Cancelled ──────────▶ (woken at once; its timer is removed)
//!   task put on the ready queue     sleep returns Err(Cancelled)
//!                                   `?` → Drop guards run → the task returns
//!                                   Err(..Cancelled..): it ended cancelled
//! ```
//!
//! ## The exception in flight: [`Cancelled`]
//!
//! In Python a task "ended because of the cancellation" when the
//! `CancelledError` escaped its coroutine; if the coroutine caught it and
//! returned a value, the task has that value. The Rust analogue is the
//! [`Cancelled`] value itself: while one is alive — in the `Err` the task is
//! returning, inside an `io::Error` or a `Box<dyn Error>` — the cancellation
//! is *in flight*. Each request makes one shared marker (an `Arc<()>`); every
//! `Cancelled` delivered for it holds a clone, and the task keeps only a weak
//! reference. So:
//!
//! * the task returns while a `Cancelled` of it is alive → it ended
//!   cancelled, and `join` says [`TaskError::Cancelled`];
//! * the task dropped it (matched the error and went on) → it caught the
//!   cancellation, and `join` gets whatever it returned.
//!
//! ## asyncio's semantics, not trio's
//!
//! A request is **delivered once**, at the next suspension point (or before
//! the first step, if the task has not started: then it never starts). After
//! that the task's waits work again, so its cleanup may sleep or write a
//! goodbye. trio's cancel scopes are *level-triggered* instead: inside a
//! cancelled scope every wait fails again, so cleanup that waits needs a
//! shielded scope. The lesson's chapter compares the two.
//!
//! ## What a cancelled wait leaves behind: nothing
//!
//! Every wait arms something before it suspends (a timer, the selector, a
//! future's waiter list). When the wait returns `Cancelled` it takes that
//! back out: `sleep` removes its timer, `Future::wait` leaves the waiter
//! list, a socket wait unregisters its descriptor. Otherwise the thing the
//! task stopped waiting for would wake it later, in the middle of some other
//! wait — or wake another task that reused its slab key.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Weak as ArcWeak};
use std::time::Duration;

use crate::reactor::event_loop::Core;
use crate::reactor::future::WaitError;
use crate::reactor::instrument::TASK_TARGET;
use crate::reactor::task::{current, JoinHandle, NotInTask, TaskError};

// ANCHOR: cancelled
/// A cancellation on its way out of a task: what a wait returns to a task
/// that was cancelled while it waited (asyncio's `CancelledError`).
///
/// Let it propagate (`?`) and the task ends cancelled; drop it (catch it)
/// and the task carries on. See the module comment for how the loop tells
/// the two apart.
#[derive(Clone)]
pub struct Cancelled {
    /// The cancelled task's name.
    task: Cow<'static, str>,
    /// Shared by every copy of this cancellation; the task holds it weakly,
    /// so "is the cancellation still in flight" is "is any copy alive".
    flight: Arc<()>,
}
// ANCHOR_END: cancelled

impl Cancelled {
    fn new(task: Cow<'static, str>) -> Self {
        Cancelled {
            task,
            flight: Arc::new(()),
        }
    }

    /// The name of the task that was cancelled.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// Finds a cancellation inside `error`, however it was wrapped on the way
    /// up: a `Cancelled` itself, a [`SuspendError`], a [`WaitError`], a
    /// [`TaskError::Cancelled`] made by a request, an `io::Error` built from
    /// one, or any of these as the `source()` of another error.
    ///
    /// ```
    /// # use yieldloop::{Cancelled, Builder, Clock, secs, sleep, spawn};
    /// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
    /// let joined = event_loop.run_until_complete(|| {
    ///     let sleeper = spawn("sleeper", || -> std::io::Result<()> {
    ///         sleep(secs(10.0))?; // the cancellation becomes an io::Error here
    ///         Ok(())
    ///     });
    ///     sleep(secs(1.0)).unwrap();
    ///     sleeper.cancel();
    ///     sleeper.join()
    /// }).unwrap();
    /// let error = joined.unwrap_err(); // TaskError::Cancelled: it propagated
    /// assert_eq!(Cancelled::find(&error).map(Cancelled::task), Some("sleeper"));
    /// ```
    pub fn find<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a Cancelled> {
        if let Some(cancelled) = error.downcast_ref::<Cancelled>() {
            return Some(cancelled);
        }
        let found = if let Some(error) = error.downcast_ref::<io::Error>() {
            error
                .get_ref()
                .and_then(|inner| Cancelled::find(inner as &(dyn Error + 'static)))
        } else if let Some(SuspendError::Cancelled(cancelled)) = error.downcast_ref() {
            Some(cancelled)
        } else if let Some(WaitError::Cancelled(cancelled)) = error.downcast_ref() {
            Some(cancelled)
        } else if let Some(TaskError::Cancelled {
            cause: CancelCause::Requested(cancelled),
            ..
        }) = error.downcast_ref()
        {
            Some(cancelled)
        } else {
            None
        };
        found.or_else(|| error.source().and_then(Cancelled::find))
    }

    /// Whether `error` carries a cancellation ([`Cancelled::find`]).
    pub fn is_in(error: &(dyn Error + 'static)) -> bool {
        Cancelled::find(error).is_some()
    }

    /// Whether this is the cancellation whose marker `flight` watches.
    fn is(&self, flight: &ArcWeak<()>) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.flight), flight.as_ptr())
    }
}

/// Two cancellations are equal when they name the same task.
impl PartialEq for Cancelled {
    fn eq(&self, other: &Self) -> bool {
        self.task == other.task
    }
}

impl Eq for Cancelled {}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("task", &self.task)
            .finish()
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {:?} was cancelled while it waited", self.task)
    }
}

impl Error for Cancelled {}

/// Kept as the `io::Error`'s inner error, so [`Cancelled::find`] sees it.
/// The kind is `Other`, never `Interrupted`: std's `read_to_end` and
/// `write_all` retry on `Interrupted`, and would swallow the cancellation.
impl From<Cancelled> for io::Error {
    fn from(cancelled: Cancelled) -> io::Error {
        io::Error::other(cancelled)
    }
}

impl From<Cancelled> for TaskError {
    fn from(cancelled: Cancelled) -> Self {
        TaskError::Cancelled {
            task: cancelled.task.to_string(),
            cause: CancelCause::Requested(cancelled),
        }
    }
}

/// Why a cancelled task was cancelled, in [`TaskError::Cancelled`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelCause {
    /// Someone asked: [`JoinHandle::cancel`], a [`crate::scope`] whose
    /// child failed, a [`wait_for`] whose time was up, or a task's owner
    /// that was itself cancelled while it joined it. Holds the cancellation,
    /// so that returning it keeps it in flight.
    Requested(Cancelled),
    /// The loop was dropped, or stopped, before the task finished.
    LoopEnded,
}

// ANCHOR: suspend_error
/// Why `sleep` or `yield_now` returned early: called outside a task, or the
/// task was cancelled while it waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuspendError {
    /// Called outside any task: there is nothing to suspend.
    NotInTask(NotInTask),
    /// The task was cancelled at this suspension point.
    Cancelled(Cancelled),
}
// ANCHOR_END: suspend_error

impl fmt::Display for SuspendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuspendError::NotInTask(error) => error.fmt(f),
            SuspendError::Cancelled(cancelled) => cancelled.fmt(f),
        }
    }
}

impl Error for SuspendError {}

impl From<NotInTask> for SuspendError {
    fn from(error: NotInTask) -> Self {
        SuspendError::NotInTask(error)
    }
}

impl From<Cancelled> for SuspendError {
    fn from(cancelled: Cancelled) -> Self {
        SuspendError::Cancelled(cancelled)
    }
}

impl From<SuspendError> for io::Error {
    fn from(error: SuspendError) -> io::Error {
        match error {
            SuspendError::NotInTask(error) => error.into(),
            SuspendError::Cancelled(cancelled) => cancelled.into(),
        }
    }
}

impl From<SuspendError> for TaskError {
    fn from(error: SuspendError) -> Self {
        match error {
            SuspendError::NotInTask(error) => TaskError::NotInTask(error),
            SuspendError::Cancelled(cancelled) => cancelled.into(),
        }
    }
}

impl From<SuspendError> for WaitError {
    fn from(error: SuspendError) -> Self {
        match error {
            SuspendError::NotInTask(error) => WaitError::NotInTask(error),
            SuspendError::Cancelled(cancelled) => WaitError::Cancelled(cancelled),
        }
    }
}

// ANCHOR: control
/// The cancellation side of one task, shared by the task (its `Running`
/// record), its [`JoinHandle`]s and whatever may cancel it (a `wait_for`
/// timer, a scope).
pub(crate) struct TaskControl {
    name: Cow<'static, str>,
    /// The loop and slab key, to wake the task when it is cancelled. The key
    /// is only used while the task is unfinished, so it still names this task.
    core: Weak<Core>,
    key: usize,
    /// The task's id: unlike the key, never reused (lesson 11's traces).
    id: u64,
    /// Set once the task has its result: cancelling it then does nothing.
    finished: Cell<bool>,
    /// A requested cancellation not yet delivered. Invariant: `has_pending`
    /// is `pending.is_some()` (kept apart so that every suspension checks a
    /// plain `bool`).
    has_pending: Cell<bool>,
    pending: Cell<Option<Cancelled>>,
    /// Every cancellation requested for this task, weakly: any that can
    /// still be upgraded is in flight (module comment).
    flights: RefCell<Vec<ArcWeak<()>>>,
}
// ANCHOR_END: control

impl TaskControl {
    pub(crate) fn new(name: Cow<'static, str>, core: Weak<Core>, key: usize, id: u64) -> Self {
        TaskControl {
            name,
            core,
            key,
            id,
            finished: Cell::new(false),
            has_pending: Cell::new(false),
            pending: Cell::new(None),
            flights: RefCell::new(Vec::new()),
        }
    }

    /// The task's name.
    /// The task's id (see [`crate::reactor::instrument`]).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    // ANCHOR: request
    /// Asks for the task to be cancelled: the request waits in `pending`
    /// until the task's next suspension point, and the task is woken if it
    /// is suspended now. Returns the request's marker, or `None` if the task
    /// has finished or a request is already pending (it is delivered once).
    pub(crate) fn request(&self) -> Option<ArcWeak<()>> {
        if self.finished.get() || self.has_pending.get() {
            return None;
        }
        let cancelled = Cancelled::new(self.name.clone());
        let flight = Arc::downgrade(&cancelled.flight);
        {
            let mut flights = self.flights.borrow_mut();
            flights.retain(|flight| flight.strong_count() > 0);
            flights.push(flight.clone());
        }
        self.pending.set(Some(cancelled));
        self.has_pending.set(true);
        crate::reactor::instrument::loop_event!(debug, target: TASK_TARGET, task = self.id, name = %self.name, "cancel");
        if let Some(core) = self.core.upgrade() {
            core.interrupt(self.key);
        }
        Some(flight)
    }
    // ANCHOR_END: request

    /// Hands a pending cancellation to the task: called by the task itself
    /// at each suspension point, before it suspends and after it resumes.
    #[inline(always)]
    pub(crate) fn deliver(&self) -> Result<(), Cancelled> {
        if !self.has_pending.get() {
            return Ok(());
        }
        self.has_pending.set(false);
        match self.pending.take() {
            Some(cancelled) => Err(cancelled),
            None => Ok(()),
        }
    }

    /// Puts a cancellation back, to be delivered at the next suspension point
    /// (for waits that had to finish something first; see `gather`).
    pub(crate) fn redeliver_later(&self, cancelled: Cancelled) {
        if !self.has_pending.get() {
            self.pending.set(Some(cancelled));
            self.has_pending.set(true);
        }
    }

    /// Drops the pending request if it is the one `flight` watches: its
    /// requester no longer needs it delivered.
    pub(crate) fn withdraw(&self, flight: &ArcWeak<()>) {
        if let Some(cancelled) = self.pending.take() {
            if cancelled.is(flight) {
                self.has_pending.set(false);
            } else {
                self.pending.set(Some(cancelled));
            }
        }
    }

    /// Stops counting the cancellation `flight` watches as the task's own:
    /// its requester (a `wait_for`, a scope) has dealt with it, and a copy
    /// kept somewhere must not make the task look cancelled later.
    pub(crate) fn forget(&self, flight: &ArcWeak<()>) {
        self.withdraw(flight);
        self.flights
            .borrow_mut()
            .retain(|kept| !kept.ptr_eq(flight) && kept.strong_count() > 0);
    }

    /// Whether any cancellation of this task is still in flight (pending, or
    /// delivered and not yet dropped).
    pub(crate) fn in_flight(&self) -> bool {
        self.flights
            .borrow()
            .iter()
            .any(|flight| flight.strong_count() > 0)
    }

    /// A copy of a cancellation of this task that is in flight (other than
    /// the one `except` watches), if there is one: to hand on when the task
    /// must report it from a place its original cannot reach (`scope`).
    pub(crate) fn cancellation_in_flight(&self, except: Option<&ArcWeak<()>>) -> Option<Cancelled> {
        let flights = self.flights.borrow();
        let flight = flights
            .iter()
            .filter(|flight| except.is_none_or(|except| !flight.ptr_eq(except)))
            .find_map(ArcWeak::upgrade)?;
        Some(Cancelled {
            task: self.name.clone(),
            flight,
        })
    }

    /// Whether the task has its result.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.get()
    }

    // ANCHOR: settle
    /// The task's result as its joiner sees it: if a cancellation is still
    /// in flight when the task returns (it propagated, or was requested and
    /// never delivered), the task ended cancelled and its own result is
    /// dropped. Marks the task finished.
    pub(crate) fn settle<T>(&self, result: Result<T, TaskError>) -> Result<T, TaskError> {
        let cancelled = self.in_flight();
        self.finished.set(true);
        self.has_pending.set(false);
        drop(self.pending.take());
        if cancelled {
            drop(result);
            Err(Cancelled::new(self.name.clone()).into())
        } else {
            result
        }
    }
    // ANCHOR_END: settle

    /// Marks the task finished without a result (it never started, or the
    /// loop unwound it).
    pub(crate) fn mark_finished(&self) {
        self.finished.set(true);
    }
}

/// `wait_for`'s error: the work did not finish in time (asyncio's
/// `TimeoutError`). By the time it is returned the work has been cancelled
/// and its cleanup has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut {
    /// The timeout that passed.
    pub after: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:.3} s: the work was cancelled and has cleaned up",
            self.after.as_secs_f64()
        )
    }
}

impl Error for TimedOut {}

impl From<TimedOut> for io::Error {
    fn from(error: TimedOut) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, error)
    }
}

// ANCHOR: wait_for
/// Runs `work` with a time limit (asyncio: `wait_for(work(), timeout)`).
/// If `work` has not returned after `timeout`, it is cancelled at the
/// suspension point it is in; once it has returned (its cleanup done, with
/// the cancellation propagated out of it), `wait_for` returns
/// `Err(TimedOut)` and drops what it returned.
///
/// `work` runs **in the calling task**, not as a child: a deadline is just
/// a timer that cancels the caller. So `work` may borrow from the caller's
/// stack, costs no task of its own, and its cleanup is finished when
/// `wait_for` returns, because it ran right here. Nested `wait_for`s each
/// watch their own cancellation, so each deadline reports to its own caller.
///
/// If `work` catches the cancellation and returns normally, `wait_for`
/// returns its value (it finished, late). If `work` finishes before its next
/// suspension point after the deadline, the cancellation is withdrawn and
/// its value returned. Outside a task nothing can wait, so `work` simply runs.
///
/// ```
/// # use yieldloop::{wait_for, secs, sleep, Builder, Clock, SuspendError};
/// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
/// let (slow, fast) = event_loop.run_until_complete(|| {
///     let slow = wait_for(secs(1.0), || sleep(secs(5.0)));
///     let fast = wait_for(secs(1.0), || { sleep(secs(0.5))?; Ok::<_, SuspendError>(42) });
///     (slow.is_err(), fast)
/// }).unwrap();
/// assert!(slow);
/// assert_eq!(fast.unwrap().unwrap(), 42);
/// ```
pub fn wait_for<T>(timeout: Duration, work: impl FnOnce() -> T) -> Result<T, TimedOut> {
    let Ok(task) = current("yieldloop::wait_for") else {
        return Ok(work());
    };
    let core = task.core();
    let control = task.control_rc();
    let flight = Rc::new(Cell::new(None::<ArcWeak<()>>));
    let deadline = core.time().saturating_add(timeout);
    let timer = core.call_at(deadline, {
        let flight = flight.clone();
        Box::new(move || flight.set(control.request()))
    });
    let value = work();
    // Done (in time or not): the timer must not fire later, into whatever
    // the caller waits on next.
    timer.cancel();
    let Some(flight) = flight.take() else {
        return Ok(value); // the deadline never fired (or another request was pending)
    };
    // Fired, but `work` may have returned before hearing it: withdraw it,
    // and from now on it is not this task's concern (`forget`).
    task.control().forget(&flight);
    if flight.strong_count() > 0 {
        // `value` holds our cancellation: it timed out. If another
        // cancellation of this task arrived meanwhile (during the work's
        // cleanup, say) and rides in `value` too, it must not be lost with
        // it: it is delivered again at the caller's next suspension point.
        let control = task.control();
        let other = control.cancellation_in_flight(Some(&flight));
        drop(value);
        if let Some(other) = other {
            control.redeliver_later(other);
        }
        Err(TimedOut { after: timeout })
    } else {
        Ok(value)
    }
}
// ANCHOR_END: wait_for

// ANCHOR: shield
/// Protects a task from its waiter's cancellation (asyncio: `shield`).
///
/// Normally a task that joins a handle owns that task: if the joiner is
/// cancelled while it waits, the joined task is cancelled too (and waited
/// for). Joining the shielded handle instead only ends the *wait*: the
/// joiner gets its cancellation, the task runs on. The returned handle
/// cannot cancel the task either: its `cancel` returns `false`.
pub fn shield<T>(handle: JoinHandle<T>) -> JoinHandle<T> {
    JoinHandle {
        done: handle.done,
        control: None,
    }
}
// ANCHOR_END: shield
