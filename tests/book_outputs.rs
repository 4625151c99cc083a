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
        assert!(
            OUTPUTS.iter().any(|&(file, _, _)| file == name),
            "{GENERATED}/{name} is not made by OUTPUTS: delete it, or list it"
        );
        assert!(
            chapters.contains(&format!("{{{{#include generated/{name}}}}}")),
            "no chapter includes generated/{name}"
        );
    }
}
