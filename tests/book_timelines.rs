//! The book's timeline pictures come from the lessons themselves, so they
//! cannot drift from the code (issue 13: "produced by one script that CI
//! runs"). CI runs this test (it is part of `cargo test`):
//!
//! * the pictures on the virtual clock (lesson 01 beside lesson 03, lesson
//!   08's cancel chain, lesson 09's semaphore) are regenerated and must be
//!   byte for byte what `docs/src/generated/` holds;
//! * the fetcher's `--sync-writes` against executor writes runs on the real
//!   clock against the delay server, so its pictures can never be the same
//!   twice: the test runs both and checks their *shape* (a step that held
//!   the loop for the whole disk delay with `--sync-writes`, none without),
//!   and that the book's copies have the same rows.
//!
//! After changing what a lesson does, regenerate the pictures (and look at
//! them) with `docs/generate-timelines.sh`, which is
//! `UPDATE_BOOK_OUTPUTS=1 cargo test --test book_timelines`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::server::EchoServer;

const GENERATED: &str = "docs/src/generated";
const FETCHER: &str = env!("CARGO_BIN_EXE_fetcher");
const SERVER: &str = env!("CARGO_BIN_EXE_delay-server");

/// (file in docs/src/generated, binary, its arguments)
const PICTURES: &[(&str, &str, &[&str])] = &[
    (
        "timeline-01-blocking.svg",
        env!("CARGO_BIN_EXE_01-blocking"),
        &["--virtual"],
    ),
    (
        "timeline-03-run-loop.svg",
        env!("CARGO_BIN_EXE_03-run-loop"),
        &["--virtual"],
    ),
    (
        "timeline-08-cancel.svg",
        env!("CARGO_BIN_EXE_08-cancel"),
        &["--virtual"],
    ),
    (
        "timeline-09-semaphore.svg",
        env!("CARGO_BIN_EXE_09-sync"),
        &["semaphore", "--virtual"],
    ),
];

