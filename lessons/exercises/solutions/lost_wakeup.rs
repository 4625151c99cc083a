//! Reference solution to the `lost_wakeup` exercise: the flag remembers
//! that it was set, so a task that comes to wait later returns at once.
//!
//! # lost_wakeup: break-it, a flag that forgets (after lesson 07)
//!
//! This `Flag` (asyncio's `Event`, simplified) works in the demo everyone
//! tries first: a task waits, another sets the flag, the waiter wakes. But a
//! user reports that sometimes a waiter sleeps forever. Nothing panics;
//! nothing is printed. Find the bug and fix it. The code compiles and is
//! almost right: read `set` and `wait` side by side and ask what happens
//! when they run in the other order.
//!
//! Hint for the hunt: run the check, read the two traces, then add a
//! `tracing::info!` (or `println!` with `yieldloop::now()`) in `set` and
//! `wait`.
//!
//! Check it: `cargo run --bin workshop -- check lost_wakeup`.

use std::cell::{Cell, RefCell};
use std::error::Error;

use yieldloop::Future;

/// A flag tasks can wait for.
#[derive(Default)]
pub struct Flag {
    /// Whether `set` has run. Without it, a `set` with nobody waiting yet
    /// leaves no trace, and a later waiter waits forever: the lost wake-up.
    is_set: Cell<bool>,
    /// The tasks waiting, each on its own future.
    waiters: RefCell<Vec<Future<()>>>,
}

impl Flag {
    /// A flag that is not set.
    pub fn new() -> Flag {
        Flag::default()
    }

    /// Sets the flag: wakes every waiter.
    pub fn set(&self) {
        self.is_set.set(true);
        // Taken out first: completing a future runs its callbacks, which must
        // not find `waiters` borrowed.
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waiter in waiters {
            let _ = waiter.set_result(());
        }
    }

    /// Suspends the calling task until the flag is set.
    pub fn wait(&self) -> Result<(), Box<dyn Error>> {
        if self.is_set.get() {
            return Ok(());
        }
        let woken = Future::new();
        self.waiters.borrow_mut().push(woken.clone());
        woken.wait()
    }
}
