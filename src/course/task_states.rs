//! What each task was doing, when: the recorder behind `--timeline`,
//! `--timeline-svg` and `--trace-out`. Introduced by lesson 11 ("Reading a
//! timeline"); every lesson that runs a loop can use it.
//!
//! The loops tell `tracing` about their tasks (see
//! [`crate::reactor::instrument`]): `spawn`, `resume`, `suspend` (with what
//! the task now waits on), `wake`, `cancel`, `finish`. [`StateRecorder`] is a
//! `tracing` layer that turns that stream into one row per task, made of
//! intervals in a [`TaskState`]:
//!
//! ```text
//!   spawn ─▶ ready ─▶ resume ─▶ running ─▶ suspend(timer) ─▶ waiting on a timer
//!                                  ▲                                 │ wake
//!                                  └──────── resume ◀── ready ◀──────┘
//! ```
//!
//! Lesson 01 has no loop and no tasks, only functions that print
//! `a enter` / `a exit`. For such a run (no task event at all) the rows come
//! from the printed lines instead: the first word names the row, and the row
//! is *running* from its first line to its last, because a blocking call
//! holds the whole thread. That is exactly what lesson 01 is about.
//!
//! The generator loops of lessons 03–05 know no names unless a coroutine
//! was given one (`Generator::named`); a nameless row takes the first word
//! of the first line its task prints (`a enter` names the row `a`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::clock::Clock;
use crate::reactor::instrument::TASK_TARGET;

/// What a task is doing during one interval of its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// On the CPU: the loop resumed it and it has not suspended yet. (In a
    /// program without a loop, lesson 01: inside a blocking function.)
    Running,
    /// Queued to run: woken, new, or yielded, and waiting for its turn. A
    /// long stretch of it means another task held the loop.
    Ready,
    /// Suspended until a timer fires (`sleep`).
    Timer,
    /// Suspended until a descriptor is readable or writable.
    Io,
    /// Suspended until another task, a future, a lock, a queue, an event or
    /// the executor hands it something.
    Waiting,
    /// Asked to stop: from the cancellation until the task runs and meets
    /// it, and the moment it ends by one. (A task may catch a cancellation
    /// and go on, as `wait_for` does with its own.)
    Cancelled,
}

impl TaskState {
    /// Every state, in the legend's order.
    pub const ALL: [TaskState; 6] = [
        TaskState::Running,
        TaskState::Ready,
        TaskState::Timer,
        TaskState::Io,
        TaskState::Waiting,
        TaskState::Cancelled,
    ];

    /// Its character in the terminal chart.
    pub fn symbol(self) -> char {
        match self {
            TaskState::Running => '█',
            TaskState::Ready => '░',
            TaskState::Timer => '─',
            TaskState::Io => '~',
            TaskState::Waiting => '·',
            TaskState::Cancelled => 'x',
        }
    }

