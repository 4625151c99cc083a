//! Flags that several lessons share. Introduced by lesson 01 (`--virtual`); lesson 05
//! adds the server contract; lesson 11 the timelines ([`ObserveArgs`]).
//!
//! Lessons 05 and 06 (and the tests and benchmarks that drive them) start a
//! server with `--host`, `--port` and `--seconds`, and read its first line of
//! standard output, `listening on HOST:PORT`, to learn the real port. Keeping
//! the flags in one struct keeps that contract in one place.
//!
//! Numbers are checked when the flags are parsed ([`parse_seconds`],
//! [`parse_timeout`], [`parse_port`], [`parse_descriptor`]): `inf`, `nan`,
//! `-1` or `1e300` is refused with a message that says what is allowed,
//! instead of quietly becoming "no time at all". Each flag that takes one
//! also sets clap's `allow_negative_numbers`, or clap would read `-1` as an
//! unknown flag before our parser could say "must not be negative".

use std::net::SocketAddr;
use std::time::Duration;

/// The longest a `--seconds` or `--timeout` flag may ask for: about eleven
/// and a half days. Longer is almost certainly a typo (`1e300`), and a
/// [`Duration`] that large would overflow when added to the clock.
pub const MAX_SECONDS: f64 = 1_000_000.0;

/// Parses a number of seconds for a flag: a finite number from 0 to
/// [`MAX_SECONDS`]. The error says what was wrong and what is allowed; clap
/// prints it after `invalid value '…' for '--seconds <SECONDS>'`.
///
/// ```
/// use std::time::Duration;
/// use yieldloop::course::cli::parse_seconds;
///
/// assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
/// assert!(parse_seconds("-1").unwrap_err().contains("must not be negative"));
/// assert!(parse_seconds("inf").unwrap_err().contains("from 0 to 1000000"));
/// ```
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let range = format!("expected a number of seconds from 0 to {MAX_SECONDS}");
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number: {range}"))?;
    if seconds.is_nan() {
        return Err(format!("NaN is not a number of seconds: {range}"));
    }
    if seconds < 0.0 {
        return Err(format!("{text} s: a time must not be negative; {range}"));
    }
    if seconds.is_infinite() {
        return Err(format!("{text} is not a finite number of seconds: {range}"));
    }
    if seconds > MAX_SECONDS {
        return Err(format!("{text} s is too long: {range}"));
    }
    // Finite and in range now, so the conversion cannot fail.
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("{text} s: {error}"))
}

/// Like [`parse_seconds`], for a timeout: zero is refused too, since a
/// timeout of no time at all could never be met (and `std` rejects it).
///
/// ```
/// use yieldloop::course::cli::parse_timeout;
///
/// assert!(parse_timeout("0").unwrap_err().contains("more than 0"));
/// assert!(parse_timeout("2").is_ok());
/// ```
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = parse_seconds(text)?;
    if timeout.is_zero() {
        return Err(format!(
            "a timeout of {text} s could never be met: expected more than 0 and at most {MAX_SECONDS}"
        ));
    }
    Ok(timeout)
}

/// Parses a TCP port for a flag: a whole number from 0 to 65535, where 0
/// asks the system for any free port.
///
/// ```
/// use yieldloop::course::cli::parse_port;
///
/// assert_eq!(parse_port("15000"), Ok(15000));
/// assert!(parse_port("-1").unwrap_err().contains("must not be negative"));
/// assert!(parse_port("70000").unwrap_err().contains("from 0 to 65535"));
/// ```
pub fn parse_port(text: &str) -> Result<u16, String> {
    parse_whole(
        text,
        "a port",
        "expected a port from 0 to 65535 (0: let the system choose a free one)",
    )
}

/// The most requests a `-c` flag may ask for at once (each needs a descriptor).
pub const MAX_CONCURRENCY: usize = 10_000;

/// Parses a concurrency limit for a flag (the fetcher's `-c`): a whole
/// number from 1 to [`MAX_CONCURRENCY`]. Zero would never start anything.
///
/// ```
/// use yieldloop::course::cli::parse_concurrency;
///
/// assert_eq!(parse_concurrency("10"), Ok(10));
/// assert!(parse_concurrency("0").unwrap_err().contains("from 1 to 10000"));
/// assert!(parse_concurrency("-1").unwrap_err().contains("must not be negative"));
/// assert!(parse_concurrency("99999999999").unwrap_err().contains("from 1 to 10000"));
/// ```
pub fn parse_concurrency(text: &str) -> Result<usize, String> {
    let range = format!("expected a number of requests from 1 to {MAX_CONCURRENCY}");
    let n: usize = parse_whole(text, "a number of requests", &range)?;
    if n == 0 {
        return Err(format!("0 requests at once would never start one: {range}"));
    }
    if n > MAX_CONCURRENCY {
        return Err(format!("{text} is too many at once: {range}"));
    }
    Ok(n)
}

/// Parses a descriptor number for a flag (lesson 05's hidden
/// `--first-client-fd`): a whole number from 0 up. `-1`, what `open`
/// returns on failure, is never a descriptor.
pub fn parse_descriptor(text: &str) -> Result<std::os::fd::RawFd, String> {
    parse_whole(
        text,
        "a descriptor number",
        "expected a descriptor number from 0 up",
    )
}

