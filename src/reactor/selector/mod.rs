//! Waiting on many descriptors at once: Python's `selectors`, as a trait. Introduced by lesson 06.
//!
//! Lesson 05's loop called select(2) itself. The reactor asks a [`Selector`]
//! instead, so the same loop can run on select(2) ([`SelectSelector`], the
//! lesson 05 way, kept for comparison), on epoll/kqueue through the
//! `polling` crate ([`PollingSelector`], the portable one), or on our own
//! epoll selector (`EpollSelector`, Linux, the default there: it reports a
//! peer's FIN, which lets streams skip a read; see [`SelectorKind`]). The
//! words are Python's:
//!
//! | Python `selectors`                  | here                                     |
//! |-------------------------------------|------------------------------------------|
//! | `sel.register(sock, EVENT_READ, k)` | `sel.register(fd, key, Interest::READABLE)` |
//! | `sel.modify(sock, EVENT_WRITE, k)`  | `sel.modify(fd, key, Interest::WRITABLE)`   |
//! | `sel.unregister(sock)`              | `sel.unregister(fd)`                        |
//! | `for key, mask in sel.select(t)`    | `sel.select(t, &mut events)`, then `events` |
//!
//! The key is a plain `usize`: the reactor passes the slot of the
//! descriptor's record, which names the tasks waiting on it by direction
//! (see [`crate::reactor::io_source`]).
//!
//! **One difference from Python: a registration is armed, not permanent.**
//! Python's selectors are level-triggered: a readable socket is reported by
//! every `select` until it is read, which would make a loop spin while the
//! socket's task is busy elsewhere. So here a task *arms* its descriptor
//! (`register` the first time, `modify` after) just before it suspends, and
//! the selector promises only this: readiness that arrives after arming is
//! reported at least once. It may be reported more than once, or when nobody
//! waits any more; the reactor ignores reports for tasks that are not waiting
//! on I/O. The select(2) backend disarms a direction after reporting it
//! (one-shot, like epoll's `EPOLLONESHOT`); the epoll backends are
//! edge-triggered and stay armed, which makes re-arming free.
//!
//! Readiness is a hint, not a promise: a descriptor reported readable may
//! still answer `WouldBlock` (another reader got there first, or the wake-up
//! was spurious). Callers therefore always try the operation and wait only
//! when it says `WouldBlock`, which is what [`crate::reactor::tcp`] does.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

#[cfg(target_os = "linux")]
mod epoll;
mod polling;
mod select;

#[cfg(target_os = "linux")]
pub use self::epoll::EpollSelector;
pub use self::polling::PollingSelector;
pub use self::select::{SelectSelector, FD_SETSIZE};

/// What a registration waits for. Python's `EVENT_READ | EVENT_WRITE` mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interest {
    /// Wake when reading would not block (data, a new connection, end of file, an error).
    pub readable: bool,
    /// Wake when writing would not block (buffer space, a finished `connect`).
    pub writable: bool,
}

impl Interest {
    /// Waiting to read.
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };
    /// Waiting to write.
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };
    /// Registered but waiting for nothing (disarmed).
    pub const NONE: Interest = Interest {
        readable: false,
        writable: false,
    };

    /// Whether this interest waits for anything at all.
    pub fn is_armed(self) -> bool {
        self.readable || self.writable
    }
}

/// One readiness report from [`Selector::select`]: Python's `(key, mask)` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The key given at registration: in the reactor, the descriptor's slot.
    pub key: usize,
    /// Reading would not block (errors and hang-ups count as readable, so the
    /// reader sees them).
    pub readable: bool,
    /// Writing would not block (errors count as writable too).
    pub writable: bool,
    /// The peer has shut down its writing side (`EPOLLRDHUP`), or the
    /// connection hung up or failed: reading will not block again, ever.
    /// Only selectors whose [`Selector::reports_read_closed`] is true set
    /// it; the others always say `false`, which tells nothing.
    pub read_closed: bool,
}

// ANCHOR: selector
/// Something that waits on many descriptors at once and reports which are ready.
///
/// Semantics shared by every backend: one registration per descriptor;
/// readiness that arrives after `register` or [`modify`](Selector::modify)
/// is reported at least once, and reports may repeat or be spurious (see the
/// module comment); [`select`](Selector::select) may return early with no
/// events (a signal interrupted it).
pub trait Selector {
    /// Starts watching `fd` for `interest`, reporting it under `key`.
    ///
    /// # Safety
    ///
    /// `fd` must stay open until it is [`unregister`](Selector::unregister)ed.
    /// The selector keeps the raw number: if the descriptor were closed and the
    /// number reused by another file, the selector would watch the wrong file
    /// (select(2) would even fail with `EBADF` on the closed one). The
    /// `polling` crate's `Poller::add` has the same contract.
    unsafe fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()>;

