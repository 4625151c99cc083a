//! `cargo bench --bench perf`: how fast is yieldloop, next to tokio and asyncio?
//!
//! One command, one run, one Markdown table. Every figure is set beside
//! baselines measured in the same run on the same machine, because absolute
//! nanoseconds mean little across machines, while ratios travel well.
//!
//! | section  | what                                             | compared with                 |
//! |----------|--------------------------------------------------|-------------------------------|
//! | `switch` | one task switch (`yield_now`) through the loop   | raw corosensei, tokio, asyncio|
//! | `spawn`  | spawn + join of an empty task                    | tokio, asyncio                |
//! | `cancel` | `wait_for` finishing in time; spawn + cancel +   | tokio (`timeout`, `abort`)    |
//! |          | join of a sleeping task (lesson 08)              |                               |
//! | `sync`   | a contended `Lock`; `Queue(64)` put/get per item | tokio (`Mutex`, `mpsc`),      |
//! |          | (lesson 09)                                      | asyncio (`Lock`, `Queue`)     |
//! | `executor` | `run_in_executor` round trip; `call_soon_threadsafe` | tokio (`spawn_blocking`,   |
//! |          | throughput from another thread (lesson 10)       | `Handle::spawn`), asyncio     |
//! | `sleep`  | 30,000 tasks sleeping 1 s: wall time, RSS / task | tokio, asyncio                |
//! | `million`| 100,000 and 1,000,000 sleeping tasks (million.rs)| tokio, asyncio                |
//! | `net`    | lesson 06's echo server under a load client:     | a tokio echo server           |
//! |          | msgs/s and CPU per 1,000 msgs at 100 and 1,000   |                               |
//! |          | connections; 10,000 connections held (C10k)      |                               |
//! | `instrument` | task switch, spawn + join and lesson 06's echo | the same code built without   |
//! |          | with lesson 11's events compiled in, and in debug | the `instrument` feature      |
//! |          | mode (`instrument_cost.rs`)                      |                               |
//!
//! The same executable plays several roles. Run plainly, it is the
//! orchestrator and the load client; with the hidden `--child ROLE` flag it is
//! a fresh process that runs one memory measurement or the tokio server. See
//! `child.rs` for why servers and memory measurements get their own process.
//!
//! Flags (after `--`): `--quick` for a short run, `--only net,sleep` to pick
//! sections, `--load HOST:PORT` to run only the load client against a server
//! of your own, `--save FILE` / `--compare FILE` for the regression guard
//! (`guard.rs`, `compare.rs`). Progress goes to stderr, the report to stdout; the book's
//! performance page (docs/src/performance.md) holds a real run and reads it.

mod child;
mod compare;
mod echo_tokio;
mod guard;
mod instrument_cost;
mod load_client;
mod micro;
mod million;
mod procfs;
mod python;
mod reactor;
mod servers;
mod sleepers;
mod sync_bench;

use std::fmt::Write as _;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Parser, ValueEnum};

use sleepers::SleepersResult;

