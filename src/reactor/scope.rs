//! Structured concurrency: `scope`, asyncio's `TaskGroup`, trio's nursery. Introduced by lesson 08.
//!
//! `spawn` starts a task that may outlive the code that started it: nobody
//! has to wait for it, and nobody hears if it fails (seed 002's "do not spawn
//! without finalization"). A scope ties its children's lives to a block:
//!
//! ```text
//!   scope(|s| {                     ┌──── the scope ────────────────────┐
//!       s.spawn("a", a);            │ a ●━━━━━━━━━━━━━●                  │
//!       s.spawn("b", b);            │ b ●━━━━━━━━━━━━━━━━━━━━●           │
//!       body work…                  │ body ●━━━━●                        │
//!   })  ← returns here, only when   └──────────────────────────────── ▲ ┘
//!         every child has finished                                    │
//! ```
//!
//! The rules, and why:
//!
//! * **`scope` returns only when every child has finished**, whatever
//!   happened: no task started in it outlives it.
//! * **The first child to fail (return an error, or panic) cancels the
//!   others at once**, and the body too if it is still running; `scope`
//!   waits for their cleanup and returns that first error. A later failure
//!   (a sibling failing in its cleanup, say) is logged and dropped: asyncio
//!   collects them all in an `ExceptionGroup`, but one error is what `?` can
//!   carry, and the first is the cause of the rest.
//! * **If the scope's own task is cancelled** (while the body runs, or while
//!   the scope waits), every child is cancelled and waited for, then `scope`
//!   returns that cancellation, so that it goes on propagating.
//! * **When every child succeeds, none is ever cancelled**: the scope
//!   cancels only on a failure or its own cancellation, never "because the
//!   body finished" (trio's issues #1457 and #1696 were spurious
//!   cancellations there).
//!
//! Children are `'static`, like every task: they cannot borrow from the
//! body's stack (the book's chapter 08 says why, and what it would take).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::error::Error;
use std::rc::Rc;
use std::sync::Weak as ArcWeak;

use tracing::warn;

use crate::reactor::cancel::{Cancelled, TaskControl};
use crate::reactor::future::{Future, WaitError};
use crate::reactor::task::{current, JoinHandle, TaskError};

/// What a scope's body is handed: starts children that the scope waits for.
pub struct Scope {
    state: Rc<ScopeState>,
}

/// Shared by the scope and the done callbacks of its children.
struct ScopeState {
    /// The task running the scope (its body, then its wait for the children).
    owner: Rc<TaskControl>,
    /// How to cancel each child. Finished children stay listed: cancelling a
    /// finished task does nothing.
    children: RefCell<Vec<Rc<TaskControl>>>,
    /// Children not yet finished.
    running: Cell<usize>,
    /// Completed when `running` drops to zero, to wake the waiting scope.
    all_done: RefCell<Option<Future<(), TaskError>>>,
    /// The first child failure; `scope` returns it.
    first_error: RefCell<Option<Box<dyn Error>>>,
    /// Whether the body is still running (a failure cancels it then).
    body_running: Cell<bool>,
    /// The cancellation a failure sent to the body, to tell it apart from a
    /// cancellation of the scope's task from outside.
    body_flight: RefCell<Option<ArcWeak<()>>>,
}

impl ScopeState {
    // ANCHOR: fail
    /// A child failed: keep the first error, and cancel every other child and
    /// the body at once. `failing` is the child's own control (it is
    /// finishing, not to be cancelled).
    fn fail(&self, task: &str, error: Box<dyn Error>, failing: Option<&TaskControl>) {
        if self.first_error.borrow().is_some() {
            warn!(
                "scope: {task:?} also failed ({error}); the scope reports only the first failure"
            );
            return;
        }
        *self.first_error.borrow_mut() = Some(error);
        self.cancel_children(failing);
        if self.body_running.get() {
            *self.body_flight.borrow_mut() = self.owner.request();
        }
    }
    // ANCHOR_END: fail

    /// Cancels every unfinished child except `spare`.
    fn cancel_children(&self, spare: Option<&TaskControl>) {
        let children = self.children.borrow().clone();
        for child in children {
            if spare.is_none_or(|spare| !std::ptr::eq(spare, &*child)) {
                child.request();
            }
        }
    }

    /// A child has its result: note a panic (errors were noted by the child
    /// itself), and wake the scope if it was the last.
    fn child_finished<T>(&self, task: &str, result: &Result<T, TaskError>) {
        if let Err(error @ (TaskError::Panicked { .. } | TaskError::NoStack { .. })) = result {
            self.fail(task, Box::new(error.clone()), None);
        }
        self.running.set(self.running.get() - 1);
        if self.running.get() == 0 {
            let all_done = self.all_done.borrow_mut().take();
            if let Some(all_done) = all_done {
                let _ = all_done.set_result(());
            }
        }
    }
}