    /// Its name in the SVG and the Perfetto trace: one word.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Ready => "ready",
            TaskState::Timer => "timer",
            TaskState::Io => "io",
            TaskState::Waiting => "waiting",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// What the legend says about it.
    pub fn meaning(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Ready => "ready, waiting for its turn",
            TaskState::Timer => "waiting on a timer",
            TaskState::Io => "waiting on I/O",
            TaskState::Waiting => "waiting on a task, lock, queue, event or executor",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// Its colour, as an SVG fill and (roughly) an ANSI colour code.
    pub fn colour(self) -> (&'static str, u8) {
        match self {
            TaskState::Running => ("#2e7d32", 32),
            TaskState::Ready => ("#f9a825", 33),
            TaskState::Timer => ("#1565c0", 34),
            TaskState::Io => ("#00838f", 36),
            TaskState::Waiting => ("#8e24aa", 35),
            TaskState::Cancelled => ("#c62828", 31),
        }
    }

    /// When two states share one column of the chart, the one drawn: a
    /// cancellation first, then any running at all (a step on the virtual
    /// clock takes no time, but it happened), then the others.
    pub fn precedence(self) -> u8 {
        match self {
            TaskState::Cancelled => 0,
            TaskState::Running => 1,
            TaskState::Ready => 2,
            TaskState::Io => 3,
            TaskState::Waiting => 4,
            TaskState::Timer => 5,
        }
    }

    /// The state for a `suspend` event's `kind` (see
    /// [`crate::WaitOn::kind`]).
    fn from_wait_kind(kind: &str) -> TaskState {
        match kind {
            "ready" => TaskState::Ready,
            "timer" => TaskState::Timer,
            "io" => TaskState::Io,
            _ => TaskState::Waiting,
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One stretch of a task's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// What the task was doing.
    pub state: TaskState,
    /// From when (loop time).
    pub start: Duration,
    /// Until when. Equal to `start` for a step that took no time (the
    /// virtual clock): it is kept, because it happened.
    pub end: Duration,
    /// What it waited on, as the loop said it (`timer at 1.000`), if anything.
    pub detail: String,
}

/// A moment on a task's row: a wake-up (with its cause) or a cancellation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instant {
    /// `wake` or `cancel`.
    pub what: &'static str,
    /// When.
    pub at: Duration,
    /// The wake-up's cause, if any.
    pub detail: String,
}

/// Everything recorded about one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// The loop's id for it (serial per loop).
    pub id: u64,
    /// Its name (from `spawn`, or the first word it printed).
    pub name: String,
    /// The id of the task that spawned it.
    pub parent: Option<u64>,
    /// Its intervals, in time order.
    pub intervals: Vec<Interval>,
    /// Its wake-ups and cancellations.
    pub instants: Vec<Instant>,
    /// When it finished, and whether by cancellation.
    pub finished: Option<(Duration, bool)>,
}

impl TaskRow {
    fn new(id: u64, name: String, parent: Option<u64>) -> Self {
        TaskRow {
            id,
            name,
            parent,
            intervals: Vec::new(),
            instants: Vec::new(),
            finished: None,
        }
    }

    /// When the row's last interval ends (or its first starts).
    pub fn end(&self) -> Duration {
        self.intervals.last().map_or(Duration::ZERO, |i| i.end)
    }
}

/// A row's state right now, not yet an interval.
#[derive(Clone)]
struct Open {
    state: TaskState,
    since: Duration,
    detail: String,
}

impl Open {
    /// The interval it makes if it ends at `at`. A zero-length one is kept
    /// only for running (a step on the virtual clock).
    fn until(self, at: Duration) -> Option<Interval> {
        let end = at.max(self.since);
        (end > self.since || self.state == TaskState::Running).then_some(Interval {
            state: self.state,
            start: self.since,
            end,
            detail: self.detail,
        })
    }
}

/// What the recorder has seen so far.
#[derive(Default)]
struct Recorded {
    rows: Vec<TaskRow>,
    /// Each live task's open state, by row index.
    open: HashMap<usize, Open>,
    /// Task id → row index, for tasks not finished yet. (Ids restart with
    /// each new loop, so a finished task's id may come back as a new row.)
    live: HashMap<u64, usize>,
    /// The row whose task is running now, if any, and the thread it runs
    /// on (a line printed by another thread, say a client's, names nothing).
    running: Option<(usize, std::thread::ThreadId)>,
    /// Rows named by the lesson's own lines, when no task event came at all
    /// (lesson 01): name → (first line, last line).
    by_lines: Vec<(String, Duration, Duration)>,
    /// Whether any task event came.
    saw_tasks: bool,
}

impl Recorded {
    /// The row of task `id`, made on first sight (the generator loops have
    /// no `spawn` event).
    fn row(&mut self, id: u64, at: Duration) -> usize {
        if let Some(&row) = self.live.get(&id) {
            return row;
        }
        let row = self.rows.len();
        self.rows.push(TaskRow::new(id, String::new(), None));
        self.live.insert(id, row);
        self.open.insert(
            row,
            Open {
                state: TaskState::Ready,
                since: at,
                detail: String::new(),
            },
        );
        row
    }

