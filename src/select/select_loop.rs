//! Lesson 05's scheduler: timers and sockets in one loop, waiting in select(2).
//! Introduced by lesson 05.
//!
//! Lesson 03's [`run`](crate::generators::run::run) only knew time. Beazley's loop in
//! "Python Concurrency From the Ground Up" only knew sockets: tasks yield
//! `('recv', sock)` or `('send', sock)`, the loop files them in `to_read` or
//! `to_write`, and when nothing can run it asks `select()` which of those
//! sockets are ready. [`run`] here is both at once, so a server's tasks can
//! wait for the network while a ticker waits for the clock:
//!
//! ```text
//!              a task yields …                      the loop files it in …
//!   Request::Sleep(d)  ───────────────────▶  sleepers  [(wake-up time, task)], earliest first
//!   Request::Read(fd)  ───────────────────▶  to_read   {fd: task}
//!   Request::Write(fd) ───────────────────▶  to_write  {fd: task}
//!
//!   nothing ready to run?  select(to_read's fds, to_write's fds,
//!                                 timeout = earliest wake-up − now)
//!   ───────────────────────────────────────────────────────────────────────
//!   a readable fd ─▶ its task is ready   a writable fd ─▶ its task is ready
//!   the timeout ran out ─▶ every sleeper whose time has come is ready
//! ```
//!
//! A task is a [`Task`]: a generator that is sent `()`, yields [`Request`]s,
//! and can have an `io::Error` thrown into it. That last part is how the loop
//! says "no" to a request it cannot honour (see [`Refused`]): the task's
//! `co.yield_(..)?` returns the error and `?` carries it out like any other
//! I/O error, so a server closes that one client and carries on.
//!
//! Tasks start other tasks, and stop the loop, through a [`LoopHandle`].
//! The socket calls that yield these requests are in [`crate::select::sock`].
//!
//! select(2) has two limits that lesson 06 removes: it cannot watch a
//! descriptor numbered [`FD_SETSIZE`] (1024) or more, and every call hands the
//! kernel the whole set to scan, so each wake-up costs time in proportion to
//! the number of waiting sockets, however few of them are ready.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::select::{select, FdSet, FD_SETSIZE};
use nix::sys::time::{TimeVal, TimeValLike};

use crate::clock::Clock;
use crate::generators::generator::{Co, Generator, GeneratorError, GeneratorState};
use crate::generators::request::Request;
use crate::generators::run::traced;
use crate::stepping::WaitOn;
use crate::stepping::{self, LoopView, StepHook, TaskSnapshot, TimerView, WatchView};

/// A task the select loop runs: sent nothing, yields [`Request`]s, may be
/// thrown an `io::Error` (a refused request), and may end with one.
pub type Task = Generator<(), Request, (), io::Error>;

/// The handle a [`Task`]'s body yields through. Socket helpers take it as an
/// explicit argument here; lesson 06 hides it behind a thread-local, as
/// asyncio hides its running loop.
pub type TaskCo = Co<(), Request, io::Error>;

/// What a task may ask of the loop *without waiting*: start another task, or
/// stop the loop (asyncio's `loop.create_task(coro)` and `loop.stop()`).
/// Clones share one loop.
///
/// Why a handle and not a `Request::Spawn(task)` that a task yields, as curio
/// funnels everything through one entry point? Starting a task never has to
/// wait, so it should not suspend the caller: asyncio's `create_task` is a
/// plain call too, and Beazley's accept loop just does `tasks.append(...)`.
/// Keeping [`Request`] small also keeps it `Copy` and comparable in tests.
/// Like the `co` handle, it is passed explicitly in this lesson.
#[derive(Clone, Default)]
pub struct LoopHandle {
    /// One `Pending` shared by the loop and every task holding a clone. `Rc`
    /// and `RefCell`, not `Arc` and `Mutex`: the loop and its tasks all run on
    /// one thread, which is the point of an event loop.
    pending: Rc<RefCell<Pending>>,
}

