//! The asyncio baseline: the same measurements, in Python, through `python3`.
//!
//! The course is about how asyncio works, so asyncio is the natural third
//! column. It is optional: without `python3` on `PATH` its cells say so.

use std::process::Command;
use std::time::Duration;

use crate::child;

/// One script, three measurements; `python3 -c SCRIPT MODE N` prints one line.
/// Each mode mirrors a Rust measurement in `micro.rs` or `sleepers.rs`.
const SCRIPT: &str = r#"
import asyncio, sys, threading, time

def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0

async def spin(n):
    for _ in range(n):
        await asyncio.sleep(0)

async def empty():
    pass

async def switch(n):
    # Two tasks take turns, as in micro.rs: n switches in all.
    start = time.perf_counter()
    await asyncio.gather(spin(n // 2), spin(n // 2))
    return (time.perf_counter() - start) / n * 1e9

async def spawn(n):
    start = time.perf_counter()
    for _ in range(n):
        await asyncio.create_task(empty())
    return (time.perf_counter() - start) / n * 1e9

async def sleepers(n):
    before = status_bytes("VmRSS")
    start = time.perf_counter()
    await asyncio.gather(*[asyncio.create_task(asyncio.sleep(1)) for _ in range(n)])
    wall = time.perf_counter() - start
    return f"sleepers {wall} {before} {status_bytes('VmHWM')}"

def nothing():
    pass

async def executor(n):
    # As reactor.rs: n sequential round trips of an empty call.
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    for _ in range(n):
        await loop.run_in_executor(None, nothing)
    return (time.perf_counter() - start) / n * 1e9

async def threadsafe(n):
    # As reactor.rs: one thread sends n callbacks; time until the last ran.
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0
    def bump():
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)
    def send():
        for _ in range(n):
            loop.call_soon_threadsafe(bump)
    start = time.perf_counter()
    sender = threading.Thread(target=send)
    sender.start()
    await done
    sender.join()
    return (time.perf_counter() - start) / n * 1e9

modes = {"switch": switch, "spawn": spawn, "sleepers": sleepers,
         "executor": executor, "threadsafe": threadsafe}
mode, n = sys.argv[1], int(sys.argv[2])
print(asyncio.run(modes[mode](n)))
"#;

/// Runs one asyncio measurement; `Err` says why there is no figure
/// (no python3, or it failed).
pub fn run(mode: &str, n: u64) -> Result<String, String> {
    run_script(SCRIPT, mode, n)
}

/// Runs `python3 -c script mode n` and returns the line it printed (another
/// section's script, such as `sync_bench.rs`'s).
pub fn run_script(script: &str, mode: &str, n: u64) -> Result<String, String> {
    let mut python = Command::new("python3");
    python.args(["-c", script, mode, &n.to_string()]);
    let output = child::output_within(python, Duration::from_secs(120))
        .map_err(|e| format!("python3: {e}"))?;
    Ok(output.trim().to_string())
}

/// An asyncio figure in nanoseconds per operation (`switch`, `spawn`,
/// `executor` or `threadsafe`).
pub fn ns_per_op(mode: &str, n: u64) -> Result<f64, String> {
    parse_ns(&run(mode, n)?)
}

/// A line that should be a number of nanoseconds.
pub fn parse_ns(line: &str) -> Result<f64, String> {
    line.parse()
        .map_err(|_| format!("python3 printed {line:?}"))
}
