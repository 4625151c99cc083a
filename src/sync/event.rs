//! `Event`: a flag that tasks wait to see set (asyncio's `Event`). Introduced by lesson 09.
//!
//! Unlike a lock, an event hands nothing out: `set` wakes *every* waiter,
//! and the flag stays set for later callers until `clear`. A waiter woken
//! by `set` returns `Ok` even if the flag was cleared again before it ran —
//! it was set while it waited, which is what it waited for.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use crate::sync::waiters::{Label, SyncError, WaitList};

struct EventState {
    label: Label,
    flag: Cell<bool>,
    waiters: WaitList,
}

/// A flag tasks can wait on (asyncio: `asyncio.Event`). Clones are handles
/// to the same event.
///
/// ```
/// # use yieldloop::{spawn, Builder, Clock, Event};
/// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
/// event_loop.run_until_complete(|| {
///     let ready = Event::named("ready");
///     let waiters: Vec<_> = (0..3).map(|_| spawn("w", { let r = ready.clone(); move || r.wait() })).collect();
///     ready.set(); // all three wake
///     for waiter in waiters { waiter.join().unwrap().unwrap(); }
///     assert!(ready.is_set());
/// }).unwrap();
/// ```
#[derive(Clone)]
pub struct Event {
    state: Rc<EventState>,
}

impl Default for Event {
    fn default() -> Self {
        Event::with_label(None)
    }
}

impl Event {
    /// An event, not set.
    pub fn new() -> Event {
        Event::default()
    }

    /// An event with a name for the trace (`Event "ready"`).
    pub fn named(name: impl Into<Cow<'static, str>>) -> Event {
        Event::with_label(Some(name.into()))
    }

    fn with_label(name: Option<Cow<'static, str>>) -> Event {
        Event {
            state: Rc::new(EventState {
                label: Label::new("Event", name),
                flag: Cell::new(false),
                waiters: WaitList::default(),
            }),
        }
    }

    /// Sets the flag and wakes every waiting task.
    pub fn set(&self) {
        self.state.flag.set(true);
        self.state.waiters.grant_all();
    }

    /// Clears the flag: later `wait`s wait again.
    pub fn clear(&self) {
        self.state.flag.set(false);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.flag.get()
    }

    /// Returns at once if the flag is set, else suspends this task until
    /// `set` is called. Errors: cancelled while waiting; no task to suspend.
    pub fn wait(&self) -> Result<(), SyncError> {
        if self.is_set() {
            return Ok(());
        }
        // Nothing to hand on if cancelled after `set`: every waiter got it.
        let state = &self.state;
        state.waiters.wait(&state.label, "Event::wait", || {})
    }

    /// How many tasks wait on it.
    pub fn waiter_count(&self) -> usize {
        self.state.waiters.len()
    }

    /// The name given with [`Event::named`], or `""`.
    pub fn name(&self) -> &str {
        self.state.label.name()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name())
            .field("set", &self.is_set())
            .field("waiters", &self.waiter_count())
            .finish()
    }
}
