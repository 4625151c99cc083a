//! What the benchmark reads from `/proc`: memory of this process, CPU time of
//! another process, and a description of the machine for the report.
//!
//! Why `/proc` and not a crate? These are three one-line files, and a learner
//! can `cat` every one of them in a terminal to see what the numbers mean.

use std::fs;
use std::io;
use std::time::Duration;

/// A `kB` field of `/proc/self/status`, in bytes.
///
/// `VmRSS` is the memory resident right now; `VmHWM` ("high water mark") is
/// the most that was ever resident, which is what a burst of tasks costs.
pub fn self_status_bytes(field: &str) -> io::Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::other(format!("no {field} in /proc/self/status")))
}

/// CPU time (user + system) that process `pid` has used so far.
///
/// `/proc/PID/stat` is one line; fields 14 and 15 are `utime` and `stime` in
/// clock ticks. Field 2 is the command name in parentheses and may itself
/// contain spaces, so we split after the last `)`.
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))?;
    // After the name, field 3 (state) is index 0, so utime (14) is index 11.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("short /proc/PID/stat"))
    };
    let total_ticks = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(
        total_ticks as f64 / clock_ticks_per_second(),
    ))
}

/// CPU time the whole machine has spent busy so far, all cores together,
/// including `steal` (time the hypervisor gave our virtual CPUs to someone
/// else). With [`cpu_time`] of the client and the server it tells how much
/// of a measurement's machine went to *other* work.
pub fn machine_busy() -> io::Result<Duration> {
    let stat = fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| io::Error::other("no cpu line in /proc/stat"))?;
    // cpu  user nice system idle iowait irq softirq steal …
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Ok(Duration::from_secs_f64(
        busy as f64 / clock_ticks_per_second(),
    ))
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux almost everywhere).
/// It is also the resolution of [`cpu_time`]: 10 ms at 100 Hz.
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value; no pointers involved.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// "Intel(R) Xeon(R) ..., 2 cores, Linux 6.x" for the report header.
pub fn machine_description() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map(|(_, name)| name.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    // Count the processors the kernel lists, not `available_parallelism`,
    // which shrinks to one once the bench has pinned itself to a CPU.
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, Linux {}", kernel.trim())
}

/// The ephemeral port range, `(low, high)`: every client connection to one
/// server address needs its own local port, so C10k needs more than 10,000.
pub fn ephemeral_ports() -> Option<(u32, u32)> {
    let range = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = range.split_whitespace().map(|p| p.parse().ok());
    Some((parts.next()??, parts.next()??))
}
