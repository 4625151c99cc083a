//! A million tasks: 100,000 and 1,000,000 tasks each sleeping one second,
//! spawned and joined on one loop (section `million`).
//!
//! The `sleep` section's measurement (`sleepers.rs`: a fresh child process
//! per run, wall time from the first spawn to the last join, peak resident
//! memory per task), at sizes no stackful runtime on per-stack mappings can
//! reach: `vm.max_map_count` (65,530) stopped those at about 32,700 live
//! stacks. yieldloop gets past it by carving stacks from large regions with
//! `MADV_GUARD_INSTALL` guard pages (`src/reactor/carved_stacks.rs`), so
//! its rows need Linux 6.13 or later; on an older kernel its cells say so.
//! tokio (`current_thread`) and asyncio run the same sizes in the same run.

use crate::sleepers::SleepersResult;
use crate::{
    both, median_of, progress, python, sleepers_child, thousands, ChildRole, Row, Settings,
};

/// The sizes.
const SIZES: [u64; 2] = [100_000, 1_000_000];

/// Wall-time target, as a ratio to tokio's: within 10 % at 100,000, within
/// 1.5× at a million.
fn wall_target(tasks: u64) -> f64 {
    if tasks >= 1_000_000 {
        1.5
    } else {
        1.10
    }
}

/// Resident memory per task the million may cost.
const MAX_KIB_PER_TASK: f64 = 6.0;

/// The section's rows: per size, wall time and resident memory per task.
pub fn rows(s: &Settings, notes: &mut Vec<String>) -> Vec<Row> {
    if !yieldloop::reactor::carved_stacks::guard_pages_supported() {
        notes.push(
            "million: this kernel has no MADV_GUARD_INSTALL (Linux 6.13+), so yieldloop \
             stops at about 32,700 live tasks; its rows show the refusal"
                .into(),
        );
    }
    // A million one-second sleepers take a few seconds per run: at most
    // three interleaved rounds, median of each.
    let rounds = s.rounds.min(3);
    let mut rows = Vec::new();
    for tasks in SIZES {
        let (mut yl_runs, mut tokio_runs) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            progress(&format!(
                "million: {} tasks × 1 s, a fresh child process per runtime, round {round}/{rounds}",
                thousands(tasks as f64)
            ));
            yl_runs.push(sleepers_child(ChildRole::SleepersYieldloop, tasks));
            tokio_runs.push(sleepers_child(ChildRole::SleepersTokio, tasks));
        }
        progress(&format!("million: asyncio, {}", thousands(tasks as f64)));
        let asyncio = vec![python::run("sleepers", tasks).and_then(|line| {
            SleepersResult::parse(&line).ok_or(format!("python3 printed {line:?}"))
        })];
        let wall = |r: &SleepersResult| r.wall.as_secs_f64();
        let per_task = |r: &SleepersResult| r.bytes_per_task(tasks);
        for (name, runs) in [("yieldloop", &yl_runs), ("tokio", &tokio_runs)] {
            let figures: Vec<String> = runs
                .iter()
                .flatten()
                .map(|r| format!("{:.3} s, {:.2} KiB", wall(r), per_task(r) / 1024.0))
                .collect();
            notes.push(format!(
                "million: {name}, {} tasks, every round: {}",
                thousands(tasks as f64),
                figures.join(" / ")
            ));
        }
        let (yl_wall, tokio_wall) = (median_of(&yl_runs, wall), median_of(&tokio_runs, wall));
        let (yl_rss, tokio_rss) = (
            median_of(&yl_runs, per_task),
            median_of(&tokio_runs, per_task),
        );
        let ratio = wall_target(tasks);
        rows.push(Row {
            measurement: format!(
                "{} tasks sleeping 1 s: wall time, s",
                thousands(tasks as f64)
            ),
            met: both(&yl_wall, &tokio_wall).map(|(y, t)| y <= t * ratio),
            versus_tokio: both(&yl_wall, &tokio_wall)
                .map_or(String::new(), |(y, t)| format!("{:.2}× tokio's", y / t)),
            yieldloop: yl_wall,
            tokio: tokio_wall,
            asyncio: Some(median_of(&asyncio, wall)),
            corosensei: None,
            format: |v| format!("{v:.3}"),
            target: format!("≤ {ratio}× tokio's"),
        });
        rows.push(Row {
            measurement: "… resident memory per task, KiB".into(),
            met: (tasks >= 1_000_000)
                .then(|| {
                    yl_rss
                        .as_ref()
                        .ok()
                        .map(|y| *y <= MAX_KIB_PER_TASK * 1024.0)
                })
                .flatten(),
            versus_tokio: both(&yl_rss, &tokio_rss)
                .map_or(String::new(), |(y, t)| format!("{:.1}× tokio's", y / t)),
            yieldloop: yl_rss,
            tokio: tokio_rss,
            asyncio: Some(median_of(&asyncio, per_task)),
            corosensei: None,
            format: |v| format!("{:.2}", v / 1024.0),
            target: if tasks >= 1_000_000 {
                format!("≤ {MAX_KIB_PER_TASK} KiB")
            } else {
                String::new()
            },
        });
    }
    rows
}
