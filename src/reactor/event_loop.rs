//! The reactor: asyncio's event loop, on stackful tasks. Introduced by lesson 06.
//!
//! Lesson 05's select loop kept three lists (sleepers, readers, writers) and
//! resumed coroutines straight from them. This loop is shaped like asyncio's
//! `BaseEventLoop` instead, so that each part can be read beside the Python:
//!
//! ```text
//!                ┌──────────── EventLoop (Core) ─────────────────────────┐
//!   spawn ──────▶│ tasks: Slab<Task>    sources: Slab<Registration>      │
//!                │                                                       │
//!   call_soon ──▶│ ready: VecDeque ◀──────┬───────────────┬──────────┐   │
//!                │   │                    │ due           │ event    │   │
//!   call_later ─▶│   │   timers: (deadline, seq) → wake/call         │   │
//!                │   │                              selector ────────┘   │
//!                │   ▼                              (epoll / select)     │
//!                │ run_once: run what was ready ──▶ task runs until it   │
//!                │                                  waits: sleep → timer,│
//!                │                                  read → selector,     │
//!                │                                  join → future        │
//!                └───────────────────────────────────────────────────────┘
//! ```
//!
//! * **tasks** live in a [`Slab`]: a `Vec` with a free list, so a task's id is
//!   a small integer that is reused after the task ends.
//! * **sources** is a second slab: one record per registered descriptor, and
//!   its slot is the descriptor's selector key. The record says who waits on
//!   the descriptor, by direction (a reading task and a writing task, see
//!   [`crate::reactor::io_source`]), or which `add_reader` / `add_writer`
//!   callbacks watch it (see [`crate::reactor::watch`]).
//! * **ready** is asyncio's `_ready`: what runs in the next iteration. Tasks
//!   are queued by key (no allocation); callbacks are boxed closures.
//! * **timers** is asyncio's `_scheduled` (see [`crate::reactor::timers`]).
//! * **run_once** is asyncio's `_run_once`, whole, in `Core::run_once`.
//!
//! The loop is single-threaded and `!Send`: everything lives in one `Rc`,
//! mutated through `RefCell`s that are never borrowed while a task runs, so a
//! running task can spawn, sleep and register sockets through the same core
//! (the invariant is stated on [`Core`]).

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::stack::Stack;
use corosensei::{Coroutine, CoroutineResult};
use slab::Slab;
use tracing::{debug, error};

use crate::clock::Clock;
use crate::reactor::cancel::{CancelCause, TaskControl};
use crate::reactor::future::Future;
use crate::reactor::instrument::{self, WaitOn, WakeCause, LOOP_TARGET, TASK_TARGET};
use crate::reactor::io_source::{Direction, IoWaiters};
use crate::reactor::selector::{Event, Interest, Selector, SelectorKind, Wake};
use crate::reactor::stacks::{
    StackAllocator, StackPool, DEFAULT_POOL_LIMIT, DEFAULT_STACK_SIZE, MIN_STACK_SIZE,
};
use crate::reactor::task::{
    self, contain, drop_payload, task_body, Completion, JoinHandle, RestoreCurrent, Task,
    TaskError, TaskState,
};
use crate::reactor::timers::{TimerId, Timers};
use crate::reactor::watch::{FdWatch, Watchers};
use crate::stack_guard::{self, GuardedStack};
use crate::stepping::{self, LoopView, StepHook, TimerView, WatchView};

/// On a virtual clock, how long the loop waits in real time for I/O before it
/// jumps to the next timer, when a task waits on I/O (see `wait_for_events`
/// and the Guarantees page: virtual time moves only when the loop would
/// otherwise wait).
pub const VIRTUAL_IO_GRACE: Duration = Clock::IO_GRACE;

/// A boxed callback for `call_soon` and friends.
type Callback = Box<dyn FnOnce()>;

// ANCHOR: remote
/// What other threads send the loop (lesson 10): finished executor jobs and
/// `call_soon_threadsafe` callbacks. The reactor knows only this trait;
/// `src/executor`, the stage above, implements it and installs one per loop
/// on first use, so a loop that never meets another thread pays nothing.
pub(crate) trait Remote {
    /// Whether anything may still arrive from another thread. While it may,
    /// the loop sleeps in the selector (where [`Wake`] reaches it) instead of
    /// in a plain timer sleep, and is never idle.
    fn may_arrive(&self) -> bool;
    /// On the loop's thread, after each look at I/O: puts what arrived on
    /// the ready queue and wakes the tasks whose jobs are done. Runs no user
    /// code itself.
    fn deliver(&self, core: &Core);
    /// The loop is going away (its tasks are already unwound): refuse new
    /// arrivals, and end every thread it started.
    fn close(&self);
    /// For the executor to find its own type again.
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
}
// ANCHOR_END: remote

/// How long task steps took, when [`Builder::measure_steps`] is on: the
/// hook for a debug mode that warns about a step that blocked the loop
/// (asyncio's `slow_callback_duration`, lesson 10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepTimes {
    /// How many steps were measured.
    pub steps: u64,
    /// The most recent step's duration.
    pub last: Duration,
    /// The longest step so far.
    pub longest: Duration,
    /// The task that took it.
    pub longest_task: Option<String>,
}

/// One task as `dump_tasks` sees it (lesson 11); defined beside the step hook.
pub(crate) use crate::stepping::TaskSnapshot;

/// What the ready queue holds: asyncio's `Handle`s.
enum Runnable {
    /// Resume this task (asyncio: `call_soon(task._step)`).
    Task(usize),
    /// Run this callback.
    Callback(Callback),
}

/// What a timer does when it fires.
enum TimerAction {
    /// Wake a task sleeping in [`crate::sleep`].
    Wake(usize),
    /// Put a `call_later` callback on the ready queue.
    Call(Callback),
}

/// What a selector key (a slot in `Core::sources`) names.
pub(crate) enum Registration {
    /// A descriptor tasks wait on: a socket or pipe end of the reactor's own.
    Tasks(Rc<IoWaiters>),
    /// A descriptor watched by `add_reader` / `add_writer` callbacks.
    Callbacks(Watchers),
}

/// Configures an [`EventLoop`] (like `tokio::runtime::Builder`).
#[derive(Debug, Clone)]
pub struct Builder {
    stack_size: usize,
    stack_pool_limit: usize,
    stack_allocator: Option<StackAllocator>,
    clock: Option<Clock>,
    /// The selector, or why `YIELDLOOP_SELECTOR` named none (reported by `build`).
    selector: Result<SelectorKind, String>,
    executor_threads: Option<usize>,
    measure_steps: bool,
    /// Debug mode's slow-step threshold, `None` when debug mode is off.
    debug: Option<Duration>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            stack_size: DEFAULT_STACK_SIZE,
            stack_pool_limit: DEFAULT_POOL_LIMIT,
            stack_allocator: None,
            clock: None,
            selector: SelectorKind::from_env(),
            executor_threads: None,
            measure_steps: false,
            debug: instrument::debug_from_env(),
        }
    }
}

/// The executor's default size: Python's `ThreadPoolExecutor` default,
/// `min(32, CPUs + 4)`. Its threads mostly *wait* (for a disk, a DNS server,
/// a child process), so there may be more of them than CPUs.
pub fn default_executor_threads() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    (cpus + 4).min(32)
}

impl Builder {
    /// The defaults: 256 KiB stacks, a real clock, the own epoll selector on
    /// Linux and epoll/kqueue through `polling` elsewhere (or the selector
    /// the `YIELDLOOP_SELECTOR` environment variable names: `epoll`,
    /// `polling` or `select`).
    pub fn new() -> Self {
        Builder::default()
    }

