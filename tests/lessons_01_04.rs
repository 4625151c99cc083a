//! Lessons 01–04 run as a learner runs them; their printed traces are checked.

mod common;

use std::time::{Duration, Instant};

use common::{
    ab_trace, assert_ab_run, assert_trace_near, expected, run_bin, run_bin_with, stdout, trace,
};

const BLOCKING: &str = env!("CARGO_BIN_EXE_01-blocking");
const GENERATORS: &str = env!("CARGO_BIN_EXE_02-generators");
const RUN_LOOP: &str = env!("CARGO_BIN_EXE_03-run-loop");
const SLEEP: &str = env!("CARGO_BIN_EXE_04-sleep");

#[test]
fn lesson_01_runs_a_then_b_in_two_seconds_of_virtual_time() {
    let out = stdout(&run_bin(BLOCKING, &["--virtual"]));
    assert_eq!(
        trace(&out),
        expected(&[
            (0, "a enter"),
            (1000, "a exit"),
            (1000, "b enter"),
            (1500, "b middle"),
            (2000, "b exit"),
        ])
    );
    // The timeline: b's row starts where a's ends.
    assert!(out.contains("a  ●─────────●\n"), "{out}");
    assert!(out.contains("b            ●────●────●\n"), "{out}");
}

#[test]
fn lesson_02_shows_the_generator_protocol() {
    let out = stdout(&run_bin(GENERATORS, &[]));
    for line in [
        "  0 1 1 2 3 5 8 13 21 34",
        "  send(0) -> 0   (starts the body)",
        "  send(1) -> 1",
        "  send(2) -> 3",
        "  send(3) -> 6",
        "  throw(\"FOO\") -> Ok(Yielded(\"error\"))",
        "  send after it finished -> Err(Exhausted)",
        "  for v in Gen1: 1 2",
        "  gen2 delegating to Gen1: Yielded(1), Yielded(2), Returned(3)",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
    // close() must unwind the suspended body: its cleanup prints right after.
    let close = out.find("  close()").expect("close() line");
    let cleanup = out
        .find("  cleanup: the file released")
        .expect("cleanup line");
    let read = out.find("  read line 2").expect("read line 2");
    assert!(read < close && close < cleanup, "{out}");
}

#[test]
fn lesson_02_delegation_forwards_send_and_throw_to_gen1() {
    let out = stdout(&run_bin(GENERATORS, &[]));
    let part5 = &out[out.find("5. delegation").expect("part 5")..];
    let part5 = &part5[..part5.find("6. ").expect("part 6")];
    // In this order: the sent 10 and the thrown "STOP" arrive in gen1, and
    // gen1's `return 3` comes out of gen2 as Returned(3).
    let wanted = [
        "  send(0) -> Ok(Yielded(1))",
        "  gen1 received 10",
        "  send(10) -> Ok(Yielded(2))",
        "  gen1 caught \"STOP\" and returns 3",
        "  gen2 got 3 back from gen1",
        "  throw(\"STOP\") -> Ok(Returned(3))   (Python: StopIteration(3))",
        "  send after it finished -> Err(Exhausted)   (Python: StopIteration, no value)",
    ];
    let lines: Vec<&str> = part5.lines().skip(1).collect();
    assert_eq!(lines, wanted, "{out}");
}

#[test]
fn lesson_03_overlaps_the_waits_on_virtual_time() {
    let out = stdout(&run_bin(RUN_LOOP, &["--virtual"]));
    assert_ab_run(&out);
}

#[test]
fn lesson_03_takes_one_second_of_real_time_not_two() {
    let started = Instant::now();
    let out = stdout(&run_bin(RUN_LOOP, &[]));
    let took = started.elapsed();
    // Only timing gets a tolerance; the order of the lines is exact.
    assert_trace_near(&trace(&out), &ab_trace(), Duration::from_millis(150));
    assert!(took < Duration::from_millis(1800), "took {took:?}");
}

#[test]
fn lesson_04_hides_the_request_behind_sleep() {
    let out = stdout(&run_bin(SLEEP, &["--virtual"]));
    let lines = trace(&out);
    assert_eq!(
        lines[..4],
        expected(&[
            (0, "foo enter"),
            (0, "sleep enter"),
            (1000, "sleep exit"),
            (1000, "foo exit"),
        ])
    );
    assert!(out.contains("run again with RUST_BACKTRACE=1"), "{out}");
}

#[test]
fn lesson_04_backtrace_shows_every_frame_down_to_the_loop() {
    let output = run_bin_with(SLEEP, &["--virtual"], &[("RUST_BACKTRACE", "1")]);
    let out = stdout(&output);
    assert!(out.contains("the panic came out of run()"), "{out}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("header of 15 bytes is over the limit of 8"),
        "{err}"
    );
    // The frames appear innermost first: the panic, the two helpers, the
    // coroutine's body, corosensei's entry, then the loop that resumed it.
    let frames = [
        "check_length",
        "read_header",
        "handle_request",
        "handler::{{closure}}",
        "corosensei",
        "yieldloop::generators::run::run",
        "main",
    ];
    let mut from = 0;
    for frame in frames {
        let at = err[from..]
            .find(frame)
            .unwrap_or_else(|| panic!("frame {frame:?} missing after byte {from}:\n{err}"));
        from += at + frame.len();
    }
}