/// What tasks have asked for since the loop last looked.
#[derive(Default)]
struct Pending {
    /// New tasks. The loop moves them to its ready queue at the top of each
    /// turn; a `RefCell` borrow never lasts across a task's resumption.
    spawned: Vec<Task>,
    /// Set by [`LoopHandle::stop`]; the loop returns at the top of its next turn.
    stopping: bool,
}

impl LoopHandle {
    /// A handle for a loop that has not started yet.
    pub fn new() -> Self {
        LoopHandle::default()
    }

    /// Schedules `task` to start on the loop's next turn (`loop.create_task`).
    pub fn spawn(&self, task: Task) {
        self.pending.borrow_mut().spawned.push(task);
    }

    /// Asks the loop to return at the top of its next turn (`loop.stop()`).
    /// The tasks still waiting are dropped: their stacks unwind and the
    /// sockets they own are closed.
    pub fn stop(&self) {
        self.pending.borrow_mut().stopping = true;
    }

    fn take_spawned(&self) -> Vec<Task> {
        std::mem::take(&mut self.pending.borrow_mut().spawned)
    }

    fn is_stopping(&self) -> bool {
        self.pending.borrow().stopping
    }
}

/// Runs tasks until none is left, or until a task calls [`LoopHandle::stop`].
///
/// Start tasks with `handle.spawn(..)` before calling it. Returns an error
/// only if select(2) itself fails for a reason other than a signal. A task
/// that waits on a descriptor that is closed (it yielded one it had already
/// closed) gets an error thrown into it ([`Reason::Closed`]); select would
/// otherwise fail with `EBADF` for everyone. A task that ends with an error
/// is logged and dropped; the loop goes on. A panic in a task is not caught:
/// it comes out of `run`.
// ANCHOR: loop
pub fn run(clock: &Clock, handle: &LoopHandle) -> io::Result<()> {
    // Tasks that can go on now, each with what its pending `co.yield_` will
    // return: `Ok(())`, or an error the loop throws in (a refused request).
    let mut ready: VecDeque<(Task, io::Result<()>)> = VecDeque::new();
    // Sleeping tasks, sorted by wake-up time; equal times keep their order.
    let mut sleepers: Vec<(Duration, Task)> = Vec::new();
    // Who waits for which descriptor. Invariant: every key is in
    // 0..FD_SETSIZE (`watchable` checks before inserting), so putting it in
    // an `FdSet` cannot fail.
    let mut to_read: HashMap<RawFd, Task> = HashMap::new();
    let mut to_write: HashMap<RawFd, Task> = HashMap::new();
    // Lesson 11's `--step` debugger, if installed (off: one branch a turn).
    let step_hook = stepping::installed();

    loop {
        ready.extend(handle.take_spawned().into_iter().map(|task| (task, Ok(()))));
        if handle.is_stopping() {
            return Ok(()); // dropping the maps drops every task still waiting
        }
        // Lesson 11: `--step` pauses here, and SIGUSR1 prints the same view.
        if step_hook.is_some() || dump_requested() {
            let state = LoopState::new(clock, &ready, &sleepers, &to_read, &to_write);
            state.show(step_hook.as_deref());
        }
        if ready.is_empty() {
            if sleepers.is_empty() && to_read.is_empty() && to_write.is_empty() {
                return Ok(());
            }
            // Nothing can run: block until a descriptor is ready or the
            // earliest sleeper is due (no sleeper: no timeout at all). The
            // virtual clock does not wait for a sleeper in real time: it
            // gives the descriptors `Clock::IO_GRACE` (none waited on: no
            // time at all) and, if nothing is ready, jumps to the wake-up.
            let earliest = sleepers.first().map(|(wake, _)| *wake);
            let mut timeout = earliest.map(|wake| {
                if !clock.is_virtual() {
                    timeval(wake.saturating_sub(clock.now()))
                } else if to_read.is_empty() && to_write.is_empty() {
                    timeval(Duration::ZERO)
                } else {
                    timeval(Clock::IO_GRACE)
                }
            });
            // A closed descriptor would make select fail for everyone
            // (EBADF): refuse just the task that waits on it.
            ready.extend(refuse_closed(&mut to_read, Request::Read));
            ready.extend(refuse_closed(&mut to_write, Request::Write));
            if !ready.is_empty() {
                continue;
            }
            let mut read_set = fd_set(&to_read);
            let mut write_set = fd_set(&to_write);
            tracing::debug!(
                "select: {} to read, {} to write",
                to_read.len(),
                to_write.len()
            );
            match select(None, &mut read_set, &mut write_set, None, timeout.as_mut()) {
                // Timed out, on the virtual clock: jump to the earliest wake-up.
                Ok(0) if clock.is_virtual() => clock.sleep_until(earliest.unwrap_or_default()),
                Ok(_) => {}
                // A signal (Ctrl-C) interrupted the wait: go round, so that a
                // `stop` is noticed at the top.
                Err(Errno::EINTR) => continue,
                Err(error) => return Err(error.into()),
            }
            let (readable, writable) = (members(&read_set), members(&write_set));
            for fd in readable {
                ready.extend(to_read.remove(&fd).map(|task| (task, Ok(()))));
            }
            for fd in writable {
                ready.extend(to_write.remove(&fd).map(|task| (task, Ok(()))));
            }
            let due = sleepers.partition_point(|(wake, _)| *wake <= clock.now());
            ready.extend(sleepers.drain(..due).map(|(_, task)| (task, Ok(()))));
        }

        // Run one task until it yields its next request, and file it.
        let Some((mut task, resume_with)) = ready.pop_front() else {
            continue;
        };
        if let Some(hook) = &step_hook {
            stepping::set_step_time(clock.now());
            let state = LoopState::new(clock, &ready, &sleepers, &to_read, &to_write);
            hook.before_task_step(&label(&task), &|| state.snapshots(Some(&task)));
        }
        // `traced`: the same `send` or `throw`, told to the timelines (lesson 11).
        let step = traced(&mut task, |task| match resume_with {
            Ok(()) => task.send(()),
            Err(refused) => task.throw(refused),
        });
        match step {
            Ok(GeneratorState::Yielded(Request::Sleep(delay))) => {
                let wake = clock.now().saturating_add(delay);
                let at = sleepers.partition_point(|(other, _)| *other <= wake);
                sleepers.insert(at, (wake, task));
            }
            // A refused request goes back to the task as an error it can handle.
            Ok(GeneratorState::Yielded(asked @ Request::Read(fd))) => {
                match watchable(asked, fd, &to_read) {
                    Ok(()) => drop(to_read.insert(fd, task)),
                    Err(refused) => ready.push_back((task, Err(io::Error::other(refused)))),
                }
            }
            Ok(GeneratorState::Yielded(asked @ Request::Write(fd))) => {
                match watchable(asked, fd, &to_write) {
                    Ok(()) => drop(to_write.insert(fd, task)),
                    Err(refused) => ready.push_back((task, Err(io::Error::other(refused)))),
                }
            }
            Ok(GeneratorState::Returned(())) => {}
            Err(GeneratorError::Raised(error)) => tracing::warn!("a task failed: {error}"),
            // Finished tasks are dropped, never queued, so this cannot happen.
            Err(GeneratorError::Exhausted) => {}
        }
    }
}
// ANCHOR_END: loop