    /// Bytes of stack for each task (address space; only touched pages use
    /// memory), at least [`MIN_STACK_SIZE`] (64 KiB): a task's own machinery
    /// and a panic's backtrace need that much in a debug build. Too small
    /// for what the task calls, and it overflows into the guard page: the
    /// process prints `task 'NAME' overflowed its N KiB stack (raise it with
    /// Builder::stack_size)` and aborts; there is no recovering from it. A
    /// size no stack can have (`usize::MAX`) makes `spawn` fail with
    /// [`TaskError::NoStack`].
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes.max(MIN_STACK_SIZE);
        self
    }

    /// How many stacks of finished tasks to keep for reuse.
    pub fn stack_pool_limit(mut self, stacks: usize) -> Self {
        self.stack_pool_limit = stacks;
        self
    }

    /// How task stacks are made: carved from large regions with guard pages
    /// installed by `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+, no limit
    /// but memory), or one mapping each (the `vm.max_map_count` ceiling of
    /// about 32,700 live tasks). Unset, the `YIELDLOOP_STACKS` environment
    /// variable decides (`guard`, `mmap`, `auto`), else the kernel: guard
    /// pages where it has them. `build` fails if guard pages are asked for
    /// and the kernel has none.
    ///
    /// ```
    /// use yieldloop::{reactor::stacks::StackAllocator, Builder};
    ///
    /// let event_loop = Builder::new().stack_allocator(StackAllocator::Mappings).build();
    /// assert_eq!(event_loop.unwrap().stack_allocator(), StackAllocator::Mappings);
    /// ```
    pub fn stack_allocator(mut self, allocator: StackAllocator) -> Self {
        self.stack_allocator = Some(allocator);
        self
    }

    /// The clock timers use. A virtual clock ([`Clock::new_virtual`]) jumps to
    /// the next timer instead of waiting for it, so timer-only programs run
    /// instantly with exact times. While a task waits on I/O, each jump first
    /// gives the I/O [`VIRTUAL_IO_GRACE`] of real time (see the Guarantees
    /// page).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Which selector waits for I/O (this overrides `YIELDLOOP_SELECTOR`).
    pub fn selector(mut self, kind: SelectorKind) -> Self {
        self.selector = Ok(kind);
        self
    }

    /// At most how many threads lesson 10's executor
    /// (`yieldloop::run_in_executor`) runs blocking calls on (at least 1;
    /// the default is [`default_executor_threads`]). They start one by one
    /// as work comes, and end when the loop is dropped.
    pub fn executor_threads(mut self, threads: usize) -> Self {
        self.executor_threads = Some(threads.max(1));
        self
    }

    /// Measures how long each task step takes ([`EventLoop::step_times`]).
    /// Off by default: it costs two `Instant::now()` calls per step, some
    /// 40 ns where the clock is read in user space (a TSC), but 290 ns on
    /// the workshop's VM, where each read is a system call; a bare task
    /// switch costs about 10 ns. Off, it costs one `bool` test per step.
    pub fn measure_steps(mut self, on: bool) -> Self {
        self.measure_steps = on;
        self
    }

    /// Debug mode (lesson 11), asyncio's `PYTHONASYNCIODEBUG`; also on when
    /// the environment has `YIELDLOOP_DEBUG=1`. It warns about a task step
    /// that ran longer than [`Builder::slow_step_threshold`] without
    /// suspending (a blocking call?), about a task whose error nobody can
    /// look at any more, and, when the loop is dropped, about tasks still
    /// pending. Its cost: the step timer of [`Builder::measure_steps`].
    ///
    /// ```
    /// use yieldloop::{secs, Builder};
    ///
    /// let event_loop = Builder::new().debug(true).slow_step_threshold(secs(0.05)).build();
    /// assert!(event_loop.is_ok());
    /// ```
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on.then(|| self.debug.unwrap_or(instrument::DEFAULT_SLOW_STEP));
        self
    }

    /// How long one step may run before debug mode calls it slow (default
    /// 100 ms, asyncio's `slow_callback_duration`). Turns debug mode on.
    pub fn slow_step_threshold(mut self, threshold: Duration) -> Self {
        self.debug = Some(threshold);
        self
    }

    /// Makes the loop.
    pub fn build(self) -> io::Result<EventLoop> {
        // A task that overflows its stack gets a message naming it, not a
        // bare SIGSEGV (lesson 06's stacks chapter).
        stack_guard::install(Some(task::running_stack));
        task::install_shutdown_hook();
        let allocator = StackAllocator::resolve(self.stack_allocator)?;
        let kind = self
            .selector
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        let selector = kind.open()?;
        let reports_read_closed = selector.reports_read_closed();
        let clock = self.clock.unwrap_or_else(Clock::real);
        debug!(
            selector = selector.name(),
            stack_size = self.stack_size,
            ?allocator,
            "event loop created"
        );
        let core = Rc::new_cyclic(|weak| Core {
            weak: weak.clone(),
            clock,
            tasks: RefCell::new(Slab::new()),
            ready: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::default()),
            selector: RefCell::new(selector),
            reports_read_closed,
            sources: RefCell::new(Slab::new()),
            watches: Cell::new(0),
            events: RefCell::new(Vec::new()),
            stacks: RefCell::new(StackPool::new(
                self.stack_size,
                self.stack_pool_limit,
                allocator,
            )),
            io_waiters: Cell::new(0),
            registrations: Cell::new(0),
            stopping: Cell::new(false),
            closing: Cell::new(false),
            remote: RefCell::new(None),
            executor_threads: self
                .executor_threads
                .unwrap_or_else(default_executor_threads),
            measure_steps: self.measure_steps || self.debug.is_some(),
            step_times: RefCell::new(StepTimes::default()),
            next_task_id: Cell::new(1),
            debug: self.debug,
            step_panicked: Cell::new(false),
            attention: Cell::new(false),
            capture: Cell::new(false),
            captured: RefCell::new(None),
            step_hook: stepping::installed(),
        });
        Ok(EventLoop { core })
    }
}

/// The loop's state, shared by the [`EventLoop`], its [`Handle`]s and its tasks.
///
/// **Invariant: no `RefCell` of the loop is borrowed while user code runs.**
/// User code is a task's function, a callback, a done callback, and any
/// `Drop` of a value the user handed us (a callback's captures, a task's
/// result, a panic's payload). Any of them may call back into the loop
/// (`spawn`, `call_soon`, `sleep`), which borrows these cells; a borrow held
/// across them would turn that into an "already borrowed" panic. So every
/// method takes what it needs out of a cell, lets the borrow go, and only
/// then runs or drops user code (`step`, `run_once`, `shut_down`, `Drop`).
///
/// And: **user code runs only where a panic is caught and reported**
/// (`task_body`, [`task::contain`]), so no panic reaches `run_*`.
pub(crate) struct Core {
    /// Ourselves, for handing out [`Handle`]s and future waiters.
    weak: Weak<Core>,
    /// Loop time: real, or virtual for exact, instant tests.
    clock: Clock,
    /// Every unfinished task, boxed so that a task's address is stable.
    tasks: RefCell<Slab<Box<Task>>>,
    /// What runs in the next iteration. Invariant: a task key is in here at
    /// most once, and only while its state is `Runnable`.
    ready: RefCell<VecDeque<Runnable>>,
    /// Sleeping tasks and `call_later` callbacks, by deadline.
    timers: RefCell<Timers<TimerAction>>,
    /// Waits for descriptors.
    selector: RefCell<Box<dyn Selector>>,
    /// The selector's [`Selector::reports_read_closed`]: whether streams may
    /// skip the read after a short one (see [`crate::reactor::io_source`]).
    pub(crate) reports_read_closed: bool,
    /// One record per registered descriptor; its slot is the descriptor's
    /// selector key. Invariant: a slot is in here exactly while its
    /// descriptor is registered with `selector` under that key.
    sources: RefCell<Slab<Registration>>,
    /// How many `add_reader` / `add_writer` callbacks are registered. Like
    /// `io_waiters`, it keeps the loop looking at the selector, and alive.
    watches: Cell<usize>,
    /// `select`'s output buffer, reused every iteration.
    events: RefCell<Vec<Event>>,
    /// Stacks for new tasks.
    stacks: RefCell<StackPool>,
    /// How many tasks are suspended in `WaitingIo`. While it and `watches`
    /// are zero nothing `select` could report would wake anyone (`wake`
    /// ignores reports for tasks that are not waiting on I/O), so it is
    /// skipped.
    io_waiters: Cell<usize>,
    /// How many descriptors the selector watches (for tests: a cancelled
    /// socket wait must not leave one behind).
    registrations: Cell<usize>,
    /// Set by `stop()`; `run_forever` returns after the current iteration.
    stopping: Cell<bool>,
    /// Set while the loop unwinds its remaining tasks on drop.
    closing: Cell<bool>,
    /// What other threads send (lesson 10), once something asked for it.
    remote: RefCell<Option<Rc<dyn Remote>>>,
    /// The executor's thread limit, from the [`Builder`].
    executor_threads: usize,
    /// Whether `step` times itself ([`Builder::measure_steps`]).
    measure_steps: bool,
    step_times: RefCell<StepTimes>,
    /// The id the next task gets (lesson 11): keys are reused, ids are not.
    next_task_id: Cell<u64>,
    /// Debug mode's slow-step threshold; `None`: debug mode is off.
    debug: Option<Duration>,
    /// Set by a task whose step ended in a panic: that step's time went to
    /// the panic hook (printing, perhaps a backtrace), not to a blocking
    /// call, so debug mode does not call it slow.
    step_panicked: Cell<bool>,
    /// Set while the loop is closing or `dump_tasks` asks a task for its
    /// backtrace: the one flag a resumed task checks (lesson 11).
    attention: Cell<bool>,
    /// `dump_tasks`' request, and the backtrace the task answered with.
    capture: Cell<bool>,
    captured: RefCell<Option<std::backtrace::Backtrace>>,
    /// Lesson 11's `--step` debugger, if one was installed when the loop
    /// was built: called before each iteration and each task step. `None`
    /// costs one branch at each of those two places.
    step_hook: Option<Rc<dyn StepHook>>,
}