    /// Ends the row's open interval at `at` and opens one in `state`.
    fn enter(&mut self, row: usize, state: TaskState, at: Duration, detail: String) {
        self.close(row, at);
        self.open.insert(
            row,
            Open {
                state,
                since: at,
                detail,
            },
        );
    }

    /// Notes a wake-up or a cancellation on the row.
    fn instant(&mut self, row: usize, what: &'static str, at: Duration, detail: &str) {
        self.rows[row].instants.push(Instant {
            what,
            at,
            detail: detail.to_string(),
        });
    }

    /// Ends the row's open interval at `at`, if it has one. A zero-length
    /// interval is kept only for running (a step on the virtual clock).
    fn close(&mut self, row: usize, at: Duration) {
        if let Some(interval) = self.open.remove(&row).and_then(|open| open.until(at)) {
            self.rows[row].intervals.push(interval);
        }
    }

    fn task_event(&mut self, id: u64, fields: &Fields, at: Duration) {
        self.saw_tasks = true;
        match fields.message.as_str() {
            "spawn" => {
                // A new task: a new row, even if a finished one had this id.
                self.live.remove(&id);
                let row = self.row(id, at);
                self.rows[row].name = fields.name.clone();
                self.rows[row].parent = fields.parent;
            }
            "resume" => {
                let row = self.row(id, at);
                if self.rows[row].name.is_empty() {
                    self.rows[row].name = fields.name.clone();
                }
                self.running = Some((row, std::thread::current().id()));
                self.enter(row, TaskState::Running, at, String::new());
            }
            "suspend" => {
                let row = self.row(id, at);
                self.running = None;
                let state = TaskState::from_wait_kind(&fields.kind);
                self.enter(row, state, at, fields.on.clone());
            }
            "wake" => {
                let row = self.row(id, at);
                self.instant(row, "wake", at, &fields.cause);
                // Woken by its cancellation: still shown as cancelled until
                // it runs and meets it.
                let cancelled =
                    self.open.get(&row).map(|open| open.state) == Some(TaskState::Cancelled);
                let state = if cancelled {
                    TaskState::Cancelled
                } else {
                    TaskState::Ready
                };
                self.enter(row, state, at, fields.cause.clone());
            }
            "cancel" => {
                let row = self.row(id, at);
                self.instant(row, "cancel", at, "");
                if self.running.map(|(running, _)| running) != Some(row) {
                    self.enter(row, TaskState::Cancelled, at, String::new());
                }
            }
            "finish" => {
                let row = self.row(id, at);
                let cancelled = fields.outcome.contains("cancelled");
                self.close(row, at);
                if cancelled {
                    // The moment it ended by cancellation shows as one.
                    self.rows[row].intervals.push(Interval {
                        state: TaskState::Cancelled,
                        start: at,
                        end: at,
                        detail: fields.outcome.clone(),
                    });
                }
                self.rows[row].finished = Some((at, cancelled));
                self.live.remove(&id);
                if self.running.map(|(running, _)| running) == Some(row) {
                    self.running = None;
                }
            }
            _ => {}
        }
    }

    /// A line the lesson printed: it names a nameless running task, and
    /// notes the line for a run without tasks.
    fn line(&mut self, first_word: &str, at: Duration) {
        // `0.5 s are up` names nothing.
        if first_word.is_empty() || first_word.starts_with(|c: char| c.is_ascii_digit()) {
            return;
        }
        if let Some((row, thread)) = self.running {
            if thread == std::thread::current().id() && self.rows[row].name.is_empty() {
                self.rows[row].name = first_word.to_string();
            }
        }
        match self
            .by_lines
            .iter_mut()
            .find(|(name, _, _)| name == first_word)
        {
            Some((_, _, last)) => *last = at,
            None => self.by_lines.push((first_word.to_string(), at, at)),
        }
    }

