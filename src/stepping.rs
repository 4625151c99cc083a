//! The stepping hook: what a loop shows a step-through debugger before each
//! iteration and before each task step. Introduced by lesson 11 (`--step`);
//! the debugger itself, the part that reads keys and prints, is
//! [`crate::debug::stepper`].
//!
//! Every loop of the course calls it: lesson 03's `run` (and so 04's),
//! lesson 05's select loop, and the reactor of lessons 06 on. This module
//! sits below all of them (like [`crate::clock`]), so that none of them has
//! to know about the debugger above it: a loop describes its state in a
//! [`LoopView`] made of plain strings and numbers, and the hook decides what
//! to do with it.
//!
//! What every loop describes its tasks with lives here too, for the same
//! reason: [`WaitOn`] (what a task waits on) and `TaskSnapshot` (one task,
//! as `dump_tasks` and the debugger's `p` print it).
//!
//! **Cost when off.** The hook is looked up once, when a loop starts (a
//! thread-local read), and kept in an `Option`: when no debugger is
//! installed, each iteration and each task step pays one branch on `None`.
//!
//! **Never inside a borrow.** A loop builds its [`LoopView`] first, lets go
//! of every `RefCell` it borrowed for it, and only then calls the hook: the
//! hook may print a task tree, and taking a task's backtrace resumes that
//! task (see [`crate::debug::dump`]).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Duration;

/// What a suspended task waits on. The waiting function says it when it
/// suspends; the loop keeps it for the instrumentation and for
/// [`crate::EventLoop::dump_tasks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitOn {
    /// Nothing: running, or queued to run (`yield_now`, just woken, new).
    Ready,
    /// A timer (`sleep`), due at this loop time.
    Timer {
        /// When it fires, in loop time.
        deadline: Duration,
    },
    /// A descriptor becoming readable or writable.
    Io {
        /// The descriptor.
        fd: RawFd,
        /// `true`: readable; `false`: writable.
        readable: bool,
    },
    /// Another task finishing (`JoinHandle::join`).
    Join {
        /// The joined task's id.
        task: u64,
    },
    /// A future (`gather`, `wait`, a scope, `Future::wait`).
    Future {
        /// The function that waits.
        what: &'static str,
    },
    /// A lock, semaphore, event, condition or queue (lesson 09).
    Sync {
        /// The function that waits (`Lock::acquire`, `Queue::get`, …).
        what: &'static str,
    },
    /// A function running on the executor's threads (lesson 10).
    Executor,
}

impl fmt::Display for WaitOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitOn::Ready => f.write_str("ready"),
            WaitOn::Timer { deadline } => write!(f, "timer at {:.3}", deadline.as_secs_f64()),
            WaitOn::Io { fd, readable: true } => write!(f, "fd {fd} readable"),
            WaitOn::Io {
                fd,
                readable: false,
            } => write!(f, "fd {fd} writable"),
            WaitOn::Join { task } => write!(f, "join of task {task}"),
            WaitOn::Future { what } => write!(f, "future ({what})"),
            WaitOn::Sync { what } => write!(f, "{what}"),
            WaitOn::Executor => f.write_str("executor"),
        }
    }
}

/// One task as `dump_tasks` sees it (lesson 11).
#[derive(Debug, Clone)]
pub(crate) struct TaskSnapshot {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) parent: Option<u64>,
    pub(crate) waits_on: WaitOn,
    pub(crate) since: Duration,
    /// The suspended stack, as `std::backtrace::Backtrace` prints it.
    pub(crate) backtrace: Option<String>,
}

/// One pending timer: when it fires and whom it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerView {
    /// When it fires, in loop time.
    pub deadline: Duration,
    /// Whom it wakes: a task (`task 2 "b"`) or a callback.
    pub owner: String,
}

/// One descriptor the selector watches: which, which way, for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchView {
    /// The descriptor.
    pub fd: RawFd,
    /// `true`: waiting for it to be readable; `false`: writable.
    pub readable: bool,
    /// The task (or callback) that waits.
    pub owner: String,
}

/// A loop's state just before an iteration: what a debugger shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopView {
    /// Which loop this is (`run`, `select_loop`, `reactor`).
    pub loop_name: &'static str,
    /// The loop's time now.
    pub now: Duration,
    /// What will run in this iteration, in order.
    pub ready: Vec<String>,
    /// Pending timers, earliest first.
    pub timers: Vec<TimerView>,
    /// What the selector watches.
    pub watches: Vec<WatchView>,
    /// How long the loop will wait before running anything (`None`: until
    /// I/O comes, however long that is).
    pub timeout: Option<Duration>,
    /// Why that timeout (the instrumentation's `iteration` event says the same).
    pub why: &'static str,
}

