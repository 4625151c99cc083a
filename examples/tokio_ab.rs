//! The slides' a/b on tokio, for lesson 12's side-by-side traces.
//!
//! `cargo run --example tokio_ab` prints the same `0.000 a enter` lines as
//! lessons 03, 06 and 12. tokio runs here on one thread (`current_thread`)
//! with its clock *paused*: like yieldloop's `--virtual`, time jumps to the
//! next timer, so the printed times are exact. `tests/lesson_12.rs` runs this
//! same function and checks its trace.
//!
//! Not a lesson: tokio is a dev-dependency, here only to compare with.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::{sleep, Instant};

/// The lines printed so far. `Arc<Mutex<..>>`, not `Rc<RefCell<..>>`:
/// `tokio::spawn` demands `Send` futures, because its multi-threaded runtime
/// may move a task to another thread at any `.await`.
#[derive(Clone)]
struct Trace {
    start: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Trace {
    fn log(&self, message: &str) {
        let at = self.start.elapsed().as_secs_f64();
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.push(format!("{at:.3} {message}"));
    }
}

async fn a(trace: Trace) {
    trace.log("a enter");
    sleep(Duration::from_millis(1000)).await;
    trace.log("a exit");
}

async fn b(trace: Trace) {
    trace.log("b enter");
    sleep(Duration::from_millis(500)).await;
    trace.log("b middle");
    sleep(Duration::from_millis(500)).await;
    trace.log("b exit");
}

/// Runs a and b as two tokio tasks; returns the trace lines.
pub fn ab_trace_lines() -> std::io::Result<Vec<String>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let lines = runtime.block_on(async {
        let trace = Trace {
            start: Instant::now(),
            lines: Arc::default(),
        };
        let a = tokio::spawn(a(trace.clone()));
        let b = tokio::spawn(b(trace.clone()));
        // A panic in a task comes back as a JoinError; here it would be a bug.
        let (a, b) = tokio::join!(a, b);
        a.and(b).map_err(std::io::Error::other)?;
        let lines = trace.lines.lock().unwrap_or_else(PoisonError::into_inner);
        Ok::<_, std::io::Error>(lines.clone())
    })?;
    Ok(lines)
}

fn main() -> std::io::Result<()> {
    for line in ab_trace_lines()? {
        println!("{line}");
    }
    Ok(())
}