/// Set by SIGUSR1 once [`dump_on_sigusr1`] registered it: the handler only
/// stores `true`; the loop prints at the top of its next turn (select(2)
/// returns `EINTR` when a signal arrives, so that turn comes at once).
static DUMP_REQUESTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Makes `kill -USR1 <pid>` print the loop's state (ready tasks, sleepers,
/// `to_read`, `to_write`) to standard error, between two turns (lesson 11).
pub fn dump_on_sigusr1() -> io::Result<()> {
    let flag = DUMP_REQUESTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, flag.clone())?;
    Ok(())
}

/// Whether SIGUSR1 came since the last turn (and forget it).
fn dump_requested() -> bool {
    DUMP_REQUESTED
        .get()
        .is_some_and(|flag| flag.swap(false, Ordering::Relaxed))
}

/// `task "server"`: a task as `--step` and SIGUSR1 name it (lesson 11).
fn label(task: &Task) -> String {
    format!("task {:?}", task.body_name())
}

/// The loop's state between two turns, for `--step` and SIGUSR1 (lesson 11).
struct LoopState<'a> {
    clock: &'a Clock,
    ready: &'a VecDeque<(Task, io::Result<()>)>,
    sleepers: &'a [(Duration, Task)],
    to_read: &'a HashMap<RawFd, Task>,
    to_write: &'a HashMap<RawFd, Task>,
}

