//! Lesson 11 (`11-debug`): debug mode names the blocking call and the task
//! never joined, the panic's stack and the suspended task's stack show the
//! three helpers, and part 4 is lesson 03's a/b trace and timeline.

mod common;

use std::time::Duration;

use common::{run_bin, stdout, trace};

const DEBUG: &str = env!("CARGO_BIN_EXE_11-debug");

/// The run on the virtual clock, its trace lines with times, and the text.
fn virtual_run() -> (Vec<(Duration, String)>, String) {
    let out = stdout(&run_bin(DEBUG, &["--virtual"]));
    (trace(&out), out)
}

fn at(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[test]
fn part_1_debug_mode_names_the_blocking_task() {
    let (lines, out) = virtual_run();
    let report = lines
        .iter()
        .find(|(_, message)| message.contains("a blocking call?"))
        .unwrap_or_else(|| panic!("no slow-step report:\n{out}"));
    // Reported the moment the step ends: at 0.000 in loop time, since the
    // blocking sleep does not move the virtual clock.
    assert_eq!(report.0, at(0), "{out}");
    assert!(report.1.starts_with("task \"b\" (id 3) ran 0.3"), "{out}");
    assert!(report.1.contains("lesson 11, \"Seeing the loop\""), "{out}");
    // And `a`, due at 0.500, woke only after.
    let a_woke = lines.iter().position(|(_, m)| m == "a woke up").unwrap();
    let reported = lines.iter().position(|(_, m)| m == &report.1).unwrap();
    assert!(reported < a_woke, "{out}");
    assert_eq!(lines[a_woke].0, at(500));
}

#[test]
fn part_2_debug_mode_reports_the_task_never_joined() {
    let (lines, out) = virtual_run();
    let pending: Vec<&(Duration, String)> = lines
        .iter()
        .filter(|(_, m)| m.contains("still pending"))
        .collect();
    assert_eq!(pending.len(), 1, "{out}");
    assert_eq!(pending[0].0, at(600));
    assert_eq!(
        pending[0].1,
        "task \"forgotten\" (id 2) was still pending when the loop was dropped, waiting on \
         timer at 10.500 since 0.500: nobody joined it, so it is cancelled now (see lesson 08: \
         cancel and wait, or use a scope)"
    );
}

#[test]
fn part_3_shows_the_three_helpers_of_a_panic_and_of_a_suspended_task() {
    let (_, out) = virtual_run();
    assert!(
        out.contains("0.600 join(faulty): task \"faulty\" panicked: inner failed\n"),
        "{out}"
    );
    assert!(
        out.contains("0.600 the panic's stack, ours only: inner ← middle ← outer\n"),
        "{out}"
    );
    let tree: Vec<&str> = out
        .lines()
        .skip_while(|line| !line.contains("dump_tasks(), one second"))
        .skip(1)
        .take_while(|line| line.starts_with("    "))
        .collect();
    assert_eq!(
        tree[0], "    task 3 \"sleeper\" (parent none): timer at 5.600 since 0.600",
        "{out}"
    );
    let helpers: Vec<&str> = tree
        .iter()
        .filter_map(|line| line.trim().strip_prefix("at _11_debug::"))
        .filter(|name| ["inner", "middle", "outer"].contains(name))
        .collect();
    assert_eq!(helpers, ["inner", "middle", "outer"], "{out}");
    assert!(
        tree[1].ends_with("yieldloop::reactor::task::sleep"),
        "{out}"
    );
}

#[test]
fn part_4_is_lesson_03s_ab_with_its_timeline() {
    let (lines, out) = virtual_run();
    let part_4: Vec<(Duration, String)> = lines
        .iter()
        .skip_while(|(_, m)| !m.starts_with("part 4"))
        .skip(1)
        .map(|(t, m)| (*t - at(1600), m.clone()))
        .collect();
    assert_eq!(part_4, common::ab_trace(), "{out}");
    assert!(out.contains("a  ●─────────●\n"), "{out}");
    assert!(out.contains("b  ●────●────●\n"), "{out}");
}

#[test]
fn help_names_the_lesson() {
    let out = stdout(&run_bin(DEBUG, &["--help"]));
    assert!(out.starts_with("Lesson 11: debug mode"), "{out}");
    assert!(out.contains("--virtual"), "{out}");
}
