//! `Lock`: one task at a time in a critical section (asyncio's `Lock`). Introduced by lesson 09.
//!
//! A lock holds no data (asyncio's does not either): it marks a stretch of
//! code, such as lesson 09's whole `transfer`, that may suspend in the
//! middle but must not be entered by a second task meanwhile. Holding it is
//! holding a [`LockGuard`]; dropping the guard releases it, however the
//! holder leaves — by returning, by `?` on a cancellation, or by unwinding.
//!
//! Release *hands* the lock to the first waiter, who then holds it before
//! it has even run; so waiters get it in the order they asked, and
//! `try_lock` cannot barge in between.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use tracing::debug;

use crate::sync::waiters::{Label, SyncError, WaitList, WouldBlock};

struct LockState {
    label: Label,
    locked: Cell<bool>,
    /// Invariant: empty unless `locked` (a release with waiters hands the
    /// lock on instead of unlocking it).
    waiters: WaitList,
}

impl LockState {
    // ANCHOR: release
    /// Hands the lock to the first waiter, or unlocks it if nobody waits.
    fn release(&self) {
        if self.waiters.grant_first() {
            debug!(target: "yieldloop::sync", "{} handed to the next waiter", self.label);
        } else {
            self.locked.set(false);
        }
    }
    // ANCHOR_END: release
}

/// A lock for tasks of one loop (asyncio: `asyncio.Lock`). Clones are
/// handles to the same lock.
///
/// ```
/// # use yieldloop::{spawn, sleep, secs, Builder, Clock, Lock};
/// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
/// let order = event_loop.run_until_complete(|| {
///     let lock = Lock::named("accounts");
///     let guard = lock.acquire().unwrap();
///     let waiter = spawn("waiter", {
///         let lock = lock.clone();
///         move || lock.acquire().map(|_guard| "got it")
///     });
///     sleep(secs(1.0)).unwrap(); // the waiter waits meanwhile
///     assert!(lock.locked() && lock.try_lock().is_err());
///     drop(guard); // handed to the waiter
///     waiter.join().unwrap()
/// }).unwrap();
/// assert_eq!(order.unwrap(), "got it");
/// ```
#[derive(Clone)]
pub struct Lock {
    state: Rc<LockState>,
}

/// Holding the lock. Dropping it releases the lock (to the first waiter).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    state: Rc<LockState>,
}

impl Default for Lock {
    fn default() -> Self {
        Lock::with_label(None)
    }
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Lock {
        Lock::default()
    }

    /// An unlocked lock with a name for the trace (`Lock "accounts"`).
    pub fn named(name: impl Into<Cow<'static, str>>) -> Lock {
        Lock::with_label(Some(name.into()))
    }

    fn with_label(name: Option<Cow<'static, str>>) -> Lock {
        Lock {
            state: Rc::new(LockState {
                label: Label::new("Lock", name),
                locked: Cell::new(false),
                waiters: WaitList::default(),
            }),
        }
    }

    // ANCHOR: acquire
    /// Takes the lock, waiting (suspending this task) while another task
    /// holds it (asyncio: `await lock.acquire()`, `async with lock`).
    ///
    /// Errors: [`SyncError::Cancelled`] if the task is cancelled while it
    /// waits (it then does not hold the lock, and leaves the line);
    /// [`SyncError::NotInTask`] if the lock is taken and there is no task
    /// to suspend.
    pub fn acquire(&self) -> Result<LockGuard, SyncError> {
        self.take()?;
        Ok(LockGuard {
            state: self.state.clone(),
        })
    }

    /// Takes the lock without a guard (for `Condition::wait`, whose caller
    /// holds the guard).
    pub(crate) fn take(&self) -> Result<(), SyncError> {
        if !self.state.locked.get() {
            self.state.locked.set(true);
            return Ok(());
        }
        // Handed to us by `release`; if we are cancelled after that but
        // before we run, `give_back` passes it to the next waiter.
        let state = &self.state;
        state
            .waiters
            .wait(&state.label, "Lock::acquire", || state.release())
    }
    // ANCHOR_END: acquire

    /// Releases the lock without its guard (for `Condition::wait`, which
    /// takes it back before its caller's guard can release it).
    pub(crate) fn give_up(&self) {
        self.state.release();
    }

    /// The same as [`Lock::acquire`], by Rust's `Mutex` name.
    pub fn lock(&self) -> Result<LockGuard, SyncError> {
        self.acquire()
    }

    /// Takes the lock if it is free now, without waiting.
    pub fn try_lock(&self) -> Result<LockGuard, WouldBlock> {
        if self.state.locked.get() {
            return Err(WouldBlock {
                primitive: self.state.label.to_string(),
            });
        }
        self.state.locked.set(true);
        Ok(LockGuard {
            state: self.state.clone(),
        })
    }

    /// Whether some task holds the lock (asyncio: `locked()`).
    pub fn locked(&self) -> bool {
        self.state.locked.get()
    }

    /// How many tasks wait for it (for tests: a cancelled waiter leaves).
    pub fn waiter_count(&self) -> usize {
        self.state.waiters.len()
    }

    /// The name given with [`Lock::named`], or `""`.
    pub fn name(&self) -> &str {
        self.state.label.name()
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.state.release();
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("name", &self.name())
            .field("locked", &self.locked())
            .field("waiters", &self.waiter_count())
            .finish()
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LockGuard({})", self.state.label)
    }
}