impl<'a> LoopState<'a> {
    fn new(
        clock: &'a Clock,
        ready: &'a VecDeque<(Task, io::Result<()>)>,
        sleepers: &'a [(Duration, Task)],
        to_read: &'a HashMap<RawFd, Task>,
        to_write: &'a HashMap<RawFd, Task>,
    ) -> Self {
        LoopState {
            clock,
            ready,
            sleepers,
            to_read,
            to_write,
        }
    }

    /// Pauses in the debugger, or (no debugger: SIGUSR1) prints the view.
    /// This loop's tasks have no names: they are called by the function
    /// that made them (`task "server"`).
    #[cold]
    fn show(&self, hook: Option<&dyn StepHook>) {
        let mut watches: Vec<WatchView> = [(self.to_read, true), (self.to_write, false)]
            .into_iter()
            .flat_map(|(waiting, readable)| {
                waiting.iter().map(move |(&fd, task)| WatchView {
                    fd,
                    readable,
                    owner: label(task),
                })
            })
            .collect();
        watches.sort_by_key(|watch| (watch.fd, !watch.readable));
        let now = self.clock.now();
        let earliest = self.sleepers.first().map(|(wake, _)| *wake);
        let (timeout, why) = if !self.ready.is_empty() {
            (Some(Duration::ZERO), "tasks are ready: do not wait")
        } else if let Some(wake) = earliest {
            (
                Some(wake.saturating_sub(now)),
                "until the earliest sleeper is due",
            )
        } else {
            (None, "no sleepers: until a descriptor is ready")
        };
        let view = LoopView {
            loop_name: "select_loop",
            now,
            ready: self.ready.iter().map(|(task, _)| label(task)).collect(),
            timers: self
                .sleepers
                .iter()
                .map(|(wake, task)| TimerView {
                    deadline: *wake,
                    owner: label(task),
                })
                .collect(),
            watches,
            timeout,
            why,
        };
        match hook {
            Some(hook) => hook.before_iteration(&view, &|| self.snapshots(None)),
            // `write_all`, not `eprint!`: a closed standard error must not
            // panic out of the loop.
            None => {
                let dump = format!("SIGUSR1: the select loop's state\n{view}");
                let _ = io::Write::write_all(&mut io::stderr(), dump.as_bytes());
            }
        }
    }

    /// Every task the loop holds, for the debugger's `p` (with `running`,
    /// the one just taken off the ready queue).
    fn snapshots(&self, running: Option<&Task>) -> Vec<TaskSnapshot> {
        let ready = running
            .into_iter()
            .chain(self.ready.iter().map(|(task, _)| task))
            .map(|task| (WaitOn::Ready, task));
        let sleeping = self.sleepers.iter().map(|(deadline, task)| {
            (
                WaitOn::Timer {
                    deadline: *deadline,
                },
                task,
            )
        });
        let io = [(self.to_read, true), (self.to_write, false)]
            .into_iter()
            .flat_map(|(waiting, readable)| {
                waiting
                    .iter()
                    .map(move |(&fd, task)| (WaitOn::Io { fd, readable }, task))
            });
        ready
            .chain(sleeping)
            .chain(io)
            .zip(1..)
            .map(|((waits_on, task), id)| TaskSnapshot {
                id,
                name: task.body_name().to_string(),
                parent: None,
                waits_on,
                since: task.suspended_since(),
                backtrace: task.suspended_backtrace(),
            })
            .collect()
    }
}

