//! `Semaphore` and `BoundedSemaphore`: at most N tasks at a time (asyncio's). Introduced by lesson 09.
//!
//! A semaphore is a counter of permits. `acquire` takes one, waiting while
//! there are none; dropping the [`SemaphorePermit`] gives it back. Lesson
//! 09's part 4 bounds five one-second jobs to two at a time with one (the
//! workshop fetcher's `-c N` does the same).
//!
//! As with [`crate::Lock`], a returned permit is *handed* to the first
//! waiter, so waiters are served in order and a cancelled waiter that had
//! already been handed one passes it on: a permit is never leaked.
//!
//! `release` without a permit adds one (asyncio allows it: a semaphore can
//! start at 0 and be released by a producer). A [`BoundedSemaphore`]
//! refuses a release that would take it above its start value, which is
//! almost always a bug (a permit given back twice).

use std::borrow::Cow;
use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;

use tracing::warn;

use crate::sync::waiters::{Label, SyncError, WaitList, WouldBlock};

struct SemaphoreState {
    label: Label,
    /// Free permits. Invariant: zero while tasks wait (a returned permit
    /// goes to the first waiter instead).
    value: Cell<usize>,
    /// A `BoundedSemaphore`'s start value: never more free permits.
    bound: Option<usize>,
    waiters: WaitList,
}

impl SemaphoreState {
    /// One permit back: to the first waiter, or onto the counter — unless
    /// that would take a bounded semaphore above its start value.
    fn release(&self) -> Result<(), TooManyReleases> {
        if self.waiters.grant_first() {
            return Ok(());
        }
        match self.bound {
            Some(bound) if self.value.get() >= bound => Err(TooManyReleases {
                primitive: self.label.to_string(),
                bound,
            }),
            _ => {
                self.value.set(self.value.get() + 1);
                Ok(())
            }
        }
    }

    /// A permit coming back from a guard (or a cancelled waiter), where
    /// there is nobody to return an error to: a refused release is a bug
    /// elsewhere (an extra `release`), so it is logged, not silently kept.
    fn give_back(&self) {
        if let Err(error) = self.release() {
            warn!("{error}: the permit returned by a guard was dropped");
        }
    }
}

/// A counter of permits for tasks of one loop (asyncio:
/// `asyncio.Semaphore`). Clones are handles to the same semaphore.
///
/// ```
/// # use yieldloop::{Builder, Clock, Semaphore};
/// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
/// event_loop.run_until_complete(|| {
///     let slots = Semaphore::named(2, "downloads");
///     let a = slots.acquire().unwrap();
///     let _b = slots.acquire().unwrap();
///     assert!(slots.locked() && slots.try_acquire().is_err());
///     drop(a);
///     assert_eq!(slots.value(), 1);
/// }).unwrap();
/// ```
#[derive(Clone)]
pub struct Semaphore {
    state: Rc<SemaphoreState>,
}