/// A whole number that fits `T`, with messages that name `what` and the
/// allowed `range`, and say "must not be negative" for a negative one.
fn parse_whole<T: TryFrom<i128>>(text: &str, what: &str, range: &str) -> Result<T, String> {
    let number: i128 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number: {range}"))?;
    if number < 0 {
        return Err(format!("{text}: {what} must not be negative; {range}"));
    }
    T::try_from(number).map_err(|_| format!("{text} is too large for {what}: {range}"))
}

/// Flags for a lesson that runs a server. Use with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 lets the system pick a free one (printed on the first line).
    #[arg(long, default_value_t = 15000, value_parser = parse_port, allow_negative_numbers = true)]
    pub port: u16,
    /// Stop by itself after this many seconds, from 0 to 1000000 (default: run until Ctrl-C).
    // `allow_negative_numbers`: without it clap reads `--seconds -1` as an
    // unknown flag `-1`; with it, `parse_seconds` sees -1 and says why it is wrong.
    #[arg(long, value_parser = parse_seconds, allow_negative_numbers = true)]
    pub seconds: Option<Duration>,
}

impl ServerArgs {
    /// How long to run, if `--seconds` was given.
    pub fn run_for(&self) -> Option<Duration> {
        self.seconds
    }
}

/// The line a server prints first, exactly, so scripts can read the port.
pub fn listening_line(addr: SocketAddr) -> String {
    format!("listening on {addr}")
}

/// The `--virtual` flag of lessons that only sleep. Use with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct ClockArgs {
    /// Run on the virtual clock: sleeps jump instead of waiting, so the run is instant and the
    /// printed times exact.
    #[arg(long = "virtual")]
    pub virtual_time: bool,
}

impl ClockArgs {
    /// `--virtual` if either set of flags has it: for a lesson with
    /// subcommands, where the flag may come before the subcommand's name or after.
    pub fn or(self, other: ClockArgs) -> ClockArgs {
        ClockArgs {
            virtual_time: self.virtual_time || other.virtual_time,
        }
    }

    /// The clock the flags ask for.
    pub fn clock(&self) -> crate::Clock {
        crate::Clock::choose(self.virtual_time)
    }
}

/// The flags that let a learner watch a lesson's loop (lesson 11), on every
/// lesson that runs one: a timeline of what its tasks did ("Reading a
/// timeline") and the step-through debugger ("Stepping through the loop").
/// Use with `#[command(flatten)]`; call [`ObserveArgs::install_stepper`]
/// before the loop is built, hand the flags to
/// [`crate::course::trace::init_observed`], and call
/// [`Observer::finish`](crate::course::trace::Observer::finish) after the run.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ObserveArgs {
    /// After the run, print a timeline of the tasks: one row per task, one character per
    /// state (running, ready, waiting on a timer, on I/O, on a task/lock/queue/event/executor,
    /// cancelled), a time axis and a legend.
    // `global`: in a lesson with demos (`06-reactor ab`), the flags may come
    // before the demo's name or after it.
    #[arg(long, global = true)]
    pub timeline: bool,
    /// Write the same timeline as an SVG picture to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    pub timeline_svg: Option<std::path::PathBuf>,
    /// Write the run as Chrome trace-event JSON to FILE (open it in https://ui.perfetto.dev
    /// or chrome://tracing): one track per task.
    #[arg(long, value_name = "FILE.json", global = true)]
    pub trace_out: Option<std::path::PathBuf>,
    /// Step through the loop: pause before each iteration and show the ready queue, the timers,
    /// what the selector watches and the timeout (keys: Enter step, t task, c continue, p tasks,
    /// q quit).
    #[arg(long, global = true)]
    pub step: bool,
}

impl ObserveArgs {
    /// Whether any of the timeline flags asks for the task recorder
    /// (`--step` does not need it).
    pub fn any(&self) -> bool {
        self.timeline || self.timeline_svg.is_some() || self.trace_out.is_some()
    }

    /// With `--step`, installs lesson 11's debugger
    /// ([`crate::debug::stepper`]) for the loops this thread runs from now on.
    pub fn install_stepper(&self) {
        if self.step {
            crate::debug::stepper::install();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_outside_the_range_are_refused_with_the_range() {
        for bad in [
            "inf",
            "-inf",
            "nan",
            "1e300",
            "18446744073709551615",
            "1000001",
        ] {
            let error = parse_seconds(bad).expect_err(bad);
            assert!(error.contains("from 0 to 1000000"), "{bad}: {error}");
        }
        for bad in ["-1", "-0.5"] {
            let error = parse_seconds(bad).expect_err(bad);
            assert!(error.contains("must not be negative"), "{bad}: {error}");
        }
        assert!(parse_seconds("soon").unwrap_err().contains("not a number"));
    }

    #[test]
    fn seconds_in_the_range_are_durations() {
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert_eq!(parse_seconds("1.2"), Ok(Duration::from_millis(1200)));
        assert_eq!(parse_seconds("1000000"), Ok(Duration::from_secs(1_000_000)));
    }

    #[test]
    fn ports_outside_the_range_are_refused_with_the_range() {
        for bad in ["65536", "18446744073709551615", "1.5", "port"] {
            let error = parse_port(bad).expect_err(bad);
            assert!(error.contains("from 0 to 65535"), "{bad}: {error}");
        }
        assert_eq!(parse_port("0"), Ok(0));
        assert_eq!(parse_port("65535"), Ok(65535));
    }

    #[test]
    fn a_timeout_must_be_more_than_zero() {
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("-0").is_err());
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
    }
}
