//! The ladder is one list (`yieldloop::course::ladder::LESSONS`); these tests keep
//! every place that shows it true: Cargo.toml's binaries, the lesson files,
//! the book's chapters, the README, and what `cargo run` prints.

mod common;

use std::collections::BTreeSet;
use std::fs;

use yieldloop::course::ladder::{self, LESSONS};

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `[[bin]]` names in Cargo.toml that start with a lesson number.
fn lesson_bins_in_cargo_toml() -> BTreeSet<String> {
    read("Cargo.toml")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("name = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .filter(|name| name.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_lesson_binary_is_on_the_ladder_and_back() {
    let listed: BTreeSet<String> = LESSONS.iter().map(|l| l.bin.to_string()).collect();
    assert_eq!(listed, lesson_bins_in_cargo_toml());
}

#[test]
fn lessons_are_numbered_in_order_and_their_files_exist() {
    // In order, but not contiguous: round 2's rungs (09, 10, 11, 12) are
    // built in parallel and merged as they come.
    let mut previous = 0;
    for lesson in LESSONS {
        assert!(lesson.number() > previous, "{} is out of order", lesson.bin);
        previous = lesson.number();
        assert!(
            fs::metadata(lesson.source).is_ok(),
            "missing {}",
            lesson.source
        );
        let chapter = format!("docs/src/{}", lesson.chapter);
        assert!(fs::metadata(&chapter).is_ok(), "missing {chapter}");
        assert!(
            read("docs/src/SUMMARY.md").contains(&format!("({})", lesson.chapter)),
            "{} is not in SUMMARY.md",
            lesson.chapter
        );
    }
}

#[test]
fn the_readme_shows_the_current_ladder() {
    let table = ladder::markdown("docs/src/");
    assert!(
        read("README.md").contains(&table),
        "README.md's ladder is stale; replace it with `cargo run -- --markdown`:\n{table}"
    );
}

#[test]
fn the_book_shows_the_current_ladder() {
    let table = ladder::markdown("");
    assert!(
        read("docs/src/ladder.md").contains(&table),
        "docs/src/ladder.md's table is stale; it should read:\n{table}"
    );
}

#[test]
fn cargo_run_prints_the_ladder_and_where_to_start() {
    let out = common::stdout(&common::run_bin(env!("CARGO_BIN_EXE_yieldloop"), &[]));
    for lesson in LESSONS {
        assert!(
            out.contains(&lesson.command()),
            "{} missing:\n{out}",
            lesson.bin
        );
        assert!(
            out.contains(lesson.title),
            "{} missing:\n{out}",
            lesson.title
        );
    }
    assert!(
        out.contains("Start here: read lessons/01_blocking.rs"),
        "{out}"
    );
}