    /// Re-arms a registered descriptor, possibly with a new key or interest.
    /// A backend may skip the system call when nothing changed and the
    /// registration is still armed (edge-triggered epoll does).
    fn modify(&mut self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()>;

    /// Re-arms a registered descriptor *and* makes the kernel look at it
    /// again, even if nothing changed: readiness that is already there is
    /// reported by the next `select`. This is how `add_reader` callbacks get
    /// asyncio's level-triggered behaviour (see [`crate::reactor::watch`]).
    fn rearm(&mut self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
        self.modify(fd, key, interest)
    }

    /// Stops watching `fd`. Call it before closing the descriptor.
    fn unregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()>;

    /// Waits until a registered descriptor is ready or `timeout` passes
    /// (`None`: no limit; zero: just look), then replaces the contents of
    /// `events` with what is ready. The buffer is the caller's so the loop
    /// reuses one allocation instead of making a list per call.
    fn select(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()>;

    /// A short name for logs: `"epoll/kqueue (polling)"` or `"select(2)"`.
    fn name(&self) -> &'static str;

    /// Whether this selector is edge-triggered for reading *and* says in
    /// every readable event whether the peer has closed its side
    /// ([`Event::read_closed`]). Only then may a stream skip the read after a
    /// short one (see [`crate::reactor::io_source`]). Only [`EpollSelector`]
    /// does.
    fn reports_read_closed(&self) -> bool {
        false
    }

    /// A handle that another thread uses to cut a [`select`](Selector::select)
    /// short (lesson 10: the executor's threads and `call_soon_threadsafe`).
    /// The selector itself stays on the loop's thread; only the [`Wake`]
    /// handle crosses. A wake-up that comes while nobody is selecting is
    /// kept, and makes the next `select` return at once, with or without
    /// events: no wake-up is lost between "the loop decided to sleep" and
    /// "the loop sleeps".
    fn waker(&mut self) -> io::Result<Arc<dyn Wake>>;
}
// ANCHOR_END: selector

// ANCHOR: wake
/// The one part of a selector other threads may touch: asyncio's
/// `_write_to_self`, which writes a byte to the loop's self-pipe.
pub trait Wake: Send + Sync {
    /// Makes the selector's current or next `select` return.
    fn wake(&self) -> io::Result<()>;
}
// ANCHOR_END: wake

// ANCHOR: kinds
/// Which backend a loop uses; see [`crate::Builder::selector`]. The default
/// is [`Epoll`](SelectorKind::Epoll) on Linux and
/// [`Polling`](SelectorKind::Polling) elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorKind {
    /// The reactor's own epoll selector (Linux only): edge-triggered, with
    /// `EPOLLRDHUP`, so streams skip the read after a short one.
    Epoll,
    /// epoll on Linux, kqueue on macOS and the BSDs, via the `polling` crate:
    /// the portable backend.
    Polling,
    /// select(2), as in lesson 05: simple, but limited to descriptors below
    /// [`FD_SETSIZE`] and slower with many of them (it scans them all each call).
    Select,
}

impl Default for SelectorKind {
    fn default() -> Self {
        if cfg!(target_os = "linux") {
            SelectorKind::Epoll
        } else {
            SelectorKind::Polling
        }
    }
}
// ANCHOR_END: kinds

impl SelectorKind {
    /// Every backend, for tests that run the same check on each.
    pub const ALL: [SelectorKind; 3] = [
        SelectorKind::Epoll,
        SelectorKind::Polling,
        SelectorKind::Select,
    ];

    /// The kind a name stands for: `epoll`, `polling` or `select`, as in
    /// `YIELDLOOP_SELECTOR=polling cargo run --bin 06-reactor`.
    pub fn from_name(name: &str) -> Result<SelectorKind, String> {
        match name {
            "epoll" => Ok(SelectorKind::Epoll),
            "polling" => Ok(SelectorKind::Polling),
            "select" => Ok(SelectorKind::Select),
            other => Err(format!(
                "unknown selector {other:?}: use epoll (the own epoll selector, Linux), \
                 polling (epoll/kqueue through the polling crate) or select (select(2))"
            )),
        }
    }

    /// The default, or what the `YIELDLOOP_SELECTOR` environment variable
    /// names (so a lesson's server can be run, and benchmarked, on any
    /// backend without a flag of its own). A name it does not know is an
    /// error that says which names there are.
    pub fn from_env() -> Result<SelectorKind, String> {
        match std::env::var("YIELDLOOP_SELECTOR") {
            Ok(name) if !name.is_empty() => {
                SelectorKind::from_name(&name).map_err(|why| format!("YIELDLOOP_SELECTOR: {why}"))
            }
            _ => Ok(SelectorKind::default()),
        }
    }