impl Core {
    // ANCHOR: run_once
    /// One iteration of the loop: asyncio's `BaseEventLoop._run_once`.
    fn run_once(&self) -> io::Result<()> {
        // No task runs on the loop's own stack: callbacks run here cannot
        // wait. (If this loop is nested inside another loop's task, that task
        // stays current again once this iteration is over.)
        let _no_task = RestoreCurrent::set(std::ptr::null());
        // 1. How long may we wait? Not at all if something is ready to run;
        //    else until the earliest timer; with no timers, until I/O comes.
        let deadline = self.timers.borrow().next_deadline();
        let ready = self.ready.borrow().len();
        let timeout = if ready > 0 {
            Some(Duration::ZERO)
        } else {
            deadline.map(|at| at.saturating_sub(self.clock.now()))
        };
        // Lesson 11: trio's `before_io_wait`, with the reason for the timeout.
        instrument::loop_event!(
            trace,
            target: LOOP_TARGET,
            ready,
            ?timeout,
            why = instrument::timeout_reason(ready, deadline),
            "iteration"
        );
        // Lesson 11's `--step`: pause here and show all of the above.
        if let Some(hook) = &self.step_hook {
            self.pause_before_iteration(hook.as_ref(), timeout, deadline);
        }

        // 2. Wait for I/O (selector.select), and put every task whose
        //    descriptor is ready on the ready queue (_process_events).
        self.wait_for_events(timeout, deadline)?;

        // 3. Move the timers that are due to the ready queue.
        if deadline.is_some() {
            let now = self.clock.now();
            loop {
                let due = self.timers.borrow_mut().pop_due(now);
                match due {
                    Some(TimerAction::Wake(task)) => {
                        self.wake(task, TaskState::Waiting, WakeCause::Timer)
                    }
                    Some(TimerAction::Call(callback)) => self.push(Runnable::Callback(callback)),
                    None => break,
                }
            }
        }

        // 4. Run what is ready now, and no more: whatever these steps make
        //    ready (a task that yields, a callback that schedules another)
        //    waits for the next iteration, after the next look at I/O, so a
        //    task that yields in a loop cannot starve the sockets.
        let ntodo = self.ready.borrow().len();
        for _ in 0..ntodo {
            let next = self.ready.borrow_mut().pop_front();
            match next {
                Some(Runnable::Task(key)) => {
                    if let Some(hook) = &self.step_hook {
                        let task = self.step_label(key);
                        hook.before_task_step(&task, &|| self.snapshot_tasks(true));
                    }
                    self.step(key)
                }
                Some(Runnable::Callback(callback)) => contain(&"a callback", callback),
                None => break,
            }
        }
        Ok(())
    }
    // ANCHOR_END: run_once

    /// `--step` (lesson 11): shows the debugger the ready queue, the
    /// timers, what the selector watches and the timeout. The view is built
    /// first and every borrow let go before the hook runs, because the hook
    /// may take backtraces, which resumes tasks.
    #[cold]
    fn pause_before_iteration(
        &self,
        hook: &dyn StepHook,
        timeout: Option<Duration>,
        deadline: Option<Duration>,
    ) {
        let ready: Vec<Option<usize>> = self
            .ready
            .borrow()
            .iter()
            .map(|runnable| match runnable {
                Runnable::Task(key) => Some(*key),
                Runnable::Callback(_) => None,
            })
            .collect();
        let timers: Vec<(Duration, Option<usize>)> = self
            .timers
            .borrow()
            .iter()
            .map(|(id, action)| match action {
                TimerAction::Wake(key) => (id.deadline, Some(*key)),
                TimerAction::Call(_) => (id.deadline, None),
            })
            .collect();
        let owner = |key: Option<usize>| match key {
            Some(key) => self.step_label(key),
            None => "callback".to_string(),
        };
        let mut watches: Vec<WatchView> = self
            .tasks
            .borrow()
            .iter()
            .filter_map(|(_, task)| match task.waits_on.get() {
                WaitOn::Io { fd, readable } => Some(WatchView {
                    fd,
                    readable,
                    owner: format!("task {} {:?}", task.id, task.name),
                }),
                _ => None,
            })
            .collect();
        for (_, record) in self.sources.borrow().iter() {
            if let Registration::Callbacks(watchers) = record {
                for (readable, watch) in [(true, &watchers.reader), (false, &watchers.writer)] {
                    if watch.is_some() {
                        let owner = if readable { "add_reader" } else { "add_writer" };
                        let (fd, owner) = (watchers.fd, format!("{owner} callback"));
                        watches.push(WatchView {
                            fd,
                            readable,
                            owner,
                        });
                    }
                }
            }
        }
        let ready_count = ready.len();
        let view = LoopView {
            loop_name: "reactor",
            now: self.clock.now(),
            ready: ready.into_iter().map(owner).collect(),
            timers: timers
                .into_iter()
                .map(|(deadline, key)| TimerView {
                    deadline,
                    owner: owner(key),
                })
                .collect(),
            watches,
            timeout,
            why: instrument::timeout_reason(ready_count, deadline),
        };
        hook.before_iteration(&view, &|| self.snapshot_tasks(true));
    }

    /// `task 2 "b"`: how `--step` names a task.
    fn step_label(&self, key: usize) -> String {
        match self.task_label(key) {
            Some((id, name)) => format!("task {id} {name:?}"),
            None => format!("(finished task, key {key})"),
        }
    }

    // ANCHOR: wait_for_events
    /// Step 2 of `run_once`: block in the selector for at most `timeout`.
    fn wait_for_events(
        &self,
        timeout: Option<Duration>,
        deadline: Option<Duration>,
    ) -> io::Result<()> {
        if timeout != Some(Duration::ZERO) {
            // About to wait: a good moment for housekeeping.
            self.stacks.borrow_mut().trim();
        }
        // Another thread may send work (lesson 10): then only the selector,
        // which its wake-up reaches, may put the loop to sleep.
        let remote = self.remote.borrow().clone();
        let from_threads = remote.as_ref().is_some_and(|remote| remote.may_arrive());
        if self.io_waiters.get() == 0 && self.watches.get() == 0 && !from_threads {
            // No task or callback waits on a descriptor, so none is armed and select
            // could only time out: just wait for the timer. (This is what
            // makes `yield_now` cheap: no system call per iteration.)
            if let (Some(deadline), Some(timeout)) = (deadline, timeout) {
                if !timeout.is_zero() {
                    self.clock.sleep_until(deadline);
                }
            }
            return Ok(());
        }
        // A virtual clock never waits for a timer in real time. But with a
        // task waiting on I/O it cannot know when the I/O will come, so it
        // gives the I/O `VIRTUAL_IO_GRACE` of real time first and jumps to
        // the deadline only if nothing came (trio's `autojump_threshold`).
        // Jumping at once instead would fire a periodic timer as fast as the
        // CPU allows while the task waits: 100 % CPU, and virtual time racing
        // ahead of the I/O it waits for.
        let jump = self.clock.is_virtual() && timeout.is_some_and(|t| !t.is_zero());
        let mut events = self.events.borrow_mut();
        let timeout = if jump {
            Some(VIRTUAL_IO_GRACE)
        } else {
            timeout
        };
        self.selector.borrow_mut().select(timeout, &mut events)?;
        instrument::loop_event!(trace, target: LOOP_TARGET, events = events.len(), ?timeout, "select returned");
        for event in events.iter() {
            self.dispatch(event);
        }
        let nothing_came = events.is_empty();
        drop(events);
        if let Some(remote) = remote {
            remote.deliver(self);
        }
        if jump && nothing_came && self.ready.borrow().is_empty() {
            if let Some(deadline) = deadline {
                self.clock.sleep_until(deadline);
            }
        }
        Ok(())
    }
    // ANCHOR_END: wait_for_events

