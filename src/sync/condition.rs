//! `Condition`: wait, holding a lock, until another task says the state changed (asyncio's `Condition`). Introduced by lesson 09.
//!
//! The pattern: take the lock, check the shared state, and if it is not
//! what you need, `wait` — which releases the lock while it waits and takes
//! it back before it returns — then check again (`wait_for(predicate)` is
//! that loop). A task that changes the state calls `notify(n)` or
//! `notify_all` to wake waiters.
//!
//! Here `wait` takes the [`LockGuard`] and gives it back: the type shows
//! that the lock is let go while waiting. If the wait fails (cancelled), no
//! guard comes back, so the caller does not hold the lock; a cancelled
//! waiter that had already been notified passes its notification on.

use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;

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
///             let guard = ready.acquire()?;
///             let _guard = ready.wait_for(guard, || stock.get() > 0)?;
///             stock.set(stock.get() - 1); // under the lock
///             Ok::<_, yieldloop::SyncError>(())
///         }
///     });
///     yieldloop::yield_now().unwrap();
///     let _guard = ready.acquire().unwrap();
///     stock.set(1);
///     ready.notify(1);
///     drop(_guard);
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

    /// Takes the condition's lock ([`Lock::acquire`]).
    pub fn acquire(&self) -> Result<LockGuard, SyncError> {
        self.lock.acquire()
    }

    /// The same as [`Condition::acquire`], by Rust's `Mutex` name.
    pub fn lock(&self) -> Result<LockGuard, SyncError> {
        self.lock.acquire()
    }

    // ANCHOR: wait
    /// Releases the lock, waits until notified, takes the lock again and
    /// returns its guard. Errors: `guard` is not this condition's lock's;
    /// cancelled (while waiting for the notification or for the lock; the
    /// lock is then not held); no task to suspend.
    pub fn wait(&self, guard: LockGuard) -> Result<LockGuard, SyncError> {
        if !self.lock.owns(&guard) {
            return Err(SyncError::WrongLock {
                condition: self.state.label.to_string(),
            });
        }
        // Released just before waiting: nothing runs in between (one thread,
        // and dropping a guard only *queues* the next holder).
        drop(guard);
        let state = &self.state;
        state.waiters.wait(&state.label, "Condition::wait", || {
            // Notified, then cancelled before it ran: the notification must
            // not be lost, so it goes to the next waiter.
            state.waiters.grant_first();
        })?;
        self.lock.acquire()
    }
    // ANCHOR_END: wait

    /// Waits until `predicate` is true, checking it under the lock first and
    /// after each notification (asyncio: `wait_for`). Returns the guard.
    pub fn wait_for(
        &self,
        mut guard: LockGuard,
        mut predicate: impl FnMut() -> bool,
    ) -> Result<LockGuard, SyncError> {
        while !predicate() {
            guard = self.wait(guard)?;
        }
        Ok(guard)
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
