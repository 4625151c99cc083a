//! Lesson 12 runs as a learner runs it: the slides' a/b as `async fn`s on an
//! executor built over the reactor print lesson 03's trace; dropping a future
//! cancels it; and tokio, given the same a/b, prints the same lines.

mod common;

use std::time::Duration;

use common::{ab_trace, assert_ab_run, assert_trace_near, expected, run_bin, stdout, trace};

// The example that prints tokio's trace for the book; its function is
// checked here so that the book's tokio column is a run, not a claim.
#[allow(dead_code)] // its `main` is for `cargo run --example tokio_ab`
#[path = "../examples/tokio_ab.rs"]
mod tokio_ab;

const ASYNC_AWAIT: &str = env!("CARGO_BIN_EXE_12-async-await");

#[test]
fn lesson_12_prints_lesson_03s_trace_from_async_fns() {
    let out = stdout(&run_bin(ASYNC_AWAIT, &["--virtual"]));
    assert_ab_run(&out);
}

#[test]
fn lesson_12_on_the_real_clock_overlaps_the_waits_too() {
    let out = stdout(&run_bin(ASYNC_AWAIT, &[]));
    // Only timing gets a tolerance; the order of the lines is exact.
    assert_trace_near(&trace(&out), &ab_trace(), Duration::from_millis(150));
}

#[test]
fn lesson_12_calling_an_async_fn_runs_none_of_it() {
    let out = stdout(&run_bin(ASYNC_AWAIT, &["--virtual"]));
    let lazy = out
        .find("nothing printed yet: futures are lazy")
        .expect("the lazy line");
    let enter = out.find("a enter").expect("a enter");
    // Printed by main after calling a(); a's body has not run by then.
    assert!(lazy < enter, "{out}");
    assert_eq!(out.matches("a enter").count(), 1, "{out}");
}

#[test]
fn lesson_12_cancelling_is_dropping_the_future_and_its_timer() {
    let out = stdout(&run_bin(ASYNC_AWAIT, &["cancel", "--virtual"]));
    assert_eq!(
        trace(&out),
        expected(&[
            (0, "slow enter"),
            (300, "timed out: dropping slow()"),
            (
                300,
                "slow() dropped: its guard ran and its timer was cancelled"
            ),
            // Not 1.000: the dropped Sleep cancelled its timer, so the loop
            // had nothing left to wait for.
            (300, "loop done: no timer left"),
        ])
    );
}

#[test]
fn tokio_prints_the_same_a_b_trace() {
    let lines = tokio_ab::ab_trace_lines().expect("tokio runs");
    assert_eq!(trace(&lines.join("\n")), ab_trace());
}
