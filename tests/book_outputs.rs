//! What the book shows a lesson printing comes from the lesson itself.
//!
//! Chapters include `docs/src/generated/*.txt` instead of pasting output by
//! hand, and this test runs each binary and fails if a file differs from what
//! it prints now, so the book cannot drift from the code. After changing
//! what a lesson prints, regenerate the files (and review the diff):
//!
//! ```text
//! docs/generate-outputs.sh      # = UPDATE_BOOK_OUTPUTS=1 cargo test --test book_outputs
//! ```
//!
//! A new lesson with deterministic output (`--virtual`) adds one line to
//! [`OUTPUTS`] and one `{{#include generated/NN-name.txt}}` to its chapter.
//! Lessons 05 and 07 are left out: a server's trace depends on its clients,
//! and lesson 07 prints a port the system picked.

mod common;

use std::fs;
use std::path::Path;

/// (file in docs/src/generated, binary, its arguments, how a learner runs it)
const OUTPUTS: &[(&str, &str, &[&str])] = &[
    (
        "01-blocking.txt",
        env!("CARGO_BIN_EXE_01-blocking"),
        &["--virtual"],
    ),
    (
        "02-generators.txt",
        env!("CARGO_BIN_EXE_02-generators"),
        &[],
    ),
    (
        "03-run-loop.txt",
        env!("CARGO_BIN_EXE_03-run-loop"),
        &["--virtual"],
    ),
    (
        "03-run-loop-timeline.txt",
        env!("CARGO_BIN_EXE_03-run-loop"),
        &["--virtual", "--timeline"],
    ),
    (
        "04-sleep.txt",
        env!("CARGO_BIN_EXE_04-sleep"),
        &["--virtual"],
    ),
    (
        "06-reactor-ab.txt",
        env!("CARGO_BIN_EXE_06-reactor"),
        &["ab", "--virtual"],
    ),
    (
        "06-reactor-callbacks.txt",
        env!("CARGO_BIN_EXE_06-reactor"),
        &["callbacks", "--virtual"],
    ),
    (
        "06-reactor-unix.txt",
        env!("CARGO_BIN_EXE_06-reactor"),
        &["unix", "--virtual"],
    ),
    (
        "06-reactor-udp.txt",
        env!("CARGO_BIN_EXE_06-reactor"),
        &["udp", "--virtual"],
    ),
    (
        "09-sync-race.txt",
        env!("CARGO_BIN_EXE_09-sync"),
        &["race", "--virtual"],
    ),
    (
        "09-sync-lock.txt",
        env!("CARGO_BIN_EXE_09-sync"),
        &["lock", "--virtual"],
    ),
    (
        "09-sync-queue.txt",
        env!("CARGO_BIN_EXE_09-sync"),
        &["queue", "--virtual"],
    ),
    (
        "09-sync-semaphore.txt",
        env!("CARGO_BIN_EXE_09-sync"),
        &["semaphore", "--virtual"],
    ),
    (
        "12-async-await.txt",
        env!("CARGO_BIN_EXE_12-async-await"),
        &["--virtual"],
    ),
    (
        "12-async-await-cancel.txt",
        env!("CARGO_BIN_EXE_12-async-await"),
        &["cancel", "--virtual"],
    ),
];

const GENERATED: &str = "docs/src/generated";

/// Lessons run with `--step` (lesson 11's chapter shows the screens): (file,
/// binary, arguments, the keys typed, one a line). Standard output and
/// standard error go to one pipe, in the order they were written, as on a
/// terminal.
const STEPPED: &[(&str, &str, &[&str], &str)] = &[
    (
        "11-step-03-run-loop.txt",
        env!("CARGO_BIN_EXE_03-run-loop"),
        &["--virtual", "--step"],
        "\n\n\np\nt\n\nc\n",
    ),
    (
        "11-step-08-cancel.txt",
        env!("CARGO_BIN_EXE_08-cancel"),
        &["--virtual", "--step"],
        "\n\nq\n",
    ),
];