    /// Opens a selector of this kind. `Epoll` off Linux is an
    /// `Unsupported` error that names the portable choice.
    pub fn open(self) -> io::Result<Box<dyn Selector>> {
        Ok(match self {
            #[cfg(target_os = "linux")]
            SelectorKind::Epoll => Box::new(EpollSelector::new()?),
            #[cfg(not(target_os = "linux"))]
            SelectorKind::Epoll => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "SelectorKind::Epoll is Linux-only; use SelectorKind::Polling (kqueue here)",
                ))
            }
            SelectorKind::Polling => Box::new(PollingSelector::new()?),
            SelectorKind::Select => Box::new(SelectSelector::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    /// Both backends behave the same on the basics: nothing ready, then one
    /// event under the right key, then nothing more until new readiness or a
    /// re-arm with a new key.
    fn reports_once_per_arming(mut selector: Box<dyn Selector>) {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut events = Vec::new();
        // SAFETY: `b` outlives the registration; it is unregistered below.
        unsafe { selector.register(b.as_fd(), 7, Interest::READABLE).unwrap() };
        selector.select(Some(Duration::ZERO), &mut events).unwrap();
        assert!(
            events.is_empty(),
            "{}: nothing written yet",
            selector.name()
        );

        a.write_all(b"x").unwrap();
        selector
            .select(Some(Duration::from_secs(1)), &mut events)
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].key, 7);
        assert!(events[0].readable);

        selector.select(Some(Duration::ZERO), &mut events).unwrap();
        assert!(events.is_empty(), "{}: reported once", selector.name());

        selector.modify(b.as_fd(), 8, Interest::READABLE).unwrap();
        selector
            .select(Some(Duration::from_secs(1)), &mut events)
            .unwrap();
        assert_eq!(events.iter().map(|e| e.key).collect::<Vec<_>>(), [8]);
        selector.unregister(b.as_fd()).unwrap();
    }

    #[test]
    fn selector_names_are_known_and_a_wrong_one_is_explained() {
        assert_eq!(SelectorKind::from_name("epoll"), Ok(SelectorKind::Epoll));
        assert_eq!(
            SelectorKind::from_name("polling"),
            Ok(SelectorKind::Polling)
        );
        assert_eq!(SelectorKind::from_name("select"), Ok(SelectorKind::Select));
        let why = SelectorKind::from_name("kqueue").unwrap_err();
        assert!(
            why.contains("\"kqueue\"") && why.contains("polling"),
            "{why}"
        );
    }

    #[test]
    fn epoll_backend_reports_once_per_arming() {
        reports_once_per_arming(SelectorKind::Epoll.open().unwrap());
    }

    #[test]
    fn polling_backend_reports_once_per_arming() {
        reports_once_per_arming(SelectorKind::Polling.open().unwrap());
    }

    #[test]
    fn select_backend_reports_once_per_arming() {
        reports_once_per_arming(SelectorKind::Select.open().unwrap());
    }

    /// A wake-up from another thread ends a `select` that has no timeout,
    /// and one sent before the `select` is not lost.
    fn wakes_from_another_thread(mut selector: Box<dyn Selector>) {
        // Long timeouts, not `None`: a lost wake-up fails the test (it
        // takes 10 s) instead of hanging it.
        let long = Some(Duration::from_secs(10));
        let mut events = Vec::new();
        let waker = selector.waker().unwrap();
        waker.wake().unwrap(); // before: kept for the next select
        let started = std::time::Instant::now();
        selector.select(long, &mut events).unwrap();
        assert!(
            events.is_empty(),
            "{}: a wake-up is no event",
            selector.name()
        );
        let remote = waker.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            remote.wake().unwrap();
        });
        selector.select(long, &mut events).unwrap();
        assert!(events.is_empty());
        thread.join().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}: a wake-up was lost",
            selector.name()
        );
        // Consumed: the next look finds nothing.
        selector.select(Some(Duration::ZERO), &mut events).unwrap();
        assert!(events.is_empty());
    }

    #[test]
    fn epoll_backend_wakes_from_another_thread() {
        wakes_from_another_thread(SelectorKind::Epoll.open().unwrap());
    }

    #[test]
    fn polling_backend_wakes_from_another_thread() {
        wakes_from_another_thread(SelectorKind::Polling.open().unwrap());
    }

    #[test]
    fn select_backend_wakes_from_another_thread() {
        wakes_from_another_thread(SelectorKind::Select.open().unwrap());
    }
}