    // ANCHOR: step
    /// Resumes one task until it next waits or ends: asyncio's `Task._step`.
    ///
    /// Lesson 11: if anyone listens to task events, the task's span is
    /// entered for its step (trio's `before_task_step`). Whether anyone
    /// does is one load and one branch, here, and it picks one of two
    /// copies of the step that the compiler makes from one body: in the
    /// copy for nobody listening, `LISTENED` is `false` and every line
    /// about spans is gone. (With a run-time flag instead, the optional
    /// span and its guard stay in the hot path: some 20 instructions per
    /// switch, about a tenth of one, measured with cachegrind.)
    fn step(&self, key: usize) {
        if instrument::task_events_on() {
            self.step_as::<true>(key);
        } else {
            self.step_as::<false>(key);
        }
    }

    /// [`Core::step`], with `LISTENED` fixed at compile time.
    #[inline(always)]
    fn step_as<const LISTENED: bool>(&self, key: usize) {
        let (coroutine, span, resumed_from) = {
            let tasks = self.tasks.borrow();
            let Some(task) = tasks.get(key) else { return };
            task.state.set(TaskState::Runnable);
            let resumed_from = task.waits_on.replace(WaitOn::Ready);
            let span = LISTENED.then(|| task.span.clone());
            (task.coroutine.get(), span, resumed_from)
        };
        let _in_task = span.as_ref().map(tracing::Span::enter);
        if span.is_some() {
            tracing::trace!(target: TASK_TARGET, "resume");
        }
        // No `RefCell` is borrowed from here on: the task may spawn, sleep or
        // register a socket, all of which borrow the loop's parts.
        //
        // The guard puts `CURRENT` back when `resume` returns, and also if a
        // panic comes out of it (none should: `task_body` catches them all;
        // the guard is what keeps that a bug report, not a dangling pointer).
        let restore = RestoreCurrent::set(std::ptr::null());
        // Lesson 10's hook: one clock read before and one after, only when
        // asked for, so that a step that blocked the loop can be named.
        let started = if self.measure_steps {
            Some(Instant::now())
        } else {
            None
        };
        // SAFETY: the task is boxed, so `coroutine` stays valid while the slab
        // grows; it is removed only below, after `resume` returns, or when the
        // loop is dropped, which cannot happen while it runs. Nothing else
        // touches a task's coroutine (see `Task::coroutine`).
        let result = panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*coroutine).resume(()) }));
        drop(restore); // back on the loop's stack: no task is running
        if let Some(started) = started {
            let took = started.elapsed();
            self.record_step(key, took);
            let panicked = self.step_panicked.replace(false);
            if self.debug.is_some_and(|threshold| took > threshold) && !panicked {
                self.report_slow_step(key, took, resumed_from);
            }
        }
        match result {
            // It waits, and already arranged its wake-up (timer, selector,
            // future, ready queue) before suspending.
            Ok(CoroutineResult::Yield(())) => {
                if span.is_some() {
                    self.trace_suspend(key);
                }
            }
            // It ended (returned or panicked; the result is in its future).
            Ok(CoroutineResult::Return(())) => self.finished(key),
            // Unreachable by design; if it happens, the task is still over
            // (corosensei marks it done) and must leave the slab.
            Err(payload) => {
                error!(
                    key,
                    "a panic escaped a task's boundary: {}",
                    task::panic_message(payload.as_ref())
                );
                drop_payload(payload);
                self.finished(key);
            }
        }
    }

    /// The `suspend` event: what the task now waits on (trio's
    /// `after_task_step`). Only called when someone listens.
    #[cold]
    fn trace_suspend(&self, key: usize) {
        if let Some(task) = self.tasks.borrow().get(key) {
            let on = task.waits_on.get();
            tracing::trace!(target: TASK_TARGET, %on, kind = on.kind(), "suspend");
        }
    }

    /// Takes a finished task out of the slab and pools its stack.
    fn finished(&self, key: usize) {
        let task = self.tasks.borrow_mut().remove(key);
        let coroutine = task.coroutine.into_inner();
        self.stacks.borrow_mut().give_back(coroutine.into_stack());
    }
    // ANCHOR_END: step

    // ANCHOR: dispatch
    /// Step 2's "process the events": the event's key is a slot in
    /// `sources`, whose record names who waits, by direction. Tasks are woken
    /// (if they still wait on I/O); callbacks are queued to run.
    fn dispatch(&self, event: &Event) {
        let sources = self.sources.borrow();
        match sources.get(event.key) {
            // Unregistered since (not possible within one batch; harmless).
            None => {}
            Some(Registration::Tasks(waiters)) => {
                // Recorded whether or not a task waits now: a task busy
                // elsewhere reads later, and must know an edge came.
                waiters.saw(event);
                let reader = waiters.reader.get().filter(|_| event.readable);
                let writer = waiters.writer.get().filter(|_| event.writable);
                drop(sources);
                for task in [reader, writer].into_iter().flatten() {
                    self.wake(task, TaskState::WaitingIo, WakeCause::Io);
                }
            }
            Some(Registration::Callbacks(watchers)) => {
                let ready = watchers.ready(event, event.key, self.weak());
                drop(sources);
                for callback in ready {
                    self.push(Runnable::Callback(callback));
                }
            }
        }
    }
    // ANCHOR_END: dispatch

    /// Debug mode: one step of task `key` ran `took` without suspending.
    #[cold]
    fn report_slow_step(&self, key: usize, took: Duration, resumed_from: WaitOn) {
        let (id, name) = match self.tasks.borrow().get(key) {
            Some(task) => (task.id, task.name.to_string()),
            // It finished in that step: its name went with it.
            None => (0, format!("(finished, key {key})")),
        };
        instrument::debug_report(&instrument::slow_step_message(
            id,
            &name,
            took,
            resumed_from,
        ));
    }

    /// A task's step is ending in a panic (see `step_panicked`).
    pub(crate) fn note_panicked_step(&self) {
        self.step_panicked.set(true);
    }

    /// Whether debug mode is on (lesson 11).
    pub(crate) fn debug_mode(&self) -> bool {
        self.debug.is_some()
    }

    /// A task's id and name by its slab key, for debug mode's reports
    /// (lesson 11). `None` if it is gone, or if the task table is borrowed
    /// right now (a report must never panic on a borrow).
    pub(crate) fn task_label(&self, key: usize) -> Option<(u64, String)> {
        let tasks = self.tasks.try_borrow().ok()?;
        let task = tasks.get(key)?;
        Some((task.id, task.name.to_string()))
    }

    /// Notes one step's duration in [`StepTimes`].
    fn record_step(&self, key: usize, took: Duration) {
        let mut times = self.step_times.borrow_mut();
        times.steps += 1;
        times.last = took;
        if took > times.longest {
            times.longest = took;
            times.longest_task = self.tasks.borrow().get(key).map(|t| t.name.to_string());
        }
    }

    // ANCHOR: wake
    /// Puts a suspended task back on the ready queue, if it is waiting in
    /// `state` (asyncio: `Task._wakeup`). Anything else is a stale or
    /// spurious wake-up and is ignored: the task is already queued, or waits
    /// on something else.
    pub(crate) fn wake(&self, key: usize, state: TaskState, cause: WakeCause) {
        let tasks = self.tasks.borrow();
        let Some(task) = tasks.get(key) else {
            return;
        };
        if task.state.get() != state {
            return;
        }
        if state == TaskState::WaitingIo {
            self.io_waiters.set(self.io_waiters.get() - 1);
        }
        instrument::loop_event!(trace, target: TASK_TARGET, task = task.id, %cause, "wake");
        task.state.set(TaskState::Runnable);
        self.push(Runnable::Task(key));
    }

    /// Records that a task is about to suspend waiting on `wait`, and since
    /// when (for `dump_tasks`, lesson 11).
    pub(crate) fn park(&self, key: usize, wait: WaitOn) {
        if let Some(task) = self.tasks.borrow().get(key) {
            let state = wait.state();
            task.state.set(state);
            task.waits_on.set(wait);
            task.since.set(self.clock.now());
            if state == TaskState::WaitingIo {
                self.io_waiters.set(self.io_waiters.get() + 1);
            }
        }
    }
    // ANCHOR_END: wake

    // ANCHOR: interrupt
    /// Wakes a suspended task whatever it waits on, because it was cancelled
    /// (lesson 08). A task that is running or already queued is left alone:
    /// it meets the cancellation at its next suspension point.
    pub(crate) fn interrupt(&self, key: usize) {
        let state = match self.tasks.borrow().get(key) {
            Some(task) => task.state.get(),
            None => return,
        };
        if state != TaskState::Runnable {
            self.wake(key, state, WakeCause::Cancel);
        }
    }
    // ANCHOR_END: interrupt

    #[inline(always)]
    fn push(&self, runnable: Runnable) {
        self.ready.borrow_mut().push_back(runnable);
    }

    /// Queues a running task to run again (`yield_now`).
    #[inline(always)]
    pub(crate) fn push_ready(&self, key: usize) {
        self.push(Runnable::Task(key));
    }

    /// Schedules task `key` to be woken after `delay` (`sleep`).
    /// Returns the timer and its deadline.
    pub(crate) fn wake_later(&self, key: usize, delay: Duration) -> (TimerId, Duration) {
        let deadline = self.clock.deadline_after(delay);
        let timer = self
            .timers
            .borrow_mut()
            .insert(deadline, TimerAction::Wake(key));
        (timer, deadline)
    }

    /// Removes a timer that has not fired (a cancelled `sleep`, a `wait_for`
    /// whose work finished). What it held is dropped after the borrow ends.
    pub(crate) fn cancel_timer(&self, id: TimerId) {
        let removed = self.timers.borrow_mut().cancel(id);
        drop(removed);
    }

    // ANCHOR: spawn
    /// Creates a task running `f` and queues its first step.
    pub(crate) fn spawn<T, F>(&self, name: Cow<'static, str>, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> Result<T, TaskError> + 'static,
        T: 'static,
    {
        if self.closing.get() {
            // A guard spawning as the loop is dropped: nothing would run it.
            let task = name.into_owned();
            return JoinHandle::failed(TaskError::Cancelled {
                task,
                cause: CancelCause::LoopEnded,
            });
        }
        let stack = match self.stacks.borrow_mut().take() {
            Ok(stack) => stack,
            Err(reason) => {
                error!(task = %name, "{reason}");
                let task = name.into_owned();
                return JoinHandle::failed(TaskError::NoStack { task, reason });
            }
        };
        let done = Future::new();
        let core: *const Core = self;
        // Lesson 11: a serial id (slab keys are reused) and the spawning task.
        let id = self.next_task_id.get();
        self.next_task_id.set(id + 1);
        let parent = task::running_key_in(core)
            .and_then(|parent| self.tasks.borrow().get(parent).map(|task| task.id));
        let guarded = GuardedStack::new(stack.limit().get(), stack.usable_size());
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let key = entry.key();
        let control = Rc::new(TaskControl::new(name.clone(), self.weak(), key, id));
        let completion = Completion {
            done: done.clone(),
            name: name.clone(),
            control: control.clone(),
        };
        let coroutine = Coroutine::with_stack(stack, move |yielder, ()| {
            task_body(core, key, yielder, guarded, completion, f)
        });
        // One check for both the event and the span (lesson 11): with
        // nobody listening, a spawn pays a single load and branch here.
        let span = if instrument::task_events_on() {
            instrument::loop_event!(debug, target: TASK_TARGET, task = id, %name, ?parent, "spawn");
            instrument::task_span(id, &name, parent)
        } else {
            tracing::Span::none()
        };
        entry.insert(Box::new(Task {
            name,
            id,
            parent,
            waits_on: Cell::new(WaitOn::Ready),
            since: Cell::new(Duration::ZERO),
            span,
            state: Cell::new(TaskState::Runnable),
            coroutine: UnsafeCell::new(coroutine),
        }));
        self.push(Runnable::Task(key));
        JoinHandle {
            done,
            control: Some(control),
        }
    }
    // ANCHOR_END: spawn

    /// Registers `fd` for the tasks in `waiters`, armed for `interest`;
    /// returns its slot (its selector key).
    ///
    /// # Safety
    ///
    /// As [`Selector::register`]: `fd` must be [`forget`](Core::forget)ten
    /// before it is closed.
    pub(crate) unsafe fn register_waiters(
        &self,
        fd: BorrowedFd<'_>,
        waiters: Rc<IoWaiters>,
        interest: Interest,
    ) -> io::Result<usize> {
        // SAFETY: passed on to our caller (this function's contract).
        unsafe { self.register(fd, Registration::Tasks(waiters), interest) }
    }

    /// Adds a record to `sources` and registers `fd` under its slot.
    ///
    /// # Safety
    ///
    /// As [`Selector::register`].
    unsafe fn register(
        &self,
        fd: BorrowedFd<'_>,
        record: Registration,
        interest: Interest,
    ) -> io::Result<usize> {
        let slot = self.sources.borrow_mut().insert(record);
        // SAFETY: passed on to our caller (this function's contract).
        let registered = unsafe { self.selector.borrow_mut().register(fd, slot, interest) };
        if let Err(error) = registered {
            // Dropped after the borrow ends: a callback record holds user
            // values, whose `Drop` may call back into the loop.
            let refused = self.sources.borrow_mut().try_remove(slot);
            drop(refused);
            return Err(error);
        }
        self.registrations.set(self.registrations.get() + 1);
        Ok(slot)
    }

    /// Re-arms a registered descriptor for `interest` (cheap when nothing
    /// changed: see the selector's `modify`).
    pub(crate) fn modify(
        &self,
        fd: BorrowedFd<'_>,
        slot: usize,
        interest: Interest,
    ) -> io::Result<()> {
        self.selector.borrow_mut().modify(fd, slot, interest)
    }

    /// Stops watching `fd` and frees its slot. Call it before `fd` closes.
    pub(crate) fn forget(&self, fd: BorrowedFd<'_>, slot: usize) {
        if let Ok(mut selector) = self.selector.try_borrow_mut() {
            // Failing here only means the kernel already forgot it.
            if selector.unregister(fd).is_ok() {
                self.registrations
                    .set(self.registrations.get().saturating_sub(1));
            }
        }
        // The record is an `Rc<IoWaiters>` (no user code in its drop); a
        // callback record is never forgotten this way (see `remove_watch`).
        let record = self
            .sources
            .try_borrow_mut()
            .ok()
            .and_then(|mut s| s.try_remove(slot));
        drop(record);
    }

    // ANCHOR: add_watch
    /// `add_reader` / `add_writer`: `holder` owns the descriptor and is kept
    /// until the callback is removed (the ownership rule in
    /// [`crate::reactor::watch`]). A second callback for the same descriptor
    /// and direction replaces the first, as in asyncio.
    fn add_watch(&self, direction: Direction, watch: FdWatch) -> io::Result<()> {
        let raw = watch.fd().as_raw_fd();
        let mut sources = self.sources.borrow_mut();
        let existing = find_watchers(&sources, raw);
        let Some(slot) = existing else {
            drop(sources);
            let mut watchers = Watchers {
                fd: raw,
                reader: None,
                writer: None,
            };
            let interest = match direction {
                Direction::Read => Interest::READABLE,
                Direction::Write => Interest::WRITABLE,
            };
            *watchers.watch_mut(direction) = Some(watch);
            // The record moves into the table as it registers, so the
            // descriptor is named by number here, not borrowed from it.
            // SAFETY: `raw` is open: the record holds an owner of it (moved
            // in just above), and keeps it open while registered, because
            // `remove_watch` and `EventLoop::drop` unregister it before they
            // drop that owner.
            let registered = unsafe {
                let fd = BorrowedFd::borrow_raw(raw);
                self.register(fd, Registration::Callbacks(watchers), interest)
            };
            return match registered {
                Ok(_) => {
                    self.watches.set(self.watches.get() + 1);
                    Ok(())
                }
                Err(error) => Err(already_registered(raw, error)),
            };
        };
        let Some(Registration::Callbacks(watchers)) = sources.get_mut(slot) else {
            unreachable!("find_watchers returns callback records only");
        };
        let replaced = watchers.watch_mut(direction).replace(watch);
        if replaced.is_none() {
            self.watches.set(self.watches.get() + 1);
        }
        let result = match watchers.any_fd() {
            Some(fd) => self
                .selector
                .borrow_mut()
                .rearm(fd, slot, watchers.interest()),
            None => Ok(()),
        };
        drop(sources);
        drop(replaced); // user code (its drop) runs with nothing borrowed
        result
    }

    /// `remove_reader` / `remove_writer`: whether a callback was registered.
    fn remove_watch(&self, raw: RawFd, direction: Direction) -> bool {
        let mut sources = self.sources.borrow_mut();
        let Some(slot) = find_watchers(&sources, raw) else {
            return false;
        };
        let Some(Registration::Callbacks(watchers)) = sources.get_mut(slot) else {
            return false;
        };
        let Some(removed) = watchers.watch_mut(direction).take() else {
            return false;
        };
        self.watches.set(self.watches.get() - 1);
        let mut selector = self.selector.borrow_mut();
        let emptied = match watchers.any_fd() {
            Some(fd) => {
                let _ = selector.modify(fd, slot, watchers.interest());
                None
            }
            None => {
                // Unregister while `removed` still holds the descriptor open.
                if selector.unregister(removed.fd()).is_ok() {
                    self.registrations
                        .set(self.registrations.get().saturating_sub(1));
                }
                Some(sources.remove(slot))
            }
        };
        drop(selector);
        drop(sources);
        drop(emptied);
        drop(removed); // may close the descriptor; user drops run unborrowed
        true
    }

    /// Whether `callback` still watches `slot` in `direction` (it was not
    /// removed, or replaced, since its run was queued).
    pub(crate) fn watch_is_current(
        &self,
        slot: usize,
        direction: Direction,
        callback: &Rc<RefCell<dyn FnMut()>>,
    ) -> bool {
        let mut sources = self.sources.borrow_mut();
        match sources.get_mut(slot) {
            Some(Registration::Callbacks(watchers)) => watchers
                .watch_mut(direction)
                .as_ref()
                .is_some_and(|watch| watch.runs(callback)),
            _ => false,
        }
    }

    /// After a callback ran: make the selector look at the descriptor again,
    /// so readiness that is still there is reported next iteration.
    pub(crate) fn rearm_watch(&self, slot: usize, raw: RawFd) {
        let sources = self.sources.borrow();
        if let Some(Registration::Callbacks(watchers)) = sources.get(slot) {
            if let (true, Some(fd)) = (watchers.fd == raw, watchers.any_fd()) {
                let _ = self
                    .selector
                    .borrow_mut()
                    .rearm(fd, slot, watchers.interest());
            }
        }
    }
    // ANCHOR_END: add_watch

    pub(crate) fn weak(&self) -> Weak<Core> {
        self.weak.clone()
    }

    pub(crate) fn time(&self) -> Duration {
        self.clock.now()
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// Whether a resumed task must look at `is_closing` or
    /// `capture_requested` before it carries on.
    #[inline(always)]
    pub(crate) fn needs_attention(&self) -> bool {
        self.attention.get()
    }

    pub(crate) fn capture_requested(&self) -> bool {
        self.capture.get()
    }

    /// A task answers `dump_tasks`' request with its backtrace.
    pub(crate) fn answer_capture(&self, backtrace: std::backtrace::Backtrace) {
        self.capture.set(false);
        *self.captured.borrow_mut() = Some(backtrace);
    }

    /// What every task is doing, for `dump_tasks` (lesson 11): each one's
    /// id, name, parent, what it waits on and since when, and, if
    /// `backtraces`, the backtrace of its suspended stack, which it is
    /// resumed to capture (see `CurrentTask::attend` for why that is sound).
    /// Called from outside the loop's run, with no task running.
    pub(crate) fn snapshot_tasks(&self, backtraces: bool) -> Vec<TaskSnapshot> {
        let tasks: Vec<(TaskSnapshot, *mut task::TaskCoroutine)> = self
            .tasks
            .borrow()
            .iter()
            .map(|(_, task)| {
                let snapshot = TaskSnapshot {
                    id: task.id,
                    name: task.name.to_string(),
                    parent: task.parent,
                    waits_on: task.waits_on.get(),
                    since: task.since.get(),
                    backtrace: None,
                };
                (snapshot, task.coroutine.get())
            })
            .collect();
        let mut snapshots = Vec::with_capacity(tasks.len());
        for (mut snapshot, coroutine) in tasks {
            // SAFETY: the task is boxed and nothing removes it while we hold
            // no borrow and run no user code; no task is running, so its
            // coroutine is not being resumed by anyone else.
            let started = unsafe { (*coroutine).started() && !(*coroutine).done() };
            if backtraces && started && task::current_ptr().is_null() {
                snapshot.backtrace = self.capture_backtrace(coroutine);
            }
            snapshots.push(snapshot);
        }
        snapshots
    }

    /// Resumes one suspended task with the capture request; it answers and
    /// suspends again at once (`CurrentTask::attend`).
    fn capture_backtrace(&self, coroutine: *mut task::TaskCoroutine) -> Option<String> {
        self.capture.set(true);
        self.attention.set(true);
        let restore = RestoreCurrent::set(std::ptr::null());
        // SAFETY: as in `snapshot_tasks`. The task resumes inside its
        // `suspend`, captures, and yields back without running its code.
        let result = panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*coroutine).resume(()) }));
        drop(restore);
        self.capture.set(false);
        self.attention.set(self.closing.get());
        if !matches!(result, Ok(CoroutineResult::Yield(()))) {
            error!("a task did not suspend again after capturing its backtrace");
        }
        self.captured
            .borrow_mut()
            .take()
            .map(|backtrace| backtrace.to_string())
    }

    pub(crate) fn call_soon(&self, callback: Callback) {
        self.push(Runnable::Callback(callback));
    }

    /// What `stop()` does.
    pub(crate) fn request_stop(&self) {
        self.stopping.set(true);
    }

    /// The loop's [`Remote`], if one was installed.
    pub(crate) fn remote(&self) -> Option<Rc<dyn Remote>> {
        self.remote.borrow().clone()
    }

    /// Installs the loop's [`Remote`] (once; lesson 10's executor does it).
    pub(crate) fn install_remote(&self, remote: Rc<dyn Remote>) {
        *self.remote.borrow_mut() = Some(remote);
    }

    /// A handle other threads use to wake the selector.
    pub(crate) fn selector_waker(&self) -> io::Result<Arc<dyn Wake>> {
        self.selector.borrow_mut().waker()
    }

    /// The executor's thread limit ([`Builder::executor_threads`]).
    pub(crate) fn executor_threads(&self) -> usize {
        self.executor_threads
    }

    pub(crate) fn call_at(&self, when: Duration, callback: Callback) -> TimerHandle {
        // A deadline the clock can never reach would never fire, and a
        // virtual clock would spin trying: clamp it to the clock's end.
        let when = when.min(Clock::END);
        let id = self
            .timers
            .borrow_mut()
            .insert(when, TimerAction::Call(callback));
        TimerHandle {
            core: self.weak(),
            id,
        }
    }

    /// Nothing can ever run again: no ready work, no timers, no I/O waiters,
    /// no `add_reader` / `add_writer` callbacks.
    fn is_idle(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.timers.borrow().is_empty()
            && self.io_waiters.get() == 0
            && self.watches.get() == 0
            && !self.remote().is_some_and(|remote| remote.may_arrive())
    }
}

