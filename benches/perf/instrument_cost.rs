//! The `instrument` section (issue 13's row): what lesson 11's `tracing`
//! events cost when compiled in but nobody listens, and what debug mode
//! (`Builder::debug(true)`, `YIELDLOOP_DEBUG=1`) costs.
//!
//! "Compiled in" can only be measured against "compiled out", so this
//! section builds the same programs twice, with and without the crate's
//! `instrument` feature, into their own target directory
//! (`target/instrument-cost/`, so that the bench's own binaries are never
//! replaced by the stripped ones), and runs the builds **in turns**: round
//! 1 runs out, in, debug; round 2 the same; and so on, so a busy patch of
//! the machine hits all three. The first build takes a few minutes (the
//! dependencies once, then the crate twice); after that cargo finds both
//! builds fresh in seconds.
//!
//! ```text
//!   cargo build --release --target-dir target/instrument-cost [--no-default-features] \
//!       --example instrument_cost --bin 06-reactor
//!   for round in 1..=rounds:
//!     instrument_cost switch N   (out, in, in + debug)      ← one child each
//!     instrument_cost spawn N    (out, in, in + debug)
//!     06-reactor under 100 connections (out, in, in + YIELDLOOP_DEBUG=1)
//! ```
//!
//! The programs: `examples/instrument_cost.rs` (task switch and spawn +
//! join, the same work as rows 1 and 2) and lesson 06's echo server with
//! `RUST_LOG=warn` (as in the `net` section). No subscriber listens to the
//! loop's `trace`/`debug` events in either.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::child::{self, ServerProcess};
use crate::load_client::LoadClient;
use crate::{compare, procfs, progress, servers, Figure, Row, Settings, SERVER_LIFETIME};

/// The issue's target: compiled in, no subscriber, within 3 % of compiled out.
const TARGET: f64 = 1.03;
/// Connections for the echo rows (the `net` section's smaller size).
const ECHO_CONNECTIONS: usize = 100;

/// The three ways each program runs.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// Built with `--no-default-features`.
    Out,
    /// Built with the default features, nobody listening.
    In,
    /// The same build as `In`, in debug mode.
    Debug,
}

const VARIANTS: [Variant; 3] = [Variant::Out, Variant::In, Variant::Debug];

/// Where both builds go.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/instrument-cost")
}

/// The two builds' programs.
struct Build {
    example: PathBuf,
    lesson_06: PathBuf,
}

/// Builds the example and lesson 06 with the feature on or off, and copies
/// them aside (the next build would overwrite them in place).
fn build(compiled_in: bool) -> Result<Build, String> {
    let dir = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(&dir)
        .args(["--example", "instrument_cost", "--bin", "06-reactor"]);
    if !compiled_in {
        command.arg("--no-default-features");
    }
    child::output_within(command, Duration::from_secs(1_800))
        .map_err(|why| format!("building the instrumentation variants: {why}"))?;
    let aside = dir.join(if compiled_in { "in" } else { "out" });
    std::fs::create_dir_all(&aside).map_err(|e| format!("{}: {e}", aside.display()))?;
    let copy = |from: PathBuf, name: &str| {
        let to = aside.join(name);
        std::fs::copy(&from, &to)
            .map(|_| to)
            .map_err(|e| format!("copying {}: {e}", from.display()))
    };
    Ok(Build {
        example: copy(
            dir.join("release/examples/instrument_cost"),
            "instrument_cost",
        )?,
        lesson_06: copy(dir.join("release/06-reactor"), "06-reactor")?,
    })
}

