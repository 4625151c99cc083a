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

use crate::sleepers::{self, Targets};
use crate::{Row, Settings};

/// The sizes, each with its targets: wall time within 10 % of
/// tokio's at 100,000, within 1.5× at a million, and at most 6 KiB of
/// resident memory per task for the million.
const SIZES: [(u64, Targets); 2] = [
    (
        100_000,
        Targets {
            wall_ratio: 1.10,
            max_kib_per_task: None,
        },
    ),
    (
        1_000_000,
        Targets {
            wall_ratio: 1.5,
            max_kib_per_task: Some(6.0),
        },
    ),
];

/// The section's rows: per size, wall time and resident memory per task.
pub fn rows(s: &Settings, notes: &mut Vec<String>) -> Vec<Row> {
    if !yieldloop::reactor::carved_stacks::guard_pages_supported() {
        notes.push(
            "million: this kernel has no MADV_GUARD_INSTALL (Linux 6.13+), so yieldloop \
             stops at about 32,700 live tasks; its rows show the refusal"
                .into(),
        );
    }
    // A million one-second sleepers take seconds per run: at most three
    // interleaved rounds.
    let rounds = s.rounds.min(3);
    SIZES
        .iter()
        .flat_map(|(tasks, targets)| sleepers::rows("million", *tasks, rounds, targets, notes))
        .collect()
}
