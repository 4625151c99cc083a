//! Lesson 08 runs as a learner runs it, on the virtual clock: its whole
//! trace is pinned, so each part's story (who cleans up, when, and what is
//! reported) is checked line by line.

mod common;

use common::{expected, run_bin, stdout, trace};

const CANCEL: &str = env!("CARGO_BIN_EXE_08-cancel");

const CANCELLED: &str =
    "was cancelled (by JoinHandle::cancel, a scope or wait_for) before it finished";

#[test]
fn lesson_08_prints_each_parts_story_at_exact_times() {
    let out = stdout(&run_bin(CANCEL, &["--virtual"]));
    let grandfather = format!("main: joined: task \"grandfather\" {CANCELLED}");
    let waiter = format!("waiter: task \"waiter\" {CANCELLED}");
    assert_eq!(
        trace(&out),
        expected(&[
            (0, "part 1: a task spawned and forgotten"),
            (100, "report returned; closing the log"),
            (500, "flush cleanup"),
            (
                500,
                "flush failed, and nobody hears it: cannot write \"flushed\": the log is closed"
            ),
            (600, "part 2: cancel and wait, by hand"),
            (700, "report done; cancelling flush: true"),
            (700, "flush cleanup"),
            (700, "flush was cancelled and has finished"),
            (700, "log closed, nothing left running"),
            (700, "part 3: a scope"),
            (900, "flush cleanup"),
            (900, "scope failed: upload: connection refused"),
            (900, "log closed, nothing left running"),
            (900, "part 4: grandfather, father, son"),
            (900, "grandfather enter"),
            (900, "father enter"),
            (900, "son enter"),
            (1400, "main: cancel grandfather"),
            (1400, "son cleanup"),
            (1400, "father cleanup"),
            (1400, "grandfather cleanup"),
            (1400, &grandfather),
            (1400, "part 5: wait_for"),
            (1900, "slow cleanup"),
            (
                1900,
                "slow: timed out after 0.500 s: the work was cancelled and has cleaned up"
            ),
            (2100, "fast cleanup"),
            (2100, "fast answered: \"fast\""),
            (2100, "part 6: shield"),
            (2200, "cancel waiter: true"),
            (2200, &waiter),
            (2500, "save finished: the file is complete"),
        ])
    );
}

#[test]
fn lesson_08_draws_the_cancel_chain_alone_on_its_timeline() {
    let out = stdout(&run_bin(CANCEL, &["--virtual"]));
    let picture: Vec<&str> = out
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("0.9s"))
        .take(5)
        .collect();
    assert_eq!(
        picture,
        [
            "             0.9s",
            "grandfather  ●────●",
            "father       ●────●",
            "son          ●────●",
            "main:             ●",
        ],
        "{out}"
    );
}

#[test]
fn lesson_08_has_help() {
    let out = stdout(&run_bin(CANCEL, &["--help"]));
    assert!(out.contains("--virtual"), "{out}");
}

/// The chapter shows each part's trace as a text block; every block that
/// starts with a trace line must appear, exactly, in what the lesson prints
/// now, so the book cannot drift from the code.
#[test]
fn chapter_08_shows_what_lesson_08_prints() {
    let out = stdout(&run_bin(CANCEL, &["--virtual"]));
    let chapter =
        std::fs::read_to_string("docs/src/lesson-08-cancel.md").expect("the chapter exists");
    let blocks: Vec<&str> = chapter
        .split("```text\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .filter(|block| !trace(block).is_empty())
        .collect();
    assert!(blocks.len() >= 6, "one trace block per part: {blocks:?}");
    for block in blocks {
        assert!(
            out.contains(block),
            "chapter 08 shows a trace the lesson no longer prints:\n{block}\n--- it prints:\n{out}"
        );
    }
}
