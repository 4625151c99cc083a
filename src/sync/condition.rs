//! `Condition`: wait, holding a lock, until another task says the state changed (asyncio's `Condition`). Introduced by lesson 09.
//!
//! The pattern, as in asyncio: take the lock, check the shared state, and
//! if it is not what you need, `wait` — which releases the lock while it
//! waits and takes it back before it returns — then check again
//! (`wait_for(predicate)` is that loop). A task that changes the state, under
//! the lock, calls `notify(n)` or `notify_all` to wake waiters.
//!
//! ```text
//!   let _guard = cond.acquire()?;        async with cond:
//!   cond.wait_for(|| stock.get() > 0)?;      await cond.wait_for(lambda: stock > 0)
//!   stock.set(stock.get() - 1);              stock -= 1
//! ```
//!
//! The caller keeps its [`LockGuard`] across `wait`, so `wait` must hand it
//! a held lock again however it ends: even when the task is cancelled while
//! it waits, `wait` first takes the lock back (waiting for it if need be,
//! as asyncio does), then returns the error, and the guard's drop releases
//! it. A waiter cancelled after it was notified passes its notification on.

use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;

use crate::reactor::task::current;
use crate::sync::lock::{Lock, LockGuard};
use crate::sync::waiters::{Label, SyncError, WaitList};

struct ConditionState {
    label: Label,
    waiters: WaitList,
}

/// A condition variable over a [`Lock`] (asyncio: `asyncio.Condition`).
/// Clones are handles to the same condition.
///
/// ```
/// # use std::{cell::Cell, rc::Rc};
/// # use yieldloop::{spawn, Builder, Clock, Condition};
/// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
/// event_loop.run_until_complete(|| {
///     let ready = Condition::named("stock");
///     let stock = Rc::new(Cell::new(0));
///     let buyer = spawn("buyer", {
///         let (ready, stock) = (ready.clone(), stock.clone());
///         move || {
///             let _guard = ready.acquire()?;
///             ready.wait_for(|| stock.get() > 0)?; // the lock is free while it waits
///             stock.set(stock.get() - 1); // under the lock again
///             Ok::<_, yieldloop::SyncError>(())
///         }
///     });
///     yieldloop::yield_now().unwrap();
///     let guard = ready.acquire().unwrap();
///     stock.set(1);
///     ready.notify(1);
///     drop(guard);
///     buyer.join().unwrap().unwrap();
///     assert_eq!(stock.get(), 0);
/// }).unwrap();
/// ```
#[derive(Clone)]
pub struct Condition {
    lock: Lock,
    state: Rc<ConditionState>,
}

impl Default for Condition {
    fn default() -> Self {
        Condition::with_lock(Lock::new())
    }
}

impl Condition {
    /// A condition with a lock of its own.
    pub fn new() -> Condition {
        Condition::default()
    }

    /// The same, with a name for the trace (`Condition "stock"`).
    pub fn named(name: impl Into<Cow<'static, str>>) -> Condition {
        let name = name.into();
        Condition::build(Lock::named(name.clone()), Some(name))
    }

    /// A condition over an existing lock (asyncio: `Condition(lock)`).
    pub fn with_lock(lock: Lock) -> Condition {
        Condition::build(lock, None)
    }

    fn build(lock: Lock, name: Option<Cow<'static, str>>) -> Condition {
        Condition {
            lock,
            state: Rc::new(ConditionState {
                label: Label::new("Condition", name),
                waiters: WaitList::default(),
            }),
        }
    }

    /// The lock the condition was made with.
    pub fn underlying_lock(&self) -> &Lock {
        &self.lock
    }

    /// Takes the condition's lock ([`Lock::acquire`]; asyncio: `async with
    /// cond`).
    pub fn acquire(&self) -> Result<LockGuard, SyncError> {
        self.lock.acquire()
    }

    /// The same as [`Condition::acquire`], by Rust's `Mutex` name.
    pub fn lock(&self) -> Result<LockGuard, SyncError> {
        self.lock.acquire()
    }

    /// Whether the condition's lock is held.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    // ANCHOR: wait
    /// Releases the lock, waits until notified, and takes the lock back
    /// before it returns, whatever happened: the caller's guard is valid
    /// again either way.
    ///
    /// Errors: [`SyncError::NotLocked`] if the lock is not held (take it
    /// with [`Condition::acquire`] first); [`SyncError::Cancelled`] if the
    /// task was cancelled while it waited (the lock is held again all the
    /// same); [`SyncError::NotInTask`] outside a task.
    pub fn wait(&self) -> Result<(), SyncError> {
        let task = current("Condition::wait")?;
        if !self.lock.locked() {
            return Err(SyncError::NotLocked {
                condition: self.state.label.to_string(),
            });
        }
        // Released just before waiting: nothing runs in between (one thread,
        // and releasing only *queues* the next holder).
        self.lock.give_up();
        let state = &self.state;
        let notified = state.waiters.wait(&state.label, "Condition::wait", || {
            // Notified, then cancelled before it ran: the notification must
            // not be lost, so it goes to the next waiter.
            state.waiters.grant_first();
        });
        // Take the lock back even if cancelled: the caller's guard will
        // release it. A second cancellation meanwhile is kept for the
        // task's next suspension point rather than lost.
        let mut again = None;
        while let Err(error) = self.lock.take() {
            match error {
                SyncError::Cancelled(cancelled) => again = Some(cancelled),
                _ => break, // cannot happen in a task, with the lock alive
            }
        }
        if let Some(cancelled) = again {
            task.control().redeliver_later(cancelled);
        }
        notified
    }
    // ANCHOR_END: wait

    /// Waits until `predicate` is true, checking it first and after each
    /// notification, always under the lock (asyncio: `wait_for`).
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<(), SyncError> {
        while !predicate() {
            self.wait()?;
        }
        Ok(())
    }

    /// Wakes up to `n` waiting tasks, first come first served; returns how
    /// many. Call it holding the lock, as asyncio requires, so that the
    /// change it announces and the waiters' checks cannot interleave.
    pub fn notify(&self, n: usize) -> usize {
        (0..n)
            .take_while(|_| self.state.waiters.grant_first())
            .count()
    }

    /// Wakes every waiting task; returns how many.
    pub fn notify_all(&self) -> usize {
        self.state.waiters.grant_all()
    }

    /// How many tasks wait to be notified.
    pub fn waiter_count(&self) -> usize {
        self.state.waiters.len()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("label", &self.state.label.to_string())
            .field("lock", &self.lock)
            .field("waiters", &self.waiter_count())
            .finish()
    }
}
