//! The reactor: asyncio's event loop, on stackful tasks. Introduced by lesson 06.
//!
//! Lesson 05's select loop kept three lists (sleepers, readers, writers) and
//! resumed coroutines straight from them. This loop is shaped like asyncio's
//! `BaseEventLoop` instead, so that each part can be read beside the Python:
//!
//! ```text
//!                ┌──────────── EventLoop (Core) ─────────────────────────┐
//!   spawn ──────▶│ tasks: Slab<Task>       key = task id = selector key  │
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
//!   a small integer that is reused after the task ends. That integer is also
//!   the key the task registers its sockets under, so a selector event names
//!   the task to wake directly.
//! * **ready** is asyncio's `_ready`: what runs in the next iteration. Tasks
//!   are queued by key (no allocation); callbacks are boxed closures.
//! * **timers** is asyncio's `_scheduled` (see [`crate::reactor::timers`]).
//! * **run_once** is asyncio's `_run_once`, whole, in `Core::run_once`.
//!
//! The loop is single-threaded and `!Send`: everything lives in one `Rc`,
//! mutated through `RefCell`s that are never borrowed while a task runs, so a
//! running task can spawn, sleep and register sockets through the same core.

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::{Coroutine, CoroutineResult};
use slab::Slab;
use tracing::{debug, error};

use crate::clock::Clock;
use crate::reactor::cancel::{CancelCause, TaskControl};
use crate::reactor::future::Future;
use crate::reactor::selector::{Event, Interest, Selector, SelectorKind, Wake};
use crate::reactor::stacks::{StackPool, DEFAULT_POOL_LIMIT, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
use crate::reactor::task::{
    self, current_ptr, set_current, task_body, Completion, JoinHandle, Task, TaskError, TaskState,
};
use crate::reactor::timers::{TimerId, Timers};

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

/// Configures an [`EventLoop`] (like `tokio::runtime::Builder`).
#[derive(Debug, Clone)]
pub struct Builder {
    stack_size: usize,
    stack_pool_limit: usize,
    clock: Option<Clock>,
    selector: SelectorKind,
    executor_threads: Option<usize>,
    measure_steps: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            stack_size: DEFAULT_STACK_SIZE,
            stack_pool_limit: DEFAULT_POOL_LIMIT,
            clock: None,
            selector: SelectorKind::default(),
            executor_threads: None,
            measure_steps: false,
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
    /// The defaults: 256 KiB stacks, a real clock, the epoll/kqueue selector.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Bytes of stack for each task (address space; only touched pages use
    /// memory), at least [`MIN_STACK_SIZE`]: a task's own machinery needs a
    /// few KiB in a debug build. Too small for what the task calls, and it
    /// overflows into the guard page, which kills the process with SIGSEGV:
    /// there is no recovering from it.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes.max(MIN_STACK_SIZE);
        self
    }

    /// How many stacks of finished tasks to keep for reuse.
    pub fn stack_pool_limit(mut self, stacks: usize) -> Self {
        self.stack_pool_limit = stacks;
        self
    }

    /// The clock timers use. A virtual clock ([`Clock::new_virtual`]) jumps to
    /// the next timer instead of waiting for it, so timer-only programs run
    /// instantly with exact times.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Which selector waits for I/O.
    pub fn selector(mut self, kind: SelectorKind) -> Self {
        self.selector = kind;
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

    /// Makes the loop.
    pub fn build(self) -> io::Result<EventLoop> {
        let selector = self.selector.open()?;
        let clock = self.clock.unwrap_or_else(Clock::real);
        debug!(
            selector = selector.name(),
            stack_size = self.stack_size,
            "event loop created"
        );
        let core = Rc::new_cyclic(|weak| Core {
            weak: weak.clone(),
            clock,
            tasks: RefCell::new(Slab::new()),
            ready: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::default()),
            selector: RefCell::new(selector),
            events: RefCell::new(Vec::new()),
            stacks: RefCell::new(StackPool::new(self.stack_size, self.stack_pool_limit)),
            io_waiters: Cell::new(0),
            registrations: Cell::new(0),
            stopping: Cell::new(false),
            closing: Cell::new(false),
            remote: RefCell::new(None),
            executor_threads: self
                .executor_threads
                .unwrap_or_else(default_executor_threads),
            measure_steps: self.measure_steps,
            step_times: RefCell::new(StepTimes::default()),
        });
        Ok(EventLoop { core })
    }
}

