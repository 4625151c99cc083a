//! # Lesson 12 — `async`/`await`: the same loop, stackless
//!
//! Every task so far ran on a stack of its own (a corosensei coroutine), so a
//! wait could happen in any function, however deep. Rust's own `async fn`
//! is the other design, the one Python's generators had: the compiler turns
//! each `async fn` into a *state machine*, a struct that remembers where it
//! stopped, and `.await` is `yield from`. There is no stack to switch; a
//! scheduler calls `Future::poll` (Python: `send`) until it answers
//! `Poll::Ready` (Python: `StopIteration`).
//!
//! This lesson writes the scheduler, an *executor*, on top of lesson 06's
//! reactor, to show how little it takes:
//!
//! * a `Waker` that puts the task back on a ready list (asyncio's
//!   `Task._wakeup`), and a `call_soon` that asks the loop for a turn;
//! * `poll` where lesson 06 had `resume`;
//! * `sleep` as a future whose `call_later` callback wakes the `Waker`.
//!
//! and runs the slides' `a` and `b`, written as `async fn`s, on it. The trace
//! is lesson 03's, to the millisecond.
//!
//! Run it:
//!
//! ```text
//! cargo run --bin 12-async-await -- --virtual          # a/b on the executor
//! cargo run --bin 12-async-await -- cancel --virtual   # cancelling is dropping
//! cargo run --example tokio_ab                         # the same a/b on tokio
//! ```
//!
//! Look for: "nothing printed yet" before `a enter` (calling an `async fn`
//! runs none of it); then `0.000 a enter`, `0.500 b middle`, both exits at
//! `1.000`, as in lessons 03 and 06. In `cancel`, the run ends at 0.300, not
//! 1.000: dropping the future ran its guard and cancelled its timer.
//!
//! This is the last rung: the book's chapter puts the traces of lessons 03,
//! 06, 12 and tokio side by side and says why Rust chose this design.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::process::ExitCode;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing::{info, warn};
use yieldloop::course::cli::{ClockArgs, ObserveArgs};
use yieldloop::course::trace;
use yieldloop::println; // like std's, but `| head` ends the program quietly
use yieldloop::reactor::instrument::TASK_TARGET;
use yieldloop::{secs, Builder, Clock, EventLoop, Handle, TimerHandle};

// ANCHOR: ab
/// The slides' `a`, as an `async fn`. Calling `a()` runs none of it: it
/// returns a state machine that has not started (see `main`).
async fn a() -> Result<(), NotInExecutor> {
    info!("a enter");
    sleep(secs(1.0)).await?;
    info!("a exit");
    Ok(())
}

async fn b() -> Result<(), NotInExecutor> {
    info!("b enter");
    sleep(secs(0.5)).await?;
    info!("b middle");
    sleep(secs(0.5)).await?;
    info!("b exit");
    Ok(())
}
// ANCHOR_END: ab

// ANCHOR: waker
/// The executor's names for its tasks. Never reused, so a late wake-up for
/// a finished task cannot wake a newer one by mistake.
type TaskId = u64;

/// What wakers share with the executor: the ids of woken tasks.
///
/// `std::task::Waker` is `Send + Sync`: any thread may clone, keep and call
/// one (a thread-pool job finishing, a signal handler thread). So whatever a
/// waker touches must be thread-safe too: a `Mutex`, not a `RefCell`; an
/// `Arc`, not an `Rc`. The executor and the futures stay on one thread; only
/// this list is shared.
#[derive(Default)]
struct WokenList {
    ids: Mutex<VecDeque<TaskId>>,
}

impl WokenList {
    fn push(&self, id: TaskId) {
        // A panic while the lock was held cannot leave a VecDeque half
        // changed, so a poisoned lock is still a good list.
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(id);
    }