/// What a stepped run shows, with the command first.
fn stepped_output(binary: &str, args: &[&str], keys: &str) -> String {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    let name = Path::new(binary)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a binary name");
    let mut command = Command::new("sh");
    command
        .args(["-c", "exec \"$0\" \"$@\" 2>&1", binary])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let what = common::command_line(binary, args);
    let mut child = common::spawn_within(&mut command, &what, common::BIN_DEADLINE);
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(keys.as_bytes()).expect("typing the keys");
    drop(stdin);
    let mut printed = String::new();
    let mut stdout = child.stdout.take().expect("piped stdout");
    stdout
        .read_to_string(&mut printed)
        .expect("reading the screen");
    assert!(child.wait().success(), "{what} failed:\n{printed}");
    format!("$ cargo run --bin {name} -- {}\n{printed}", args.join(" "))
}

#[test]
fn the_book_shows_what_step_shows_now() {
    let update = std::env::var_os("UPDATE_BOOK_OUTPUTS").is_some();
    for &(file, binary, args, keys) in STEPPED {
        let path = Path::new(GENERATED).join(file);
        let now = stepped_output(binary, args, keys);
        if update {
            fs::write(&path, &now).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else {
            let before = fs::read_to_string(&path).unwrap_or_default();
            assert!(
                before == now,
                "{} is out of date; run docs/generate-outputs.sh and review the diff. Now:\n{now}",
                path.display()
            );
        }
    }
}

/// The file's text: the command, as a learner would type it, then what the
/// binary printed on standard output.
fn current_output(binary: &str, args: &[&str]) -> String {
    let name = Path::new(binary)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a binary name");
    let command = match args {
        [] => format!("$ cargo run --bin {name}"),
        _ => format!("$ cargo run --bin {name} -- {}", args.join(" ")),
    };
    let printed = common::stdout(&common::run_bin(binary, args));
    format!("{command}\n{printed}")
}

#[test]
fn the_book_shows_what_the_lessons_print_now() {
    let update = std::env::var_os("UPDATE_BOOK_OUTPUTS").is_some();
    let mut stale = Vec::new();
    for &(file, binary, args) in OUTPUTS {
        let path = Path::new(GENERATED).join(file);
        let now = current_output(binary, args);
        if update {
            fs::write(&path, &now).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else if fs::read_to_string(&path).ok().as_deref() != Some(now.as_str()) {
            stale.push(format!("{} (now:\n{now})", path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "the book's copy of a lesson's output is out of date; run docs/generate-outputs.sh \
         and review the diff:\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_generated_file_is_listed_and_shown_in_a_chapter() {
    let chapters: String = fs::read_dir("docs/src")
        .expect("docs/src")
        .filter_map(|entry| fs::read_to_string(entry.ok()?.path()).ok())
        .collect();
    for entry in fs::read_dir(GENERATED).expect("docs/src/generated") {
        let name = entry.expect("an entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".svg") {
            continue; // the timelines: tests/book_timelines.rs makes and checks them
        }
        assert!(
            OUTPUTS.iter().any(|&(file, _, _)| file == name)
                || STEPPED.iter().any(|&(file, ..)| file == name),
            "{GENERATED}/{name} is not made by OUTPUTS or STEPPED: delete it, or list it"
        );
        assert!(
            chapters.contains(&format!("{{{{#include generated/{name}}}}}")),
            "no chapter includes generated/{name}"
        );
    }
}

// ---- chapters whose runs are not byte-exact --------------------------------

/// Lessons whose output carries real, measured times (lesson 10 runs on the
/// real clock; lesson 11's debug report measures a blocking call) or a port
/// the system picked (lesson 07) cannot be
/// generated byte for byte. Their chapters show the output of one run, and
/// this test checks that every trace block in them still comes from the
/// binary: with each number replaced by `N`, the block's lines must appear,
/// in order, in what one of the listed runs prints now.
/// (chapter, binary, its arguments, its environment)
type Run = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const APPROXIMATE: &[Run] = &[
    // Lesson 07 serves its pages on a port the system picks, and the port
    // is in its output.
    (
        "lesson-07-tasks.md",
        env!("CARGO_BIN_EXE_07-tasks"),
        &["--virtual"],
        &[],
    ),
    (
        "lesson-10-executor.md",
        env!("CARGO_BIN_EXE_10-executor"),
        &[],
        &[],
    ),
    (
        "lesson-11-debug.md",
        env!("CARGO_BIN_EXE_11-debug"),
        &["--virtual"],
        &[],
    ),
    (
        "lesson-11-debug.md",
        env!("CARGO_BIN_EXE_11-debug"),
        &["--virtual"],
        &[(
            "RUST_LOG",
            "info,yieldloop::task=trace,yieldloop::loop=trace",
        )],
    ),
];

/// A line with every run of digits made `N`, and runs of spaces and of the
/// timeline's `─` made one: what stays the same from run to run.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut previous = None;
    for c in line.trim_end().chars() {
        let c = if c.is_ascii_digit() { 'N' } else { c };
        if Some(c) == previous && matches!(c, 'N' | ' ' | '─') {
            continue;
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

/// The ```text blocks of a chapter that start with a trace line (`0.000 …`).
fn trace_blocks(chapter: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in chapter.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```text") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => block.push(line.to_string()),
            (None, _) => {}
        }
    }
    let starts_with_time = |block: &Vec<String>| {
        block.first().is_some_and(|first| {
            let mut words = first.split(' ');
            words.next().is_some_and(|time| {
                time.split_once('.').is_some_and(|(s, ms)| {
                    !s.is_empty()
                        && ms.len() == 3
                        && (s.to_owned() + ms).bytes().all(|b| b.is_ascii_digit())
                })
            })
        })
    };
    blocks.into_iter().filter(starts_with_time).collect()
}

/// Whether every one of `block`'s lines, shaped, is among `printed`'s (as
/// often as the block has it). Not in order: on the real clock, two lines
/// due at the same moment (lesson 10's `a exit` and `b exit`) may come out
/// either way round; `tests/lesson_10.rs` checks the order with tolerances.
fn appears_in(block: &[String], printed: &[String]) -> bool {
    let mut left: Vec<&String> = printed.iter().collect();
    block
        .iter()
        .map(|line| shape(line))
        .filter(|line| !line.is_empty())
        .all(
            |wanted| match left.iter().position(|line| **line == wanted) {
                Some(at) => {
                    left.swap_remove(at);
                    true
                }
                None => false,
            },
        )
}

#[test]
fn chapters_with_measured_times_show_what_the_lessons_print() {
    let mut runs: Vec<(&str, Vec<String>)> = Vec::new();
    for &(chapter, binary, args, env) in APPROXIMATE {
        let printed = common::stdout(&common::run_bin_with(binary, args, env));
        runs.push((chapter, printed.lines().map(shape).collect()));
    }
    let mut checked = 0;
    let mut chapters: Vec<&str> = APPROXIMATE.iter().map(|&(chapter, ..)| chapter).collect();
    chapters.dedup(); // a chapter listed twice (two runs) is checked once, against both
    for chapter in chapters {
        let text = fs::read_to_string(Path::new("docs/src").join(chapter))
            .unwrap_or_else(|e| panic!("{chapter}: {e}"));
        for block in trace_blocks(&text) {
            let from_a_run = runs
                .iter()
                .filter(|(c, _)| *c == chapter)
                .any(|(_, printed)| appears_in(&block, printed));
            assert!(
                from_a_run,
                "{chapter}: this block is not what the lesson prints now (numbers aside); \
                 run it and paste what it prints:\n{}",
                block.join("\n")
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 6,
        "only {checked} trace blocks found: did the chapters change shape?"
    );
}
