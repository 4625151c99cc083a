//! Flags that several lessons share. Introduced by lesson 01 (`--virtual`); lesson 05
//! adds the server contract.
//!
//! Lessons 05 and 06 (and the tests and benchmarks that drive them) start a
//! server with `--host`, `--port` and `--seconds`, and read its first line of
//! standard output, `listening on HOST:PORT`, to learn the real port. Keeping
//! the flags in one struct keeps that contract in one place.

use std::net::SocketAddr;
use std::time::Duration;

/// Flags for a lesson that runs a server. Use with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 lets the system pick a free one (printed on the first line).
    #[arg(long, default_value_t = 15000)]
    pub port: u16,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<f64>,
}

impl ServerArgs {
    /// How long to run, if `--seconds` was given.
    pub fn run_for(&self) -> Option<Duration> {
        self.seconds.map(crate::generators::request::secs)
    }
}

/// The line a server prints first, exactly, so scripts can read the port.
pub fn listening_line(addr: SocketAddr) -> String {
    format!("listening on {addr}")
}

/// The `--virtual` flag of lessons that only sleep. Use with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct ClockArgs {
    /// Run on the virtual clock: sleeps jump instead of waiting, so the run is instant and the
    /// printed times exact.
    #[arg(long = "virtual")]
    pub virtual_time: bool,
}

impl ClockArgs {
    /// The clock the flags ask for.
    pub fn clock(&self) -> crate::Clock {
        crate::Clock::choose(self.virtual_time)
    }
}
