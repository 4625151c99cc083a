//! The slides' trace lines (`0.000 a enter`) as a `tracing` subscriber. Introduced by lesson 01.
//!
//! The talks print every event as seconds since the start, three decimals,
//! then a message. We get the same lines from `tracing::info!("a enter")` by
//! giving `tracing-subscriber`'s formatter a timer that reads our [`Clock`]:
//! on the virtual clock the printed time is the virtual time.
//!
//! Because it is ordinary `tracing`, a learner can still filter the printed
//! lines with `RUST_LOG`: `RUST_LOG=off` silences them (a lesson's timeline is
//! still drawn), and from lesson 05 on `RUST_LOG=debug` adds the loops' own
//! events (each select(2) call, each task woken). Any other subscriber can be
//! plugged in instead.

use std::fmt;
use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::clock::Clock;
use crate::course::cli::ObserveArgs;
use crate::course::task_states::{self, StateRecorder, TaskStates};
use crate::course::timeline::{self, Recorder, Timeline};
use crate::course::{gantt, perfetto};
use crate::reactor::instrument::TASK_TARGET;

// ANCHOR: timer
/// A `tracing-subscriber` timer that prints [`Clock::now`] as `S.mmm`.
#[derive(Clone, Debug)]
pub struct ClockTimer {
    clock: Clock,
}

impl ClockTimer {
    /// A timer reading `clock`.
    pub fn new(clock: Clock) -> Self {
        ClockTimer { clock }
    }
}

impl FormatTime for ClockTimer {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "{:.3}", self.clock.now().as_secs_f64())
    }
}
// ANCHOR_END: timer

/// Installs the trace printer for this process: `S.mmm message` lines on
/// standard output, `info` and above unless `RUST_LOG` says otherwise.
///
/// Call it once, first thing in `main`. A second call leaves the first
/// printer in place and returns an error.
pub fn init(clock: &Clock) -> Result<(), TraceInitError> {
    install(clock, None, None)
}

/// Like [`init`], and also records every event so that the returned
/// [`Timeline`] can draw the run when it is over (lessons 01, 03 and 04 do).
pub fn init_with_timeline(clock: &Clock) -> Result<Timeline, TraceInitError> {
    let (recorder, timeline) = timeline::recorder(clock);
    install(clock, Some(recorder), None)?;
    Ok(timeline)
}

// ANCHOR: init_observed
/// Like [`init_with_timeline`], and also records every task's states when
/// one of the [`ObserveArgs`] flags asks for it: `--timeline`,
/// `--timeline-svg FILE`, `--trace-out FILE.json` (lesson 11). Call
/// [`Observer::finish`] after the run to print and write what they asked for.
pub fn init_observed(clock: &Clock, observe: &ObserveArgs) -> Result<Observer, TraceInitError> {
    let (recorder, timeline) = timeline::recorder(clock);
    let (states, tasks) = if observe.any() {
        let (layer, states) = task_states::state_recorder(clock);
        (Some(states), Some(layer))
    } else {
        (None, None)
    };
    install(clock, Some(recorder), tasks)?;
    Ok(Observer {
        timeline,
        states,
        observe: observe.clone(),
    })
}
// ANCHOR_END: init_observed

fn install(
    clock: &Clock,
    recorder: Option<Recorder>,
    tasks: Option<StateRecorder>,
) -> Result<(), TraceInitError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let printer = tracing_subscriber::fmt::layer()
        .with_timer(ClockTimer::new(clock.clone()))
        .with_level(false)
        .with_target(false)
        // Colour codes only for a person at a terminal, never in a pipe or a test.
        .with_ansi(std::io::stdout().is_terminal())
        // A closed pipe (`| head`) ends the program quietly, not with a panic.
        .with_writer(crate::course::output::quiet_stdout)
        // `RUST_LOG` filters the printed lines only: the timeline below still
        // records the lesson's own `info` events, so `RUST_LOG=off` leaves
        // just the picture, and `RUST_LOG=debug` adds lines, not rows.
        .with_filter(filter);
    let recorder = recorder.map(|recorder| recorder.with_filter(LevelFilter::INFO));
    // The task recorder hears the loop's own task events (`trace` level on
    // `yieldloop::task`), and the lesson's lines (to name generator rows).
    let tasks = tasks.map(|tasks| {
        tasks.with_filter(
            Targets::new()
                .with_default(Level::INFO)
                .with_target(TASK_TARGET, Level::TRACE),
        )
    });
    tracing_subscriber::registry()
        .with(printer)
        .with(recorder)
        .with(tasks)
        .try_init()
        .map_err(|_| TraceInitError)
}

/// The trace printer was already installed.
///
/// Its `Debug` says the same as its `Display`, so that a lesson's
/// `fn main() -> Result<(), TraceInitError>` prints a sentence, not a name.
pub struct TraceInitError;

impl fmt::Debug for TraceInitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for TraceInitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a trace printer is already installed for this process")
    }
}

impl std::error::Error for TraceInitError {}

/// What [`init_observed`] installed: the lesson's own timeline (marks per
/// function, as lessons 01 and 03 print it) and, when a flag asked, the
/// task recorder behind `--timeline`, `--timeline-svg` and `--trace-out`.
pub struct Observer {
    timeline: Timeline,
    states: Option<TaskStates>,
    observe: ObserveArgs,
}

impl Observer {
    /// The lesson's own timeline (lesson 01's marks per function).
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The task recorder, if a flag asked for it.
    pub fn task_states(&self) -> Option<&TaskStates> {
        self.states.as_ref()
    }

    /// After the run: prints the `--timeline` chart (after a blank line) and
    /// writes the `--timeline-svg` and `--trace-out` files. An error names
    /// the file it could not write.
    pub fn finish(&self) -> Result<(), ObserveError> {
        let Some(states) = &self.states else {
            return Ok(());
        };
        let rows = states.rows();
        let title = run_title();
        if self.observe.timeline {
            let colour = std::io::stdout().is_terminal();
            let chart = gantt::render_terminal(&rows, colour);
            crate::course::output::print_line(format_args!("\ntimeline of {title}\n{chart}"));
        }
        if let Some(path) = &self.observe.timeline_svg {
            write_file(path, "the timeline SVG", &gantt::render_svg(&rows, &title))?;
        }
        if let Some(path) = &self.observe.trace_out {
            write_file(path, "the Perfetto trace", &perfetto::render(&rows, &title))?;
        }
        Ok(())
    }
}

/// The program's name and its arguments, without the observing flags: the
/// title of the pictures (`03-run-loop --virtual`).
fn run_title() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|path| {
            std::path::Path::new(&path)
                .file_name()
                .map_or(path.clone(), |name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let mut words = vec![program];
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
        } else if arg == "--timeline"
            || arg.starts_with("--timeline-svg=")
            || arg.starts_with("--trace-out=")
        {
        } else if arg == "--timeline-svg" || arg == "--trace-out" {
            skip_value = true;
        } else {
            words.push(arg);
        }
    }
    words.join(" ")
}

fn write_file(path: &std::path::Path, what: &'static str, text: &str) -> Result<(), ObserveError> {
    std::fs::write(path, text).map_err(|error| ObserveError {
        what,
        path: path.to_path_buf(),
        error,
    })
}

/// A timeline file could not be written: says which and why.
pub struct ObserveError {
    what: &'static str,
    path: std::path::PathBuf,
    error: std::io::Error,
}

impl fmt::Debug for ObserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ObserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot write {} to {}: {}",
            self.what,
            self.path.display(),
            self.error
        )
    }
}

impl std::error::Error for ObserveError {}
