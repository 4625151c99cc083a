//! Section 4: lesson 06's echo server and the tokio echo server under the
//! same load client.
//!
//! Lesson 06 runs twice, once on each epoll backend (chosen with the
//! `YIELDLOOP_SELECTOR` environment variable): the own epoll selector (the
//! default on Linux, which skips the read after a short one) and `polling`
//! (which cannot, and reads until `WouldBlock`). The table compares the
//! default with tokio; the `polling` rows show what the own selector won.
//!
//! Both servers run as child processes for the whole section (see `child.rs`
//! for why). The machine has two cores, shared by the client, the server and
//! whatever else is running, so a single measurement can be off by 20 %. To
//! make the comparison fair we **interleave**: round 1 measures lesson 06 then
//! tokio, round 2 again, and so on. A slow patch of time then hurts both
//! servers instead of whichever ran during it. See [`Pick`] for how rounds
//! are summed up.
//!
//! ```text
//!   for size in 100, 1,000:            then, for each server:
//!     for round in 1..=rounds:           C10k: open 10,000, ping-pong, check
//!       lesson 06: connect, warm up,
//!                  CPU₀, ping-pong, CPU₁
//!       tokio:     the same
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::child::ServerProcess;
use crate::load_client::{LoadClient, LoadPlan};
use crate::{
    both, procfs, progress, thousands, Figure, Row, Settings, C10K, LOAD_SIZES, SERVER_LIFETIME,
};

/// One server under test.
struct Contender {
    name: &'static str,
    /// The running server, or why it could not be started.
    server: Result<ServerProcess, String>,
    /// Samples per entry of `LOAD_SIZES`, one per round.
    samples: Vec<Vec<Sample>>,
    c10k: Option<C10kFigures>,
    /// Client-side errors over all phases (every byte is checked).
    errors: usize,
}

/// How rounds are summed up.
///
/// Throughput takes the **best** round: other work on the machine (the notes
/// show how much) can only slow a round down, never speed it up, so the best
/// round is the least disturbed estimate of what the server can do. CPU per
/// message barely moves with disturbance, so it takes the **median**.
#[derive(Clone, Copy)]
enum Pick {
    Best,
    Median,
}

/// One timed ping-pong phase.
#[derive(Clone, Copy)]
struct Sample {
    per_second: f64,
    /// Server CPU milliseconds per 1,000 messages.
    cpu_ms_per_1000: f64,
    /// The load client's CPU time over the phase's wall time: near 1.0 means
    /// the client, not the server, was the bottleneck.
    client_busy: f64,
    /// Cores' worth of CPU that went to anything but client and server
    /// (other processes, the hypervisor): the noise in this round.
    others_busy: f64,
}

/// The C10k phase.
struct C10kFigures {
    /// Connections still established after the ping-pong.
    held: usize,
    /// Descriptors the server had open while all clients were connected.
    server_fds: usize,
    per_second: f64,
    fewest_round_trips: u64,
}

/// Lesson 06's server binary, built by cargo alongside this bench.
fn lesson_06_binary() -> Option<PathBuf> {
    option_env!("CARGO_BIN_EXE_06-reactor").map(PathBuf::from)
}

/// Measures both servers; returns the table rows and adds notes (errors,
/// every round's figures).
pub fn rows(s: &Settings, notes: &mut Vec<String>) -> Vec<Row> {
    check_port_range(notes);
    let mut contenders = [
        Contender::start("lesson 06", lesson_06_command("epoll")),
        Contender::start("tokio", tokio_command()),
        Contender::start("lesson 06 on polling", lesson_06_command("polling")),
    ];
    pin_client_and_servers(&contenders, notes);
    for (size_index, &connections) in LOAD_SIZES.iter().enumerate() {
        for round in 1..=s.rounds {
            for contender in contenders.iter_mut() {
                let what = format!("{connections} connections, round {round}/{}", s.rounds);
                progress(&format!(
                    "net: {}, {what}, {:?}",
                    contender.name, s.load_phase
                ));
                contender.sample(size_index, connections, s, notes);
            }
        }
    }
    // C10k for the two the targets compare (the `polling` server's C10k
    // would add half a minute and answer no question of the targets').
    for contender in contenders.iter_mut().take(2) {
        contender.c10k(s, notes);
    }
    for contender in &contenders {
        notes.extend(contender.rounds_note());
    }
    let [yieldloop, tokio, on_polling] = &contenders;
    let mut rows = table(yieldloop, tokio);
    rows.extend(polling_rows(on_polling, tokio));
    rows
}

