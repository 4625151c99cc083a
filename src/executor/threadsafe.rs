//! The one door into the loop from another thread: `call_soon_threadsafe`. Introduced by lesson 10.
//!
//! Everything else in yieldloop is `!Send`: the loop, its [`Handle`], tasks,
//! sockets, futures. That is not an accident to be fixed. The loop mutates
//! its queues through `RefCell`s with no lock, and a task's stack holds raw
//! pointers into the loop; a second thread touching either would be a data
//! race. The compiler refuses to move them to another thread, so the races
//! asyncio warns about in its docs ("almost all asyncio objects are not
//! thread safe") cannot be written here at all.
//!
//! Other threads still need to talk to the loop: the executor's workers
//! report finished jobs, a GUI thread or a signal handler wants a callback
//! run. For them there is one `Send` door, a [`ThreadsafeHandle`]:
//!
//! ```text
//!   any thread                           the loop's thread
//!   ──────────                           ─────────────────
//!   call_soon_threadsafe(f) ─▶ Inbox ──▶ after select: f onto the ready queue
//!        │                    (Mutex)
//!        └─ first message? wake() ─────▶ select returns (eventfd / self-pipe)
//! ```
//!
//! The inbox is a `Vec` under a mutex: the loop's own state has no lock,
//! only what crosses threads does (this inbox, the pool's queue, a job's
//! result slot). A sender wakes the selector only when it puts the first
//! message into an empty inbox; later ones ride on the same wake-up, so
//! 80,000 calls from 8 threads cost one wake-up per batch the loop takes,
//! not 80,000 system calls. The callback must
//! be `Send` (it crosses threads) but runs on the loop's thread, so it may
//! not capture the loop's `Rc`s: what it does there is limited to what a
//! `Send` value can carry in, which is the point.
//!
//! The compiler keeps the rest on the loop's thread; this does not build:
//!
//! ```compile_fail
//! let event_loop = yieldloop::EventLoop::new().unwrap();
//! let handle = event_loop.handle(); // holds a Weak<Core>: !Send
//! std::thread::spawn(move || handle.stop());
//! ```
//!
//! and this does:
//!
//! ```
//! let event_loop = yieldloop::EventLoop::new().unwrap();
//! let handle = event_loop.threadsafe_handle().unwrap();
//! std::thread::spawn(move || handle.call_soon_threadsafe(|| println!("on the loop")))
//!     .join()
//!     .unwrap()
//!     .unwrap();
//! ```

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::reactor::event_loop::{EventLoop, Handle};
use crate::reactor::selector::Wake;

use super::run::Executor;

/// What another thread can send the loop.
pub(crate) enum Arrival {
    /// A `call_soon_threadsafe` callback.
    Callback(Box<dyn FnOnce() + Send>),
    /// An executor job with this id has finished; its result is in its slot.
    JobDone(u64),
    /// `ThreadsafeHandle::stop`.
    Stop,
}

/// The loop's mailbox for other threads, shared by `Arc`.
pub(crate) struct Inbox {
    mail: Mutex<Mail>,
    /// Cuts the loop's `select` short.
    waker: Arc<dyn Wake>,
    /// How many [`ThreadsafeHandle`]s exist: while any does, a callback may
    /// still come, so the loop may not call itself idle.
    senders: AtomicUsize,
}

struct Mail {
    arrivals: Vec<Arrival>,
    /// Set when the loop is dropped: nothing is delivered any more.
    closed: bool,
}

fn lock(mutex: &Mutex<Mail>) -> MutexGuard<'_, Mail> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The error for a message to a loop that was dropped.
fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the event loop was dropped: there is no loop to run the callback",
    )
}

impl Inbox {
    pub(crate) fn new(waker: Arc<dyn Wake>) -> Inbox {
        Inbox {
            mail: Mutex::new(Mail {
                arrivals: Vec::new(),
                closed: false,
            }),
            waker,
            senders: AtomicUsize::new(0),
        }
    }

    // ANCHOR: post
    /// Sends `arrival` to the loop, from any thread.
    pub(crate) fn post(&self, arrival: Arrival) -> io::Result<()> {
        let mut mail = lock(&self.mail);
        if mail.closed {
            drop(mail);
            drop(arrival); // outside the lock: its captures may do anything
            return Err(closed_error());
        }
        let first = mail.arrivals.is_empty();
        mail.arrivals.push(arrival);
        drop(mail);
        // Only the first message needs a wake-up: until the loop takes the
        // mail, that wake-up is pending and covers everything after it.
        if first {
            if let Err(error) = self.waker.wake() {
                tracing::error!("could not wake the event loop: {error}");
            }
        }
        Ok(())
    }
    // ANCHOR_END: post