// ANCHOR: limit
/// Whether the loop can file `asked`, a wait on `fd`: select(2) can watch
/// `fd`, and no other task waits the same way on it already.
fn watchable(asked: Request, fd: RawFd, waiting: &HashMap<RawFd, Task>) -> Result<(), Refused> {
    // An `fd_set` is a bitmap of FD_SETSIZE bits. Setting bit 1024 or more
    // would write past its end, which is why nix's `FdSet::insert` panics
    // there. We check first and refuse, so neither can happen.
    if usize::try_from(fd).map_or(true, |fd| fd >= FD_SETSIZE) {
        let reason = Reason::BeyondFdSetSize;
        return Err(Refused {
            request: asked,
            reason,
        });
    }
    if waiting.contains_key(&fd) {
        // asyncio refuses this too ("another coroutine is already waiting"):
        // when the descriptor is ready, whose turn would it be?
        let reason = Reason::AlreadyWaiting;
        return Err(Refused {
            request: asked,
            reason,
        });
    }
    Ok(())
}
// ANCHOR_END: limit

/// Takes out of `waiting` the tasks whose descriptor is closed, each with
/// the error to throw into it.
fn refuse_closed(
    waiting: &mut HashMap<RawFd, Task>,
    asked: fn(RawFd) -> Request,
) -> Vec<(Task, io::Result<()>)> {
    let closed: Vec<RawFd> = waiting.keys().copied().filter(|&fd| !is_open(fd)).collect();
    closed
        .into_iter()
        .filter_map(|fd| {
            let task = waiting.remove(&fd)?;
            let refused = Refused {
                request: asked(fd),
                reason: Reason::Closed,
            };
            Some((task, Err(io::Error::other(refused))))
        })
        .collect()
}

/// Whether `fd` is an open descriptor of this process.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; on a number that is
    // not open it fails with EBADF and touches nothing.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// The descriptors the tasks in `waiting` wait on, as select(2)'s bitmap.
fn fd_set(waiting: &HashMap<RawFd, Task>) -> FdSet<'_> {
    let mut set = FdSet::new();
    for &fd in waiting.keys() {
        // SAFETY: `borrow_raw` needs `fd` to stay open while the set is used.
        // `run` has just checked that it is open (`refuse_closed`), and no
        // task runs between that check and the end of select: each fd here
        // was yielded by a task that sits in `waiting`, suspended, neither
        // resumed nor dropped while the set (which borrows `waiting`) lives.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        set.insert(fd); // cannot panic: keys are below FD_SETSIZE (see `run`)
    }
    set
}

/// The descriptors select(2) left in `set`: the ready ones.
fn members(set: &FdSet<'_>) -> Vec<RawFd> {
    set.fds(None).map(|fd| fd.as_raw_fd()).collect()
}

/// A `Duration` as select(2)'s `timeval`: rounded up to whole microseconds,
/// so select does not return just before the sleeper is due, and capped at a
/// day (a longer wait simply takes more than one turn of the loop). The
/// reactor's select(2) selector (lesson 06) converts its timeouts here too.
pub(crate) fn timeval(timeout: Duration) -> TimeVal {
    const ONE_DAY: Duration = Duration::from_secs(24 * 60 * 60);
    let micros = timeout.min(ONE_DAY).as_nanos().div_ceil(1000);
    TimeVal::microseconds(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// Why the loop would not file a [`Request::Read`] or [`Request::Write`].
/// The task gets it inside the `io::Error` its `co.yield_` returns
/// (`error.get_ref()` downcasts to it, for code that wants to tell it apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The request the loop would not file.
    pub request: Request,
    /// Why not.
    pub reason: Reason,
}

/// Why a [`Refused`] request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// select(2) cannot watch a descriptor numbered `FD_SETSIZE` (1024) or
    /// more, nor a negative one.
    BeyondFdSetSize,
    /// Another task already waits the same way on this descriptor.
    AlreadyWaiting,
    /// The descriptor is not open (the task closed it before waiting on it).
    Closed,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, fd) = match self.request {
            Request::Read(fd) => ("read", fd),
            Request::Write(fd) => ("write", fd),
            Request::Sleep(_) => return write!(f, "{:?} was refused", self.request),
        };
        match self.reason {
            Reason::BeyondFdSetSize => write!(
                f,
                "cannot wait to {verb} descriptor {fd}: select(2) only watches descriptors \
                 below FD_SETSIZE = {FD_SETSIZE}; lesson 06's epoll-based selector has no such limit"
            ),
            Reason::AlreadyWaiting => write!(
                f,
                "cannot wait to {verb} descriptor {fd}: another task is already waiting to {verb} it"
            ),
            Reason::Closed => write!(
                f,
                "cannot wait on descriptor {fd}: it is closed (was the socket dropped before the wait?)"
            ),
        }
    }
}

