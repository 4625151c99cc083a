//! `--timeline`, `--timeline-svg FILE` and `--trace-out FILE.json` (lesson
//! 11, "Reading a timeline"): the terminal chart of lesson 03 exactly, the
//! Perfetto JSON valid with a track per task (lessons 03, 07, 08), the SVG
//! well-formed with the same rows and states as the terminal chart, and a
//! file that cannot be written named in the error.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

const L01: &str = env!("CARGO_BIN_EXE_01-blocking");
const L03: &str = env!("CARGO_BIN_EXE_03-run-loop");
const L07: &str = env!("CARGO_BIN_EXE_07-tasks");
const L08: &str = env!("CARGO_BIN_EXE_08-cancel");
const L09: &str = env!("CARGO_BIN_EXE_09-sync");

/// A scratch file name for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("timelines");
    fs::create_dir_all(&dir).expect("a scratch folder");
    dir.join(name)
}

/// The chart `--timeline` printed: from its `timeline of` line to the legend.
fn chart(stdout: &str) -> Vec<String> {
    let start = stdout
        .find("timeline of ")
        .unwrap_or_else(|| panic!("no `timeline of` in:\n{stdout}"));
    stdout[start..]
        .lines()
        .skip(1)
        .take_while(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn lesson_03_draws_its_timeline_exactly_on_the_virtual_clock() {
    let out = common::stdout(&common::run_bin(L03, &["--virtual", "--timeline"]));
    // The trace and lesson 03's own picture are unchanged by the flag.
    let plain = common::stdout(&common::run_bin(L03, &["--virtual"]));
    assert!(
        out.starts_with(&plain),
        "--timeline changed the trace:\n{out}"
    );
    let legend = "one column = 0.05 s; legend: █ running  ░ ready, waiting for its turn  \
                  ─ waiting on a timer  ~ waiting on I/O  · waiting on a task, lock, queue, \
                  event or executor  x cancelled";
    assert_eq!(
        chart(&out),
        [
            "   0s        0.5s      1s",
            "a  █───────────────────█",
            "b  █─────────█─────────█",
            legend,
        ]
    );
}

#[test]
fn lesson_01_shows_each_function_holding_the_thread() {
    let out = common::stdout(&common::run_bin(L01, &["--virtual", "--timeline"]));
    let rows = chart(&out);
    assert_eq!(rows[1], format!("a  {}", "█".repeat(20)));
    assert_eq!(rows[2], format!("b  {}{}", " ".repeat(20), "█".repeat(20)));
}

/// Runs `binary args --trace-out FILE` and parses the file.
fn perfetto(binary: &str, args: &[&str], name: &str) -> serde_json::Value {
    let path = scratch(name);
    let path_text = path.to_str().expect("a UTF-8 path");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--trace-out", path_text]);
    common::run_bin(binary, &all);
    let text = fs::read_to_string(&path).expect("the trace was written");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}\n{text}"))
}

/// The checks every trace must pass: each event well-formed, every begin
/// with its end, and one named track per task. Returns track name → states.
fn check_trace(trace: &serde_json::Value) -> BTreeMap<String, BTreeSet<String>> {
    let events = trace["traceEvents"]
        .as_array()
        .expect("a traceEvents array");
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    let mut open: BTreeMap<u64, i64> = BTreeMap::new();
    let mut states: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for event in events {
        let ph = event["ph"].as_str().expect("every event has a ph");
        let tid = event["tid"].as_u64().expect("every event has a tid");
        assert_eq!(event["pid"].as_u64(), Some(1), "{event}");
        match ph {
            "M" if event["name"] == "thread_name" => {
                let name = event["args"]["name"].as_str().expect("a track name");
                assert!(
                    names.insert(tid, name.to_string()).is_none(),
                    "track {tid} is named twice"
                );
            }
            "M" => {}
            "X" => {
                assert!(event["ts"].as_u64().is_some(), "{event}");
                assert!(
                    event["dur"].as_u64().is_some(),
                    "an X event needs its dur: {event}"
                );
                let name = event["name"].as_str().expect("a state").to_string();
                states.entry(tid).or_default().insert(name);
            }
            "B" => *open.entry(tid).or_default() += 1,
            "E" => *open.entry(tid).or_default() -= 1,
            "i" => assert!(event["ts"].as_u64().is_some(), "{event}"),
            other => panic!("an unexpected phase {other:?}: {event}"),
        }
    }
    assert!(
        open.values().all(|&n| n == 0),
        "a begin without its end: {open:?}"
    );
    for tid in states.keys() {
        assert!(
            names.contains_key(tid),
            "track {tid} has events but no name"
        );
    }
    names
        .into_iter()
        .map(|(tid, name)| (name, states.remove(&tid).unwrap_or_default()))
        .collect()
}

#[test]
fn lesson_03_perfetto_trace_has_a_track_per_coroutine() {
    let tracks = check_trace(&perfetto(L03, &["--virtual"], "03.json"));
    assert_eq!(tracks.keys().collect::<Vec<_>>(), ["a", "b"]);
    for states in tracks.values() {
        assert!(states.contains("running") && states.contains("waiting on a timer"));
    }
}

#[test]
fn lesson_07_perfetto_trace_has_a_track_per_task() {
    let tracks = check_trace(&perfetto(L07, &["--virtual"], "07.json"));
    assert!(tracks.contains_key("web server"), "{tracks:?}");
    assert!(tracks.contains_key("main"), "{tracks:?}");
    // The web server waits on its listening socket: I/O.
    assert!(
        tracks["web server"].contains("waiting on I/O"),
        "{tracks:?}"
    );
    assert!(tracks.len() > 5, "{tracks:?}");
}

#[test]
fn lesson_08_perfetto_trace_shows_the_cancel_chain() {
    let trace = perfetto(L08, &["--virtual"], "08.json");
    let tracks = check_trace(&trace);
    for task in ["grandfather", "father", "son"] {
        assert!(tracks[task].contains("cancelled"), "{task}: {tracks:?}");
    }
    let cancels = trace["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["ph"] == "i" && e["name"] == "cancel")
        .count();
    assert!(cancels >= 3, "each cancelled task has its cancel instant");
}

/// The SVG's rows: (label, one state name or ' ' per column).
fn svg_rows(svg: &str) -> Vec<(String, Vec<String>)> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let step: f64 = root
        .attribute("data-step")
        .expect("data-step")
        .parse()
        .expect("a step");
    let columns: usize = root
        .attribute("data-columns")
        .expect("data-columns")
        .parse()
        .expect("n");
    let step_us = (step * 1e6).round() as u64;
    let micros = |text: &str| (text.parse::<f64>().expect("a time") * 1e6).round() as u64;
    let precedence = |state: &str| {
        ["cancelled", "running", "ready", "io", "waiting", "timer"]
            .iter()
            .position(|s| *s == state)
            .expect("a known state")
    };
    let mut rows = Vec::new();
    for group in root
        .descendants()
        .filter(|n| n.attribute("class") == Some("task"))
    {
        let name = group.attribute("data-name").expect("data-name").to_string();
        let mut cells: Vec<Option<&str>> = vec![None; columns];
        for rect in group.children().filter(|n| n.has_tag_name("rect")) {
            let state = rect.attribute("data-state").expect("data-state");
            let (start, end) = (
                micros(rect.attribute("data-start").expect("start")),
                micros(rect.attribute("data-end").expect("end")),
            );
            let first = (start / step_us) as usize;
            let last = if end > start {
                ((end - 1) / step_us) as usize
            } else {
                first
            };
            for cell in &mut cells[first..=last] {
                if cell.is_none_or(|other| precedence(state) < precedence(other)) {
                    *cell = Some(state);
                }
            }
        }
        let cells = cells
            .into_iter()
            .map(|c| c.unwrap_or(" ").to_string())
            .collect();
        rows.push((name, cells));
    }
    let legend: Vec<&str> = root
        .descendants()
        .filter_map(|n| n.attribute("data-legend"))
        .collect();
    assert_eq!(
        legend,
        ["running", "ready", "timer", "io", "waiting", "cancelled"]
    );
    rows
}

/// The terminal chart's rows, in the same terms.
fn chart_rows(chart: &[String]) -> Vec<(String, Vec<String>)> {
    let symbols = [
        ('█', "running"),
        ('░', "ready"),
        ('─', "timer"),
        ('~', "io"),
        ('·', "waiting"),
        ('x', "cancelled"),
        (' ', " "),
    ];
    let width = chart[0].len() - chart[0].trim_start().len();
    chart[1..chart.len() - 1]
        .iter()
        .map(|line| {
            let label: String = line.chars().take(width).collect();
            let cells = line
                .chars()
                .skip(width)
                .map(|c| {
                    let (_, name) = symbols.iter().find(|(s, _)| *s == c).expect("a symbol");
                    name.to_string()
                })
                .collect();
            (label.trim_end().to_string(), cells)
        })
        .collect()
}

/// Runs with both `--timeline` and `--timeline-svg`; the two pictures must
/// have the same rows, in the same order, with the same state per column.
fn svg_matches_chart(binary: &str, args: &[&str], name: &str) {
    let path = scratch(name);
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--timeline",
        "--timeline-svg",
        path.to_str().expect("UTF-8"),
    ]);
    let out = common::stdout(&common::run_bin(binary, &all));
    let svg = fs::read_to_string(&path).expect("the SVG was written");
    let from_svg = svg_rows(&svg);
    let from_chart = chart_rows(&chart(&out));
    assert_eq!(from_svg.len(), from_chart.len(), "row count\n{out}");
    for ((svg_name, mut svg_cells), (chart_name, chart_cells)) in
        from_svg.into_iter().zip(from_chart)
    {
        assert_eq!(svg_name, chart_name, "row order");
        // The chart trims trailing blanks.
        while svg_cells.last().is_some_and(|c| c == " ") && svg_cells.len() > chart_cells.len() {
            svg_cells.pop();
        }
        assert_eq!(svg_cells, chart_cells, "row {svg_name}");
    }
}