    /// Everything that arrived, taken on the loop's thread.
    pub(crate) fn take(&self) -> Vec<Arrival> {
        std::mem::take(&mut lock(&self.mail).arrivals)
    }

    /// Whether a message waits, or a [`ThreadsafeHandle`] could send one.
    pub(crate) fn may_have_mail(&self) -> bool {
        self.senders.load(Ordering::Acquire) > 0 || !lock(&self.mail).arrivals.is_empty()
    }

    /// Refuses further messages and drops those not delivered.
    pub(crate) fn close(&self) {
        let undelivered = {
            let mut mail = lock(&self.mail);
            mail.closed = true;
            std::mem::take(&mut mail.arrivals)
        };
        drop(undelivered);
    }
}

// ANCHOR: threadsafe_handle
/// A `Send` handle to a loop, for other threads: all it can do is
/// [`call_soon_threadsafe`](ThreadsafeHandle::call_soon_threadsafe).
/// Get one from [`EventLoop::threadsafe_handle`] or
/// [`Handle::threadsafe_handle`], and move or clone it into threads.
///
/// While one exists, the loop does not count itself idle (a callback may
/// still come): `run_forever` keeps running until [`Handle::stop`] or until
/// every `ThreadsafeHandle` is dropped.
pub struct ThreadsafeHandle {
    inbox: Arc<Inbox>,
}
// ANCHOR_END: threadsafe_handle

impl ThreadsafeHandle {
    fn new(inbox: Arc<Inbox>) -> ThreadsafeHandle {
        inbox.senders.fetch_add(1, Ordering::AcqRel);
        ThreadsafeHandle { inbox }
    }

    /// Runs `callback` on the loop's thread, in its next iteration, waking
    /// the loop if it sleeps (asyncio: `loop.call_soon_threadsafe`).
    /// Callbacks from one thread run in the order they were sent. Fails,
    /// dropping the callback, once the loop has been dropped.
    pub fn call_soon_threadsafe(&self, callback: impl FnOnce() + Send + 'static) -> io::Result<()> {
        self.inbox.post(Arrival::Callback(Box::new(callback)))
    }

    /// Asks the loop to stop, as [`Handle::stop`] does, from any thread:
    /// asyncio's `loop.call_soon_threadsafe(loop.stop)`, which cannot be
    /// written here as a callback because the loop is not `Send`.
    pub fn stop(&self) -> io::Result<()> {
        self.inbox.post(Arrival::Stop)
    }
}

impl Clone for ThreadsafeHandle {
    fn clone(&self) -> Self {
        ThreadsafeHandle::new(self.inbox.clone())
    }
}

impl Drop for ThreadsafeHandle {
    fn drop(&mut self) {
        self.inbox.senders.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for ThreadsafeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadsafeHandle").finish_non_exhaustive()
    }
}

impl EventLoop {
    /// A `Send` handle other threads use to reach this loop (lesson 10).
    /// Fails only if the selector cannot make its wake-up descriptor.
    pub fn threadsafe_handle(&self) -> io::Result<ThreadsafeHandle> {
        let executor = Executor::of(self.core())?;
        Ok(ThreadsafeHandle::new(executor.inbox().clone()))
    }
}

impl EventLoop {
    /// See [`Handle::call_soon_threadsafe`].
    pub fn call_soon_threadsafe(&self, callback: impl FnOnce() + Send + 'static) -> io::Result<()> {
        Executor::of(self.core())?
            .inbox()
            .post(Arrival::Callback(Box::new(callback)))
    }
}

impl Handle {
    /// See [`EventLoop::threadsafe_handle`]; fails if the loop is gone.
    pub fn threadsafe_handle(&self) -> io::Result<ThreadsafeHandle> {
        let core = self.upgrade_core().ok_or_else(closed_error)?;
        let executor = Executor::of(&core)?;
        Ok(ThreadsafeHandle::new(executor.inbox().clone()))
    }

    /// `call_soon_threadsafe` through this (`!Send`) handle, from the
    /// loop's own thread: the callback waits in the same inbox as those of
    /// other threads, so it runs in order with them. From another thread,
    /// use a [`ThreadsafeHandle`].
    pub fn call_soon_threadsafe(&self, callback: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let core = self.upgrade_core().ok_or_else(closed_error)?;
        let executor = Executor::of(&core)?;
        executor.inbox().post(Arrival::Callback(Box::new(callback)))
    }
}