/// The loop's state, shared by the [`EventLoop`], its [`Handle`]s and its tasks.
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
    /// `select`'s output buffer, reused every iteration.
    events: RefCell<Vec<Event>>,
    /// Stacks for new tasks.
    stacks: RefCell<StackPool>,
    /// How many tasks are suspended in `WaitingIo`. While it is zero nothing
    /// `select` could report would wake anyone (`wake` ignores reports for
    /// tasks that are not waiting on I/O), so it is skipped.
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
}

impl Core {
    // ANCHOR: run_once
    /// One iteration of the loop: asyncio's `BaseEventLoop._run_once`.
    fn run_once(&self) -> io::Result<()> {
        // 1. How long may we wait? Not at all if something is ready to run;
        //    else until the earliest timer; with no timers, until I/O comes.
        let deadline = self.timers.borrow().next_deadline();
        let timeout = if !self.ready.borrow().is_empty() {
            Some(Duration::ZERO)
        } else {
            deadline.map(|at| at.saturating_sub(self.clock.now()))
        };

        // 2. Wait for I/O (selector.select), and put every task whose
        //    descriptor is ready on the ready queue (_process_events).
        self.wait_for_events(timeout, deadline)?;

        // 3. Move the timers that are due to the ready queue.
        if deadline.is_some() {
            let now = self.clock.now();
            loop {
                let due = self.timers.borrow_mut().pop_due(now);
                match due {
                    Some(TimerAction::Wake(task)) => self.wake(task, TaskState::Waiting),
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
                Some(Runnable::Task(key)) => self.step(key),
                Some(Runnable::Callback(callback)) => run_callback(callback),
                None => break,
            }
        }
        Ok(())
    }
    // ANCHOR_END: run_once

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
        if self.io_waiters.get() == 0 && !from_threads {
            // No task waits on a descriptor, so none is armed and select
            // could only time out: just wait for the timer. (This is what
            // makes `yield_now` cheap: no system call per iteration.)
            if let (Some(deadline), Some(timeout)) = (deadline, timeout) {
                if !timeout.is_zero() {
                    self.clock.sleep_until(deadline);
                }
            }
            return Ok(());
        }
        // A virtual clock never waits for a timer in real time: look at I/O
        // without blocking, and if nothing came, jump to the deadline.
        let jump = self.clock.is_virtual() && timeout.is_some_and(|t| !t.is_zero());
        let mut events = self.events.borrow_mut();
        let timeout = if jump { Some(Duration::ZERO) } else { timeout };
        self.selector.borrow_mut().select(timeout, &mut events)?;
        if !events.is_empty() {
            debug!(events = events.len(), ?timeout, "select returned");
        }
        for event in events.iter() {
            self.wake(event.key, TaskState::WaitingIo);
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
    fn step(&self, key: usize) {
        let coroutine = {
            let tasks = self.tasks.borrow();
            let Some(task) = tasks.get(key) else { return };
            task.state.set(TaskState::Runnable);
            task.coroutine.get()
        };
        // No `RefCell` is borrowed from here on: the task may spawn, sleep or
        // register a socket, all of which borrow the loop's parts.
        let outer = current_ptr();
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
        let result = unsafe { (*coroutine).resume(()) };
        set_current(outer); // back on the loop's stack: no task is running
        if let Some(started) = started {
            self.record_step(key, started.elapsed());
        }
        if let CoroutineResult::Return(()) = result {
            // It ended (returned or panicked; the result is in its future).
            // Otherwise it waits, and already arranged its wake-up (timer,
            // selector, future, ready queue) before suspending.
            let task = self.tasks.borrow_mut().remove(key);
            debug!(task = %task.name, key, "task finished");
            let coroutine = task.coroutine.into_inner();
            self.stacks.borrow_mut().give_back(coroutine.into_stack());
        }
    }
    // ANCHOR_END: step

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
    pub(crate) fn wake(&self, key: usize, state: TaskState) {
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
        task.state.set(TaskState::Runnable);
        self.push(Runnable::Task(key));
    }

    /// Records that a task is about to suspend in `state`.
    pub(crate) fn park(&self, key: usize, state: TaskState) {
        if let Some(task) = self.tasks.borrow().get(key) {
            task.state.set(state);
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
            self.wake(key, state);
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
    pub(crate) fn wake_later(&self, key: usize, delay: Duration) -> TimerId {
        let deadline = self.clock.now().saturating_add(delay);
        self.timers
            .borrow_mut()
            .insert(deadline, TimerAction::Wake(key))
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
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let key = entry.key();
        let control = Rc::new(TaskControl::new(name.clone(), self.weak(), key));
        let completion = Completion {
            done: done.clone(),
            name: name.clone(),
            control: control.clone(),
        };
        let coroutine = Coroutine::with_stack(stack, move |yielder, ()| {
            task_body(core, key, yielder, completion, f)
        });
        debug!(task = %name, key, "task spawned");
        entry.insert(Box::new(Task {
            name,
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

    /// Arms `fd` in the selector for task `key`: registering it on first use,
    /// re-arming it (`modify`) after that.
    ///
    /// # Safety
    ///
    /// As [`Selector::register`]: if `first_time`, `fd` must be unregistered
    /// (with [`Core::unregister`]) before it is closed.
    pub(crate) unsafe fn arm(
        &self,
        fd: BorrowedFd<'_>,
        key: usize,
        interest: Interest,
        first_time: bool,
    ) -> io::Result<()> {
        let mut selector = self.selector.borrow_mut();
        if first_time {
            // SAFETY: passed on to our caller (this function's contract).
            unsafe { selector.register(fd, key, interest)? };
            self.registrations.set(self.registrations.get() + 1);
            Ok(())
        } else {
            selector.modify(fd, key, interest)
        }
    }

    /// Stops watching `fd`.
    pub(crate) fn unregister(&self, fd: BorrowedFd<'_>) {
        if let Ok(mut selector) = self.selector.try_borrow_mut() {
            // Failing here only means the kernel already forgot it.
            if selector.unregister(fd).is_ok() {
                self.registrations
                    .set(self.registrations.get().saturating_sub(1));
            }
        }
    }

    pub(crate) fn weak(&self) -> Weak<Core> {
        self.weak.clone()
    }

    pub(crate) fn time(&self) -> Duration {
        self.clock.now()
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.get()
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
        let id = self
            .timers
            .borrow_mut()
            .insert(when, TimerAction::Call(callback));
        TimerHandle {
            core: self.weak(),
            id,
        }
    }

    /// Nothing can ever run again: no ready work, no timers, no I/O waiters.
    fn is_idle(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.timers.borrow().is_empty()
            && self.io_waiters.get() == 0
            && !self.remote().is_some_and(|remote| remote.may_arrive())
    }
}

/// Runs a callback; a panic in it is logged and the loop goes on, as asyncio
/// logs an exception raised by a callback.
fn run_callback(callback: Callback) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(callback)) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        error!("a callback panicked: {message}");
    }
}

/// An event loop: asyncio's `BaseEventLoop`. Build one with [`Builder`] (or
/// [`EventLoop::new`]), give it work with [`spawn`](EventLoop::spawn) and
/// `call_*`, run it with [`run_until_complete`](EventLoop::run_until_complete)
/// or [`run_forever`](EventLoop::run_forever).
///
/// Dropping the loop unwinds every task still suspended in it: their `Drop`
/// guards run and their sockets close, and their `JoinHandle`s report
/// [`TaskError::Cancelled`].
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
        let when = self.core.time().saturating_add(delay);
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

    /// How many finished tasks' stacks are pooled for reuse.
    pub fn pooled_stacks(&self) -> usize {
        self.core.stacks.borrow().spare()
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

impl Drop for EventLoop {
    fn drop(&mut self) {
        let core = &self.core;
        core.closing.set(true);
        // Dropping a suspended coroutine unwinds its stack (corosensei raises
        // a private panic at its `suspend`): `Drop` guards run, sockets close.
        // Take them all out first, so that no `RefCell` is borrowed while
        // that code runs; and clear `CURRENT`, so a guard that tries to wait
        // gets `NotInTask` instead of suspending a task that is going away.
        let tasks: Vec<Box<Task>> = core.tasks.borrow_mut().drain().collect();
        let outer = current_ptr();
        set_current(std::ptr::null());
        if !tasks.is_empty() {
            debug!(
                tasks = tasks.len(),
                "loop dropped: unwinding suspended tasks"
            );
        }
        drop(tasks);
        set_current(outer);
        // Lesson 10: no more work from other threads, and no thread left.
        let remote = core.remote.borrow_mut().take();
        if let Some(remote) = remote {
            remote.close();
        }
        let ready = std::mem::take(&mut *core.ready.borrow_mut());
        drop(ready); // callbacks' captures dropped outside the borrow
        *core.timers.borrow_mut() = Timers::default();
    }
}

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
        let when = core.time().saturating_add(delay);
        Some(core.call_at(when, Box::new(callback)))
    }

    pub(crate) fn upgrade(&self) -> Option<Rc<Core>> {
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
