//! How a workshop check says what went wrong, in the learner's terms.
//!
//! Every check returns an [`Outcome`]. A failure is a sentence (or a trace
//! beside the expected one) written for the learner, never a `Debug` dump.
//! [`guarded`] turns a panic in the learner's code into such a failure, and a
//! `todo!()` into "not attempted yet", so a stub is told kindly that it is a
//! stub. The runner (`cargo run --bin workshop`) prints these texts; the
//! tests in `tests/exercises.rs` only look at which kind each one is.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

/// Why a check did not pass.
#[derive(Debug)]
pub enum Failure {
    /// The learner's code reached a `todo!()`: nothing to check yet.
    NotAttempted(String),
    /// The code ran, and did something else than asked: the explanation.
    Wrong(String),
}

/// What a check found.
pub type Outcome = Result<(), Failure>;

/// A wrong answer, explained.
pub fn wrong(explanation: impl Into<String>) -> Failure {
    Failure::Wrong(explanation.into())
}

thread_local! {
    /// Where the last panic on this thread happened, kept by the hook that
    /// [`install_hook`] sets, so [`guarded`] can point at the learner's line.
    static LAST_PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces Rust's panic printout (message, "note: run with
/// RUST_BACKTRACE=1") by a quiet note of where the panic was; the check
/// reports the panic itself. With `backtrace`, the hook also prints the
/// backtrace (the runner's `--backtrace`).
pub fn install_hook(backtrace: bool) {
    panic::set_hook(Box::new(move |info| {
        let at = info
            .location()
            .map(|place| format!("{}:{}", place.file(), place.line()));
        LAST_PANIC_AT.with(|last| *last.borrow_mut() = at);
        if backtrace {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
}

/// Runs `f`, the learner's code, and turns a panic into a [`Failure`]: a
/// `todo!()` becomes [`Failure::NotAttempted`], any other panic a
/// [`Failure::Wrong`] that names `what` was running and where it panicked.
pub fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, Failure> {
    LAST_PANIC_AT.with(|last| last.borrow_mut().take());
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(a panic without a message)".to_string());
        let at = LAST_PANIC_AT.with(|last| last.borrow_mut().take());
        let place = at.map(|at| format!(" at {at}")).unwrap_or_default();
        if message.starts_with("not yet implemented") {
            let what_is_left = message
                .split_once(": ")
                .map(|(_, rest)| format!(" (\"{rest}\")"))
                .unwrap_or_default();
            Failure::NotAttempted(format!(
                "{what} reached a todo!(){what_is_left}{place}: this part is still yours to write."
            ))
        } else {
            Failure::Wrong(format!("{what} panicked{place}:\n    {message}"))
        }
    })
}

/// A task of the check failed. The loop caught a panic at the task's edge;
/// if that panic was a `todo!()` in the learner's code, it was not attempted.
pub fn task_failed(error: impl std::fmt::Display) -> Failure {
    let text = error.to_string();
    if let Some((_, left)) = text.split_once("not yet implemented") {
        let left = left.trim_start_matches(": ");
        let what = if left.is_empty() {
            String::new()
        } else {
            format!(" (\"{left}\")")
        };
        Failure::NotAttempted(format!(
            "your code reached a todo!(){what}: this part is still yours to write."
        ))
    } else {
        wrong(format!("a task failed: {text}"))
    }
}

/// One trace line as the lessons print it: `0.500 b middle`.
pub fn line(at: Duration, what: &str) -> String {
    format!("{:.3} {what}", at.as_secs_f64())
}

/// A trace written as (milliseconds, what) pairs, as [`line`]s.
pub fn trace(lines: &[(u64, &str)]) -> Vec<String> {
    lines
        .iter()
        .map(|&(at, what)| line(Duration::from_millis(at), what))
        .collect()
}

/// Compares a trace with the expected one. On a difference, prints both side
/// by side with the first diverging line marked, then one sentence:
/// "expected `0.500 b middle`, got `1.000 a exit`: QUESTION", where
/// `question` is asked about the two lines that differ.
pub fn compare_traces(
    expected: &[String],
    got: &[String],
    question: impl Fn(Option<&str>, Option<&str>) -> String,
) -> Outcome {
    let Some(first) = (0..expected.len().max(got.len())).find(|&i| expected.get(i) != got.get(i))
    else {
        return Ok(());
    };
    Err(wrong(side_by_side(expected, got, first, &question)))
}

fn side_by_side(
    expected: &[String],
    got: &[String],
    first: usize,
    question: &dyn Fn(Option<&str>, Option<&str>) -> String,
) -> String {
    let width = expected.iter().map(String::len).max().unwrap_or(0).max(12);
    let mut text = format!("  {:<width$} | yours\n", "expected");
    for i in 0..expected.len().max(got.len()) {
        let left = expected.get(i).map_or("", String::as_str);
        let right = got.get(i).map_or("", String::as_str);
        let mark = if i == first {
            "   <-- first difference"
        } else {
            ""
        };
        text.push_str(&format!("  {left:<width$} | {right}{mark}\n"));
    }
    let want = expected.get(first).map(String::as_str);
    let have = got.get(first).map(String::as_str);
    let show = |line: Option<&str>| line.map_or("nothing more".to_string(), |l| format!("`{l}`"));
    text.push_str(&format!(
        "\nexpected {}, got {}: {}",
        show(want),
        show(have),
        question(want, have)
    ));
    text
}

/// The time at the start of a trace line, in milliseconds.
pub fn millis_of(line: &str) -> Option<u64> {
    let (time, _) = line.split_once(' ')?;
    let seconds: f64 = time.parse().ok()?;
    Some((seconds * 1000.0).round() as u64)
}

/// A small deterministic random source (xorshift), so a check tries many
/// cases and every run tries the same ones: a failure can be reproduced.
pub struct Dice(u64);

impl Dice {
    /// A fixed starting point.
    pub fn new(seed: u64) -> Dice {
        Dice(seed.max(1))
    }

    /// A number in `0..below`.
    pub fn roll(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// A trace that checks and the learner's tasks write to: one line per event,
/// stamped with the time it happened.
#[derive(Clone, Default)]
pub struct Log(std::rc::Rc<RefCell<Vec<String>>>);

impl Log {
    /// Notes `what` at `at`.
    pub fn at(&self, at: Duration, what: &str) {
        self.0.borrow_mut().push(line(at, what));
    }

    /// Notes `what` at the running loop's time (inside a reactor task).
    pub fn now(&self, what: &str) {
        self.at(yieldloop::now().unwrap_or_default(), what);
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// An event loop on the virtual clock: sleeps take no real time, and every
/// run of a check sees the same times.
pub fn virtual_loop() -> Result<yieldloop::EventLoop, Failure> {
    yieldloop::Builder::new()
        .clock(yieldloop::Clock::new_virtual())
        .build()
        .map_err(|error| wrong(format!("could not start an event loop: {error}")))
}

/// Prints what the learner should read and returns the exit code the
/// runner reads: 0 passed, 1 wrong, 2 not attempted.
pub fn finish(outcome: Outcome) -> i32 {
    match outcome {
        Ok(()) => 0,
        Err(Failure::Wrong(text)) => {
            println!("{text}");
            1
        }
        Err(Failure::NotAttempted(text)) => {
            println!("{text}");
            2
        }
    }
}
