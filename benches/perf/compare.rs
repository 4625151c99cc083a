//! The regression guard's pure logic: a saved run's file format, and the
//! comparison of a new run against it (`--save FILE`, `--compare FILE`).
//!
//! Not a lesson: a tool for whoever changes the runtime (issue 15). Before a
//! commit, `cargo bench --bench perf -- --quick --compare before.txt` says,
//! row by row, whether a ratio got worse by more than the runs' own noise.
//!
//! **What is compared.** A row's *ratio*, yieldloop's figure over tokio's in
//! the same run, because ratios against a same-run baseline survive a busy
//! machine better than nanoseconds do. The instrumentation rows have no
//! tokio figure; their baseline is another row of the run (compiled in over
//! compiled out, debug mode over compiled in: [`note_baseline`]). A row with
//! neither (the compiled-out rows themselves) is shown with its change but
//! not judged: a bare figure moves with the machine's load, and flagging it
//! would flag the machine, not the code.
//!
//! **What noise is.** Every figure is measured in several rounds; its noise
//! is the **min..max range of its rounds**. A ratio's range is the widest
//! the rounds allow: `min(yieldloop) / max(tokio) ..= max(yieldloop) /
//! min(tokio)`. A row is flagged as a regression only when the new run's
//! whole range lies on the worse side of the saved run's whole range: the
//! two ranges do not even touch. A figure measured in one round has no
//! range, so its row is shown but not judged.
//!
//! Only `std` here, so that `tests/perf_compare.rs` can include this file
//! (`#[path]`) and test it: a `harness = false` bench has no `cargo test`.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// The first line of a saved run; the number changes with the format.
pub const FORMAT_LINE: &str = "yieldloop-perf 1";
/// What every version of the format starts with, to tell "old" from "not ours".
const FORMAT_NAME: &str = "yieldloop-perf ";

/// One figure and the rounds behind it (one value when unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The figure the report prints (a median, or the best round).
    pub value: f64,
    /// Every round's value.
    pub rounds: Vec<f64>,
}

impl Measured {
    /// A figure whose rounds are not known (or that had only one).
    pub fn single(value: f64) -> Measured {
        Measured {
            value,
            rounds: vec![value],
        }
    }

    fn low(&self) -> f64 {
        self.rounds.iter().copied().fold(self.value, f64::min)
    }

    fn high(&self) -> f64 {
        self.rounds.iter().copied().fold(self.value, f64::max)
    }
}

/// Which way is better for a row's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Times, CPU, memory.
    Lower,
    /// Messages per second, connections held.
    Higher,
}

impl Better {
    /// Guessed from the row's measurement text: the rows that count things
    /// done say so in their names.
    pub fn for_measurement(measurement: &str) -> Better {
        let counts = ["messages/s", "held open", "round trips made"];
        if counts.iter().any(|c| measurement.contains(c)) {
            Better::Higher
        } else {
            Better::Lower
        }
    }

    fn word(self) -> &'static str {
        match self {
            Better::Lower => "lower",
            Better::Higher => "higher",
        }
    }
}

/// One row of a run, as saved.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedRow {
    /// The row's name in the report: how rows of two runs are matched.
    pub measurement: String,
    pub better: Better,
    pub yieldloop: Option<Measured>,
    /// tokio's figure, or the figure of the row it is measured against.
    pub baseline: Option<Measured>,
}

/// A whole run: what `--save` writes and `--compare` reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Run {
    pub command: String,
    pub date: String,
    pub rows: Vec<SavedRow>,
}

// ─────────────────────────── rounds, as measured ──────────────────────────

thread_local! {
    /// The rounds behind each figure measured so far, keyed by the figure.
    static ROUNDS: RefCell<Vec<(u64, Vec<f64>)>> = const { RefCell::new(Vec::new()) };
}

/// Notes the rounds a figure was made from. Called where figures are made
/// (`micro::median_ns_per_op`, `median_of`, the echo rounds), so that the
/// report's rows, which every section builds its own way, need no new
/// field: [`rounds_of`] finds the rounds again by the figure's exact bits
/// (two measured figures with the same bits and different rounds would get
/// the later rounds; for medians of timings that does not happen).
pub fn note_rounds(figure: f64, rounds: &[f64]) {
    ROUNDS.with(|all| all.borrow_mut().push((figure.to_bits(), rounds.to_vec())));
}

