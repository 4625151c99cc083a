//! What the loop tells `tracing` about its tasks: the instrumentation hooks
//! of lesson 11, modelled on trio's `Instrument` (`task_spawned`,
//! `before_task_step`, `after_task_step`, `before_io_wait`, `task_exited`).
//!
//! Two targets, so that `RUST_LOG` can pick them apart:
//!
//! | target             | level | events                                         |
//! |--------------------|-------|------------------------------------------------|
//! | `yieldloop::task`  | debug | `spawn`, `cancel`, `finish` (with its outcome) |
//! | `yieldloop::task`  | trace | `resume`, `suspend` (what it waits on, and its `kind`), `wake` (why) |
//! | `yieldloop::loop`  | trace | one `iteration` line: ready count, timeout and why, events |
//!
//! Every task also runs inside a `task` span (`id`, `name`, `parent`), so a
//! subscriber that prints spans shows which task wrote each line.
//!
//! `RUST_LOG=yieldloop::task=trace,yieldloop::loop=trace cargo run --bin 03-run-loop`
//! shows them all.
//!
//! **Compiled out.** The cargo feature `instrument` (on by default) keeps
//! these events in the build; `--no-default-features` removes every one of
//! them at compile time ([`COMPILED_IN`], [`loop_event!`]), spans included.
//! Nothing else changes: ids, parents, what a task waits on (`dump_tasks`)
//! and debug mode stay. That build exists to *measure* the cost below: the
//! benchmark's `instrument` section runs both builds side by side (see the
//! book's Performance page, "Instrumentation cost").
//!
//! **Cost when nobody listens.** Each `tracing` macro first compares its
//! level with a global maximum (one relaxed atomic load; `OFF` when no
//! subscriber is installed, `INFO` under the course's default filter), and
//! only then looks at its callsite. So a disabled event costs a load and a
//! branch, and its arguments are not even evaluated. The events sit on the
//! loop's side of a task switch (`Core::step`), not in the task's own
//! `yield_now`, which stays exactly as small as before (see its comment in
//! [`crate::reactor::task`] for why that matters).

use std::fmt;
use std::time::Duration;

use crate::reactor::task::TaskState;

/// The `tracing` target of the per-task events (defined with the first loop
/// that sends them, lesson 03's `run`).
pub use crate::generators::run::TASK_TARGET;
/// The `tracing` target of the per-iteration events.
pub const LOOP_TARGET: &str = "yieldloop::loop";

// ANCHOR: compiled_in
/// Whether the loop's own `tracing` events are compiled in (the cargo
/// feature `instrument`, on by default). A `const`, so that without the
/// feature every `if COMPILED_IN { … }` is removed by the compiler.
pub const COMPILED_IN: bool = cfg!(feature = "instrument");

/// One of the loop's own events: a `tracing` macro (`trace`, `debug`) whose
/// call disappears from the build without the `instrument` feature. Its
/// arguments still type-check either way, so neither build warns about a
/// value only an event uses.
macro_rules! loop_event {
    ($level:ident, $($event:tt)+) => {
        if $crate::reactor::instrument::COMPILED_IN {
            ::tracing::$level!($($event)+);
        }
    };
}
pub(crate) use loop_event;
// ANCHOR_END: compiled_in

/// Whether anyone listens to the per-task events (`yieldloop::task` at
/// `debug` or finer): one relaxed load and a branch when nobody does, and a
/// constant `false` when the events are compiled out.
#[inline(always)]
pub(crate) fn task_events_on() -> bool {
    COMPILED_IN && tracing::enabled!(target: TASK_TARGET, tracing::Level::DEBUG)
}

/// The span a new task runs in (`id`, `name`, `parent`); a disabled span
/// when nobody listens, and always when the events are compiled out.
#[inline(always)]
pub(crate) fn task_span(id: u64, name: &str, parent: Option<u64>) -> tracing::Span {
    if COMPILED_IN {
        // A root span (`parent: None`): the spawning task is a field, not
        // the span that happened to be entered, so lines are not nested
        // forever.
        tracing::trace_span!(target: TASK_TARGET, parent: None, "task", id, %name, ?parent)
    } else {
        tracing::Span::none()
    }
}

/// What a suspended task waits on: defined beside the step hook
/// ([`crate::stepping`]), below every loop, because lessons 03 and 05's
/// loops describe their coroutines with it too; its reactor-only method
/// (`state`) is here.
pub use crate::stepping::WaitOn;

impl WaitOn {
    /// One word for the kind of wait, the `kind` field of the `suspend`
    /// event: `ready`, `timer`, `io`, `join`, `future`, `sync` or
    /// `executor`. The timelines (lesson 11) draw a state per kind.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldloop::WaitOn;
    ///
    /// assert_eq!(WaitOn::Timer { deadline: Duration::ZERO }.kind(), "timer");
    /// assert_eq!(WaitOn::Executor.kind(), "executor");
    /// ```
    pub fn kind(self) -> &'static str {
        match self {
            WaitOn::Ready => "ready",
            WaitOn::Timer { .. } => "timer",
            WaitOn::Io { .. } => "io",
            WaitOn::Join { .. } => "join",
            WaitOn::Future { .. } => "future",
            WaitOn::Sync { .. } => "sync",
            WaitOn::Executor => "executor",
        }
    }

    /// What wake-ups may end this wait (the loop's coarser view).
    #[inline(always)]
    pub(crate) fn state(self) -> TaskState {
        match self {
            WaitOn::Ready => TaskState::Runnable,
            WaitOn::Io { .. } => TaskState::WaitingIo,
            _ => TaskState::Waiting,
        }
    }
}

