//! The task timeline as Chrome trace-event JSON (`--trace-out FILE.json`),
//! which <https://ui.perfetto.dev> and `chrome://tracing` open. Introduced by
//! lesson 11 ("Reading a timeline").
//!
//! Written by hand, not with `tracing-chrome`: that crate puts every span of
//! one thread on one track, and all our tasks run on one thread, so their
//! concurrent waits would collapse into one line (its issue #24). Here each
//! task is its own track: a `tid` of its own, named by a `thread_name`
//! metadata event. Each interval of its row is a complete event (`"ph":
//! "X"`, a start and a duration, so every begin has its end), and each
//! wake-up or cancellation an instant (`"ph": "i"`) on its track.
//!
//! Times are microseconds (`ts`, `dur`), as the format wants.

use std::fmt::Write as _;

use crate::course::gantt::labels;
use crate::course::task_states::TaskRow;

/// A JSON string literal of `text`.
fn json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The whole trace: `{"traceEvents": [...], "displayTimeUnit": "ms"}`.
/// Task `i` (in row order) is track `tid = i + 1` of process 1.
pub fn render(rows: &[TaskRow], process: &str) -> String {
    let mut events: Vec<String> = Vec::new();
    events.push(format!(
        "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,\"args\":{{\"name\":{}}}}}",
        json(process)
    ));
    for (i, (row, label)) in rows.iter().zip(labels(rows)).enumerate() {
        let tid = i + 1;
        events.push(format!(
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"args\":{{\"name\":{}}}}}",
            json(&label)
        ));
        // Keep the tracks in the chart's order, not sorted by name.
        events.push(format!(
            "{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"args\":{{\"sort_index\":{tid}}}}}"
        ));
        let parent = row
            .parent
            .map_or("null".to_string(), |parent| parent.to_string());
        for interval in &row.intervals {
            let ts = interval.start.as_micros();
            let dur = interval.end.saturating_sub(interval.start).as_micros();
            events.push(format!(
                "{{\"name\":{},\"cat\":\"task\",\"ph\":\"X\",\"pid\":1,\"tid\":{tid},\"ts\":{ts},\
                 \"dur\":{dur},\"args\":{{\"task\":{},\"id\":{},\"parent\":{parent},\"detail\":{}}}}}",
                json(interval.state.meaning()),
                json(&label),
                row.id,
                json(&interval.detail)
            ));
        }
        for instant in &row.instants {
            events.push(format!(
                "{{\"name\":{},\"cat\":\"task\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":{tid},\
                 \"ts\":{},\"args\":{{\"task\":{},\"detail\":{}}}}}",
                json(instant.what),
                instant.at.as_micros(),
                json(&label),
                json(&instant.detail)
            ));
        }
    }
    format!(
        "{{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n{}\n]}}\n",
        events.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(json("a \"b\"\n\\"), "\"a \\\"b\\\"\\n\\\\\"");
        assert_eq!(json("\u{1}"), "\"\\u0001\"");
    }
}