#[test]
fn the_svg_has_the_terminal_charts_rows_for_lesson_03() {
    svg_matches_chart(L03, &["--virtual"], "03.svg");
}

#[test]
fn the_svg_has_the_terminal_charts_rows_for_lessons_08_and_09() {
    svg_matches_chart(L08, &["--virtual"], "08.svg");
    svg_matches_chart(L09, &["semaphore", "--virtual"], "09.svg");
}

#[test]
fn a_file_that_cannot_be_written_is_named() {
    let out = common::run_bin_unchecked(
        L03,
        &["--virtual", "--trace-out", "/nonexistent-folder/t.json"],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot write the Perfetto trace to /nonexistent-folder/t.json"),
        "{stderr}"
    );
}

#[test]
fn help_documents_the_flags() {
    let out = common::stdout(&common::run_bin(L08, &["--help"]));
    for flag in [
        "--timeline",
        "--timeline-svg <FILE>",
        "--trace-out <FILE.json>",
    ] {
        assert!(out.contains(flag), "{flag} missing from --help:\n{out}");
    }
}

/// Every lesson that runs a loop takes the flags and draws its tasks.
#[test]
fn every_lesson_that_runs_a_loop_draws_a_timeline() {
    let runs: &[(&str, &[&str], &str)] = &[
        (L01, &["--virtual"], "a  "),
        (L03, &["--virtual"], "b  "),
        (env!("CARGO_BIN_EXE_04-sleep"), &["--virtual"], "foo"),
        (
            env!("CARGO_BIN_EXE_05-select-echo"),
            &["--port", "0", "--seconds", "0.3"],
            "ticker",
        ),
        (
            env!("CARGO_BIN_EXE_06-reactor"),
            &["ab", "--virtual"],
            "main",
        ),
        (
            env!("CARGO_BIN_EXE_06-reactor"),
            &["--virtual", "callbacks"],
            "call_later",
        ),
        (L07, &["--virtual"], "web server"),
        (L08, &["--virtual"], "grandfather"),
        (L09, &["--virtual"], "job5"),
        (env!("CARGO_BIN_EXE_10-executor"), &[], "main"),
        (env!("CARGO_BIN_EXE_11-debug"), &["--virtual"], "sleeper"),
        (env!("CARGO_BIN_EXE_12-async-await"), &["--virtual"], "a  "),
        (
            env!("CARGO_BIN_EXE_12-async-await"),
            &["cancel", "--virtual"],
            "main",
        ),
    ];
    for &(binary, args, row) in runs {
        let mut all = args.to_vec();
        all.push("--timeline");
        let out = common::stdout(&common::run_bin(binary, &all));
        let rows = chart(&out);
        assert!(
            rows.iter().any(|line| line.starts_with(row)),
            "{} has no row {row:?}:\n{out}",
            common::command_line(binary, &all)
        );
        assert!(rows.last().is_some_and(|l| l.contains("legend: █ running")));
    }
}