/// The section's rows (every figure an error if the builds failed).
pub fn rows(s: &Settings, notes: &mut Vec<String>) -> Vec<Row> {
    progress(
        "instrument: building with and without the `instrument` feature (first time: minutes)",
    );
    let builds = build(false).and_then(|out| Ok((out, build(true)?)));
    let (out, with) = match builds {
        Ok(builds) => builds,
        Err(why) => {
            return table(
                &[Err(why.clone()), Err(why.clone()), Err(why)],
                &[],
                &[],
                notes,
            )
        }
    };
    let program = |variant: Variant| match variant {
        Variant::Out => &out,
        Variant::In | Variant::Debug => &with,
    };
    let rounds = s.repeats.max(3);
    let (switches, spawns) = (s.switches.max(2_000_000), s.spawns.max(200_000));
    let mut times = [
        [Vec::new(), Vec::new(), Vec::new()],
        [Vec::new(), Vec::new(), Vec::new()],
    ];
    for round in 1..=rounds {
        progress(&format!(
            "instrument: {switches} switches and {spawns} spawns, out / in / debug, round {round}/{rounds}"
        ));
        for (i, (what, ops)) in [("switch", switches), ("spawn", spawns)]
            .into_iter()
            .enumerate()
        {
            for (v, variant) in VARIANTS.into_iter().enumerate() {
                times[i][v].push(run_example(&program(variant).example, what, ops, variant));
            }
        }
    }
    let servers = VARIANTS.map(|variant| {
        ServerProcess::start(lesson_06(&program(variant).lesson_06, variant))
            .map_err(|e| format!("lesson 06: {e}"))
    });
    let mut cpu = [Vec::new(), Vec::new(), Vec::new()];
    for round in 1..=rounds {
        progress(&format!(
            "instrument: lesson 06 echo, {ECHO_CONNECTIONS} connections, out / in / debug, round {round}/{rounds}"
        ));
        for (samples, server) in cpu.iter_mut().zip(&servers) {
            let server = server.as_ref().map_err(Clone::clone);
            samples.push(server.and_then(|server| cpu_per_1000(server, s)));
        }
    }
    let per_variant = |samples: &[Vec<Result<f64, String>>; 3]| -> Vec<Figure> {
        samples.iter().map(|runs| median(runs)).collect()
    };
    let figures = [
        per_variant(&times[0]),
        per_variant(&times[1]),
        per_variant(&cpu),
    ];
    for (name, runs) in [
        ("task switch", &times[0]),
        ("spawn + join", &times[1]),
        ("echo CPU", &cpu),
    ] {
        let each: Vec<String> = runs
            .iter()
            .map(|r| {
                r.iter()
                    .flatten()
                    .map(|v| format!("{v:.1}"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            })
            .collect();
        notes.push(format!(
            "instrumentation, {name}, every round: out {}; in {}; debug {}",
            each[0], each[1], each[2]
        ));
    }
    table(&figures[0], &figures[1], &figures[2], notes)
}

/// One child run of the example: ns per operation.
fn run_example(program: &Path, what: &str, ops: u64, variant: Variant) -> Result<f64, String> {
    let mut command = Command::new(program);
    command.args([what, &ops.to_string(), "1"]);
    if variant == Variant::Debug {
        command.arg("debug");
    }
    // The variants differ in the build and the `debug` argument only.
    command.env_remove("YIELDLOOP_DEBUG").env_remove("RUST_LOG");
    let output = child::output_within(command, Duration::from_secs(120))?;
    output
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("instrument_cost printed {output:?}"))
}

/// Lesson 06's server as the `net` section starts it; debug mode by its
/// environment variable (the lesson has no flag for it).
fn lesson_06(program: &Path, variant: Variant) -> Command {
    let mut lesson = Command::new(program);
    let lifetime = SERVER_LIFETIME.as_secs().to_string();
    lesson.args(["--port", "0", "--seconds", &lifetime]);
    lesson.env("RUST_LOG", "warn").env_remove("YIELDLOOP_DEBUG");
    if variant == Variant::Debug {
        lesson.env("YIELDLOOP_DEBUG", "1");
    }
    lesson
}

/// One timed ping-pong phase: the server's CPU milliseconds per 1,000 messages.
fn cpu_per_1000(server: &ServerProcess, s: &Settings) -> Result<f64, String> {
    let plan = servers::plan(server.addr, ECHO_CONNECTIONS);
    let mut client = LoadClient::connect_all(plan).map_err(|e| e.to_string())?;
    client.ping_pong(s.warm_up).map_err(|e| e.to_string())?;
    let cpu = || procfs::cpu_time(server.pid()).map_err(|e| e.to_string());
    let before = cpu()?;
    let report = client.ping_pong(s.load_phase).map_err(|e| e.to_string())?;
    let spent = (cpu()? - before).as_secs_f64();
    if client.errors() > 0 {
        return Err(format!("{} load client errors", client.errors()));
    }
    Ok(spent * 1e3 / (report.round_trips.max(1) as f64 / 1e3))
}

/// The median of the rounds (noted for the regression guard), or the first failure.
fn median(runs: &[Result<f64, String>]) -> Figure {
    let mut values = runs.iter().cloned().collect::<Result<Vec<f64>, String>>()?;
    values.sort_by(f64::total_cmp);
    let median = values.get(values.len() / 2).copied().ok_or("no rounds")?;
    compare::note_rounds(median, &values);
    Ok(median)
}

/// Three rows per program: compiled out, compiled in (the target), debug mode.
fn table(
    switch: &[Figure],
    spawn: &[Figure],
    echo: &[Figure],
    notes: &mut Vec<String>,
) -> Vec<Row> {
    notes.push(
        "instrumentation rows: the tokio column is empty on purpose; each row compares builds of \
         yieldloop (`--no-default-features` compiles lesson 11's events out)"
            .into(),
    );
    let none = || Err("no tokio figure: these rows compare yieldloop builds".to_string());
    let versus = |a: &Figure, b: &Figure, what: &str| {
        crate::both(a, b).map_or(String::new(), |(a, b)| {
            format!("{:+.1} % vs {what}", (a / b - 1.0) * 100.0)
        })
    };
    let figure = |figures: &[Figure], i: usize| {
        figures
            .get(i)
            .cloned()
            .unwrap_or_else(|| Err("not measured".into()))
    };
    let mut rows = Vec::new();
    let programs = [
        ("task switch", switch, ", ns", "`Builder::debug(true)`"),
        (
            "spawn + join an empty task",
            spawn,
            ", ns",
            "`Builder::debug(true)`",
        ),
        (
            "echo, 100 connections: server CPU ms per 1,000 messages (median)",
            echo,
            "",
            "`YIELDLOOP_DEBUG=1`",
        ),
    ];
    for (name, figures, unit, debug_mode) in programs {
        let (out, with, debug) = (figure(figures, 0), figure(figures, 1), figure(figures, 2));
        let met = crate::both(&with, &out).map(|(w, o)| w <= o * TARGET);
        let row = |measurement: String, yieldloop: Figure, versus_tokio: String| Row {
            measurement,
            yieldloop,
            tokio: none(),
            asyncio: None,
            corosensei: None,
            format: crate::one_decimal,
            versus_tokio,
            target: String::new(),
            met: None,
        };
        let out_name = format!("{name}, instrumentation compiled out{unit}");
        let in_name = format!("{name}, instrumentation compiled in, no subscriber{unit}");
        let debug_name = format!("{name}, debug mode ({debug_mode}){unit}");
        // The regression guard compares these as ratios within the run.
        compare::note_baseline(&in_name, &out_name);
        compare::note_baseline(&debug_name, &in_name);
        let in_vs_out = versus(&with, &out, "compiled out");
        let debug_vs_in = versus(&debug, &with, "compiled in");
        rows.push(row(out_name, out, String::new()));
        rows.push(row(in_name, with, in_vs_out).target("within 3 % of compiled out", met));
        rows.push(row(debug_name, debug, debug_vs_in));
    }
    rows
}