    fn pop(&self) -> Option<TaskId> {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    fn len(&self) -> usize {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One task's waker: asyncio's `Task._wakeup`, minus the result passing
/// (a Rust future reads its result itself when polled again).
struct TaskWaker {
    id: TaskId,
    woken: Arc<WokenList>,
    /// Set when the id is on the list, cleared just before the task is
    /// polled: a task woken twice before it runs is polled once.
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return; // already on the list
        }
        self.woken.push(self.id);
        // On the loop's thread, also ask the loop for a turn (call_soon).
        // From another thread there is no executor here to ask: the wake-up
        // is recorded, and noticed at the loop's next turn. A real executor
        // would then wake the loop out of epoll (asyncio's
        // call_soon_threadsafe writes a byte to a self-pipe, as lesson 05's
        // Ctrl-C does); every waker in this lesson fires on the loop's thread.
        // (`try_with`: a waker dropped late, while this thread's locals are
        // being torn down, must not panic.)
        let running = RUNNING.try_with(|running| running.borrow().upgrade());
        if let Ok(Some(executor)) = running {
            executor.schedule_poll();
        }
    }
}
// ANCHOR_END: waker

// ANCHOR: executor
/// A spawned future: asyncio's `Task`, with `poll` where lesson 06 resumes a
/// stack. `None` while it is being polled (taken out, see `poll_task`).
struct Task {
    name: String,
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    waker: Arc<TaskWaker>,
}

/// The executor: futures, and the list of woken ones. It owns no thread and
/// no loop of its own; lesson 06's reactor turns, and this only answers
/// `call_soon` callbacks.
struct Executor {
    handle: Handle,
    tasks: RefCell<BTreeMap<TaskId, Task>>,
    next_id: Cell<TaskId>,
    woken: Arc<WokenList>,
    /// A `poll_woken` callback is on the loop's ready queue already.
    poll_scheduled: Cell<bool>,
}

thread_local! {
    /// The executor running on this thread, for `sleep` and for wakers (asyncio:
    /// `get_running_loop()`; tokio keeps the same kind of thread-local).
    static RUNNING: RefCell<Weak<Executor>> = const { RefCell::new(Weak::new()) };
}

impl Executor {
    fn new(handle: Handle) -> Rc<Self> {
        Rc::new(Executor {
            handle,
            tasks: RefCell::new(BTreeMap::new()),
            next_id: Cell::new(0),
            woken: Arc::default(),
            poll_scheduled: Cell::new(false),
        })
    }

    /// asyncio's `create_task`: the future is stored, and woken once so that
    /// its first `poll` (which runs it up to its first `.await`) comes soon.
    fn spawn<E: fmt::Display>(
        self: &Rc<Self>,
        name: &str,
        future: impl Future<Output = Result<(), E>> + 'static,
    ) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let owned_name = name.to_string();
        let report = async move {
            if let Err(error) = future.await {
                warn!("task {owned_name} failed: {error}");
            }
        };
        let waker = Arc::new(TaskWaker {
            id,
            woken: self.woken.clone(),
            queued: AtomicBool::new(false),
        });
        let task = Task {
            name: name.to_string(),
            future: Some(Box::pin(report)),
            waker: waker.clone(),
        };
        self.tasks.borrow_mut().insert(id, task);
        // Lesson 11's events, as the reactor sends them, for `--timeline`.
        tracing::debug!(target: TASK_TARGET, task = id, name, "spawn");
        waker.wake_by_ref();
        self.schedule_poll(); // RUNNING may not be set yet
    }

    /// One `poll_woken` on the loop's ready queue at a time.
    fn schedule_poll(self: &Rc<Self>) {
        if !self.poll_scheduled.replace(true) {
            let executor = self.clone();
            self.handle.call_soon(move || executor.poll_woken());
        }
    }

    /// The callback the loop runs: poll each task that was woken before it
    /// started, once.
    fn poll_woken(self: Rc<Self>) {
        // Cleared first: a task woken while we poll gets a new callback, on
        // the loop's next turn, as asyncio's `call_soon(self._step)` does.
        // Only the tasks woken *before* this pass run in it (asyncio's
        // `ntodo`): a task that wakes itself at every poll must not keep
        // this callback, and with it the whole loop, busy for ever.
        self.poll_scheduled.set(false);
        for _ in 0..self.woken.len() {
            if let Some(id) = self.woken.pop() {
                self.poll_task(id);
            }
        }
    }

