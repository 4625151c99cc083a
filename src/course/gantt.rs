//! The task timeline as a picture: a terminal Gantt chart (`--timeline`) and
//! the same picture as SVG (`--timeline-svg FILE`). Introduced by lesson 11
//! ("Reading a timeline").
//!
//! x-axis: time; y-axis: tasks, one row each, in the order they first
//! appeared. Each column of the terminal chart is one `step` of time and
//! shows the state the task spent it in (see [`TaskState::symbol`]); when a
//! column holds several, [`TaskState::precedence`] picks the one drawn, so a
//! step that took no time on the virtual clock still shows. The SVG draws
//! each interval at its exact times, and marks every row with the same
//! columns (`data-step` on the picture), so a test can check that both say
//! the same thing.
//!
//! ```text
//!    0s        0.5s      1s
//! a  █───────────────────█
//! b  █─────────█─────────█
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use crate::course::task_states::{TaskRow, TaskState};

/// The widest a chart gets, in columns after the first.
const MAX_COLUMNS: f64 = 40.0;

/// The time one column stands for: the smallest 1, 2 or 5 × 10ⁿ ms that
/// fits the run in [`MAX_COLUMNS`] columns.
pub fn column_step(rows: &[TaskRow]) -> Duration {
    let end = rows.iter().map(TaskRow::end).max().unwrap_or_default();
    let mut unit = 0.001;
    loop {
        for factor in [1.0, 2.0, 5.0] {
            let step = unit * factor;
            if end.as_secs_f64() / step <= MAX_COLUMNS + 1e-9 {
                return Duration::from_secs_f64(step);
            }
        }
        unit *= 10.0;
    }
}

/// Which column time `at` falls in: `[c·step, (c+1)·step)` is column `c`.
/// (Rounded to the microsecond first, so 0.3 s / 0.1 s is 3, not 2.999….)
pub fn column_of(at: Duration, step: Duration) -> usize {
    (at.as_micros() / step.as_micros().max(1)) as usize
}

/// One row as columns: the state drawn in each, or `None` (not alive).
pub fn columns(row: &TaskRow, step: Duration, count: usize) -> Vec<Option<TaskState>> {
    let mut cells: Vec<Option<TaskState>> = vec![None; count];
    for interval in &row.intervals {
        let first = column_of(interval.start, step);
        // An interval covers the columns it overlaps; one that ends exactly
        // on a column's start does not reach into it.
        let last = if interval.end > interval.start {
            column_of(interval.end.saturating_sub(Duration::from_micros(1)), step)
        } else {
            first
        };
        for cell in cells.iter_mut().take(last + 1).skip(first) {
            let drawn = match *cell {
                Some(other) if other.precedence() <= interval.state.precedence() => other,
                _ => interval.state,
            };
            *cell = Some(drawn);
        }
    }
    cells
}

/// How many columns the rows need at `step`.
pub fn column_count(rows: &[TaskRow], step: Duration) -> usize {
    let end = rows.iter().map(TaskRow::end).max().unwrap_or_default();
    column_of(end, step) + 1
}

/// The labels of the rows: each task's name, with `#id` added when two
/// tasks share a name, and ` (2)`, ` (3)`… when even that repeats (a
/// lesson that builds several loops, whose ids each start at 1).
pub fn labels(rows: &[TaskRow]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::with_capacity(rows.len());
    for row in rows {
        let shared = rows.iter().filter(|other| other.name == row.name).count() > 1;
        let label = if shared {
            format!("{}#{}", row.name, row.id)
        } else {
            row.name.clone()
        };
        let seen = labels
            .iter()
            .filter(|l| **l == label || l.starts_with(&format!("{label} (")))
            .count();
        labels.push(match seen {
            0 => label,
            n => format!("{label} ({})", n + 1),
        });
    }
    labels
}