fn updating() -> bool {
    std::env::var_os("UPDATE_BOOK_OUTPUTS").is_some()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("book-timelines-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

#[test]
fn the_books_timelines_on_the_virtual_clock_are_what_the_lessons_draw_now() {
    let dir = scratch("virtual");
    let mut stale = Vec::new();
    for &(file, binary, args) in PICTURES {
        let drawn = dir.join(file);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--timeline-svg", drawn.to_str().expect("a UTF-8 path")]);
        common::run_bin(binary, &all);
        let now = fs::read_to_string(&drawn).expect("the lesson wrote its SVG");
        let book = Path::new(GENERATED).join(file);
        if updating() {
            fs::write(&book, &now).unwrap_or_else(|e| panic!("{}: {e}", book.display()));
        } else if fs::read_to_string(&book).ok().as_deref() != Some(now.as_str()) {
            stale.push(book.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "the book's timeline is out of date; run docs/generate-timelines.sh and look at the \
         pictures: {stale:?}"
    );
}

/// One interval of an SVG row: (state, start, end) in seconds.
type Rect = (String, f64, f64);

/// The rows of a timeline SVG: (name, intervals).
fn rows(svg: &str) -> Vec<(String, Vec<Rect>)> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("task"))
        .map(|group| {
            let name = group.attribute("data-name").unwrap_or_default().to_string();
            let rects = group
                .children()
                .filter(|n| n.has_tag_name("rect"))
                .map(|r| {
                    let time = |key| r.attribute(key).and_then(|t| t.parse().ok()).unwrap_or(0.0);
                    let state = r.attribute("data-state").unwrap_or_default().to_string();
                    (state, time("data-start"), time("data-end"))
                })
                .collect();
            (name, rects)
        })
        .collect()
}

/// The longest interval in `state` on any row.
fn longest(rows: &[(String, Vec<Rect>)], state: &str) -> f64 {
    rows.iter()
        .flat_map(|(_, rects)| rects)
        .filter(|(s, _, _)| s == state)
        .map(|(_, start, end)| end - start)
        .fold(0.0, f64::max)
}

/// The disk delay the fetcher pretends each write takes.
const DISK_DELAY: f64 = 0.3;

/// Runs the fetcher over six slow URLs, three at a time, writing each body
/// with the disk delay; returns its SVG. It runs in `dir` with relative
/// paths, so the picture's title says what a reader would type.
fn fetcher_svg(server: &EchoServer, dir: &Path, sync_writes: bool) -> String {
    let urls: Vec<String> = (0..6)
        .map(|i| format!("http://{}/delay/100/page{i}", server.addr))
        .collect();
    fs::write(dir.join("urls.txt"), urls.join("\n")).expect("urls.txt");
    let delay = DISK_DELAY.to_string();
    let mut args = vec!["-c", "3", "--out", "out", "--disk-delay", &delay];
    if sync_writes {
        args.push("--sync-writes");
    }
    args.extend(["--timeline-svg", "timeline.svg", "urls.txt"]);
    let output = common::output_within(
        Command::new(FETCHER).args(&args).current_dir(dir),
        "the fetcher",
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    fs::read_to_string(dir.join("timeline.svg")).expect("the fetcher wrote its SVG")
}

#[test]
fn the_fetchers_timelines_show_sync_writes_holding_the_loop() {
    let server = EchoServer::start(SERVER, &[]);
    for (sync_writes, file) in [
        (true, "timeline-fetcher-sync-writes.svg"),
        (false, "timeline-fetcher-executor-writes.svg"),
    ] {
        let dir = scratch(file);
        let svg = fetcher_svg(&server, &dir, sync_writes);
        let drawn = rows(&svg);
        let names: Vec<&str> = drawn.iter().map(|(name, _)| name.as_str()).collect();
        assert!(names.contains(&"heartbeat"), "{names:?}");
        assert_eq!(
            names.iter().filter(|n| n.starts_with("fetch")).count(),
            6,
            "one row per URL: {names:?}"
        );
        let held = longest(&drawn, "running");
        if sync_writes {
            // Each write sleeps DISK_DELAY inside a task's step: the loop
            // is held, and the heartbeat's timer fires late (it is ready,
            // waiting for its turn).
            assert!(held >= DISK_DELAY * 0.9, "longest step {held:.3} s");
            assert!(longest(&drawn, "ready") >= DISK_DELAY * 0.5, "{drawn:?}");
        } else {
            // On the executor the step only hands the write over.
            assert!(held < DISK_DELAY * 0.8, "longest step {held:.3} s");
            assert!(longest(&drawn, "waiting") >= DISK_DELAY * 0.9, "{drawn:?}");
        }
        let book = Path::new(GENERATED).join(file);
        if updating() {
            fs::write(&book, &svg).unwrap_or_else(|e| panic!("{}: {e}", book.display()));
        } else {
            let kept = fs::read_to_string(&book).unwrap_or_else(|e| {
                panic!("{}: {e}; run docs/generate-timelines.sh", book.display())
            });
            let kept_names: Vec<String> = rows(&kept).into_iter().map(|(name, _)| name).collect();
            assert_eq!(
                kept_names,
                names,
                "{} has other rows than the fetcher draws now; run docs/generate-timelines.sh",
                book.display()
            );
        }
    }
}

#[test]
fn every_timeline_picture_is_made_here_and_shown_in_a_chapter() {
    let chapters: String = fs::read_dir("docs/src")
        .expect("docs/src")
        .filter_map(|entry| fs::read_to_string(entry.ok()?.path()).ok())
        .collect();
    let fetcher = [
        "timeline-fetcher-sync-writes.svg",
        "timeline-fetcher-executor-writes.svg",
    ];
    for entry in fs::read_dir(GENERATED).expect("docs/src/generated") {
        let name = entry.expect("an entry").file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".svg") {
            continue;
        }
        assert!(
            PICTURES.iter().any(|&(file, _, _)| file == name) || fetcher.contains(&&*name),
            "{GENERATED}/{name} is not made by tests/book_timelines.rs: delete it, or list it"
        );
        assert!(
            chapters.contains(&format!("generated/{name}")),
            "no chapter shows generated/{name}"
        );
    }
}
