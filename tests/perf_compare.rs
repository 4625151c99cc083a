//! The benchmark's regression guard (`cargo bench --bench perf -- --save
//! FILE` / `--compare FILE`, issue 15): its file format and its rule,
//! "flag a row only when its new range lies wholly on the worse side of the
//! saved one".
//!
//! The logic lives in `benches/perf/compare.rs`, included here: the bench
//! has `harness = false`, so `cargo test` cannot run tests inside it.

#[allow(dead_code)] // the bench also uses parts these tests do not (rounds_of)
#[path = "../benches/perf/compare.rs"]
mod compare;

use std::path::Path;

use compare::{compare, judge, Better, Compared, Measured, Run, SavedRow, Verdict};

fn measured(rounds: &[f64]) -> Option<Measured> {
    let mut sorted = rounds.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Measured {
        value: sorted[sorted.len() / 2],
        rounds: rounds.to_vec(),
    })
}

/// A run with one "task switch" row: yieldloop's and tokio's rounds.
fn switch_run(yieldloop: &[f64], tokio: &[f64]) -> Run {
    Run {
        command: "cargo bench --bench perf -- --quick".into(),
        date: "2026-11-23 21:00 UTC".into(),
        rows: vec![SavedRow {
            measurement: "task switch (`yield_now`), ns".into(),
            better: Better::Lower,
            yieldloop: measured(yieldloop),
            baseline: measured(tokio),
        }],
    }
}

fn only_verdict(saved: &Run, now: &Run) -> Verdict {
    let lines = compare(saved, now);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].verdict
}

#[test]
fn a_ratio_worse_beyond_both_runs_noise_is_flagged() {
    // Saved: 10 ns against tokio's 200 (ratio 0.048..0.052); now 15 ns
    // against the same tokio (0.073..0.078): the ranges do not touch.
    let saved = switch_run(&[9.9, 10.0, 10.1], &[195.0, 200.0, 205.0]);
    let now = switch_run(&[14.9, 15.0, 15.2], &[195.0, 200.0, 205.0]);
    let lines = compare(&saved, &now);
    assert_eq!(lines[0].verdict, Verdict::Regressed);
    assert!(compare::any_regressed(&lines));
    let text = compare::render(&lines, &saved, Path::new("before.txt"));
    assert!(text.contains("REGRESSED"), "{text}");
    assert!(text.contains("+50.0 %"), "{text}");
    assert!(
        text.contains("min..max"),
        "the output says what noise is: {text}"
    );
}

#[test]
fn a_change_within_noise_is_not_flagged() {
    // 4 % slower at the median, but each run's rounds spread over ±5 %:
    // the ranges overlap, so nothing can be told from the noise.
    let saved = switch_run(&[9.5, 10.0, 10.5], &[190.0, 200.0, 210.0]);
    let now = switch_run(&[9.9, 10.4, 10.9], &[190.0, 200.0, 210.0]);
    let lines = compare(&saved, &now);
    assert_eq!(lines[0].verdict, Verdict::WithinNoise);
    assert!(!compare::any_regressed(&lines));
}

#[test]
fn the_ratio_is_what_counts_when_tokio_moves_too() {
    // A busier machine: both runtimes 50 % slower, the ratio unchanged.
    let saved = switch_run(&[9.9, 10.0, 10.1], &[198.0, 200.0, 202.0]);
    let now = switch_run(&[14.9, 15.0, 15.1], &[298.0, 300.0, 302.0]);
    assert_eq!(only_verdict(&saved, &now), Verdict::WithinNoise);
}

#[test]
fn a_faster_row_is_improved_not_regressed() {
    let saved = switch_run(&[14.9, 15.0, 15.2], &[195.0, 200.0, 205.0]);
    let now = switch_run(&[9.9, 10.0, 10.1], &[195.0, 200.0, 205.0]);
    assert_eq!(only_verdict(&saved, &now), Verdict::Improved);
}

#[test]
fn for_messages_per_second_lower_is_worse() {
    let row = |y: &[f64]| Run {
        rows: vec![SavedRow {
            measurement: "echo, 100 connections: messages/s (best round)".into(),
            better: Better::for_measurement("echo, 100 connections: messages/s (best round)"),
            yieldloop: measured(y),
            baseline: measured(&[300e3, 301e3, 302e3]),
        }],
        ..Run::default()
    };
    let saved = row(&[290e3, 291e3, 292e3]);
    let now = row(&[250e3, 251e3, 252e3]);
    assert_eq!(only_verdict(&saved, &now), Verdict::Regressed);
    assert_eq!(only_verdict(&now, &saved), Verdict::Improved);
}

#[test]
fn a_row_without_a_baseline_shows_its_figure_but_is_not_judged() {
    // A bare figure moves with the machine's load: 20 % slower may be the
    // machine, so only ratios within one run are judged.
    let row = |y: &[f64]| Run {
        rows: vec![SavedRow {
            measurement: "task switch, instrumentation compiled out, ns".into(),
            better: Better::Lower,
            yieldloop: measured(y),
            baseline: None,
        }],
        ..Run::default()
    };
    let lines = compare(&row(&[10.0, 10.1, 10.2]), &row(&[12.0, 12.1, 12.2]));
    assert_eq!(lines[0].verdict, Verdict::NotJudged);
    assert!(lines[0].now.is_some_and(|c| !c.is_ratio && c.value == 12.1));
    let text = compare::render(&lines, &row(&[10.1]), Path::new("b.txt"));
    assert!(
        text.contains("+19.8 %"),
        "the change is still shown: {text}"
    );
}