/// One figure of a `polling` row: what to take from a sample, how to sum
/// rounds up, its name, how to print it.
type PollingFigure = (fn(&Sample) -> f64, Pick, &'static str, fn(f64) -> String);

/// Lesson 06 on the `polling` backend beside tokio: messages per second and
/// CPU per message, the figures the own epoll selector set out to improve.
fn polling_rows(on_polling: &Contender, tokio: &Contender) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, size) in LOAD_SIZES.iter().enumerate() {
        let figures: [PollingFigure; 2] = [
            (
                |s| s.per_second,
                Pick::Best,
                "messages/s (best round)",
                thousands,
            ),
            (
                |s| s.cpu_ms_per_1000,
                Pick::Median,
                "server CPU ms per 1,000 messages (median)",
                crate::one_decimal,
            ),
        ];
        for (figure, pick, what, show) in figures {
            let (y, t) = (
                on_polling.over_rounds(i, figure, pick),
                tokio.over_rounds(i, figure, pick),
            );
            let ratio = both(&y, &t).map_or(String::new(), |(y, t)| format!("{:.2}×", y / t));
            let measurement = format!(
                "echo on `polling` (no skip), {} connections: {what}",
                thousands(*size as f64)
            );
            rows.push(Row::servers(measurement, ratio, y, t, show));
        }
    }
    rows
}

/// Gives the client one core and the servers the other.
///
/// Left alone, the scheduler sometimes puts client and server on the same
/// core. On this virtual machine that *halves* the CPU both spend per message
/// (a wake-up on the same core is cheap; one across cores costs an
/// inter-processor interrupt, which a VM pays dearly for), so rounds came out
/// bimodal and the comparison depended on luck. Pinning makes every round the
/// same setup: the one the issue describes, a client owning a whole core.
fn pin_client_and_servers(contenders: &[Contender], notes: &mut Vec<String>) {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return notes.push("one CPU only: client and servers share it".into());
    }
    let mut pinned = pin(0, 0).is_ok();
    for contender in contenders {
        if let Ok(server) = &contender.server {
            pinned &= i32::try_from(server.pid()).is_ok_and(|pid| pin(pid, 1).is_ok());
        }
    }
    notes.push(if pinned {
        "load client pinned to CPU 0, servers to CPU 1 (sched_setaffinity)".into()
    } else {
        "could not pin client and servers to separate CPUs; rounds may vary".into()
    });
}

/// Restricts thread `pid` (0: the calling thread) to CPU `cpu`.
fn pin(pid: i32, cpu: usize) -> std::io::Result<()> {
    // SAFETY: `cpu_set_t` is plain bits, so all-zero is a valid empty set;
    // CPU_SET writes inside it (cpu < CPU_SETSIZE, we only use 0 and 1); and
    // sched_setaffinity reads exactly `size_of::<cpu_set_t>()` bytes from it.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Lesson 06's server on the selector `backend` names (`YIELDLOOP_SELECTOR`).
fn lesson_06_command(backend: &str) -> Result<Command, String> {
    let path = lesson_06_binary()
        .ok_or("lesson 06-reactor is not built yet (reactor branch not merged)")?;
    let mut lesson = Command::new(path);
    let lifetime = SERVER_LIFETIME.as_secs().to_string();
    lesson.args(["--port", "0", "--seconds", &lifetime]);
    // Per-connection log lines would cost the server CPU that the tokio
    // server does not spend; the loop is what we measure.
    lesson.env("RUST_LOG", "warn");
    lesson.env("YIELDLOOP_SELECTOR", backend);
    Ok(lesson)
}

fn tokio_command() -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut server = Command::new(exe);
    server.args(["--child", "serve-tokio"]);
    Ok(server)
}

impl Contender {
    fn start(name: &'static str, command: Result<Command, String>) -> Contender {
        let server =
            command.and_then(|c| ServerProcess::start(c).map_err(|e| format!("{name}: {e}")));
        Contender {
            name,
            server,
            samples: vec![Vec::new(); LOAD_SIZES.len()],
            c10k: None,
            errors: 0,
        }
    }