    /// The rows as they stand at `now`: open intervals end at `now`.
    fn snapshot(&self, now: Duration) -> Vec<TaskRow> {
        if !self.saw_tasks {
            return self
                .by_lines
                .iter()
                .enumerate()
                .map(|(i, (name, first, last))| {
                    let mut row = TaskRow::new(i as u64 + 1, name.clone(), None);
                    row.intervals.push(Interval {
                        state: TaskState::Running,
                        start: *first,
                        end: *last,
                        detail: "a blocking call holds the whole thread".to_string(),
                    });
                    row.finished = Some((*last, false));
                    row
                })
                .collect();
        }
        let mut rows = self.rows.clone();
        for (&row, open) in &self.open {
            if let Some(interval) = open.clone().until(now) {
                rows[row].intervals.push(interval);
            }
        }
        for row in &mut rows {
            if row.name.is_empty() {
                row.name = format!("task {}", row.id);
            }
        }
        rows
    }
}

/// The fields of one event that the recorder reads.
#[derive(Default)]
struct Fields {
    message: String,
    task: Option<u64>,
    name: String,
    parent: Option<u64>,
    kind: String,
    on: String,
    cause: String,
    outcome: String,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "task" | "id" => self.task = Some(value),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "parent" {
            // `?parent` is `Some(3)` or `None`.
            let text = format!("{value:?}");
            self.parent = text
                .strip_prefix("Some(")
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|id| id.parse().ok());
            return;
        }
        let text = format!("{value:?}");
        self.record_text(field, text);
    }
}

impl Fields {
    fn record_text(&mut self, field: &Field, text: String) {
        match field.name() {
            "message" => self.message = text,
            "name" => self.name = text,
            "kind" => self.kind = text,
            "on" => self.on = text,
            "cause" => self.cause = text,
            "outcome" => self.outcome = text,
            _ => {}
        }
    }
}

/// The id of a task span, kept in the span's extensions.
struct TaskSpanId(u64);

/// A `tracing` layer that records every task's states over time.
pub struct StateRecorder {
    clock: Clock,
    recorded: Arc<Mutex<Recorded>>,
}

/// What a [`StateRecorder`] saw, readable while it goes on recording.
#[derive(Clone)]
pub struct TaskStates {
    clock: Clock,
    recorded: Arc<Mutex<Recorded>>,
}

/// Makes a recorder reading `clock`, and the handle to read what it records.
pub fn state_recorder(clock: &Clock) -> (StateRecorder, TaskStates) {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let recorder = StateRecorder {
        clock: clock.clone(),
        recorded: recorded.clone(),
    };
    let states = TaskStates {
        clock: clock.clone(),
        recorded,
    };
    (recorder, states)
}

impl TaskStates {
    /// Every task's row so far, in the order the tasks first appeared; a
    /// task still alive has its last interval end now.
    pub fn rows(&self) -> Vec<TaskRow> {
        let now = self.clock.now();
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot(now)
    }
}

/// Runs `f` with a [`StateRecorder`] reading `clock` as this thread's
/// `tracing` subscriber, and returns what `f` returned and every task's row.
/// For a test or a workshop check that wants the timeline of a loop it runs
/// itself (the `find_the_blocker` exercise), without installing a printer.
///
/// ```
/// use yieldloop::course::task_states::{record, TaskState};
/// use yieldloop::{secs, sleep, spawn, Builder, Clock};
///
/// let clock = Clock::new_virtual();
/// let mut event_loop = Builder::new().clock(clock.clone()).build().unwrap();
/// let (_, rows) = record(&clock, || {
///     event_loop.run_until_complete(|| spawn("nap", || sleep(secs(1.0))).join())
/// });
/// let nap = rows.iter().find(|row| row.name == "nap").unwrap();
/// assert!(nap.intervals.iter().any(|i| i.state == TaskState::Timer));
/// ```
pub fn record<R>(clock: &Clock, f: impl FnOnce() -> R) -> (R, Vec<TaskRow>) {
    use tracing_subscriber::layer::SubscriberExt;

    let (recorder, states) = state_recorder(clock);
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(Level::INFO)
        .with_target(TASK_TARGET, Level::TRACE);
    let subscriber = tracing_subscriber::registry().with(recorder.with_filter(filter));
    let result = tracing::subscriber::with_default(subscriber, f);
    (result, states.rows())
}