/// The figure with its rounds, if they were noted.
pub fn rounds_of(figure: f64) -> Measured {
    let rounds = ROUNDS.with(|all| {
        all.borrow()
            .iter()
            .rev()
            .find(|(bits, _)| *bits == figure.to_bits())
            .map(|(_, rounds)| rounds.clone())
    });
    match rounds {
        Some(rounds) if !rounds.is_empty() => Measured {
            value: figure,
            rounds,
        },
        _ => Measured::single(figure),
    }
}

thread_local! {
    /// Rows whose baseline is another row of the same run, not tokio.
    static BASELINES: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// Says that the row `measurement` has no tokio figure and is to be
/// compared as a ratio to the row `baseline` of the same run instead (the
/// instrumentation rows: compiled in over compiled out). A ratio within one
/// run survives a busier machine; the bare figure would not.
pub fn note_baseline(measurement: &str, baseline: &str) {
    BASELINES.with(|all| {
        all.borrow_mut()
            .push((measurement.to_string(), baseline.to_string()))
    });
}

/// The row that [`note_baseline`] named for `measurement`, if any.
pub fn baseline_of(measurement: &str) -> Option<String> {
    BASELINES.with(|all| {
        all.borrow()
            .iter()
            .rev()
            .find(|(row, _)| row == measurement)
            .map(|(_, baseline)| baseline.clone())
    })
}

// ──────────────────────────────── the file ────────────────────────────────

/// Why a saved run could not be used; says which file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    pub file: PathBuf,
    /// The line (from 1) that is wrong, if one is.
    pub line: Option<usize>,
    pub why: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "saved run {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        write!(f, ": {}", self.why)
    }
}

impl Run {
    /// The file's text: a format line, the command and date, one line per row.
    ///
    /// ```text
    /// yieldloop-perf 1
    /// command<TAB>cargo bench --bench perf -- --quick --save before.txt
    /// date<TAB>2026-11-23 21:46 UTC
    /// row<TAB>MEASUREMENT<TAB>lower<TAB>15.0<TAB>14.8 15.0 16.1<TAB>279.6<TAB>270.1 279.6 290.3
    /// ```
    ///
    /// A row's fields: its measurement, which way is better, then yieldloop's
    /// figure and its rounds, then tokio's (`-` and `-` when there is none).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{FORMAT_LINE}");
        let _ = writeln!(out, "command\t{}", one_line(&self.command));
        let _ = writeln!(out, "date\t{}", one_line(&self.date));
        for row in &self.rows {
            let figure = |m: &Option<Measured>| match m {
                None => "-\t-".to_string(),
                Some(m) => {
                    let rounds: Vec<String> = m.rounds.iter().map(f64::to_string).collect();
                    format!("{}\t{}", m.value, rounds.join(" "))
                }
            };
            let _ = writeln!(
                out,
                "row\t{}\t{}\t{}\t{}",
                one_line(&row.measurement),
                row.better.word(),
                figure(&row.yieldloop),
                figure(&row.baseline)
            );
        }
        out
    }

    /// Reads what [`Run::to_text`] wrote; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Run, FileError> {
        let error = |line: Option<usize>, why: String| FileError {
            file: file.to_path_buf(),
            line,
            why,
        };
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, FORMAT_LINE)) => {}
            Some((_, first)) if first.starts_with(FORMAT_NAME) => {
                return Err(error(
                    Some(1),
                    format!(
                        "it is in another format ({first:?}, this bench reads {FORMAT_LINE:?}); \
                         save the run again with this version (--save)"
                    ),
                ))
            }
            _ => {
                return Err(error(
                    Some(1),
                    format!(
                        "not a saved perf run (its first line should be {FORMAT_LINE:?}); \
                         write one with `cargo bench --bench perf -- --save FILE`"
                    ),
                ))
            }
        }
        let mut run = Run::default();
        for (index, line) in lines {
            let number = Some(index + 1);
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["command", command] => run.command = command.to_string(),
                ["date", date] => run.date = date.to_string(),
                ["row", measurement, better, y, y_rounds, t, t_rounds] => {
                    let better = match *better {
                        "lower" => Better::Lower,
                        "higher" => Better::Higher,
                        other => {
                            let why = format!("expected `lower` or `higher`, found {other:?}");
                            return Err(error(number, why));
                        }
                    };
                    let figure = |value: &str, rounds: &str| {
                        parse_measured(value, rounds).map_err(|why| error(number, why))
                    };
                    run.rows.push(SavedRow {
                        measurement: measurement.to_string(),
                        better,
                        yieldloop: figure(y, y_rounds)?,
                        baseline: figure(t, t_rounds)?,
                    });
                }
                ["row", ..] => {
                    let why = format!(
                        "a row needs 7 tab-separated fields, this one has {}",
                        fields.len()
                    );
                    return Err(error(number, why));
                }
                _ => {
                    let start: String = line.chars().take(40).collect();
                    let why = format!("expected `command`, `date` or `row`, found {start:?}");
                    return Err(error(number, why));
                }
            }
        }
        Ok(run)
    }

    /// Reads and parses `file`.
    pub fn load(file: &Path) -> Result<Run, FileError> {
        let text = std::fs::read_to_string(file).map_err(|e| FileError {
            file: file.to_path_buf(),
            line: None,
            why: format!(
                "cannot read it: {e} (write one first with `cargo bench --bench perf -- --quick \
                 --save {}`)",
                file.display()
            ),
        })?;
        Run::parse(&text, file)
    }
}

