//! The wait list every lesson-09 primitive parks its tasks on. Introduced by lesson 09.
//!
//! It is the reactor's own way of waiting (lesson 07's `Future::wait`),
//! with one thing added: a *hand-off*. A future wakes all its waiters and
//! each one looks at the result; a lock must give itself to exactly one
//! waiter, the first, and nobody else may take it meanwhile. So releasing
//! marks the first entry `Granted` *before* the task runs again:
//!
//! ```text
//!   waiter                               releaser
//!   ──────                               ────────
//!   push Entry{Waiting} on the list
//!   suspend ─────────────▶ (other tasks run)
//!                                        pop the first Entry, mark it Granted
//!                                        wake its task (ready queue)
//!   resumed: Granted → it is mine
//! ```
//!
//! Cancellation (lesson 08) resumes the task with an error instead. Then
//! the [`Ticket`] it holds cleans up: still `Waiting` → it leaves the list;
//! already `Granted` (the release and the cancel both came before it ran) →
//! it hands what it was given on, through the primitive's `give_back`. The
//! ticket is a `Drop` guard, so an unwinding stack cleans up the same way.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::io;
use std::rc::Rc;

use tracing::debug;

use crate::reactor::cancel::Cancelled;
use crate::reactor::future::Waiter;
use crate::reactor::instrument::{WaitOn, WakeCause};
use crate::reactor::task::{current, NotInTask, TaskError};

/// A primitive's kind and optional name, as trace lines and errors show it:
/// `Lock "accounts"`, or just `Lock`.
#[derive(Debug, Clone)]
pub(crate) struct Label {
    kind: &'static str,
    name: Option<Cow<'static, str>>,
}

impl Label {
    pub(crate) fn new(kind: &'static str, name: Option<Cow<'static, str>>) -> Label {
        Label { kind, name }
    }

    /// The name given with `named`, or `""`.
    pub(crate) fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} {name:?}", self.kind),
            None => f.write_str(self.kind),
        }
    }
}

/// Why a wait on a lesson-09 primitive returned without what it waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncError {
    /// Called outside a task: there is no task to suspend.
    NotInTask(NotInTask),
    /// The waiting task was cancelled (or its `wait_for` timed out); it has
    /// left the wait list, and handed on anything it had been given.
    Cancelled(Cancelled),
    /// The primitive was dropped while this task waited on it.
    Closed {
        /// The primitive, as `Lock "accounts"`.
        primitive: String,
    },
    /// `Condition::wait` was called without the condition's lock held.
    NotLocked {
        /// The condition, as `Condition "ready"`.
        condition: String,
    },
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::NotInTask(error) => error.fmt(f),
            SyncError::Cancelled(cancelled) => cancelled.fmt(f),
            SyncError::Closed { primitive } => {
                write!(f, "{primitive} was dropped while this task waited on it")
            }
            SyncError::NotLocked { condition } => write!(
                f,
                "{condition}: wait needs the condition's lock held (take it with acquire \
                 first), as asyncio's does"
            ),
        }
    }
}

impl Error for SyncError {
    /// The cancellation, so that [`Cancelled::find`] sees it through `?`.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            SyncError::Cancelled(cancelled) => Some(cancelled),
            SyncError::NotInTask(error) => Some(error),
            _ => None,
        }
    }
}

impl From<NotInTask> for SyncError {
    fn from(error: NotInTask) -> Self {
        SyncError::NotInTask(error)
    }
}

impl From<Cancelled> for SyncError {
    fn from(cancelled: Cancelled) -> Self {
        SyncError::Cancelled(cancelled)
    }
}

impl From<SyncError> for io::Error {
    fn from(error: SyncError) -> io::Error {
        match error {
            SyncError::Cancelled(cancelled) => cancelled.into(),
            error => io::Error::other(error),
        }
    }
}

/// So that `?` works in a task that returns `TaskError` (as lesson 08's
/// do): a cancellation stays a cancellation, the rest become `Failed`.
impl From<SyncError> for TaskError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::NotInTask(error) => TaskError::NotInTask(error),
            SyncError::Cancelled(cancelled) => cancelled.into(),
            error => TaskError::Failed {
                task: current("SyncError")
                    .map(|task| task.control().name().to_string())
                    .unwrap_or_default(),
                message: error.to_string(),
            },
        }
    }
}

/// `try_lock` or `try_acquire` found nothing free (or waiters first in line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WouldBlock {
    /// The primitive, as `Lock "accounts"`.
    pub primitive: String,
}

impl fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not free now: taking it would have to wait",
            self.primitive
        )
    }
}

impl Error for WouldBlock {}

/// How far an entry has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// On the list, waiting.
    Waiting,
    /// Taken off the list by a releaser and handed what it waited for.
    Granted,
    /// Taken off the list because the primitive was dropped.
    Closed,
}

/// One waiting task.
struct Entry {
    waiter: Waiter,
    slot: Cell<Slot>,
}

// ANCHOR: wait_list
/// The tasks waiting on one primitive, first come first served.
#[derive(Default)]
pub(crate) struct WaitList {
    entries: RefCell<VecDeque<Rc<Entry>>>,
}

