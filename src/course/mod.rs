//! Not a stage of the ladder: what the lessons print and parse with.
//!
//! The runtime's stages ([`crate::generators`], [`crate::select`],
//! [`crate::reactor`]) never need these; the lesson binaries do. `trace` and
//! `timeline` turn `tracing` events into the talks' `0.000 a enter` lines and
//! into a picture; `cli` holds the flags every lesson shares; `ladder` is the
//! one list of lessons that `cargo run`, the README and the book are made from.
//!
//! | module       | lesson | what it is                                          |
//! |--------------|--------|-----------------------------------------------------|
//! | [`trace`]    | 01     | `0.000 a enter` lines through `tracing`              |
//! | [`timeline`] | 01     | the trace drawn as a picture, one row per function   |
//! | [`cli`]      | 01, 05 | shared lesson flags: `--virtual`, `--host`, `--port` |
//! | [`output`]   | 01     | printing that stops quietly on a closed pipe (`\| head`) |
//! | [`ladder`]   | —      | the list of lessons the course prints                |
//! | [`task_states`] | 11  | each task's states over time, from the loop's events |
//! | [`gantt`]    | 11     | those states drawn: terminal chart and SVG           |
//! | [`perfetto`] | 11     | those states as Chrome trace-event JSON (Perfetto)   |

pub mod cli;
pub mod gantt;
pub mod ladder;
pub mod output;
pub mod perfetto;
pub mod task_states;
pub mod timeline;
pub mod trace;