#[test]
fn a_figure_of_one_round_has_no_noise_and_is_not_judged() {
    let saved = switch_run(&[10.0], &[200.0]);
    let now = switch_run(&[30.0], &[200.0]);
    assert_eq!(only_verdict(&saved, &now), Verdict::NotJudged);
}

#[test]
fn rows_in_one_run_only_are_listed_not_errors() {
    let saved = switch_run(&[10.0, 10.1], &[200.0, 201.0]);
    let mut now = switch_run(&[10.0, 10.1], &[200.0, 201.0]);
    now.rows[0].measurement = "a new row".into();
    let lines = compare(&saved, &now);
    let verdicts: Vec<(&str, Verdict)> = lines
        .iter()
        .map(|l| (l.measurement.as_str(), l.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("a new row", Verdict::OnlyNow),
            ("task switch (`yield_now`), ns", Verdict::OnlySaved)
        ]
    );
    let text = compare::render(&lines, &saved, Path::new("before.txt"));
    assert!(text.contains("new: not in the saved run"), "{text}");
    assert!(text.contains("only in the saved run"), "{text}");
    assert!(!compare::any_regressed(&lines));
}

#[test]
fn a_saved_run_reads_back_exactly() {
    let mut run = switch_run(&[10.25, 9.875, 11.0], &[200.5, 199.0, 201.25]);
    run.rows.push(SavedRow {
        measurement: "30,000 tasks sleeping 1 s: wall time, s".into(),
        better: Better::Lower,
        yieldloop: Some(Measured::single(1.181)),
        baseline: None,
    });
    let text = run.to_text();
    assert!(text.starts_with("yieldloop-perf 1\n"), "{text}");
    assert_eq!(Run::parse(&text, Path::new("x")), Ok(run));
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let error = Run::load(Path::new("/nonexistent/before.txt")).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("/nonexistent/before.txt"), "{text}");
    assert!(text.contains("--save"), "says how to make one: {text}");
}

#[test]
fn a_garbled_file_is_an_error_naming_file_and_line() {
    let good = switch_run(&[10.0, 10.1], &[200.0, 201.0]).to_text();
    let cases = [
        (
            good.replace("10.1", "ten"),
            4,
            "expected a number, found \"ten\"",
        ),
        (good.replace("\tlower", ""), 4, "7 tab-separated fields"),
        (
            good.replace("\tlower", "\tsideways"),
            4,
            "`lower` or `higher`",
        ),
        (
            format!("{good}nonsense here\n"),
            5,
            "expected `command`, `date` or `row`",
        ),
    ];
    for (text, line, why) in cases {
        let error = Run::parse(&text, Path::new("runs/a.txt")).unwrap_err();
        let shown = error.to_string();
        assert_eq!(error.line, Some(line), "{shown}");
        assert!(shown.contains("runs/a.txt"), "{shown}");
        assert!(shown.contains(why), "{shown}");
    }
}

#[test]
fn an_old_format_or_a_foreign_file_is_told_apart() {
    let old = Run::parse("yieldloop-perf 0\n", Path::new("old.txt")).unwrap_err();
    assert!(old.to_string().contains("another format"), "{old}");
    assert!(old.to_string().contains("old.txt"), "{old}");
    let foreign = Run::parse("| measurement | yieldloop |\n", Path::new("t.md")).unwrap_err();
    assert!(
        foreign.to_string().contains("not a saved perf run"),
        "{foreign}"
    );
    let empty = Run::parse("", Path::new("e.txt")).unwrap_err();
    assert!(
        empty.to_string().contains("not a saved perf run"),
        "{empty}"
    );
}

#[test]
fn the_ratio_range_is_the_widest_the_rounds_allow() {
    let row = &switch_run(&[10.0, 12.0], &[100.0, 200.0]).rows[0];
    let c = Compared::of(row).unwrap();
    assert!(c.is_ratio);
    assert_eq!((c.low, c.high, c.rounds), (10.0 / 200.0, 12.0 / 100.0, 2));
    // Touching ranges are not a regression: only a gap is.
    let touching = Compared {
        low: c.high,
        high: c.high * 2.0,
        ..c
    };
    assert_eq!(
        judge(Some(c), Some(touching), Better::Lower),
        Verdict::WithinNoise
    );
}

#[test]
fn a_row_can_name_another_row_as_its_baseline() {
    // The instrumentation rows: compiled in is compared to compiled out.
    compare::note_baseline("switch, compiled in", "switch, compiled out");
    assert_eq!(
        compare::baseline_of("switch, compiled in").as_deref(),
        Some("switch, compiled out")
    );
    assert_eq!(compare::baseline_of("switch, compiled out"), None);
}