/// Benchmarks yieldloop against raw corosensei, tokio (current_thread) and
/// Python's asyncio, and prints a Markdown table.
#[derive(Parser, Debug)]
struct Args {
    /// A short run: one round, fewer iterations, 1.5 s load phases (under a minute).
    #[arg(long)]
    quick: bool,
    /// Measure only these sections (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
    /// `cargo bench` passes `--bench` to every bench target; accepted, ignored.
    #[arg(long, hide = true)]
    bench: bool,
    /// Internal: run as a child process in this role.
    #[arg(long, value_enum, hide = true)]
    child: Option<ChildRole>,
    /// Internal: how many sleeping tasks a `sleepers-*` child starts.
    #[arg(long, hide = true, default_value_t = SLEEPING_TASKS)]
    tasks: u64,
    /// Instead of benchmarking, run only the load client against the
    /// upper-casing echo server at this address (for example your own).
    #[arg(long, value_name = "HOST:PORT")]
    load: Option<std::net::SocketAddr>,
    /// With --load: connections to hold.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// With --load: seconds of ping-pong (more than 0, at most 1000000).
    #[arg(long, default_value = "5", value_parser = yieldloop::course::cli::parse_timeout, allow_negative_numbers = true)]
    seconds: Duration,
    /// Save this run (every row, with each figure's rounds) to FILE, for
    /// a later --compare.
    #[arg(long, value_name = "FILE")]
    save: Option<std::path::PathBuf>,
    /// Compare this run with one saved by --save: each row's ratio to its
    /// baseline (tokio; for the instrumentation rows, the other build) beside
    /// the saved one, flagged where it got worse by more than both runs'
    /// noise (the min..max of their rounds). Exit status 1 if any row
    /// regressed, 2 if FILE is missing, garbled or of an older format.
    #[arg(long, value_name = "FILE")]
    compare: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Section {
    Switch,
    Spawn,
    Cancel,
    Sync,
    Executor,
    Sleep,
    Million,
    Net,
    /// Instrumentation compiled in vs out, and debug mode (issue 13).
    Instrument,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ChildRole {
    SleepersTokio,
    SleepersYieldloop,
    ServeTokio,
}

/// The figure for the sleeping-tasks test.
const SLEEPING_TASKS: u64 = 30_000;
/// Connections for the C10k test.
const C10K: usize = 10_000;
/// Connection counts for the messages-per-second comparison.
const LOAD_SIZES: [usize; 2] = [100, 1_000];
/// A server is given this long to live, so that a crashed bench leaves no
/// server behind for long (we also kill servers when done).
const SERVER_LIFETIME: Duration = Duration::from_secs(900);

/// How much work each section does; `--quick` shrinks it.
struct Settings {
    /// Interleaved rounds of the sleeping-tasks and echo-server measurements.
    rounds: usize,
    switches: u64,
    spawns: u64,
    repeats: usize,
    python_switches: u64,
    python_spawns: u64,
    executor_calls: u64,
    threadsafe_calls: u64,
    load_phase: Duration,
    warm_up: Duration,
}

impl Settings {
    fn new(quick: bool) -> Settings {
        if quick {
            Settings {
                rounds: 1,
                switches: 400_000,
                spawns: 50_000,
                repeats: 3,
                python_switches: 40_000,
                python_spawns: 20_000,
                executor_calls: 10_000,
                threadsafe_calls: 100_000,
                load_phase: Duration::from_millis(1_500),
                warm_up: Duration::from_millis(200),
            }
        } else {
            Settings {
                rounds: 5,
                switches: 4_000_000,
                spawns: 400_000,
                repeats: 5,
                python_switches: 200_000,
                python_spawns: 100_000,
                executor_calls: 100_000,
                threadsafe_calls: 1_000_000,
                load_phase: Duration::from_secs(2),
                warm_up: Duration::from_millis(300),
            }
        }
    }
}

/// A figure, or why there is none (no python3, reactor missing, a failure).
type Figure = Result<f64, String>;

/// One row of the report.
struct Row {
    measurement: String,
    yieldloop: Figure,
    tokio: Figure,
    asyncio: Option<Figure>,
    corosensei: Option<Figure>,
    /// How a value is printed (its unit).
    format: fn(f64) -> String,
    /// "1.3× faster" style comparison with tokio; empty when meaningless.
    versus_tokio: String,
    target: String,
    /// Whether the target is met; `None` for figures with no target.
    met: Option<bool>,
}

impl Row {
    /// A row comparing the two echo servers (no asyncio or corosensei column),
    /// without a target until [`Row::target`] adds one.
    fn servers(
        measurement: impl Into<String>,
        versus_tokio: String,
        yieldloop: Figure,
        tokio: Figure,
        format: fn(f64) -> String,
    ) -> Row {
        Row {
            measurement: measurement.into(),
            yieldloop,
            tokio,
            asyncio: None,
            corosensei: None,
            format,
            versus_tokio,
            target: String::new(),
            met: None,
        }
    }

    /// A row whose target is "no slower than tokio", in ns per operation.
    fn no_slower_than_tokio(
        measurement: &str,
        yieldloop: Figure,
        tokio: Figure,
        asyncio: Option<Figure>,
    ) -> Row {
        Row {
            measurement: measurement.into(),
            met: both(&yieldloop, &tokio).map(|(y, t)| y <= t),
            versus_tokio: faster(&yieldloop, &tokio),
            yieldloop,
            tokio,
            asyncio,
            corosensei: None,
            format: one_decimal,
            target: "no slower than tokio".into(),
        }
    }

    fn target(mut self, target: &str, met: Option<bool>) -> Row {
        self.target = target.into();
        self.met = met;
        self
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(role) = args.child {
        return run_child(role, args.tasks);
    }
    if let Some(addr) = args.load {
        return load_only(addr, args.connections, args.seconds);
    }
    let saved = match guard::load(args.compare.as_deref()) {
        Ok(saved) => saved,
        Err(status) => return status,
    };
    let settings = Settings::new(args.quick);
    let wanted = |s: Section| args.only.is_empty() || args.only.contains(&s);
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if wanted(Section::Switch) {
        rows.push(switch_row(&settings));
    }
    if wanted(Section::Spawn) {
        rows.push(spawn_row(&settings));
    }
    if wanted(Section::Cancel) {
        rows.extend(cancel_rows(&settings));
    }
    if wanted(Section::Sync) {
        rows.extend(sync_rows(&settings));
    }
    if wanted(Section::Executor) {
        rows.extend(executor_rows(&settings));
    }
    if wanted(Section::Sleep) {
        rows.extend(sleep_rows(&settings, &mut notes));
    }
    if wanted(Section::Million) {
        rows.extend(million::rows(&settings, &mut notes));
    }
    if wanted(Section::Net) {
        rows.extend(servers::rows(&settings, &mut notes));
    }
    if wanted(Section::Instrument) {
        rows.extend(instrument_cost::rows(&settings, &mut notes));
    }
    print!("{}", report(&rows, &notes));
    guard::finish(&rows, args.save.as_deref(), saved)
}

/// `--load HOST:PORT`: the load client alone, printing what it achieved.
/// Handy to profile a server (`perf stat -p PID`) under a known load.
fn load_only(addr: std::net::SocketAddr, connections: usize, phase: Duration) -> ExitCode {
    let plan = servers::plan(addr, connections);
    let outcome = load_client::LoadClient::connect_all(plan).and_then(|mut client| {
        let report = client.ping_pong(phase)?;
        Ok((report, client.established(), client.errors()))
    });
    match outcome {
        Ok((report, held, errors)) => {
            println!(
                "{} round trips in {:.2} s ({} messages/s) on {held} connections, {errors} errors",
                report.round_trips,
                report.elapsed.as_secs_f64(),
                thousands(report.per_second())
            );
            if errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("perf --load {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The hidden child roles: one measurement in a fresh process, or a server.
fn run_child(role: ChildRole, tasks: u64) -> ExitCode {
    let result = match role {
        ChildRole::SleepersTokio => sleepers::tokio(tasks)
            .map(SleepersResult::to_line)
            .map_err(|e| e.to_string()),
        ChildRole::SleepersYieldloop => reactor::sleepers(tasks).map(SleepersResult::to_line),
        ChildRole::ServeTokio => serve_tokio()
            .map(|()| String::new())
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("perf --child {role:?}: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The tokio echo server, printing the course's `listening on` line first.
fn serve_tokio() -> std::io::Result<()> {
    use std::io::Write;
    let listener = yieldloop::select::net::listen("127.0.0.1", 0)?;
    println!(
        "{}",
        yieldloop::course::cli::listening_line(listener.local_addr()?)
    );
    std::io::stdout().flush()?;
    echo_tokio::serve(listener, Some(SERVER_LIFETIME))
}

// ───────────────────────────── 1. task switch ─────────────────────────────

fn switch_row(s: &Settings) -> Row {
    progress(&format!(
        "switch: {} task switches per runtime, median of {}",
        s.switches, s.repeats
    ));
    let n = s.switches;
    let corosensei = micro::median_ns_per_op(s.repeats, n, || Ok(micro::corosensei_round_trips(n)));
    let tokio = micro::median_ns_per_op(s.repeats, n, || Ok(micro::tokio_switches(n)));
    let yieldloop = micro::median_ns_per_op(s.repeats, n, || reactor::switches(n));
    progress("switch: asyncio");
    let asyncio = python::ns_per_op("switch", s.python_switches);
    Row {
        measurement: "task switch (`yield_now`), ns".into(),
        met: both(&yieldloop, &tokio).map(|(y, t)| y <= 25.0 && t / y >= 4.0),
        versus_tokio: faster(&yieldloop, &tokio),
        yieldloop,
        tokio,
        asyncio: Some(asyncio),
        corosensei: Some(corosensei),
        format: one_decimal,
        target: "≤ 25 ns and ≥ 4× faster than tokio".into(),
    }
}

// ───────────────────────────── 2. spawn + join ────────────────────────────

fn spawn_row(s: &Settings) -> Row {
    progress(&format!(
        "spawn: {} spawn + join per runtime, median of {}",
        s.spawns, s.repeats
    ));
    let n = s.spawns;
    let tokio = micro::median_ns_per_op(s.repeats, n, || Ok(micro::tokio_spawn_joins(n)));
    let yieldloop = micro::median_ns_per_op(s.repeats, n, || reactor::spawn_joins(n));
    progress("spawn: asyncio");
    let asyncio = python::ns_per_op("spawn", s.python_spawns);
    Row::no_slower_than_tokio(
        "spawn + join an empty task, ns",
        yieldloop,
        tokio,
        Some(asyncio),
    )
}

// ─────────────────── 2b. cancellation and timeouts (08) ───────────────────

fn cancel_rows(s: &Settings) -> Vec<Row> {
    progress(&format!(
        "cancel: {} wait_for and {} spawn + cancel + join per runtime, median of {}",
        s.spawns, s.spawns, s.repeats
    ));
    let n = s.spawns;
    let row = |measurement: &str, yieldloop: Figure, tokio: Figure| {
        Row::no_slower_than_tokio(measurement, yieldloop, tokio, None)
    };
    let tokio = micro::median_ns_per_op(s.repeats, n, || Ok(micro::tokio_timeouts_in_time(n)));
    let yieldloop = micro::median_ns_per_op(s.repeats, n, || reactor::timeouts_in_time(n));
    let timeouts = row(
        "`wait_for` (tokio: `timeout`) whose work yields once and finishes in time, ns",
        yieldloop,
        tokio,
    );
    let tokio = micro::median_ns_per_op(s.repeats, n, || Ok(micro::tokio_spawn_abort_joins(n)));
    let yieldloop = micro::median_ns_per_op(s.repeats, n, || reactor::spawn_cancel_joins(n));
    let cancels = row(
        "spawn + cancel + join a sleeping task (tokio: `abort`), ns",
        yieldloop,
        tokio,
    );
    vec![timeouts, cancels]
}

// ─────────────────────── 2c. locks and queues (09) ────────────────────────

fn sync_rows(s: &Settings) -> Vec<Row> {
    progress(&format!(
        "sync: {} lock turns and {} queue items per runtime, median of {}",
        s.spawns, s.spawns, s.repeats
    ));
    let n = s.spawns;
    let row = |measurement: &str, yieldloop: Figure, tokio: Figure, asyncio: Figure| Row {
        measurement: measurement.into(),
        met: both(&yieldloop, &tokio).map(|(y, t)| y < t),
        versus_tokio: faster(&yieldloop, &tokio),
        yieldloop,
        tokio,
        asyncio: Some(asyncio),
        corosensei: None,
        format: one_decimal,
        target: "faster than tokio".into(),
    };
    let tokio = micro::median_ns_per_op(s.repeats, n, || Ok(sync_bench::tokio_lock(n)));
    let yieldloop = micro::median_ns_per_op(s.repeats, n, || sync_bench::yieldloop_lock(n));
    progress("sync: asyncio");
    let asyncio = sync_bench::asyncio_ns("lock", s.python_spawns);
    let lock = row(
        "contended `Lock`, two tasks: lock, yield, unlock (tokio: `Mutex`), ns per turn",
        yieldloop,
        tokio,
        asyncio,
    );
    let tokio = micro::median_ns_per_op(s.repeats, n, || Ok(sync_bench::tokio_queue(n)));
    let yieldloop = micro::median_ns_per_op(s.repeats, n, || sync_bench::yieldloop_queue(n));
    let asyncio = sync_bench::asyncio_ns("queue", s.python_spawns);
    let queue = row(
        "`Queue(64)` put/get, one producer, one consumer (tokio: `mpsc`), ns per item",
        yieldloop,
        tokio,
        asyncio,
    );
    vec![lock, queue]
}

// ──────────────── 2d. blocking calls and other threads (10) ───────────────

fn executor_rows(s: &Settings) -> Vec<Row> {
    let (calls, sends) = (s.executor_calls, s.threadsafe_calls);
    progress(&format!(
        "executor: {calls} run_in_executor round trips, {sends} call_soon_threadsafe, median of {}",
        s.repeats
    ));
    let row = |measurement: &str, yieldloop: Figure, tokio: Figure, asyncio: Figure| {
        Row::no_slower_than_tokio(measurement, yieldloop, tokio, Some(asyncio))
    };
    let tokio = micro::median_ns_per_op(s.repeats, calls, || {
        Ok(micro::tokio_spawn_blocking_round_trips(calls))
    });
    let yieldloop =
        micro::median_ns_per_op(s.repeats, calls, || reactor::executor_round_trips(calls));
    progress("executor: asyncio");
    let asyncio = python::ns_per_op("executor", calls);
    let round_trips = row(
        "`run_in_executor` round trip of an empty closure (tokio: `spawn_blocking`), ns",
        yieldloop,
        tokio,
        asyncio,
    );
    let tokio = micro::median_ns_per_op(s.repeats, sends, || {
        Ok(micro::tokio_spawns_from_another_thread(sends))
    });
    let yieldloop = micro::median_ns_per_op(s.repeats, sends, || reactor::threadsafe_calls(sends));
    progress("executor: asyncio call_soon_threadsafe");
    let asyncio = python::ns_per_op("threadsafe", sends);
    let threadsafe = row(
        "`call_soon_threadsafe` from another thread, per call (tokio: `Handle::spawn`), ns",
        yieldloop,
        tokio,
        asyncio,
    );
    vec![round_trips, threadsafe]
}

// ─────────────────────── 3. 30,000 sleeping tasks ────────────────────────

fn sleep_rows(s: &Settings, notes: &mut Vec<String>) -> Vec<Row> {
    let targets = sleepers::Targets {
        wall_ratio: 1.10,
        max_kib_per_task: Some(8.0),
    };
    sleepers::rows("sleep", SLEEPING_TASKS, s.rounds, &targets, notes)
}

/// The median of `figure` over `runs`, or the first run's error.
fn median_of<T>(runs: &[Result<T, String>], figure: impl Fn(&T) -> f64) -> Figure {
    let mut values = Vec::new();
    for run in runs {
        values.push(figure(run.as_ref().map_err(Clone::clone)?));
    }
    values.sort_by(f64::total_cmp);
    let median = values.get(values.len() / 2).copied().ok_or("no runs")?;
    compare::note_rounds(median, &values); // the regression guard's noise
    Ok(median)
}

/// Runs this executable as `--child ROLE` and parses its `sleepers` line.
fn sleepers_child(role: ChildRole, tasks: u64) -> Result<SleepersResult, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let name = role
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let mut command = Command::new(exe);
    command.args(["--child", &name, "--tasks", &tasks.to_string()]);
    let output = child::output_within(command, Duration::from_secs(120))?;
    SleepersResult::parse(&output).ok_or_else(|| format!("child printed {output:?}"))
}

// ──────────────────────────────── the report ──────────────────────────────

/// The whole report: machine, command, table, notes.
fn report(rows: &[Row], notes: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## yieldloop performance\n");
    let _ = writeln!(out, "- command: `{}`", command_line());
    let _ = writeln!(out, "- machine: {}", procfs::machine_description());
    let _ = writeln!(out, "- date: {}\n", utc_date());
    let _ = writeln!(
        out,
        "| measurement | yieldloop | tokio | asyncio | raw corosensei | yieldloop vs tokio | target | met |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|---|");
    let mut why_missing = Vec::new();
    for row in rows {
        let mut cell = |figure: &Option<Figure>| match figure {
            None => "—".to_string(),
            Some(Ok(v)) => (row.format)(*v),
            Some(Err(why)) => {
                if !why_missing.contains(why) {
                    why_missing.push(why.clone());
                }
                format!(
                    "n/a ({})",
                    why_missing.iter().position(|w| w == why).unwrap_or(0) + 1
                )
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.measurement,
            cell(&Some(row.yieldloop.clone())),
            cell(&Some(row.tokio.clone())),
            cell(&row.asyncio),
            cell(&row.corosensei),
            row.versus_tokio,
            row.target,
            match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            }
        );
    }
    for (i, why) in why_missing.iter().enumerate() {
        let _ = writeln!(out, "\n({}) {why}", i + 1);
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

/// The command that reproduces this run.
fn command_line() -> String {
    let flags: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if flags.is_empty() {
        "cargo bench --bench perf".into()
    } else {
        format!("cargo bench --bench perf -- {}", flags.join(" "))
    }
}

fn utc_date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn progress(message: &str) {
    eprintln!("[perf] {message}");
}

/// "1.8× faster" (or slower) than tokio, from two time-per-operation figures.
fn faster(yieldloop: &Figure, tokio: &Figure) -> String {
    match both(yieldloop, tokio) {
        Some((y, t)) if y <= t => format!("{:.1}× faster", t / y),
        Some((y, t)) => format!("{:.1}× slower", y / t),
        None => String::new(),
    }
}

fn both(a: &Figure, b: &Figure) -> Option<(f64, f64)> {
    Some((*a.as_ref().ok()?, *b.as_ref().ok()?))
}

fn one_decimal(v: f64) -> String {
    format!("{v:.1}")
}

/// 12345.6 → "12,346".
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