/// The slot of the callback record watching `raw`, if any. A linear scan:
/// a loop watches few descriptors with callbacks.
fn find_watchers(sources: &Slab<Registration>, raw: RawFd) -> Option<usize> {
    sources.iter().find_map(|(slot, record)| match record {
        Registration::Callbacks(watchers) if watchers.fd == raw => Some(slot),
        _ => None,
    })
}

/// `add_reader` on a descriptor the loop already watches some other way.
fn already_registered(raw: RawFd, error: io::Error) -> io::Error {
    if error.kind() != io::ErrorKind::AlreadyExists {
        return error;
    }
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "descriptor {raw} is already registered with this loop, by a socket or pipe of \
             the reactor's own: wait on it from a task (read, write), or watch a descriptor \
             that no reactor object owns"
        ),
    )
}

/// An event loop: asyncio's `BaseEventLoop`. Build one with [`Builder`] (or
/// [`EventLoop::new`]), give it work with [`spawn`](EventLoop::spawn) and
/// `call_*`, run it with [`run_until_complete`](EventLoop::run_until_complete)
/// or [`run_forever`](EventLoop::run_forever).
///
/// Dropping the loop unwinds every task still suspended in it: their `Drop`
/// guards run and their sockets close, and their `JoinHandle`s report
/// [`TaskError::Cancelled`]. No panic comes out of the drop, and it never
/// hangs: `docs/src/guarantees.md` lists the promises and their tests.
pub struct EventLoop {
    core: Rc<Core>,
}