    /// `_step`: poll the future once. `Ready` is StopIteration; `Pending`
    /// means it gave its waker to whatever it waits for.
    fn poll_task(&self, id: TaskId) {
        // Take the future out, so that no borrow of `tasks` is held while
        // its code runs: it may spawn, or drop a future whose Drop runs code.
        let taken = self.tasks.borrow_mut().get_mut(&id).and_then(|task| {
            task.waker.queued.store(false, Ordering::Release);
            Some((task.future.take()?, Waker::from(task.waker.clone())))
        });
        let Some((mut future, waker)) = taken else {
            return; // finished already, or a wake-up for a task being polled
        };
        let mut context = Context::from_waker(&waker);
        tracing::trace!(target: TASK_TARGET, task = id, "resume");
        // A panicking future ends only its own task, like a panicking
        // yieldloop task (lesson 07) or a tokio task (its JoinError).
        let polled = panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut context)));
        let mut tasks = self.tasks.borrow_mut();
        match polled {
            Ok(Poll::Pending) => {
                // A pending future waits on whatever holds its waker.
                tracing::trace!(target: TASK_TARGET, task = id, kind = "future", "suspend");
                if let Some(task) = tasks.get_mut(&id) {
                    task.future = Some(future);
                }
            }
            Ok(Poll::Ready(())) => {
                tracing::debug!(target: TASK_TARGET, task = id, outcome = "returned", "finish");
                tasks.remove(&id);
            }
            Err(_) => {
                if let Some(task) = tasks.remove(&id) {
                    warn!("task {} panicked", task.name);
                }
            }
        }
        drop(tasks);
        // `future` is dropped here, after the borrow: if it finished or
        // panicked, its Drop code runs with nothing of ours borrowed.
    }

    /// Turns the reactor until nothing is left to do. Tasks still there at
    /// the end wait for a wake-up that can never come: reported, not hung.
    fn run(self: &Rc<Self>, event_loop: &mut EventLoop) -> Result<(), Box<dyn Error>> {
        let outer = RUNNING.with(|running| running.replace(Rc::downgrade(self)));
        let turned = event_loop.run_forever();
        RUNNING.with(|running| *running.borrow_mut() = outer);
        turned?;
        let stuck: Vec<String> = (self.tasks.borrow().values())
            .map(|task| task.name.clone())
            .collect();
        if stuck.is_empty() {
            Ok(())
        } else {
            Err(format!("tasks {stuck:?} wait for a wake-up that can never come").into())
        }
    }
}
// ANCHOR_END: executor

// ANCHOR: sleep
/// `sleep(delay)` as a future: armed on its first poll, ready once its
/// timer's callback has run.
struct Sleep {
    delay: Duration,
    armed: Option<Armed>,
}

/// A `Sleep` that has asked the loop for a timer.
struct Armed {
    timer: TimerHandle,
    alarm: Rc<Alarm>,
}

/// What the timer's callback shares with the `Sleep`.
#[derive(Default)]
struct Alarm {
    rang: Cell<bool>,
    /// The waker of the last poll: a future must wake the waker it was
    /// given most recently.
    waker: Cell<Option<Waker>>,
}

fn sleep(delay: Duration) -> Sleep {
    Sleep { delay, armed: None }
}

impl Future for Sleep {
    type Output = Result<(), NotInExecutor>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        // `Sleep` holds no pointer into itself, so it is `Unpin` and may be
        // used as a plain `&mut`; only the compiler's state machines need
        // the pinning (see the book).
        let this = &mut *self;
        if let Some(armed) = &this.armed {
            if armed.alarm.rang.get() {
                return Poll::Ready(Ok(()));
            }
            armed.alarm.waker.set(Some(context.waker().clone()));
            return Poll::Pending;
        }
        // First poll: nothing happened before it. Futures are lazy.
        let Some(executor) = RUNNING.with(|running| running.borrow().upgrade()) else {
            return Poll::Ready(Err(NotInExecutor));
        };
        let alarm = Rc::new(Alarm::default());
        alarm.waker.set(Some(context.waker().clone()));
        let ring = alarm.clone();
        let timer = executor.handle.call_later(this.delay, move || {
            ring.rang.set(true);
            if let Some(waker) = ring.waker.take() {
                waker.wake();
            }
        });
        let Some(timer) = timer else {
            return Poll::Ready(Err(NotInExecutor)); // the loop is gone
        };
        this.armed = Some(Armed { timer, alarm });
        Poll::Pending
    }
}

