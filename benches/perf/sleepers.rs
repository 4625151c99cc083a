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

use crate::procfs;

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