impl fmt::Display for LoopView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "── {} at {:.3} ──",
            self.loop_name,
            self.now.as_secs_f64()
        )?;
        if self.ready.is_empty() {
            writeln!(f, "ready:    (empty)")?;
        } else {
            writeln!(f, "ready:    {}", self.ready.join(", "))?;
        }
        if self.timers.is_empty() {
            writeln!(f, "timers:   (none)")?;
        }
        for (i, timer) in self.timers.iter().enumerate() {
            let label = if i == 0 { "timers:  " } else { "         " };
            writeln!(
                f,
                "{label} {:.3} {}",
                timer.deadline.as_secs_f64(),
                timer.owner
            )?;
        }
        if self.watches.is_empty() {
            writeln!(f, "selector: (nothing watched)")?;
        }
        for (i, watch) in self.watches.iter().enumerate() {
            let label = if i == 0 { "selector:" } else { "         " };
            let way = if watch.readable { "read " } else { "write" };
            writeln!(f, "{label} fd {} {way} {}", watch.fd, watch.owner)?;
        }
        let timeout = match self.timeout {
            Some(timeout) => format!("{:.3} s", timeout.as_secs_f64()),
            None => "none".to_string(),
        };
        writeln!(f, "timeout:  {timeout} ({})", self.why)
    }
}

/// Every task of the loop with its backtrace, when the user asks for it
/// (`p`). Taking a reactor task's backtrace resumes the task, which is why
/// loops call the hook with nothing borrowed. The reactor's `dump_tasks`
/// makes the same snapshots; the earlier loops fill them in with what they
/// know.
pub(crate) type DumpTasks<'a> = &'a dyn Fn() -> Vec<TaskSnapshot>;

/// What a debugger implements; loops call it (see the module doc).
pub(crate) trait StepHook {
    /// Before an iteration.
    fn before_iteration(&self, view: &LoopView, dump_tasks: DumpTasks<'_>);
    /// Before one task's step; `task` names it (`task 2 "b"`).
    fn before_task_step(&self, task: &str, dump_tasks: DumpTasks<'_>);
}

thread_local! {
    /// The hook loops started on this thread use: `--step` installs one.
    static HOOK: RefCell<Option<Rc<dyn StepHook>>> = const { RefCell::new(None) };
    /// Whether a generator takes its backtrace each time it yields, so that
    /// `p` can show where lesson 03's coroutines are suspended (a reactor
    /// task is asked for its backtrace instead, when `p` is pressed).
    static CAPTURE_AT_YIELD: Cell<bool> = const { Cell::new(false) };
    /// The loop time of the step about to run, which lesson 02–05's loops
    /// set under `--step`, so that a generator can note since when it waits.
    static STEP_TIME: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// Makes every loop started on this thread from now on call `hook`.
pub(crate) fn install(hook: Rc<dyn StepHook>) {
    HOOK.with(|cell| *cell.borrow_mut() = Some(hook));
    CAPTURE_AT_YIELD.with(|cell| cell.set(true));
}

/// The installed hook, if any: a loop asks once, when it starts.
pub(crate) fn installed() -> Option<Rc<dyn StepHook>> {
    HOOK.with(|cell| cell.borrow().clone())
}

/// Whether generators should take their backtrace when they yield.
#[inline]
pub(crate) fn capture_at_yield() -> bool {
    CAPTURE_AT_YIELD.with(Cell::get)
}

/// Under `--step`, a generator loop says at what loop time the step it is
/// about to run happens.
pub(crate) fn set_step_time(at: Duration) {
    STEP_TIME.with(|cell| cell.set(at));
}

/// The loop time of the running step (see [`set_step_time`]).
pub(crate) fn step_time() -> Duration {
    STEP_TIME.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_prints_one_line_per_timer_and_watch() {
        let view = LoopView {
            loop_name: "reactor",
            now: Duration::from_millis(500),
            ready: vec!["task 1 \"a\"".into()],
            timers: vec![TimerView {
                deadline: Duration::from_secs(1),
                owner: "task 2 \"b\"".into(),
            }],
            watches: vec![WatchView {
                fd: 7,
                readable: true,
                owner: "task 3 \"server\"".into(),
            }],
            timeout: Some(Duration::ZERO),
            why: "tasks are ready: do not wait",
        };
        assert_eq!(
            view.to_string(),
            "── reactor at 0.500 ──\n\
             ready:    task 1 \"a\"\n\
             timers:   1.000 task 2 \"b\"\n\
             selector: fd 7 read  task 3 \"server\"\n\
             timeout:  0.000 s (tasks are ready: do not wait)\n"
        );
    }
}