impl Scope {
    // ANCHOR: spawn
    /// Starts a child task (trio: `nursery.start_soon`; asyncio:
    /// `TaskGroup.create_task`). The child returns `()` or a `Result`; an
    /// `Err` counts as the scope's failure (unless the error is the child's
    /// own cancellation), and its handle's `join` then says
    /// [`TaskError::Failed`]. Dropping the handle does not detach the child:
    /// the scope still waits for it.
    pub fn spawn<R, F>(&self, name: impl Into<Cow<'static, str>>, f: F) -> JoinHandle<R::Value>
    where
        F: FnOnce() -> R + 'static,
        R: ChildOutcome,
    {
        let name = name.into();
        let task = match current("Scope::spawn") {
            Ok(task) => task,
            Err(error) => return JoinHandle::failed(TaskError::NotInTask(error)),
        };
        let state = self.state.clone();
        let child = name.clone();
        let handle = task
            .core()
            .spawn(name.clone(), move || match f().into_result() {
                Ok(value) => Ok(value),
                Err(error) => Err(child_error(&state, &child, error)),
            });
        self.state.running.set(self.state.running.get() + 1);
        if let Some(control) = &handle.control {
            self.state.children.borrow_mut().push(control.clone());
        }
        let state = self.state.clone();
        handle
            .done
            .add_done_callback(move |result| state.child_finished(&name, result));
        handle
    }
    // ANCHOR_END: spawn
}

/// What a scope's child may return: `()`, or a `Result` whose error says
/// why the child failed.
pub trait ChildOutcome: 'static {
    /// What the child's handle yields when it succeeds.
    type Value: 'static;
    /// Success, or the child's failure.
    fn into_result(self) -> Result<Self::Value, Box<dyn Error>>;
}

impl ChildOutcome for () {
    type Value = ();
    fn into_result(self) -> Result<(), Box<dyn Error>> {
        Ok(())
    }
}

impl<T: 'static, E: Into<Box<dyn Error>> + 'static> ChildOutcome for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, Box<dyn Error>> {
        self.map_err(Into::into)
    }
}

/// What a child's `Err` becomes, inside the child: its own cancellation
/// ending it (not a failure; kept in flight so its `join` says
/// `Cancelled`), or a failure of the scope.
fn child_error(state: &ScopeState, task: &str, error: Box<dyn Error>) -> TaskError {
    let message = error.to_string();
    if let Ok(me) = current("Scope::spawn") {
        if me.control().in_flight() {
            if let Some(cancelled) = Cancelled::find(&*error) {
                return cancelled.clone().into();
            }
        }
        state.fail(task, error, Some(me.control()));
    }
    TaskError::Failed {
        task: task.to_string(),
        message,
    }
}

// ANCHOR: scope
/// Runs `body` with a [`Scope`] to start children in, and returns only when
/// every child has finished (trio: `async with open_nursery() as s`;
/// asyncio: `async with TaskGroup() as s`). The rules are in the module
/// comment: the first failure cancels the rest and is returned; the scope's
/// own cancellation cancels every child and is returned; when all succeed,
/// none is cancelled.
///
/// ```
/// # use yieldloop::{scope, secs, sleep, Builder, Clock, SuspendError};
/// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
/// let failed = event_loop.run_until_complete(|| {
///     scope(|s| {
///         let _ = s.spawn("slow", || sleep(secs(10.0)));
///         let _ = s.spawn("broken", || -> Result<(), Box<dyn std::error::Error>> {
///             sleep(secs(1.0))?;
///             Err("the disk is full".into())
///         });
///     })
/// }).unwrap();
/// assert_eq!(failed.unwrap_err().to_string(), "the disk is full");
/// ```
pub fn scope<R>(body: impl FnOnce(&Scope) -> R) -> Result<R, Box<dyn Error>> {
    let task = current("yieldloop::scope")?;
    let state = Rc::new(ScopeState {
        owner: task.control_rc(),
        children: RefCell::new(Vec::new()),
        running: Cell::new(0),
        all_done: RefCell::new(None),
        first_error: RefCell::new(None),
        body_running: Cell::new(true),
        body_flight: RefCell::new(None),
    });
    let value = body(&Scope {
        state: state.clone(),
    });
    state.body_running.set(false);
    let body_flight = state.body_flight.borrow_mut().take();
    if let Some(flight) = &body_flight {
        // The scope's own cancellation of its body ends here, delivered or
        // not: it must not make the task look cancelled after the scope.
        task.control().forget(flight);
    }
    // The body may have ended because the task is being cancelled (from
    // outside, or by an enclosing wait_for): then the children go too.
    let mut cancelled = task.control().cancellation_in_flight(body_flight.as_ref());
    if cancelled.is_some() {
        state.cancel_children(None);
    }
    while state.running.get() > 0 {
        let all_done = Future::new();
        *state.all_done.borrow_mut() = Some(all_done.clone());
        match all_done.wait_done("yieldloop::scope") {
            Ok(()) => {}
            Err(WaitError::Cancelled(from_outside)) => {
                state.cancel_children(None);
                match &cancelled {
                    None => cancelled = Some(from_outside),
                    Some(_) => task.control().redeliver_later(from_outside),
                }
            }
            Err(error) => return Err(Box::new(error)),
        }
    }
    let first_error = state.first_error.borrow_mut().take();
    if let Some(cancelled) = cancelled {
        if let Some(error) = first_error {
            warn!("scope: cancelled from outside; dropping the failure {error}");
        }
        return Err(Box::new(cancelled));
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(value),
    }
}
// ANCHOR_END: scope
