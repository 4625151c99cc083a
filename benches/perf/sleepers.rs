//! Many sleeping tasks: 30,000 tasks each sleeping one second.
//!
//! This measures two things a reactor must get right at scale. Wall time:
//! with a good timer structure, 30,000 one-second sleeps started together end
//! together, a little after one second. Memory: what one waiting task costs,
//! which for a stackful coroutine is mostly its stack's touched pages.
//!
//! Each runtime runs in a fresh child process (`perf --child ...`) so that
//! its memory figure starts from a clean process and no other measurement's
//! allocations (or freed-but-kept heap) pollute it. The child prints one line,
//! `sleepers WALL_SECONDS RSS_BEFORE_BYTES PEAK_RSS_BYTES`; the parent turns
//! it into "bytes per task" as `(peak - before) / tasks`.

use std::io;
use std::time::{Duration, Instant};

use crate::{both, median_of, procfs, progress, python, sleepers_child, thousands, ChildRole, Row};

/// One child's figures.
#[derive(Debug, Clone, Copy)]
pub struct SleepersResult {
    /// From the first spawn to the last task joined.
    pub wall: Duration,
    /// Resident memory just before the tasks were spawned.
    pub rss_before: u64,
    /// The most memory that was ever resident (`VmHWM`), read at the end.
    pub peak_rss: u64,
}

impl SleepersResult {
    /// The line a child prints.
    pub fn to_line(self) -> String {
        format!(
            "sleepers {} {} {}",
            self.wall.as_secs_f64(),
            self.rss_before,
            self.peak_rss
        )
    }

    /// Parses a child's line (also asyncio's, which prints the same format).
    pub fn parse(line: &str) -> Option<SleepersResult> {
        let mut parts = line.trim().strip_prefix("sleepers ")?.split_whitespace();
        let wall = Duration::try_from_secs_f64(parts.next()?.parse().ok()?).ok()?;
        Some(SleepersResult {
            wall,
            rss_before: parts.next()?.parse().ok()?,
            peak_rss: parts.next()?.parse().ok()?,
        })
    }

    /// Resident memory the tasks added, per task.
    pub fn bytes_per_task(self, tasks: u64) -> f64 {
        self.peak_rss.saturating_sub(self.rss_before) as f64 / tasks.max(1) as f64
    }
}

/// Measures `spawn_and_wait`, which must start `tasks` one-second sleepers
/// and return when all are done.
pub fn measure(spawn_and_wait: impl FnOnce()) -> io::Result<SleepersResult> {
    let rss_before = procfs::self_status_bytes("VmRSS")?;
    let start = Instant::now();
    spawn_and_wait();
    let wall = start.elapsed();
    Ok(SleepersResult {
        wall,
        rss_before,
        peak_rss: procfs::self_status_bytes("VmHWM")?,
    })
}

/// tokio: `tasks` spawned tasks, each `tokio::time::sleep(1 s)`, all awaited.
pub fn tokio(tasks: u64) -> io::Result<SleepersResult> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    measure(|| {
        runtime.block_on(async move {
            let handles: Vec<_> = (0..tasks)
                .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_secs(1))))
                .collect();
            for handle in handles {
                let _ = handle.await;
            }
        })
    })
}

/// What a pair of sleepers rows is held to.
pub struct Targets {
    /// Wall time at most this many times tokio's.
    pub wall_ratio: f64,
    /// Resident memory per task at most this many KiB, if there is a limit.
    pub max_kib_per_task: Option<f64>,
}

/// Two rows for `tasks` one-second sleepers: wall time and resident memory
/// per task. yieldloop and tokio run `rounds` interleaved rounds, each in a
/// fresh child process (median of each; see `servers.rs` for why
/// interleaved), asyncio one. `section` prefixes progress lines and notes.
pub fn rows(
    section: &str,
    tasks: u64,
    rounds: usize,
    targets: &Targets,
    notes: &mut Vec<String>,
) -> Vec<Row> {
    let count = thousands(tasks as f64);
    let (mut yl_runs, mut tokio_runs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        progress(&format!(
            "{section}: {count} tasks × 1 s, a fresh child process per runtime, round {round}/{rounds}"
        ));
        yl_runs.push(sleepers_child(ChildRole::SleepersYieldloop, tasks));
        tokio_runs.push(sleepers_child(ChildRole::SleepersTokio, tasks));
    }
    progress(&format!("{section}: asyncio, {count} tasks"));
    let asyncio = vec![python::run("sleepers", tasks)
        .and_then(|line| SleepersResult::parse(&line).ok_or(format!("python3 printed {line:?}")))];
    let wall = |r: &SleepersResult| r.wall.as_secs_f64();
    let per_task = |r: &SleepersResult| r.bytes_per_task(tasks);
    for (name, runs) in [("yieldloop", &yl_runs), ("tokio", &tokio_runs)] {
        let figures: Vec<String> = runs
            .iter()
            .flatten()
            .map(|r| format!("{:.3} s, {:.2} KiB", wall(r), per_task(r) / 1024.0))
            .collect();
        notes.push(format!(
            "{section}: {name}, {count} sleeping tasks, every round: {}",
            figures.join(" / ")
        ));
    }
    let (yl_wall, tokio_wall) = (median_of(&yl_runs, wall), median_of(&tokio_runs, wall));
    let (yl_rss, tokio_rss) = (
        median_of(&yl_runs, per_task),
        median_of(&tokio_runs, per_task),
    );
    let ratio = targets.wall_ratio;
    let limit = targets.max_kib_per_task;
    vec![
        Row {
            measurement: format!("{count} tasks sleeping 1 s: wall time, s"),
            met: both(&yl_wall, &tokio_wall).map(|(y, t)| y <= t * ratio),
            versus_tokio: both(&yl_wall, &tokio_wall).map_or(String::new(), |(y, t)| {
                format!("{:+.1} %", (y / t - 1.0) * 100.0)
            }),
            yieldloop: yl_wall,
            tokio: tokio_wall,
            asyncio: Some(median_of(&asyncio, wall)),
            corosensei: None,
            format: |v| format!("{v:.3}"),
            target: format!("within {:.0} % of tokio", (ratio - 1.0) * 100.0),
        },
        Row {
            measurement: "… resident memory per task, KiB".into(),
            met: limit.and_then(|kib| yl_rss.as_ref().ok().map(|y| *y <= kib * 1024.0)),
            versus_tokio: both(&yl_rss, &tokio_rss)
                .map_or(String::new(), |(y, t)| format!("{:.1}× tokio's", y / t)),
            yieldloop: yl_rss,
            tokio: tokio_rss,
            asyncio: Some(median_of(&asyncio, per_task)),
            corosensei: None,
            format: |v| format!("{:.2}", v / 1024.0),
            target: limit.map_or(String::new(), |kib| format!("≤ {kib} KiB")),
        },
    ]
}
