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

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::clock::Clock;
use crate::course::timeline::{self, Recorder, Timeline};

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
    install(clock, None)
}

/// Like [`init`], and also records every event so that the returned
/// [`Timeline`] can draw the run when it is over (lessons 01, 03 and 04 do).
pub fn init_with_timeline(clock: &Clock) -> Result<Timeline, TraceInitError> {
    let (recorder, timeline) = timeline::recorder(clock);
    install(clock, Some(recorder))?;
    Ok(timeline)
}

fn install(clock: &Clock, recorder: Option<Recorder>) -> Result<(), TraceInitError> {
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
    tracing_subscriber::registry()
        .with(printer)
        .with(recorder)
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
