//! Lesson 10 runs as a learner runs it, on the real clock (threads and
//! child processes do not run on virtual time). Each part's trace is
//! pinned message by message, its times relative to the part's first line
//! within a tolerance, so that a loaded machine shifts parts without
//! failing them, while a blocked loop (1 s late) still fails.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{run_bin, stdout, trace};

/// Aborts the test binary if a run hangs for a minute.
fn watchdog() -> mpsc::Sender<()> {
    let (done, wait) = mpsc::channel::<()>();
    thread::spawn(move || {
        if wait.recv_timeout(Duration::from_secs(60)) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("tests/lesson_10.rs: the lesson hung for 60 s");
            std::process::abort();
        }
    });
    done
}

const EXECUTOR: &str = env!("CARGO_BIN_EXE_10-executor");

/// How far a line may be from its time on a loaded machine.
const TOLERANCE: Duration = Duration::from_millis(250);

/// The trace split into parts: each part's lines with times relative to
/// the part's first line (`part N: …`).
fn parts(out: &str) -> Vec<Vec<(Duration, String)>> {
    let mut parts: Vec<Vec<(Duration, String)>> = Vec::new();
    let mut start = Duration::ZERO;
    for (at, message) in trace(out) {
        if message.starts_with("part ") {
            start = at;
            parts.push(Vec::new());
        }
        if let Some(part) = parts.last_mut() {
            part.push((at - start, message));
        }
    }
    parts
}

/// Checks one part: `wanted` messages (a trailing `*` matches any rest of
/// the line) in order, each within [`TOLERANCE`] of its time in ms.
fn check(part: &[(Duration, String)], wanted: &[(u64, &str)], out: &str) {
    let got: Vec<&str> = part.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(got.len(), wanted.len(), "{got:#?}\n{out}");
    for ((at, message), (ms, want)) in part.iter().zip(wanted) {
        let matches = match want.strip_suffix('*') {
            Some(prefix) => message.starts_with(prefix),
            None => message == want,
        };
        assert!(matches, "{message:?} where {want:?} was expected\n{out}");
        let want_at = Duration::from_millis(*ms);
        assert!(
            at.abs_diff(want_at) <= TOLERANCE,
            "{message:?} at {at:?}, wanted {want_at:?} ± {TOLERANCE:?}\n{out}"
        );
    }
}

#[test]
fn lesson_10_prints_each_parts_story() {
    let _watchdog = watchdog();
    let out = stdout(&run_bin(EXECUTOR, &[]));
    let mut parts = parts(&out);
    assert_eq!(parts.len(), 5, "{out}");

    // Part 1: `b` cannot start until `a`'s blocking sleep is over: 2 s.
    check(
        &parts[0],
        &[
            (0, "part 1: a blocking sleep inside a task"),
            (0, "a enter"),
            (1000, "a exit"),
            (1000, "b enter"),
            (1500, "b middle"),
            (2000, "b exit"),
            (
                2000,
                "the longest loop step: 1.0 s, in task a: the loop was blocked",
            ),
        ],
        &out,
    );

    // Part 2: interleaved, 1 s. `a exit` and `b exit` are both due at 1 s;
    // which comes first depends on a thread's start-up, so sort that pair.
    let part = &mut parts[1];
    if part.len() == 7 && part[4].1 == "b exit" && part[5].1 == "a exit" {
        part.swap(4, 5);
    }
    check(
        part,
        &[
            (0, "part 2: the same sleep in the executor"),
            (0, "a enter"),
            (0, "b enter"),
            (500, "b middle"),
            (1000, "a exit"),
            (1000, "b exit"),
            (1000, "no loop step took 0.1 s or more"),
        ],
        &out,
    );

    // Part 3: the ticker ticks on while the slow lookup runs on a thread.
    check(
        &parts[2],
        &[
            (0, "part 3: DNS in the executor, while a ticker ticks"),
            (0, "resolved localhost:8080 → *"),
            (100, "tick 1"),
            (200, "tick 2"),
            (300, "tick 3"),
            (350, "slow lookup done: *"),
            (400, "tick 4"),
        ],
        &out,
    );

    check(
        &parts[3],
        &[
            (0, "part 4: a child process"),
            (0, "tr said: HELLO FROM THE LOOP"),
            (0, "tr's return code: Some(0)"),
            (0, "`exit 3`'s return code: Some(3)"),
        ],
        &out,
    );

    check(
        &parts[4],
        &[
            (0, "part 5: ten files at once, through the executor"),
            (100, "tick 1"),
            (200, "tick 2"),
            (300, "tick 3"),
            (300, "10 of 10 files written and read back intact"),
            (300, "no loop step took 0.1 s or more"),
        ],
        &out,
    );
}

#[test]
fn lesson_10_draws_parts_1_and_2_side_by_side() {
    let _watchdog = watchdog();
    let out = stdout(&run_bin(EXECUTOR, &[]));
    let picture: Vec<&str> = out
        .lines()
        .skip_while(|line| !line.starts_with("part 1: thread::sleep in a"))
        .take(4)
        .collect();
    assert_eq!(picture.len(), 4, "{out}");
    assert!(picture[0].ends_with("part 2: run_in_executor"), "{out}");
    let (a, b) = (picture[2], picture[3]);
    let right = picture[0].find("part 2").expect("a title");
    let left = |line: &str| line.chars().take(right).collect::<String>();
    let right = |line: &str| line.chars().skip(right).collect::<String>();
    // Where a row's first mark is (in 0.1 s columns), and how many it has.
    let first = |row: &str| row.chars().skip(3).position(|c| c == '●');
    let marks = |row: &str| row.chars().filter(|&c| c == '●').count();
    // Part 1: b starts only where a ends, 1 s (ten columns) later.
    assert_eq!(first(&left(a)), Some(0), "{out}");
    assert!(first(&left(b)) >= Some(9), "{out}");
    // Part 2: both start at once.
    assert_eq!(first(&right(a)), Some(0), "{out}");
    assert_eq!(first(&right(b)), Some(0), "{out}");
    for (row, count) in [(left(a), 2), (left(b), 3), (right(a), 2), (right(b), 3)] {
        assert_eq!(marks(&row), count, "{row:?}\n{out}");
    }
}

#[test]
fn lesson_10_has_help() {
    let _watchdog = watchdog();
    let out = stdout(&run_bin(EXECUTOR, &["--help"]));
    assert!(out.contains("Lesson 10"), "{out}");
}