/// `1.0` → `1`, `0.5` → `0.5`: ruler labels without noise.
fn trim_secs(secs: f64) -> String {
    let text = format!("{secs:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The legend, one line.
pub fn legend() -> String {
    let parts: Vec<String> = TaskState::ALL
        .iter()
        .map(|state| format!("{} {}", state.symbol(), state.meaning()))
        .collect();
    format!("legend: {}", parts.join("  "))
}

/// Draws the terminal chart: a ruler (a label every 10 columns), a row per
/// task, and the legend. With `colour`, each state's characters get their
/// ANSI colour (for a person at a terminal, never in a pipe).
pub fn render_terminal(rows: &[TaskRow], colour: bool) -> String {
    if rows.is_empty() {
        return "(no tasks were recorded)\n".to_string();
    }
    let step = column_step(rows);
    let count = column_count(rows, step);
    let labels = labels(rows);
    let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 2;
    let mut ruler = String::new();
    for col in (0..count).step_by(10) {
        while ruler.chars().count() < col {
            ruler.push(' ');
        }
        let at = step.as_secs_f64() * col as f64;
        ruler.push_str(&format!("{}s", trim_secs(at)));
    }
    let mut out = format!("{:width$}{ruler}\n", "");
    for (row, label) in rows.iter().zip(&labels) {
        let mut line = String::new();
        for cell in columns(row, step, count) {
            match cell {
                None => line.push(' '),
                Some(state) if colour => {
                    let _ = write!(line, "\x1b[{}m{}\x1b[0m", state.colour().1, state.symbol());
                }
                Some(state) => line.push(state.symbol()),
            }
        }
        let _ = writeln!(out, "{label:width$}{}", line.trim_end());
    }
    let _ = writeln!(
        out,
        "one column = {} s; {}",
        trim_secs(step.as_secs_f64()),
        legend()
    );
    out
}

/// Escapes text for XML.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Pixels per column, per row, and for the labels.
const CELL: f64 = 14.0;
const ROW: f64 = 22.0;
const LABEL: f64 = 9.0;
/// Where the first row starts: below the title (y 16) and the ruler (y 36).
const ROWS_TOP: f64 = 44.0;

/// Draws the same picture as SVG: a ruler, a row per task (`<g
/// class="task" data-name=…>` holding one `<rect>` per interval, with its
/// state and exact times), and the legend. `title` goes above it.
pub fn render_svg(rows: &[TaskRow], title: &str) -> String {
    let step = column_step(rows);
    let count = column_count(rows, step).max(1);
    let labels = labels(rows);
    let label_width =
        labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as f64 * LABEL + 16.0;
    let chart_width = count as f64 * CELL;
    let legend_top = ROWS_TOP + rows.len() as f64 * ROW + 20.0;
    let width = (label_width + chart_width + 20.0).max(560.0);
    let height = legend_top + TaskState::ALL.len() as f64 * 18.0 + 6.0;
    let x_of = |at: Duration| label_width + at.as_secs_f64() / step.as_secs_f64() * CELL;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"monospace\" font-size=\"13\" \
         data-step=\"{:.6}\" data-columns=\"{count}\">",
        step.as_secs_f64()
    );
    let _ = writeln!(out, "<title>{}</title>", xml(title));
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        out,
        "<text x=\"8\" y=\"16\" font-weight=\"bold\">{}</text>",
        xml(title)
    );
    // The ruler: a tick and a label every 10 columns, a faint line per column.
    for col in 0..=count {
        let x = label_width + col as f64 * CELL;
        let major = col % 10 == 0;
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{}\"/>",
            if major { 38 } else { 42 },
            ROWS_TOP + rows.len() as f64 * ROW,
            if major { "#999" } else { "#eee" }
        );
        if major && col < count {
            let at = step.as_secs_f64() * col as f64;
            let _ = writeln!(out, "<text x=\"{x:.1}\" y=\"36\">{}s</text>", trim_secs(at));
        }
    }
    for (i, (row, label)) in rows.iter().zip(&labels).enumerate() {
        let top = ROWS_TOP + i as f64 * ROW;
        let _ = writeln!(
            out,
            "<g class=\"task\" data-name=\"{}\" data-id=\"{}\">",
            xml(label),
            row.id
        );
        let _ = writeln!(
            out,
            "<text x=\"8\" y=\"{:.1}\">{}</text>",
            top + 15.0,
            xml(label)
        );
        for interval in &row.intervals {
            let x = x_of(interval.start);
            // A step that took no time still gets a sliver, as in the chart.
            let w = (x_of(interval.end) - x).max(3.0);
            // Running (and cancelled) fill the row; a wait is a thinner bar,
            // so that the tasks' steps stand out from their waits.
            let (y, h) = match interval.state {
                TaskState::Running | TaskState::Cancelled => (top + 3.0, ROW - 6.0),
                _ => (top + 7.0, ROW - 14.0),
            };
            let _ = writeln!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\" \
                 data-state=\"{}\" data-start=\"{:.6}\" data-end=\"{:.6}\"><title>{} {}: \
                 {:.3}–{:.3} s{}</title></rect>",
                interval.state.colour().0,
                interval.state.name(),
                interval.start.as_secs_f64(),
                interval.end.as_secs_f64(),
                xml(label),
                interval.state.meaning(),
                interval.start.as_secs_f64(),
                interval.end.as_secs_f64(),
                if interval.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", xml(&interval.detail))
                }
            );
        }
        let _ = writeln!(out, "</g>");
    }
    // The legend: a state a line.
    let _ = writeln!(out, "<g class=\"legend\">");
    for (i, state) in TaskState::ALL.iter().enumerate() {
        let x = 8.0;
        let y = legend_top + i as f64 * 18.0;
        let _ = writeln!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\" \
             data-legend=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            y - 10.0,
            state.colour().0,
            state.name(),
            x + 16.0,
            y,
            xml(state.meaning())
        );
    }
    let _ = writeln!(out, "</g>");
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::task_states::Interval;

    fn row(name: &str, id: u64, intervals: &[(TaskState, u64, u64)]) -> TaskRow {
        TaskRow {
            id,
            name: name.to_string(),
            parent: None,
            intervals: intervals
                .iter()
                .map(|&(state, start, end)| Interval {
                    state,
                    start: Duration::from_millis(start),
                    end: Duration::from_millis(end),
                    detail: String::new(),
                })
                .collect(),
            instants: Vec::new(),
            finished: None,
        }
    }

    #[test]
    fn a_zero_length_step_shows_over_the_wait_around_it() {
        use TaskState::*;
        let b = row(
            "b",
            2,
            &[
                (Running, 0, 0),
                (Timer, 0, 500),
                (Running, 500, 500),
                (Timer, 500, 1000),
                (Running, 1000, 1000),
            ],
        );
        let step = Duration::from_millis(100);
        let drawn: String = columns(&b, step, 11)
            .into_iter()
            .map(|c| c.map_or(' ', TaskState::symbol))
            .collect();
        assert_eq!(drawn, "█────█────█");
    }

    #[test]
    fn the_step_fits_the_run_in_forty_columns() {
        let one_second = [row("a", 1, &[(TaskState::Timer, 0, 1000)])];
        assert_eq!(column_step(&one_second), Duration::from_millis(50));
        let two = [row("a", 1, &[(TaskState::Timer, 0, 2000)])];
        assert_eq!(column_step(&two), Duration::from_millis(50));
    }

    #[test]
    fn twins_are_told_apart_by_id() {
        let rows = [
            row("worker", 2, &[]),
            row("worker", 3, &[]),
            row("main", 1, &[]),
        ];
        assert_eq!(labels(&rows), ["worker#2", "worker#3", "main"]);
    }
}
