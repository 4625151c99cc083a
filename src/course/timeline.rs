//! A picture of the trace: one row per function, one mark per event. Introduced by lesson 01.
//!
//! Reading `0.500 b middle` line by line, it is easy to miss the point of
//! lesson 03: that `a` and `b` wait *at the same time*. Drawn, it is obvious:
//!
//! ```text
//!        0s        1s        2s         (lesson 01: blocking)
//!   a    ●─────────●
//!   b              ●────●────●
//!
//!        0s        1s                   (lesson 03: the run loop)
//!   a    ●─────────●
//!   b    ●────●────●
//! ```
//!
//! [`Recorder`] is a `tracing` layer that notes each event's time and the
//! first word of its message (`a enter` belongs to row `a`); [`Timeline`]
//! draws what it noted. [`crate::course::trace::init_with_timeline`] installs both.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::clock::Clock;

/// One trace event, as the timeline needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    at: Duration,
    row: String,
}

/// The marks noted so far, shared between the recorder and the timeline.
type Marks = Arc<Mutex<Vec<Mark>>>;

/// A `tracing` layer that notes when each event happened and whose it was.
pub struct Recorder {
    clock: Clock,
    marks: Marks,
}

/// What a [`Recorder`] saw, ready to be drawn.
#[derive(Clone)]
pub struct Timeline {
    marks: Marks,
    /// Where the picture starts: zero, or the time of the last
    /// [`Timeline::restart`].
    origin: Arc<Mutex<Duration>>,
}

/// Makes a recorder reading `clock` and the timeline it fills.
pub fn recorder(clock: &Clock) -> (Recorder, Timeline) {
    let marks = Marks::default();
    let recorder = Recorder {
        clock: clock.clone(),
        marks: marks.clone(),
    };
    let origin = Arc::new(Mutex::new(Duration::ZERO));
    (recorder, Timeline { marks, origin })
}

/// Pulls the `message` field out of an event.
struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        let row = message
            .0
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        let mark = Mark {
            at: self.clock.now(),
            row,
        };
        // A poisoned lock only means another thread panicked mid-push; the
        // marks are still a list of complete marks.
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mark);
    }
}

impl Timeline {
    /// Draws the timeline: a ruler, then one row per function in order of
    /// first appearance. Each column is `step`; a `●` marks an event, a `─`
    /// joins one event of a row to the next.
    pub fn render(&self, step: Duration) -> String {
        let marks = self
            .marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let origin = *self.origin.lock().unwrap_or_else(PoisonError::into_inner);
        draw(&marks, step, origin)
    }

    /// Forgets what was recorded so far and starts the picture at `now`: for
    /// a lesson that draws only its last part (lesson 08's cancel chain).
    pub fn restart(&self, now: Duration) {
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        *self.origin.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }
}

impl Timeline {
    /// Prints the timeline at a tenth of a second per column, after a blank
    /// line: how lessons end.
    pub fn print(&self) {
        let picture = self.render(Duration::from_millis(100));
        crate::course::output::print_line(format_args!("\n{picture}"));
    }
}

/// Which column time `at` falls in, when each column is `step` long.
fn column(at: Duration, step: Duration) -> usize {
    (at.as_secs_f64() / step.as_secs_f64()).round() as usize
}

fn draw(marks: &[Mark], step: Duration, origin: Duration) -> String {
    if marks.is_empty() || step.is_zero() {
        return String::new();
    }
    let mut rows: Vec<(&str, Vec<usize>)> = Vec::new();
    for mark in marks {
        let col = column(mark.at.saturating_sub(origin), step);
        match rows.iter_mut().find(|(name, _)| *name == mark.row) {
            Some((_, cols)) => cols.push(col),
            None => rows.push((&mark.row, vec![col])),
        }
    }
    let label_width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 2;
    let last = rows
        .iter()
        .flat_map(|(_, cols)| cols)
        .max()
        .copied()
        .unwrap_or(0);

    // The ruler: a label every 10 columns.
    let mut out = format!("{:label_width$}", "");
    let mut ruler = String::new();
    for col in (0..=last).step_by(10) {
        let at = origin.as_secs_f64() + step.as_secs_f64() * col as f64;
        let label = format!("{}s", trim_secs(at));
        while ruler.chars().count() < col {
            ruler.push(' ');
        }
        ruler.push_str(&label);
    }
    let _ = writeln!(out, "{ruler}");

    for (name, cols) in rows {
        let mut line: Vec<char> = vec![' '; last + 1];
        let (first, end) = (cols[0], cols[cols.len() - 1]);
        for cell in &mut line[first..=end] {
            *cell = '─';
        }
        for &col in &cols {
            line[col] = '●';
        }
        let drawn: String = line.into_iter().collect();
        let _ = writeln!(out, "{name:label_width$}{}", drawn.trim_end());
    }
    out
}

/// Two pictures (or any two blocks of text) next to each other, each under
/// its title, `gap` spaces apart: lesson 10 sets its blocking run beside its
/// executor run.
pub fn side_by_side(left: (&str, &str), right: (&str, &str), gap: usize) -> String {
    let block = |(title, picture): (&str, &str)| -> Vec<String> {
        std::iter::once(title.to_string())
            .chain(picture.lines().map(str::to_string))
            .collect()
    };
    let (left, right) = (block(left), block(right));
    let width = left.iter().map(|l| l.chars().count()).max().unwrap_or(0) + gap;
    let mut out = String::new();
    for i in 0..left.len().max(right.len()) {
        let l = left.get(i).map_or("", String::as_str);
        let r = right.get(i).map_or("", String::as_str);
        let padding = width - l.chars().count();
        let _ = writeln!(out, "{}", format!("{l}{:padding$}{r}", "").trim_end());
    }
    out
}

/// `1.0` → `1`, `0.5` → `0.5`: ruler labels without noise.
fn trim_secs(secs: f64) -> String {
    let text = format!("{secs:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_pads_the_left_block() {
        let both = side_by_side(("one", "a ●─●\nb ●"), ("two", "a ●\nb ●─●\nc ●"), 2);
        assert_eq!(both, "one    two\na ●─●  a ●\nb ●    b ●─●\n       c ●\n");
    }

    fn mark(ms: u64, row: &str) -> Mark {
        Mark {
            at: Duration::from_millis(ms),
            row: row.to_string(),
        }
    }

    #[test]
    fn draws_one_row_per_function_with_its_events() {
        let marks = [
            mark(0, "a"),
            mark(0, "b"),
            mark(500, "b"),
            mark(1000, "a"),
            mark(1000, "b"),
        ];
        let picture = draw(&marks, Duration::from_millis(100), Duration::ZERO);
        let lines: Vec<&str> = picture.lines().collect();
        assert_eq!(lines[0].trim_end(), "   0s        1s");
        assert_eq!(lines[1], "a  ●─────────●");
        assert_eq!(lines[2], "b  ●────●────●");
    }

    #[test]
    fn nothing_recorded_draws_nothing() {
        assert_eq!(draw(&[], Duration::from_millis(100), Duration::ZERO), "");
    }
}