impl EventLoop {
    /// A loop with the [`Builder`]'s defaults.
    pub fn new() -> io::Result<Self> {
        Builder::new().build()
    }

    /// Starts `f` as a task (asyncio: `loop.create_task`). It runs when the
    /// loop runs.
    pub fn spawn<T, F>(&self, name: impl Into<Cow<'static, str>>, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.core.spawn(name.into(), move || Ok(f()))
    }

    /// Runs `f` as a task named `main` and the loop until it finishes; returns
    /// its result (asyncio: `loop.run_until_complete(main())`). Other tasks
    /// still suspended stay in the loop, for a later run or the drop.
    pub fn run_until_complete<T, F>(&mut self, f: F) -> Result<T, TaskError>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let handle = self.spawn("main", f);
        self.core.stopping.set(false);
        while !handle.is_finished() {
            if self.core.is_idle() {
                return Err(TaskError::Stuck {
                    task: "main".into(),
                });
            }
            if self.core.stopping.replace(false) {
                return Err(TaskError::Cancelled {
                    task: "main".into(),
                    cause: CancelCause::LoopEnded,
                });
            }
            self.core
                .run_once()
                .map_err(|error| TaskError::LoopFailed {
                    error: error.to_string(),
                })?;
        }
        handle.join()
    }

    /// Runs the loop until [`stop`](EventLoop::stop) is called, or until
    /// nothing is left that could ever run (no ready work, no timers, no
    /// task waiting on I/O; asyncio would wait forever there).
    pub fn run_forever(&mut self) -> io::Result<()> {
        loop {
            if self.core.stopping.replace(false) {
                debug!("loop stopped");
                return Ok(());
            }
            if self.core.is_idle() {
                debug!("loop idle: nothing left to run");
                return Ok(());
            }
            self.core.run_once()?;
        }
    }

    /// Runs one iteration of the loop (mostly for tests and teaching).
    pub fn run_once(&mut self) -> io::Result<()> {
        self.core.run_once()
    }

    /// A handle for use inside tasks and callbacks.
    pub fn handle(&self) -> Handle {
        Handle {
            core: self.core.weak(),
        }
    }

    /// Asks [`run_forever`](EventLoop::run_forever) to return after the
    /// current iteration.
    pub fn stop(&self) {
        self.core.stopping.set(true);
    }

    /// Runs `callback` in the next iteration (asyncio: `call_soon`).
    pub fn call_soon(&self, callback: impl FnOnce() + 'static) {
        self.core.call_soon(Box::new(callback));
    }

    /// Runs `callback` after `delay` (asyncio: `call_later`).
    pub fn call_later(&self, delay: Duration, callback: impl FnOnce() + 'static) -> TimerHandle {
        let when = self.core.clock.deadline_after(delay);
        self.core.call_at(when, Box::new(callback))
    }

    /// Runs `callback` at loop time `when` (asyncio: `call_at`).
    pub fn call_at(&self, when: Duration, callback: impl FnOnce() + 'static) -> TimerHandle {
        self.core.call_at(when, Box::new(callback))
    }

    /// The loop's time (asyncio: `loop.time()`).
    pub fn time(&self) -> Duration {
        self.core.time()
    }

    // ANCHOR: add_reader
    /// Runs `callback` each time `fd` is readable, until
    /// [`remove_reader`](EventLoop::remove_reader) (asyncio:
    /// `loop.add_reader`). Level-triggered, as in asyncio: while data waits
    /// unread, the callback runs in every iteration.
    ///
    /// **The loop keeps `fd` until it is removed**: pass the descriptor's
    /// owner (an `OwnedFd`, a socket, a pipe end), or an `Rc` of it to keep
    /// using it; so it cannot be closed while registered. Registering a
    /// descriptor again replaces its callback. A descriptor that a reactor
    /// socket of this loop already waits on is refused (`AlreadyExists`);
    /// on an error the loop drops what it was given.
    ///
    /// A borrowed descriptor is refused at compile time, because the loop
    /// could outlive the borrow:
    ///
    /// ```compile_fail
    /// # use std::os::fd::AsFd;
    /// let event_loop = yieldloop::EventLoop::new().unwrap();
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// event_loop.add_reader(a.as_fd(), || {}).unwrap(); // error: `a` does not live long enough
    /// drop(a); // ... or closing it here, while registered, would be possible
    /// ```
    ///
    /// The working form:
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::io::{Read, Write};
    /// use std::os::fd::AsRawFd;
    /// use std::rc::Rc;
    ///
    /// let mut event_loop = yieldloop::EventLoop::new().unwrap();
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// let a = Rc::new(a);
    /// b.write_all(b"ping").unwrap();
    /// let (reader, handle, got) = (a.clone(), event_loop.handle(), Rc::new(Cell::new(0)));
    /// let seen = got.clone();
    /// event_loop
    ///     .add_reader(a.clone(), move || {
    ///         let mut buf = [0; 16];
    ///         seen.set((&*reader).read(&mut buf).unwrap());
    ///         handle.remove_reader(reader.as_raw_fd()); // one message is enough
    ///     })
    ///     .unwrap();
    /// event_loop.run_forever().unwrap(); // returns: nothing left to watch
    /// assert_eq!(got.get(), 4);
    /// ```
    pub fn add_reader(
        &self,
        fd: impl AsFd + 'static,
        callback: impl FnMut() + 'static,
    ) -> io::Result<()> {
        self.handle().add_reader(fd, callback)
    }

    /// Runs `callback` each time `fd` is writable, until
    /// [`remove_writer`](EventLoop::remove_writer) (asyncio:
    /// `loop.add_writer`). As [`add_reader`](EventLoop::add_reader); note
    /// that a socket is writable nearly always, so the callback runs every
    /// iteration until it is removed.
    pub fn add_writer(
        &self,
        fd: impl AsFd + 'static,
        callback: impl FnMut() + 'static,
    ) -> io::Result<()> {
        self.handle().add_writer(fd, callback)
    }

    /// Stops the reader callback on `fd` and drops the loop's owner of it
    /// (closing the descriptor if that was the last owner). Returns whether
    /// one was registered (asyncio: `loop.remove_reader`).
    pub fn remove_reader(&self, fd: impl AsRawFd) -> bool {
        self.handle().remove_reader(fd)
    }
    // ANCHOR_END: add_reader

    /// Stops the writer callback on `fd`; see
    /// [`remove_reader`](EventLoop::remove_reader).
    pub fn remove_writer(&self, fd: impl AsRawFd) -> bool {
        self.handle().remove_writer(fd)
    }

    /// How many tasks have not finished.
    pub fn task_count(&self) -> usize {
        self.core.tasks.borrow().len()
    }

    /// How many timers are pending: sleeping tasks, `call_later` callbacks,
    /// `wait_for` deadlines.
    pub fn timer_count(&self) -> usize {
        self.core.timers.borrow().len()
    }

    /// How many descriptors the selector watches.
    pub fn registration_count(&self) -> usize {
        self.core.registrations.get()
    }

    /// How many tasks are suspended waiting on a descriptor.
    pub fn io_waiter_count(&self) -> usize {
        self.core.io_waiters.get()
    }

    /// How many finished tasks' stacks are pooled for reuse, their memory
    /// kept (at most the pool's limit after an idle moment).
    pub fn pooled_stacks(&self) -> usize {
        self.core.stacks.borrow().spare()
    }

    /// How task stacks are made in this loop (see [`Builder::stack_allocator`]).
    pub fn stack_allocator(&self) -> StackAllocator {
        self.core.stacks.borrow().allocator()
    }

    /// How long task steps took; all zero unless the loop was built with
    /// [`Builder::measure_steps`].
    pub fn step_times(&self) -> StepTimes {
        self.core.step_times.borrow().clone()
    }

    pub(crate) fn core(&self) -> &Rc<Core> {
        &self.core
    }
}

