//! The source tree mirrors the ladder, and dependencies point only down it.
//!
//! `docs/src/architecture.md` draws the tree; this test keeps the rule it
//! states: a stage's code never names a stage above it. Documentation
//! comments may point ahead (the page lists where they do); code may not.

use std::fs;
use std::path::Path;

/// Every stage above the ground floor (`clock`, `stack_guard`, `stepping`).
const EVERY_STAGE: &[&str] = &[
    "generators",
    "select",
    "reactor",
    "sync",
    "executor",
    "debug",
    "course",
];

/// Each stage's folder, and the stages its *code* must not use.
const RULES: &[(&str, &[&str])] = &[
    ("src/clock.rs", EVERY_STAGE),
    ("src/stack_guard.rs", EVERY_STAGE),
    // Lesson 11's step hook, and what every loop describes its tasks
    // with: below every loop, so that each of them can call it.
    ("src/stepping.rs", EVERY_STAGE),
    (
        "src/generators",
        &["select", "reactor", "sync", "executor", "debug", "course"],
    ),
    (
        "src/select",
        &["reactor", "sync", "executor", "debug", "course"],
    ),
    // The reactor keeps lesson 11's hooks (`instrument`) itself and never
    // names `debug`, which only reads it.
    ("src/reactor", &["sync", "executor", "debug", "course"]),
    ("src/sync", &["executor", "debug", "course"]),
    ("src/executor", &["debug", "course"]),
    ("src/debug", &["course"]),
];

fn rust_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    for entry in fs::read_dir(path).expect("read a folder of src/") {
        rust_files(&entry.expect("a directory entry").path(), out);
    }
}

#[test]
fn no_stage_uses_a_later_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut broken = Vec::new();
    for (stage, forbidden) in RULES {
        let mut files = Vec::new();
        rust_files(&root.join(stage), &mut files);
        for file in files {
            let text = fs::read_to_string(&file).expect("read a source file");
            for (number, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue; // a doc or comment may point ahead
                }
                for later in *forbidden {
                    if code.contains(&format!("crate::{later}")) {
                        broken.push(format!(
                            "{}:{}: uses `crate::{later}`, a later stage: {}",
                            file.strip_prefix(root).unwrap_or(&file).display(),
                            number + 1,
                            code
                        ));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "dependencies must point down the ladder (docs/src/architecture.md):\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_stage_folder_says_what_it_serves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for stage in [
        "generators",
        "select",
        "reactor",
        "sync",
        "executor",
        "debug",
        "course",
    ] {
        let path = root.join("src").join(stage).join("mod.rs");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("//!"),
            "{} must open with a module doc saying which lessons it serves",
            path.display()
        );
    }
}