/// Tabs and line breaks would break the format; no measurement has them.
fn one_line(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

/// `-` `-`: no figure; else a number and its rounds (numbers, by spaces).
fn parse_measured(value: &str, rounds: &str) -> Result<Option<Measured>, String> {
    if value == "-" && rounds == "-" {
        return Ok(None);
    }
    let number = |text: &str| match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("expected a number, found {text:?}")),
    };
    let value = number(value)?;
    let rounds = rounds
        .split(' ')
        .filter(|r| !r.is_empty())
        .map(number)
        .collect::<Result<Vec<f64>, String>>()?;
    if rounds.is_empty() {
        return Err("a figure needs at least one round".into());
    }
    Ok(Some(Measured { value, rounds }))
}

// ───────────────────────────── the comparison ─────────────────────────────

/// What a row's figures are compared by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compared {
    /// yieldloop / its baseline, or yieldloop's figure alone.
    pub value: f64,
    /// The range its rounds allow (see the module comment).
    pub low: f64,
    pub high: f64,
    /// The fewest rounds behind either figure.
    pub rounds: usize,
    pub is_ratio: bool,
}

impl Compared {
    /// The ratio to the baseline if the row has both figures, else yieldloop's own.
    pub fn of(row: &SavedRow) -> Option<Compared> {
        let y = row.yieldloop.as_ref()?;
        match &row.baseline {
            Some(t) if t.value > 0.0 && t.low() > 0.0 => Some(Compared {
                value: y.value / t.value,
                low: y.low() / t.high(),
                high: y.high() / t.low(),
                rounds: y.rounds.len().min(t.rounds.len()),
                is_ratio: true,
            }),
            _ => Some(Compared {
                value: y.value,
                low: y.low(),
                high: y.high(),
                rounds: y.rounds.len(),
                is_ratio: false,
            }),
        }
    }
}

/// What the guard says about one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worse, and the two runs' ranges do not overlap.
    Regressed,
    /// Better, beyond both ranges.
    Improved,
    /// The ranges overlap: no change the noise can tell from nothing.
    WithinNoise,
    /// A figure had a single round (no range), the row has no figure, or
    /// no baseline to make a ratio with.
    NotJudged,
    /// The saved run has the row, this one does not (or the reverse).
    OnlySaved,
    OnlyNow,
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub measurement: String,
    pub saved: Option<Compared>,
    pub now: Option<Compared>,
    pub verdict: Verdict,
}