/// Dropping a `Sleep` mid-wait is how it is cancelled: its timer goes too.
impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(armed) = &self.armed {
            armed.timer.cancel();
        }
    }
}

/// `sleep` was polled outside `Executor::run` (tokio's "there is no reactor
/// running"; yieldloop's `NotInTask`).
#[derive(Debug)]
struct NotInExecutor;

impl fmt::Display for NotInExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sleep() was polled outside lesson 12's executor")
    }
}

impl Error for NotInExecutor {}
// ANCHOR_END: sleep

// ANCHOR: cancel
/// Prints when it is dropped: where a stackful task would unwind, a future
/// is simply dropped, and its locals' `Drop`s run.
struct Guard(&'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        info!(
            "{} dropped: its guard ran and its timer was cancelled",
            self.0
        );
    }
}

async fn slow() -> Result<(), NotInExecutor> {
    let _guard = Guard("slow()");
    info!("slow enter");
    sleep(secs(1.0)).await?;
    info!("slow exit (never printed)");
    Ok(())
}

/// Polls `work`; if `limit` has passed first, drops `work` and says so
/// (a hand-made `tokio::time::timeout`, or asyncio's `wait_for`).
async fn with_timeout(
    limit: Duration,
    work: impl Future<Output = Result<(), NotInExecutor>>,
) -> Result<(), NotInExecutor> {
    let mut work = Box::pin(work);
    let mut timer = sleep(limit);
    std::future::poll_fn(|context| {
        if let Poll::Ready(done) = work.as_mut().poll(context) {
            return Poll::Ready(done);
        }
        match Pin::new(&mut timer).poll(context) {
            Poll::Ready(Ok(())) => {
                info!("timed out: dropping slow()");
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await?;
    drop(work); // on a timeout: slow()'s state machine, its guard and its Sleep go
    Ok(())
}
// ANCHOR_END: cancel

/// Lesson 12: the slides' a/b as async fns, on an executor built on the reactor.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    demo: Option<Demo>,
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

#[derive(Subcommand)]
enum Demo {
    /// Cancelling a future is dropping it: a 1 s wait cut off at 0.3 s.
    Cancel {
        #[command(flatten)]
        clock: ClockArgs,
    },
}

// ANCHOR: main
/// Lesson 03's a/b, as futures on the executor.
fn ab(clock: Clock, observe: &ObserveArgs) -> Result<(), Box<dyn Error>> {
    let observer = trace::init_observed(&clock, observe)?;
    let future = a();
    println!(
        "a() returned a future of {} bytes; nothing printed yet: futures are lazy",
        std::mem::size_of_val(&future)
    );
    drop(future);

    let mut event_loop = Builder::new().clock(clock).build()?;
    let executor = Executor::new(event_loop.handle());
    executor.spawn("a", a());
    executor.spawn("b", b());
    executor.run(&mut event_loop)?;
    observer.timeline().print();
    observer.finish()?; // --timeline and friends (lesson 11)
    Ok(())
}

/// `cancel`: slow() is dropped at 0.3 s, and the loop has nothing left.
fn cancel(clock: Clock, observe: &ObserveArgs) -> Result<(), Box<dyn Error>> {
    let observer = trace::init_observed(&clock, observe)?;
    let mut event_loop = Builder::new().clock(clock).build()?;
    let executor = Executor::new(event_loop.handle());
    executor.spawn("main", with_timeout(secs(0.3), slow()));
    executor.run(&mut event_loop)?;
    info!("loop done: no timer left");
    observer.finish()?; // --timeline and friends (lesson 11)
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.observe.install_stepper(); // lesson 11's `--step`
    let result = match args.demo {
        None => ab(args.clock.clock(), &args.observe),
        Some(Demo::Cancel { clock }) => cancel(args.clock.or(clock).clock(), &args.observe),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("12-async-await: {error}");
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: main