/// Why a suspended task was put back on the ready queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakeCause {
    /// Its timer fired.
    Timer,
    /// The selector reported its descriptor.
    Io,
    /// A future it waited on completed (or a task it joined ended).
    Future,
    /// A lock, semaphore, event or queue handed it what it waited for.
    Sync,
    /// The executor's thread finished its function.
    Executor,
    /// It was cancelled (lesson 08).
    Cancel,
}

impl fmt::Display for WakeCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WakeCause::Timer => "timer fired",
            WakeCause::Io => "descriptor ready",
            WakeCause::Future => "future done",
            WakeCause::Sync => "sync primitive granted",
            WakeCause::Executor => "executor finished",
            WakeCause::Cancel => "cancelled",
        })
    }
}

/// Why the loop chose the selector timeout it did, for the iteration event.
pub(crate) fn timeout_reason(ready: usize, deadline: Option<Duration>) -> &'static str {
    if ready > 0 {
        "tasks are ready: do not wait"
    } else if deadline.is_some() {
        "until the next timer"
    } else {
        "no timers: until I/O comes"
    }
}

// ANCHOR: debug_mode
/// Debug mode's default slow-step threshold: asyncio's
/// `slow_callback_duration`, 100 ms.
pub const DEFAULT_SLOW_STEP: Duration = Duration::from_millis(100);

/// The `tracing` target of debug mode's reports.
pub const DEBUG_TARGET: &str = "yieldloop::debug";

/// `YIELDLOOP_DEBUG=1` (anything but empty or `0`) turns debug mode on for
/// every loop built after, as `PYTHONASYNCIODEBUG=1` does for asyncio.
pub(crate) fn debug_from_env() -> Option<Duration> {
    match std::env::var_os("YIELDLOOP_DEBUG") {
        Some(value) if !value.is_empty() && value != "0" => Some(DEFAULT_SLOW_STEP),
        _ => None,
    }
}

/// Says one debug-mode finding: as a `warn` event on `yieldloop::debug` if a
/// subscriber listens, else straight to standard error (asyncio's logging
/// falls back to stderr the same way), so a program without any `tracing`
/// set up still hears it.
pub(crate) fn debug_report(message: &str) {
    let listening = tracing::dispatcher::get_default(|dispatch| {
        !dispatch.is::<tracing::subscriber::NoSubscriber>()
    });
    if listening {
        tracing::warn!(target: DEBUG_TARGET, "{message}");
    } else {
        eprintln!("yieldloop debug: {message}");
    }
}

/// A step that held the loop (asyncio: "Executing <Task …> took 0.502 seconds").
pub(crate) fn slow_step_message(
    id: u64,
    name: &str,
    took: Duration,
    resumed_from: WaitOn,
) -> String {
    let from = match resumed_from {
        WaitOn::Ready => "queued (its first step, a yield or a wake-up)".to_string(),
        other => format!("waiting on {other}"),
    };
    format!(
        "task {name:?} (id {id}) ran {:.3} s in one step without suspending, resumed from \
         {from}: a blocking call? Every other task waited meanwhile (see the book's \
         lesson 11, \"Seeing the loop\"; lesson 10 moves blocking calls to the executor)",
        took.as_secs_f64()
    )
}

/// A task the loop's shutdown found unfinished (asyncio: "Task was
/// destroyed but it is pending!").
pub(crate) fn pending_at_shutdown_message(
    id: u64,
    name: &str,
    on: WaitOn,
    since: Duration,
) -> String {
    format!(
        "task {name:?} (id {id}) was still pending when the loop was dropped, waiting on {on} \
         since {:.3}: nobody joined it, so it is cancelled now (see lesson 08: cancel and \
         wait, or use a scope)",
        since.as_secs_f64()
    )
}

/// A failed task whose handle is gone (asyncio: "Task exception was never
/// retrieved").
pub(crate) fn never_retrieved_message(id: u64, error: &dyn fmt::Display) -> String {
    format!(
        "task id {id} failed and nobody can join it any more (its JoinHandle was dropped): \
         {error}. Task exception was never retrieved (see lesson 07: join your tasks)"
    )
}
/// A pending future whose last handle, other than the waiting tasks' own,
/// was dropped: nobody is left who could complete it.
pub(crate) fn future_dropped_message(waiters: &[(u64, String)]) -> String {
    let names: Vec<String> = waiters
        .iter()
        .map(|(id, name)| format!("{name:?} (id {id})"))
        .collect();
    format!(
        "a pending Future was dropped while {} task(s) wait on it: {}. Only the waiting tasks \
         hold it now, and a waiting task cannot complete it, so they will wait forever \
         (see lesson 07: keep a handle to complete the future, or complete it with an error \
         before dropping it)",
        waiters.len(),
        names.join(", ")
    )
}
// ANCHOR_END: debug_mode
