//! Helpers for the lesson-09 tests (tests/sync.rs, tests/sync_model.rs):
//! a virtual-clock loop guarded by a watchdog, and a log of who did what when.

#![allow(dead_code)] // each test file uses its own subset

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use yieldloop::{now, Builder, Clock, EventLoop};

/// Aborts the test process if the returned guard is not dropped within a
/// minute: a hung loop must fail fast, not stall CI.
pub struct Watchdog(Arc<AtomicBool>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub fn watchdog(what: &'static str) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let seen = done.clone();
    thread::spawn(move || {
        for _ in 0..600 {
            thread::sleep(Duration::from_millis(100));
            if seen.load(Ordering::SeqCst) {
                return;
            }
        }
        eprintln!("{what}: a test hung for 60 s");
        std::process::abort();
    });
    Watchdog(done)
}

/// A loop on the virtual clock, and the watchdog to hold while it runs.
pub fn virtual_loop() -> (EventLoop, Watchdog) {
    let event_loop = Builder::new()
        .clock(Clock::new_virtual())
        .build()
        .expect("a loop");
    (event_loop, watchdog("tests/sync"))
}

/// What happened, with loop times in milliseconds.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<(u64, String)>>>);

impl Log {
    pub fn note(&self, what: impl Into<String>) {
        let ms = now().map_or(u64::MAX, |t| t.as_millis() as u64);
        self.0.borrow_mut().push((ms, what.into()));
    }

    pub fn take(&self) -> Vec<(u64, String)> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    /// The messages only.
    pub fn messages(&self) -> Vec<String> {
        self.take().into_iter().map(|(_, what)| what).collect()
    }
}

/// `[(0, "a"), (1000, "b")]` as a log would hold it.
pub fn at(lines: &[(u64, &str)]) -> Vec<(u64, String)> {
    lines.iter().map(|&(ms, s)| (ms, s.to_string())).collect()
}