// ANCHOR: drop
impl Drop for EventLoop {
    fn drop(&mut self) {
        let core = &self.core;
        core.closing.set(true);
        core.attention.set(true);
        // Take the tasks out first, so that no `RefCell` is borrowed while
        // their guards run; then unwind them one by one.
        let tasks: Vec<Box<Task>> = core.tasks.borrow_mut().drain().collect();
        if core.debug.is_some() {
            for task in &tasks {
                instrument::debug_report(&instrument::pending_at_shutdown_message(
                    task.id,
                    &task.name,
                    task.waits_on.get(),
                    task.since.get(),
                ));
            }
        }
        if !tasks.is_empty() {
            debug!(
                tasks = tasks.len(),
                "loop dropped: unwinding suspended tasks"
            );
        }
        for task in tasks {
            core.shut_down(*task);
        }
        // Lesson 10: no more work from other threads, and no thread left.
        let remote = core.remote.borrow_mut().take();
        if let Some(remote) = remote {
            remote.close();
        }
        // Callback records (`add_reader`) hold owners of their descriptors:
        // unregister each before its owner closes it, then drop them with
        // nothing borrowed, one at a time (their callbacks are user values).
        let records: Vec<Registration> = core.sources.borrow_mut().drain().collect();
        for record in &records {
            if let Registration::Callbacks(watchers) = record {
                if let Some(fd) = watchers.any_fd() {
                    if core.selector.borrow_mut().unregister(fd).is_ok() {
                        core.registrations
                            .set(core.registrations.get().saturating_sub(1));
                    }
                }
            }
        }
        core.watches.set(0);
        for record in records {
            contain(&"dropping an add_reader/add_writer callback", || {
                drop(record)
            });
        }
        // Then the callbacks nobody will run. Dropping one drops what it
        // captured, which is user code: it may call `call_soon` (queued into
        // the cells we just emptied, hence the loop) or panic (contained,
        // one at a time, so that a second panic never meets the first).
        for _round in 0..SHUTDOWN_ROUNDS {
            let ready = mem::take(&mut *core.ready.borrow_mut());
            let timers = core.timers.borrow_mut().take_all();
            if ready.is_empty() && timers.is_empty() {
                return;
            }
            for runnable in ready {
                contain(&"dropping a callback the loop never ran", || drop(runnable));
            }
            for action in timers {
                contain(&"dropping a timer the loop never fired", || drop(action));
            }
        }
        error!("callbacks kept scheduling callbacks as the loop was dropped; the rest are leaked");
        mem::forget(mem::take(&mut *core.ready.borrow_mut()));
        mem::forget(core.timers.borrow_mut().take_all());
    }
}