    /// One timed round at `connections`; a failure becomes a note.
    fn sample(
        &mut self,
        size_index: usize,
        connections: usize,
        s: &Settings,
        notes: &mut Vec<String>,
    ) {
        let Ok(server) = &self.server else { return };
        let result = (|| {
            let mut client = connect(server, connections)?;
            client.ping_pong(s.warm_up).map_err(|e| e.to_string())?;
            let cpu_of = |pid| procfs::cpu_time(pid).map_err(|e| e.to_string());
            let machine = || procfs::machine_busy().map_err(|e| e.to_string());
            let server_before = cpu_of(server.pid())?;
            let client_before = cpu_of(std::process::id())?;
            let machine_before = machine()?;
            let report = client.ping_pong(s.load_phase).map_err(|e| e.to_string())?;
            let server_cpu = (cpu_of(server.pid())? - server_before).as_secs_f64();
            let client_cpu = (cpu_of(std::process::id())? - client_before).as_secs_f64();
            let machine_cpu = (machine()? - machine_before).as_secs_f64();
            let seconds = report.elapsed.as_secs_f64();
            let sample = Sample {
                per_second: report.per_second(),
                cpu_ms_per_1000: server_cpu * 1e3 / (report.round_trips.max(1) as f64 / 1e3),
                client_busy: client_cpu / seconds,
                others_busy: (machine_cpu - server_cpu - client_cpu).max(0.0) / seconds,
            };
            Ok::<_, String>((sample, client))
        })();
        match result {
            Ok((sample, client)) => {
                self.samples[size_index].push(sample);
                self.errors += note_errors(self.name, &client, notes);
            }
            Err(why) => notes.push(format!("{}: {connections} connections: {why}", self.name)),
        }
    }

    /// Opens 10,000 connections, holds them through a ping-pong phase.
    fn c10k(&mut self, s: &Settings, notes: &mut Vec<String>) {
        let Ok(server) = &self.server else { return };
        let name = self.name;
        progress(&format!(
            "net: {name}, C10k: connecting {C10K} clients (paced)"
        ));
        let started = Instant::now();
        let mut client = match connect(server, C10K) {
            Ok(client) => client,
            Err(why) => return notes.push(format!("{name}: C10k: {why}")),
        };
        progress(&format!(
            "net: {name}, C10k: {} connected in {:.1} s; ping-pong for {:?}",
            client.established(),
            started.elapsed().as_secs_f64(),
            s.load_phase
        ));
        let server_fds =
            std::fs::read_dir(format!("/proc/{}/fd", server.pid())).map_or(0, |d| d.count());
        match client.ping_pong(s.load_phase) {
            Ok(report) => {
                self.c10k = Some(C10kFigures {
                    held: client.established(),
                    server_fds,
                    per_second: report.per_second(),
                    fewest_round_trips: report.fewest_per_connection,
                });
            }
            Err(why) => notes.push(format!("{name}: C10k: {why}")),
        }
        self.errors += note_errors(name, &client, notes);
    }

    /// One figure at size `size_index`, summed up over the rounds by `pick`
    /// (which gets the values sorted ascending).
    fn over_rounds(&self, size_index: usize, figure: fn(&Sample) -> f64, pick: Pick) -> Figure {
        if let Err(why) = &self.server {
            return Err(why.clone());
        }
        let mut values: Vec<f64> = self.samples[size_index].iter().map(figure).collect();
        values.sort_by(f64::total_cmp);
        let index = match pick {
            Pick::Median => values.len() / 2,
            Pick::Best => values.len().saturating_sub(1),
        };
        let figure = values
            .get(index)
            .copied()
            .ok_or_else(|| format!("{}: no successful round", self.name))?;
        crate::compare::note_rounds(figure, &values); // the guard's noise
        Ok(figure)
    }

    /// A C10k figure, or why there is none.
    fn c10k_figure(&self, figure: fn(&C10kFigures) -> f64) -> Figure {
        match (&self.server, &self.c10k) {
            (Err(why), _) => Err(why.clone()),
            (Ok(_), None) => Err(format!("{}: the C10k phase failed (see notes)", self.name)),
            (Ok(_), Some(c10k)) => Ok(figure(c10k)),
        }
    }

    fn error_count(&self) -> Figure {
        self.server
            .as_ref()
            .map(|_| self.errors as f64)
            .map_err(Clone::clone)
    }

    /// "lesson 06, every round: 100 conns: 249,324 / 251,002 msgs/s, …": the
    /// spread behind each figure, for the reader who wants it.
    fn rounds_note(&self) -> Option<String> {
        self.server.as_ref().ok()?;
        let sizes: Vec<String> = LOAD_SIZES
            .iter()
            .zip(&self.samples)
            .map(|(size, samples)| {
                let each = |show: fn(&Sample) -> String| {
                    samples.iter().map(show).collect::<Vec<_>>().join(" / ")
                };
                format!(
                    "{size} conns: {} msgs/s, server {} CPU ms/1,000, client busy {}, \
                     other work {}",
                    each(|s| thousands(s.per_second)),
                    each(|s| format!("{:.1}", s.cpu_ms_per_1000)),
                    each(|s| format!("{:.0} %", s.client_busy * 100.0)),
                    each(|s| format!("{:.0} %", s.others_busy * 100.0)),
                )
            })
            .collect();
        Some(format!("{}, every round: {}", self.name, sizes.join("; ")))
    }
}

