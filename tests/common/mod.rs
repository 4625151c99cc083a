//! Helpers shared by the integration tests: run a lesson binary, read its trace.

#![allow(dead_code)] // each test file uses its own subset

pub mod model;
pub mod server;

use std::process::{Command, Output};
use std::time::Duration;

/// Runs a lesson binary to completion with `args`, with `RUST_BACKTRACE`
/// unset unless the test sets it, and returns what it printed.
pub fn run_bin(path: &str, args: &[&str]) -> Output {
    run_bin_with(path, args, &[])
}

/// Like [`run_bin`], with extra environment variables.
pub fn run_bin_with(path: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(path);
    command
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("the lesson binary starts");
    assert!(
        output.status.success(),
        "{path} {args:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("lessons print UTF-8")
}

/// The trace lines (`0.500 b middle`) of `text`, as (time, message).
pub fn trace(text: &str) -> Vec<(Duration, String)> {
    text.lines()
        .filter_map(|line| {
            let (time, message) = line.split_once(' ')?;
            let (secs, millis) = time.split_once('.')?;
            if millis.len() != 3 {
                return None;
            }
            let at = Duration::from_secs(secs.parse().ok()?)
                + Duration::from_millis(millis.parse().ok()?);
            Some((at, message.to_string()))
        })
        .collect()
}

/// `[(0, "a enter"), (1000, "a exit")]` → the trace it describes.
pub fn expected(lines: &[(u64, &str)]) -> Vec<(Duration, String)> {
    lines
        .iter()
        .map(|&(ms, message)| (Duration::from_millis(ms), message.to_string()))
        .collect()
}

/// The slides' a/b trace, which lessons 03 and 06 both print.
pub fn ab_trace() -> Vec<(Duration, String)> {
    expected(&[
        (0, "a enter"),
        (0, "b enter"),
        (500, "b middle"),
        (1000, "a exit"),
        (1000, "b exit"),
    ])
}

/// Asserts that `out` is the slides' a/b run on overlapping waits, as
/// lessons 03, 06 and 12 print it: the exact trace, then the timeline whose
/// two rows lie on top of each other.
pub fn assert_ab_run(out: &str) {
    assert_eq!(trace(out), ab_trace(), "{out}");
    assert!(out.contains("a  ●─────────●\n"), "{out}");
    assert!(out.contains("b  ●────●────●\n"), "{out}");
}

/// Asserts that `actual` has the messages of `wanted` in order, each within
/// `tolerance` of its time: how the real clock is checked.
pub fn assert_trace_near(
    actual: &[(Duration, String)],
    wanted: &[(Duration, String)],
    tolerance: Duration,
) {
    let messages: Vec<&str> = actual.iter().map(|(_, m)| m.as_str()).collect();
    let wanted_messages: Vec<&str> = wanted.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(messages, wanted_messages);
    for ((at, message), (want, _)) in actual.iter().zip(wanted) {
        let off = at.abs_diff(*want);
        assert!(
            off <= tolerance,
            "{message:?} at {at:?}, wanted {want:?} ± {tolerance:?}"
        );
    }
}