/// How many times the loop's drop empties its queues before it gives up on
/// callbacks whose drop schedules more callbacks.
const SHUTDOWN_ROUNDS: usize = 16;

impl Core {
    /// Ends one task of a dropped loop. A task that never ran is dropped
    /// with its closure. A suspended one is resumed one last time: its
    /// `suspend` sees `closing` and unwinds its stack (`Drop` guards run)
    /// up to `task_body`, which cancels its future. If it suspends again
    /// instead, it caught that unwinding and kept going, waited, and was
    /// stopped by `task::current` (see `stop_runaway`): we abandon it.
    fn shut_down(&self, task: Task) {
        let name = task.name.clone();
        let mut coroutine = task.coroutine.into_inner();
        if !coroutine.started() {
            contain(&"dropping a task that never ran", move || drop(coroutine));
            return;
        }
        let _outer_shutdown = task::KeepShuttingDown::save();
        let restore = RestoreCurrent::set(std::ptr::null());
        let result = panic::catch_unwind(AssertUnwindSafe(|| coroutine.resume(())));
        drop(restore);
        match result {
            Ok(CoroutineResult::Return(())) => {
                self.stacks.borrow_mut().give_back(coroutine.into_stack());
            }
            Ok(CoroutineResult::Yield(())) => {
                error!(task = %name, "task abandoned at shutdown: its stack is leaked");
                // SAFETY: `force_reset` skips the drops of what is still on
                // the task's stack. That is sound because that memory is
                // never reused or unmapped: we leak the whole stack, so
                // every value on it stays where it is, forever, as if the
                // task were suspended for good.
                unsafe { coroutine.force_reset() };
                mem::forget(coroutine.into_stack());
            }
            Err(payload) => {
                error!(task = %name, "a panic escaped a task's boundary at shutdown: {}", task::panic_message(payload.as_ref()));
                drop_payload(payload);
            }
        }
    }
}
// ANCHOR_END: drop

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("tasks", &self.task_count())
            .field("ready", &self.core.ready.borrow().len())
            .field("timers", &self.core.timers.borrow().len())
            .finish()
    }
}

/// A weak handle to a loop, usable from tasks and callbacks (asyncio code
/// calls `asyncio.get_running_loop()` for this). Does nothing once the loop
/// is gone.
#[derive(Clone, Debug)]
pub struct Handle {
    core: Weak<Core>,
}

impl Handle {
    /// The loop running the current task.
    pub fn current() -> Result<Handle, task::NotInTask> {
        let task = task::current("Handle::current")?;
        Ok(Handle {
            core: task.core().weak(),
        })
    }

    /// Starts a task on this loop; see [`EventLoop::spawn`].
    pub fn spawn<T, F>(&self, name: impl Into<Cow<'static, str>>, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        match self.core.upgrade() {
            Some(core) => core.spawn(name.into(), move || Ok(f())),
            None => JoinHandle::failed(TaskError::Cancelled {
                task: name.into().into_owned(),
                cause: CancelCause::LoopEnded,
            }),
        }
    }

    /// See [`EventLoop::stop`].
    pub fn stop(&self) {
        if let Some(core) = self.core.upgrade() {
            core.stopping.set(true);
        }
    }

    /// See [`EventLoop::call_soon`].
    pub fn call_soon(&self, callback: impl FnOnce() + 'static) {
        if let Some(core) = self.core.upgrade() {
            core.call_soon(Box::new(callback));
        }
    }

    /// See [`EventLoop::call_later`]. `None` if the loop is gone.
    pub fn call_later(
        &self,
        delay: Duration,
        callback: impl FnOnce() + 'static,
    ) -> Option<TimerHandle> {
        let core = self.core.upgrade()?;
        let when = core.clock.deadline_after(delay);
        Some(core.call_at(when, Box::new(callback)))
    }

    /// See [`EventLoop::add_reader`]. An error if the loop is gone.
    pub fn add_reader(
        &self,
        fd: impl AsFd + 'static,
        callback: impl FnMut() + 'static,
    ) -> io::Result<()> {
        self.upgrade()?
            .add_watch(Direction::Read, FdWatch::new(Box::new(fd), callback))
    }

    /// See [`EventLoop::add_writer`]. An error if the loop is gone.
    pub fn add_writer(
        &self,
        fd: impl AsFd + 'static,
        callback: impl FnMut() + 'static,
    ) -> io::Result<()> {
        self.upgrade()?
            .add_watch(Direction::Write, FdWatch::new(Box::new(fd), callback))
    }

    /// See [`EventLoop::remove_reader`]. `false` if the loop is gone.
    pub fn remove_reader(&self, fd: impl AsRawFd) -> bool {
        self.core
            .upgrade()
            .is_some_and(|core| core.remove_watch(fd.as_raw_fd(), Direction::Read))
    }

    /// See [`EventLoop::remove_writer`]. `false` if the loop is gone.
    pub fn remove_writer(&self, fd: impl AsRawFd) -> bool {
        self.core
            .upgrade()
            .is_some_and(|core| core.remove_watch(fd.as_raw_fd(), Direction::Write))
    }

    fn upgrade(&self) -> io::Result<Rc<Core>> {
        self.core
            .upgrade()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the event loop is gone"))
    }

    pub(crate) fn upgrade_core(&self) -> Option<Rc<Core>> {
        self.core.upgrade()
    }

    /// See [`EventLoop::step_times`]; all zero if the loop is gone.
    pub fn step_times(&self) -> StepTimes {
        self.core
            .upgrade()
            .map(|core| core.step_times.borrow().clone())
            .unwrap_or_default()
    }

    /// Forgets the step times measured so far (to measure one part of a
    /// program alone).
    pub fn reset_step_times(&self) {
        if let Some(core) = self.core.upgrade() {
            *core.step_times.borrow_mut() = StepTimes::default();
        }
    }

    /// See [`EventLoop::time`]. Zero if the loop is gone.
    pub fn time(&self) -> Duration {
        self.core
            .upgrade()
            .map_or(Duration::ZERO, |core| core.time())
    }
}

/// A scheduled callback that can be cancelled (asyncio's `TimerHandle`).
#[derive(Debug)]
pub struct TimerHandle {
    core: Weak<Core>,
    id: TimerId,
}

impl TimerHandle {
    /// Cancels the callback; returns whether it was still pending.
    pub fn cancel(&self) -> bool {
        let core = self.core.upgrade();
        let removed = core
            .as_ref()
            .and_then(|core| core.timers.borrow_mut().cancel(self.id));
        // Dropped here, after the borrow: a callback's captures may do anything.
        removed.is_some()
    }

    /// When it fires, in loop time.
    pub fn when(&self) -> Duration {
        self.id.deadline
    }
}