/// One permit taken from a semaphore; dropping it gives it back.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit {
    state: Option<Rc<SemaphoreState>>,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore::with_label("Semaphore", permits, None)
    }

    /// The same, with a name for the trace (`Semaphore "downloads"`).
    pub fn named(permits: usize, name: impl Into<Cow<'static, str>>) -> Semaphore {
        Semaphore::with_label("Semaphore", permits, Some(name.into()))
    }

    fn with_label(
        kind: &'static str,
        permits: usize,
        name: Option<Cow<'static, str>>,
    ) -> Semaphore {
        let bound = (kind == "BoundedSemaphore").then_some(permits);
        Semaphore {
            state: Rc::new(SemaphoreState {
                label: Label::new(kind, name),
                value: Cell::new(permits),
                bound,
                waiters: WaitList::default(),
            }),
        }
    }

    // ANCHOR: acquire
    /// Takes a permit, waiting (suspending this task) while there is none.
    /// Errors: cancelled while waiting (no permit is kept); no task to
    /// suspend.
    pub fn acquire(&self) -> Result<SemaphorePermit, SyncError> {
        let state = &self.state;
        match state.value.get() {
            0 => state
                .waiters
                .wait(&state.label, "Semaphore::acquire", || state.give_back())?,
            free => state.value.set(free - 1),
        }
        Ok(self.permit())
    }
    // ANCHOR_END: acquire

    /// Takes a permit if one is free now, without waiting.
    pub fn try_acquire(&self) -> Result<SemaphorePermit, WouldBlock> {
        match self.state.value.get() {
            0 => Err(WouldBlock {
                primitive: self.state.label.to_string(),
            }),
            free => {
                self.state.value.set(free - 1);
                Ok(self.permit())
            }
        }
    }

    /// Adds a permit (to the first waiter, if any), without a
    /// [`SemaphorePermit`] (asyncio: `release()`).
    /// On the semaphore inside a [`BoundedSemaphore`] a release above the
    /// start value is refused, and logged (use
    /// [`BoundedSemaphore::release`] to get the error).
    pub fn release(&self) {
        self.state.give_back();
    }

    /// Free permits now.
    pub fn value(&self) -> usize {
        self.state.value.get()
    }

    /// Whether `acquire` would wait (asyncio: `locked()`).
    pub fn locked(&self) -> bool {
        self.value() == 0
    }

    /// How many tasks wait for a permit.
    pub fn waiter_count(&self) -> usize {
        self.state.waiters.len()
    }

    /// The name given with `named`, or `""`.
    pub fn name(&self) -> &str {
        self.state.label.name()
    }

    fn permit(&self) -> SemaphorePermit {
        SemaphorePermit {
            state: Some(self.state.clone()),
        }
    }
}

impl SemaphorePermit {
    /// Keeps the permit taken for good: dropping this no longer gives it
    /// back (give it back later with `release`).
    pub fn forget(mut self) {
        self.state = None;
    }
}

impl Drop for SemaphorePermit {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            state.give_back();
        }
    }
}

/// A [`Semaphore`] that refuses to be released above its start value
/// (asyncio: `asyncio.BoundedSemaphore`).
#[derive(Clone)]
pub struct BoundedSemaphore {
    semaphore: Semaphore,
    bound: usize,
}

/// [`BoundedSemaphore::release`] would have made more permits than it
/// started with (asyncio: `ValueError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyReleases {
    /// The semaphore, as `BoundedSemaphore "downloads"`.
    pub primitive: String,
    /// Its start value.
    pub bound: usize,
}

impl fmt::Display for TooManyReleases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} released too many times: it already has all its {} permits",
            self.primitive, self.bound
        )
    }
}

impl Error for TooManyReleases {}

impl BoundedSemaphore {
    /// A bounded semaphore with `permits` free permits, never more.
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            semaphore: Semaphore::with_label("BoundedSemaphore", permits, None),
            bound: permits,
        }
    }

    /// The same, with a name for the trace.
    pub fn named(permits: usize, name: impl Into<Cow<'static, str>>) -> BoundedSemaphore {
        BoundedSemaphore {
            semaphore: Semaphore::with_label("BoundedSemaphore", permits, Some(name.into())),
            bound: permits,
        }
    }

    /// Adds a permit back, unless all of them are already free.
    /// A permit's guard that comes back when all permits are already free
    /// (because of an extra `release`) is refused the same way, and logged.
    pub fn release(&self) -> Result<(), TooManyReleases> {
        self.semaphore.state.release()
    }

    /// The semaphore itself: `acquire`, `try_acquire`, `value`, `locked`.
    /// (Its own `release` keeps the bound too, but only logs a refusal.)
    pub fn semaphore(&self) -> &Semaphore {
        &self.semaphore
    }

    /// [`Semaphore::acquire`].
    pub fn acquire(&self) -> Result<SemaphorePermit, SyncError> {
        self.semaphore.acquire()
    }

    /// [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> Result<SemaphorePermit, WouldBlock> {
        self.semaphore.try_acquire()
    }

    /// [`Semaphore::value`].
    pub fn value(&self) -> usize {
        self.semaphore.value()
    }

    /// [`Semaphore::locked`].
    pub fn locked(&self) -> bool {
        self.semaphore.locked()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("name", &self.name())
            .field("value", &self.value())
            .field("waiters", &self.waiter_count())
            .finish()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("semaphore", &self.semaphore)
            .field("bound", &self.bound)
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}