impl<S> Layer<S> for StateRecorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if meta.target() != TASK_TARGET || meta.name() != "task" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(task), Some(span)) = (fields.task, ctx.span(id)) {
            span.extensions_mut().insert(TaskSpanId(task));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let at = self.clock.now();
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        // A poisoned lock only means another thread panicked mid-update; the
        // rows are still rows.
        let mut recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        if meta.target() == TASK_TARGET {
            // The event names its task, or runs inside the task's span.
            let task = fields.task.or_else(|| {
                let span = ctx.event_span(event)?;
                let id = span.extensions().get::<TaskSpanId>().map(|id| id.0);
                id
            });
            if let Some(task) = task {
                recorded.task_event(task, &fields, at);
            }
        } else if *meta.level() <= Level::INFO {
            let first = fields.message.split_whitespace().next().unwrap_or("");
            recorded.line(first, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(message: &str) -> Fields {
        Fields {
            message: message.to_string(),
            ..Fields::default()
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_sleep_is_a_timer_interval_between_two_steps() {
        let mut r = Recorded::default();
        r.task_event(1, &fields("resume"), ms(0));
        r.line("a", ms(0));
        let mut suspend = fields("suspend");
        suspend.kind = "timer".into();
        r.task_event(1, &suspend, ms(0));
        r.task_event(1, &fields("wake"), ms(1000));
        r.task_event(1, &fields("resume"), ms(1000));
        r.task_event(1, &fields("finish"), ms(1000));
        let rows = r.snapshot(ms(1000));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "a");
        let states: Vec<(TaskState, u64, u64)> = rows[0]
            .intervals
            .iter()
            .map(|i| {
                (
                    i.state,
                    i.start.as_millis() as u64,
                    i.end.as_millis() as u64,
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                (TaskState::Running, 0, 0),
                (TaskState::Timer, 0, 1000),
                (TaskState::Running, 1000, 1000),
            ]
        );
        assert_eq!(rows[0].finished, Some((ms(1000), false)));
    }

    #[test]
    fn without_tasks_the_printed_lines_make_running_rows() {
        let mut r = Recorded::default();
        r.line("a", ms(0));
        r.line("a", ms(1000));
        r.line("b", ms(1000));
        r.line("b", ms(2000));
        let rows = r.snapshot(ms(2000));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].name, "b");
        assert_eq!(rows[1].intervals[0].start, ms(1000));
        assert_eq!(rows[1].intervals[0].state, TaskState::Running);
    }

    #[test]
    fn a_cancelled_task_ends_in_a_cancelled_mark() {
        let mut r = Recorded::default();
        let mut spawn = fields("spawn");
        spawn.name = "child".into();
        r.task_event(7, &spawn, ms(0));
        r.task_event(7, &fields("resume"), ms(0));
        let mut suspend = fields("suspend");
        suspend.kind = "timer".into();
        r.task_event(7, &suspend, ms(0));
        r.task_event(7, &fields("cancel"), ms(300));
        r.task_event(7, &fields("wake"), ms(300));
        r.task_event(7, &fields("resume"), ms(300));
        let mut finish = fields("finish");
        finish.outcome = "task \"child\" was cancelled".into();
        r.task_event(7, &finish, ms(300));
        let rows = r.snapshot(ms(500));
        let last = rows[0].intervals.last().expect("intervals");
        assert_eq!((last.state, last.start), (TaskState::Cancelled, ms(300)));
        assert_eq!(rows[0].finished, Some((ms(300), true)));
    }
}