/// Compares `now` with `saved`, row by row, in `now`'s order, then the rows
/// only the saved run has.
pub fn compare(saved: &Run, now: &Run) -> Vec<Line> {
    let mut lines = Vec::new();
    for row in &now.rows {
        let old = saved.rows.iter().find(|r| r.measurement == row.measurement);
        let now_figure = Compared::of(row);
        let Some(old) = old else {
            lines.push(Line {
                measurement: row.measurement.clone(),
                saved: None,
                now: now_figure,
                verdict: Verdict::OnlyNow,
            });
            continue;
        };
        let saved_figure = Compared::of(old);
        lines.push(Line {
            measurement: row.measurement.clone(),
            saved: saved_figure,
            now: now_figure,
            verdict: judge(saved_figure, now_figure, row.better),
        });
    }
    for old in &saved.rows {
        if !now.rows.iter().any(|r| r.measurement == old.measurement) {
            lines.push(Line {
                measurement: old.measurement.clone(),
                saved: Compared::of(old),
                now: None,
                verdict: Verdict::OnlySaved,
            });
        }
    }
    lines
}

// ANCHOR: judge
/// The rule of the module comment: flagged only when the ranges do not touch.
pub fn judge(saved: Option<Compared>, now: Option<Compared>, better: Better) -> Verdict {
    let (Some(saved), Some(now)) = (saved, now) else {
        return Verdict::NotJudged;
    };
    if !saved.is_ratio || !now.is_ratio || saved.rounds < 2 || now.rounds < 2 {
        return Verdict::NotJudged;
    }
    let (worse, better_than) = match better {
        Better::Lower => (now.low > saved.high, now.high < saved.low),
        Better::Higher => (now.high < saved.low, now.low > saved.high),
    };
    if worse {
        Verdict::Regressed
    } else if better_than {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    }
}
// ANCHOR_END: judge

/// Whether any line regressed (the exit status says so).
pub fn any_regressed(lines: &[Line]) -> bool {
    lines.iter().any(|l| l.verdict == Verdict::Regressed)
}

/// The comparison as a Markdown table, with a line saying what noise means.
pub fn render(lines: &[Line], saved: &Run, file: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## Compared with {}\n", file.display());
    let _ = writeln!(
        out,
        "- saved run: `{}`, {}\n- compared: yieldloop / its baseline (tokio; for the \
         instrumentation rows, the build they are measured against) where a row has both \
         (ratio); a row without one shows its figure, not judged\n- noise: each run's min..max over its rounds (a \
         ratio: min yieldloop / max baseline .. max yieldloop / min baseline); **regressed** \
         means the new range lies wholly on the worse side of the saved one\n",
        saved.command, saved.date
    );
    let _ = writeln!(
        out,
        "| measurement | compared | saved (min..max, rounds) | now (min..max, rounds) | change | verdict |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---|");
    for line in lines {
        let shown = |c: &Option<Compared>| match c {
            None => "—".to_string(),
            Some(c) => format!(
                "{} ({}..{}, {})",
                number(c.value),
                number(c.low),
                number(c.high),
                c.rounds
            ),
        };
        let kind = match line.now.or(line.saved) {
            Some(c) if c.is_ratio => "ratio",
            Some(_) => "figure",
            None => "",
        };
        let change = match (line.saved, line.now) {
            (Some(s), Some(n)) if s.value != 0.0 => {
                format!("{:+.1} %", (n.value / s.value - 1.0) * 100.0)
            }
            _ => String::new(),
        };
        let verdict = match line.verdict {
            Verdict::Regressed => "**REGRESSED** (beyond both runs' noise)",
            Verdict::Improved => "improved (beyond both runs' noise)",
            Verdict::WithinNoise => "within noise",
            Verdict::NotJudged => "not judged (one round, no figure, or no baseline)",
            Verdict::OnlySaved => "only in the saved run",
            Verdict::OnlyNow => "new: not in the saved run",
        };
        let _ = writeln!(
            out,
            "| {} | {kind} | {} | {} | {change} | {verdict} |",
            line.measurement,
            shown(&line.saved),
            shown(&line.now)
        );
    }
    let regressed = lines
        .iter()
        .filter(|l| l.verdict == Verdict::Regressed)
        .count();
    let _ = writeln!(
        out,
        "\n{}",
        if regressed == 0 {
            "No row regressed beyond noise.".to_string()
        } else {
            format!("{regressed} row(s) regressed beyond noise: exit status 1.")
        }
    );
    out
}

/// Three significant digits or so: ratios are small, nanoseconds are not.
fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}