/// Opens `connections` paced connections to `server`.
fn connect(server: &ServerProcess, connections: usize) -> Result<LoadClient, String> {
    LoadClient::connect_all(plan(server.addr, connections)).map_err(|e| e.to_string())
}

/// How the bench loads a server at `addr`.
pub fn plan(addr: std::net::SocketAddr, connections: usize) -> LoadPlan {
    LoadPlan {
        addr,
        connections,
        // Half the server's backlog of 1,024: the accept queue never overflows.
        max_connecting: 512,
        stall_timeout: std::time::Duration::from_secs(5),
    }
}

/// Copies a client's first errors into the report's notes; returns the count.
fn note_errors(name: &str, client: &LoadClient, notes: &mut Vec<String>) -> usize {
    for error in client.first_errors() {
        notes.push(format!("{name}: {error}"));
    }
    client.errors()
}

/// C10k needs a local port per connection; say so if the range is too small.
fn check_port_range(notes: &mut Vec<String>) {
    if let Some((low, high)) = procfs::ephemeral_ports() {
        if ((high - low + 1) as usize) < C10K + 1_000 {
            notes.push(format!(
                "ephemeral port range {low}-{high} is small for {C10K} connections \
                 (widen net.ipv4.ip_local_port_range)"
            ));
        }
    }
}

fn table(yieldloop: &Contender, tokio: &Contender) -> Vec<Row> {
    let ratio = |y: &Figure, t: &Figure| {
        both(y, t).map_or(String::new(), |(y, t)| format!("{:.2}×", y / t))
    };
    let rounds = |i: usize, figure: fn(&Sample) -> f64, pick: Pick| {
        let one = |c: &Contender| c.over_rounds(i, figure, pick);
        (one(yieldloop), one(tokio))
    };
    let mut rows = Vec::new();
    for (i, size) in LOAD_SIZES.iter().enumerate() {
        let (y, t) = rounds(i, |s| s.per_second, Pick::Best);
        let measurement = format!(
            "echo, {} connections: messages/s (best round)",
            thousands(*size as f64)
        );
        // Issue 15: 5 % ahead of tokio at 100 and 1,000 connections.
        let met = both(&y, &t).map(|(y, t)| y >= 1.05 * t);
        let row = Row::servers(measurement, ratio(&y, &t), y, t, thousands);
        rows.push(row.target("≥ 1.05× tokio", met));
    }
    for (i, size) in LOAD_SIZES.iter().enumerate() {
        let (y, t) = rounds(i, |s| s.cpu_ms_per_1000, Pick::Median);
        let measurement = format!(
            "echo, {} connections: server CPU ms per 1,000 messages (median)",
            thousands(*size as f64)
        );
        let met = both(&y, &t).map(|(y, t)| y <= 0.95 * t);
        let row = Row::servers(measurement, ratio(&y, &t), y, t, crate::one_decimal);
        rows.push(row.target("≤ 0.95× tokio", met));
    }
    let pick = |figure: fn(&C10kFigures) -> f64| {
        (yieldloop.c10k_figure(figure), tokio.c10k_figure(figure))
    };
    let (y, t) = pick(|c| c.held as f64);
    let met = y.as_ref().ok().map(|h| *h as usize == C10K);
    let measurement = format!(
        "C10k: connections held open (of {})",
        thousands(C10K as f64)
    );
    let target = thousands(C10K as f64);
    rows.push(Row::servers(measurement, String::new(), y, t, thousands).target(&target, met));
    let (y, t) = pick(|c| c.server_fds as f64);
    let measurement = "C10k: server descriptors open during ping-pong";
    rows.push(Row::servers(measurement, String::new(), y, t, thousands));
    let (y, t) = pick(|c| c.per_second);
    let measurement = "C10k: messages/s with 10,000 connections";
    let met = both(&y, &t).map(|(y, t)| y >= t);
    let row = Row::servers(measurement, ratio(&y, &t), y, t, thousands);
    rows.push(row.target("≥ tokio", met));
    let (y, t) = pick(|c| c.fewest_round_trips as f64);
    let met = y.as_ref().ok().map(|n| *n >= 1.0);
    let measurement = "C10k: fewest round trips made by one connection";
    rows.push(Row::servers(measurement, String::new(), y, t, thousands).target("≥ 1", met));
    let (y, t) = (yieldloop.error_count(), tokio.error_count());
    let met = y.as_ref().ok().map(|e| *e == 0.0);
    let measurement = "load client errors, all phases (every byte checked)";
    rows.push(Row::servers(measurement, String::new(), y, t, thousands).target("0", met));
    rows
}