impl std::error::Error for Refused {}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::generators::request::secs;
    use crate::generators::run::sleep;
    use crate::select::sock::{sock_recv, sock_sendall};

    /// What the tasks saw, and when (virtual time).
    #[derive(Clone, Default)]
    struct Log(Rc<RefCell<Vec<(Duration, String)>>>);

    impl Log {
        fn note(&self, clock: &Clock, what: impl Into<String>) {
            self.0.borrow_mut().push((clock.now(), what.into()));
        }
        fn lines(&self) -> Vec<(u128, String)> {
            let lines = self.0.borrow();
            lines
                .iter()
                .map(|(t, m)| (t.as_millis(), m.clone()))
                .collect()
        }
    }

    fn want(lines: &[(u128, &str)]) -> Vec<(u128, String)> {
        lines.iter().map(|&(t, m)| (t, m.to_string())).collect()
    }

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// The error a refused request put into a task, if it was one.
    fn refusal(error: &io::Error) -> Option<Refused> {
        error.get_ref()?.downcast_ref::<Refused>().copied()
    }

    #[test]
    fn pure_sleepers_wake_at_exact_times_like_the_slides() {
        let (clock, log, handle) = (Clock::new_virtual(), Log::default(), LoopHandle::new());
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            l.note(&c, "a enter");
            sleep(co, secs(1.0))?;
            l.note(&c, "a exit");
            Ok(())
        }));
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            l.note(&c, "b enter");
            sleep(co, secs(0.5))?;
            l.note(&c, "b middle");
            sleep(co, secs(0.5))?;
            l.note(&c, "b exit");
            Ok(())
        }));
        run(&clock, &handle).unwrap();
        let expected = [
            (0, "a enter"),
            (0, "b enter"),
            (500, "b middle"),
            (1000, "a exit"),
            (1000, "b exit"),
        ];
        assert_eq!(log.lines(), want(&expected));
    }

    #[test]
    fn a_reader_wakes_when_a_sleeper_writes() {
        let (clock, log, handle) = (Clock::new_virtual(), Log::default(), LoopHandle::new());
        let (mut here, mut there) = pair();
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            let mut buf = [0u8; 16];
            let n = sock_recv(co, &mut here, &mut buf)?;
            l.note(&c, String::from_utf8_lossy(&buf[..n]));
            let n = sock_recv(co, &mut here, &mut buf)?;
            l.note(&c, format!("then {n} bytes: end of file"));
            Ok(())
        }));
        handle.spawn(Task::new(move |co, ()| {
            sleep(co, secs(1.5))?;
            sock_sendall(co, &mut there, b"ping")?;
            sleep(co, secs(1.0))?;
            Ok(()) // `there` is dropped: the reader sees end of file
        }));
        run(&clock, &handle).unwrap();
        let expected = [(1500, "ping"), (2500, "then 0 bytes: end of file")];
        assert_eq!(log.lines(), want(&expected));
    }

    /// Issue 8: with a task waiting on a descriptor, a virtual clock used to
    /// jump at once, so a sleeper ticking beside it spun the CPU. Now each
    /// jump first gives the descriptor `Clock::IO_GRACE` of real time.
    #[test]
    fn a_virtual_clock_gives_io_a_grace_before_each_jump() {
        let (clock, log, handle) = (Clock::new_virtual(), Log::default(), LoopHandle::new());
        let (mut here, mut there) = pair();
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            let n = sock_recv(co, &mut here, &mut [0u8; 8])?;
            l.note(&c, format!("got {n} bytes"));
            Ok(())
        }));
        handle.spawn(Task::new(move |co, ()| {
            for _ in 0..20 {
                sleep(co, secs(1.0))?;
            }
            sock_sendall(co, &mut there, b"late")
        }));
        let started = std::time::Instant::now();
        run(&clock, &handle).unwrap();
        assert_eq!(log.lines(), want(&[(20_000, "got 4 bytes")]));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(150),
            "20 jumps in {took:?}: it spun"
        );
    }

    #[test]
    fn a_writer_waits_on_write_until_the_reader_drains() {
        let (clock, log, handle) = (Clock::new_virtual(), Log::default(), LoopHandle::new());
        let (mut writer, mut reader) = pair();
        // Far more than a socket pair's buffers hold, so `sock_sendall` must
        // wait for the reader, who only starts after 2 s.
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            sock_sendall(co, &mut writer, &sent)?;
            l.note(&c, "all sent");
            Ok(())
        }));
        let received = Rc::new(RefCell::new(Vec::new()));
        let (c, l, into) = (clock.clone(), log.clone(), received.clone());
        handle.spawn(Task::new(move |co, ()| {
            sleep(co, secs(2.0))?;
            l.note(&c, "reading");
            let mut buf = [0u8; 65536];
            loop {
                match sock_recv(co, &mut reader, &mut buf)? {
                    0 => return Ok(()),
                    n => into.borrow_mut().extend_from_slice(&buf[..n]),
                }
            }
        }));
        run(&clock, &handle).unwrap();
        assert_eq!(log.lines(), want(&[(2000, "reading"), (2000, "all sent")]));
        assert!(*received.borrow() == data, "the bytes arrived changed");
    }

    #[test]
    fn a_descriptor_past_fd_setsize_is_refused_and_the_loop_goes_on() {
        let (clock, log, handle) = (Clock::new_virtual(), Log::default(), LoopHandle::new());
        for asked in [Request::Read(1024), Request::Write(5000), Request::Read(-1)] {
            let (c, l) = (clock.clone(), log.clone());
            handle.spawn(Task::new(move |co, ()| {
                let error = co.yield_(asked).expect_err("the loop must refuse");
                let refused = refusal(&error).expect("a Refused inside");
                assert_eq!(refused.request, asked);
                assert_eq!(refused.reason, Reason::BeyondFdSetSize);
                let message = error.to_string();
                assert!(message.contains("FD_SETSIZE = 1024"), "{message}");
                assert!(message.contains("epoll"), "{message}");
                l.note(&c, format!("{asked:?} refused"));
                Ok(())
            }));
        }
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            sleep(co, secs(1.0))?;
            l.note(&c, "still running");
            Ok(())
        }));
        run(&clock, &handle).unwrap();
        let expected = [
            (0, "Read(1024) refused"),
            (0, "Write(5000) refused"),
            (0, "Read(-1) refused"),
            (1000, "still running"),
        ];
        assert_eq!(log.lines(), want(&expected));
    }

    /// Issue 8: one task waiting on a descriptor it closed used to make
    /// select fail with EBADF, ending the loop for everyone.
    #[test]
    fn a_closed_descriptor_is_refused_to_its_task_only() {
        let (clock, log, handle) = (Clock::new_virtual(), Log::default(), LoopHandle::new());
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            let (here, _there) = pair();
            let fd = here.as_raw_fd();
            drop(here); // closed: the number now names nothing
            let error = co.yield_(Request::Read(fd)).expect_err("refused");
            assert_eq!(refusal(&error).map(|r| r.reason), Some(Reason::Closed));
            assert!(error.to_string().contains("closed"), "{error}");
            l.note(&c, "closed descriptor refused");
            Ok(())
        }));
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            sleep(co, secs(1.0))?;
            l.note(&c, "the others go on");
            Ok(())
        }));
        run(&clock, &handle).unwrap();
        let expected = [(0, "closed descriptor refused"), (1000, "the others go on")];
        assert_eq!(log.lines(), want(&expected));
    }

    #[test]
    fn a_second_reader_of_one_descriptor_is_refused() {
        let (clock, log, handle) = (Clock::new_virtual(), Log::default(), LoopHandle::new());
        let (mut here, mut there) = pair();
        let fd = here.as_raw_fd();
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            let n = sock_recv(co, &mut here, &mut [0u8; 8])?;
            l.note(&c, format!("first reader got {n} bytes"));
            Ok(())
        }));
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            let error = co.yield_(Request::Read(fd)).expect_err("refused");
            assert_eq!(
                refusal(&error).map(|r| r.reason),
                Some(Reason::AlreadyWaiting)
            );
            l.note(&c, "second reader refused");
            sleep(co, secs(1.0))?;
            sock_sendall(co, &mut there, b"hi")
        }));
        run(&clock, &handle).unwrap();
        let expected = [
            (0, "second reader refused"),
            (1000, "first reader got 2 bytes"),
        ];
        assert_eq!(log.lines(), want(&expected));
    }

    /// Sets its flag when dropped: shows that a task's stack was unwound.
    struct DropFlag(Rc<Cell<bool>>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }

    #[test]
    fn tasks_spawn_tasks_and_stop_drops_whoever_still_waits() {
        let (clock, log, handle) = (Clock::new_virtual(), Log::default(), LoopHandle::new());
        let dropped = Rc::new(Cell::new(false));
        let (mut here, _there) = pair();
        let flag = DropFlag(dropped.clone());
        // Waits for bytes that never come.
        handle.spawn(Task::new(move |co, ()| {
            let _flag = flag;
            sock_recv(co, &mut here, &mut [0u8; 8])?;
            Ok(())
        }));
        let (c, l, h) = (clock.clone(), log.clone(), handle.clone());
        handle.spawn(Task::new(move |co, ()| {
            sleep(co, secs(0.5))?;
            let (c2, l2, h2) = (c.clone(), l.clone(), h.clone());
            h.spawn(Task::new(move |co, ()| {
                l2.note(&c2, "child starts");
                sleep(co, secs(0.5))?;
                l2.note(&c2, "child stops the loop");
                h2.stop();
                Ok(())
            }));
            l.note(&c, "parent goes on without waiting");
            sleep(co, secs(10.0))?;
            l.note(&c, "never printed: the loop stopped first");
            Ok(())
        }));
        run(&clock, &handle).unwrap();
        let expected = [
            (500, "parent goes on without waiting"),
            (500, "child starts"),
            (1000, "child stops the loop"),
        ];
        assert_eq!(log.lines(), want(&expected));
        assert!(dropped.get(), "the waiting task was not dropped");
    }

    #[test]
    fn a_failing_task_is_dropped_and_the_others_go_on() {
        let (clock, log, handle) = (Clock::new_virtual(), Log::default(), LoopHandle::new());
        handle.spawn(Task::new(|co, ()| {
            sleep(co, secs(0.5))?;
            Err(io::Error::other("boom"))
        }));
        let (c, l) = (clock.clone(), log.clone());
        handle.spawn(Task::new(move |co, ()| {
            sleep(co, secs(1.0))?;
            l.note(&c, "survivor done");
            Ok(())
        }));
        run(&clock, &handle).unwrap();
        assert_eq!(log.lines(), want(&[(1000, "survivor done")]));
    }

    #[test]
    fn timeouts_round_up_and_are_capped() {
        let tv = timeval(Duration::from_nanos(1_500));
        assert_eq!((tv.tv_sec(), tv.tv_usec()), (0, 2));
        let tv = timeval(Duration::MAX);
        assert_eq!((tv.tv_sec(), tv.tv_usec()), (86_400, 0));
    }
}
