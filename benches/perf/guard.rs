//! `--save FILE` and `--compare FILE`: the regression guard, wired to the
//! report's rows. The file format and the comparison rule live in
//! `compare.rs` (tested by `tests/perf_compare.rs`); this file only turns
//! [`Row`]s into a [`Run`] and decides the exit status.
//!
//! ```text
//! cargo bench --bench perf -- --quick --save before.txt     # on the old commit
//! cargo bench --bench perf -- --quick --compare before.txt  # on the new one
//! ```
//!
//! Exit status: 0, or 1 when a row regressed beyond noise, or 2 when the
//! saved file cannot be used (missing, garbled, an older format).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::compare::{self, Better, Run, SavedRow};
use crate::{Figure, Row};

/// The status `--compare` ends with when a row regressed.
const REGRESSED: u8 = 1;
/// The status when the saved file cannot be used.
const BAD_FILE: u8 = 2;

/// Reads `--compare`'s file *before* anything is measured, so that a typo
/// costs a second, not a whole run.
pub fn load(file: Option<&Path>) -> Result<Option<(PathBuf, Run)>, ExitCode> {
    let Some(file) = file else { return Ok(None) };
    match Run::load(file) {
        Ok(run) => Ok(Some((file.to_path_buf(), run))),
        Err(error) => {
            eprintln!("perf --compare: {error}");
            Err(ExitCode::from(BAD_FILE))
        }
    }
}

/// After the report: saves this run and/or compares it with the saved one.
pub fn finish(rows: &[Row], save: Option<&Path>, saved: Option<(PathBuf, Run)>) -> ExitCode {
    let now = snapshot(rows);
    if let Some(file) = save {
        if let Err(e) = std::fs::write(file, now.to_text()) {
            eprintln!("perf --save: cannot write {}: {e}", file.display());
            return ExitCode::from(BAD_FILE);
        }
        crate::progress(&format!("saved this run to {}", file.display()));
    }
    let Some((file, saved)) = saved else {
        return ExitCode::SUCCESS;
    };
    let lines = compare::compare(&saved, &now);
    print!("{}", compare::render(&lines, &saved, &file));
    if compare::any_regressed(&lines) {
        ExitCode::from(REGRESSED)
    } else {
        ExitCode::SUCCESS
    }
}

/// This run's rows with the rounds behind each figure. A row's baseline is
/// its tokio figure, or the row `compare::note_baseline` named for it.
fn snapshot(rows: &[Row]) -> Run {
    let measured = |figure: &Figure| figure.as_ref().ok().map(|v| compare::rounds_of(*v));
    let baseline = |row: &Row| {
        measured(&row.tokio).or_else(|| {
            let name = compare::baseline_of(&row.measurement)?;
            let other = rows.iter().find(|r| r.measurement == name)?;
            measured(&other.yieldloop)
        })
    };
    Run {
        command: crate::command_line(),
        date: crate::utc_date(),
        rows: rows
            .iter()
            .map(|row| SavedRow {
                measurement: row.measurement.clone(),
                better: Better::for_measurement(&row.measurement),
                yieldloop: measured(&row.yieldloop),
                baseline: baseline(row),
            })
            .collect(),
    }
}