impl WaitList {
    /// How many tasks wait.
    pub(crate) fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// Hands what was freed to the first waiter: it leaves the list, is
    /// marked granted and goes on its loop's ready queue. Returns `false`
    /// if nobody waits (the caller keeps what it freed).
    pub(crate) fn grant_first(&self) -> bool {
        // The borrow ends before the wake: no RefCell is held while the loop
        // is touched.
        let first = self.entries.borrow_mut().pop_front();
        match first {
            Some(entry) => {
                entry.slot.set(Slot::Granted);
                entry.waiter.wake(WakeCause::Sync);
                true
            }
            None => false,
        }
    }

    /// Grants every waiter (an `Event` being set). Returns how many.
    pub(crate) fn grant_all(&self) -> usize {
        let all = std::mem::take(&mut *self.entries.borrow_mut());
        for entry in &all {
            entry.slot.set(Slot::Granted);
            entry.waiter.wake(WakeCause::Sync);
        }
        all.len()
    }

    /// Suspends the calling task at the end of the list until a releaser
    /// grants it. If it is cancelled first, it leaves the list; if it is
    /// cancelled (or unwound) after the grant but before it ran, `give_back`
    /// hands the grant on. `what` names the call for [`NotInTask`].
    pub(crate) fn wait(
        &self,
        label: &Label,
        what: &'static str,
        give_back: impl FnOnce(),
    ) -> Result<(), SyncError> {
        let task = current(what)?;
        let entry = Rc::new(Entry {
            waiter: Waiter::of(&task),
            slot: Cell::new(Slot::Waiting),
        });
        self.entries.borrow_mut().push_back(entry.clone());
        debug!(
            target: "yieldloop::sync",
            task = task.control().name(),
            "waits on {label} ({what})"
        );
        let mut ticket = Ticket {
            list: self,
            entry,
            give_back: Some(give_back),
        };
        loop {
            let woken = task.suspend(WaitOn::Sync { what });
            match (ticket.entry.slot.get(), woken) {
                (Slot::Closed, _) => {
                    return Err(SyncError::Closed {
                        primitive: label.to_string(),
                    })
                }
                (Slot::Granted, Ok(())) => {
                    ticket.give_back = None; // it is ours: nothing to hand on
                    return Ok(());
                }
                // The ticket's Drop leaves the list, or hands the grant on.
                (_, Err(cancelled)) => return Err(SyncError::Cancelled(cancelled)),
                // Woken, but not by a grant (nothing does this today): wait on.
                (Slot::Waiting, Ok(())) => {}
            }
        }
    }
}
// ANCHOR_END: wait_list

// ANCHOR: ticket
/// A waiting task's place in a [`WaitList`]; cleans up however the wait
/// ends early (an error returned, or the stack unwound).
struct Ticket<'a, F: FnOnce()> {
    list: &'a WaitList,
    entry: Rc<Entry>,
    /// `Some` until the grant is taken by the waiter.
    give_back: Option<F>,
}

impl<F: FnOnce()> Drop for Ticket<'_, F> {
    fn drop(&mut self) {
        match self.entry.slot.get() {
            Slot::Waiting => self
                .list
                .entries
                .borrow_mut()
                .retain(|entry| !Rc::ptr_eq(entry, &self.entry)),
            Slot::Granted => {
                if let Some(give_back) = self.give_back.take() {
                    give_back(); // to the next waiter: nothing is lost
                }
            }
            Slot::Closed => {}
        }
    }
}
// ANCHOR_END: ticket

/// A primitive dropped with tasks still on its list wakes them with
/// [`SyncError::Closed`] rather than leaving them suspended forever.
/// (A waiting task normally keeps its primitive alive, so this happens
/// only when the list's owner goes away by another path.)
impl Drop for WaitList {
    fn drop(&mut self) {
        for entry in std::mem::take(self.entries.get_mut()) {
            entry.slot.set(Slot::Closed);
            entry.waiter.wake(WakeCause::Sync);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::event_loop::Builder;
    use crate::Clock;

    /// A wait list dropped under a waiting task wakes it with `Closed`.
    /// (Through the public types a waiter keeps its primitive alive, so the
    /// list is dropped by hand here.)
    #[test]
    fn dropping_a_list_wakes_its_waiters_with_closed() {
        let mut event_loop = Builder::new()
            .clock(Clock::new_virtual())
            .build()
            .expect("a loop");
        let list: Rc<RefCell<Option<Rc<WaitList>>>> =
            Rc::new(RefCell::new(Some(Rc::new(WaitList::default()))));
        let waiting = list.borrow().clone().expect("a list");
        let waiter = event_loop.spawn("waiter", move || {
            let label = Label::new("Lock", Some("doomed".into()));
            let result = waiting.wait(&label, "test", || {});
            drop(waiting);
            result
        });
        let result = event_loop
            .run_until_complete(move || {
                crate::yield_now().expect("in a task");
                // The waiter holds one Rc, we drop ours: not yet the last.
                // Dropping the list itself needs the last Rc, so take the
                // entries out into a list we own and drop that.
                let ours = list.borrow_mut().take().expect("a list");
                let doomed = WaitList::default();
                std::mem::swap(
                    &mut *doomed.entries.borrow_mut(),
                    &mut *ours.entries.borrow_mut(),
                );
                drop(doomed);
                waiter.join()
            })
            .expect("the main task ends");
        assert_eq!(
            result.expect("the waiter ends"),
            Err(SyncError::Closed {
                primitive: "Lock \"doomed\"".to_string()
            })
        );
    }
}
