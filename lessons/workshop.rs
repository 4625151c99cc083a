//! The workshop runner: `cargo run --bin workshop -- <command>`.
//!
//! rustlings for this course: `list` shows every exercise with its status,
//! `check [NAME]` checks the next pending one (or NAME), `hint NAME` gives
//! one more hint each time, `watch` re-checks on every save, `reset NAME`
//! puts the stub back. The learner's copies live in `exercises/` (created
//! from the stubs in `lessons/exercises/` on first use); `verify` is for
//! the course's own CI: every stub fails its check, every solution passes.
//! The book's "Workshop" part explains the design (docs/src/workshop.md).

#[path = "workshop/catalog.rs"]
mod catalog;
#[path = "workshop/runner.rs"]
mod runner;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use notify::{RecursiveMode, Watcher};
use yieldloop::println; // like std's, but `| head` ends the program quietly

use catalog::{Exercise, EXERCISES};
use runner::{Status, Verdict, Workshop, MARKER};

/// The course's exercises: list them, check them, ask for hints.
#[derive(Parser, Debug)]
#[command(name = "workshop", version)]
struct Args {
    /// Where your copies of the exercises are (default: $WORKSHOP_DIR, else exercises/ in the project).
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    /// Print a backtrace when your code panics.
    #[arg(long, global = true)]
    backtrace: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Every exercise in ladder order, done or pending, and your progress.
    List,
    /// Check the next pending exercise, or NAME.
    Check {
        /// The exercise to check (see `list`).
        name: Option<String>,
    },
    /// One more hint for NAME: a nudge, then the idea, then the shape of the code.
    Hint {
        /// The exercise (see `list`).
        name: String,
    },
    /// Re-check the next pending exercise every time you save a file.
    Watch,
    /// Put NAME's stub back (your version is lost) and forget its hints.
    Reset {
        /// The exercise (see `list`).
        name: String,
    },
    /// For the course's CI: every stub fails its check and every reference solution passes.
    Verify,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("workshop: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let project = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let library = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
        .ok_or("cannot tell where the runner was built")?;
    let workshop = Workshop {
        dir: args
            .dir
            .or_else(|| std::env::var_os("WORKSHOP_DIR").map(PathBuf::from))
            .unwrap_or_else(|| project.join("exercises")),
        stubs: project.join("lessons").join("exercises"),
        build: library.join("workshop-checks"),
        library,
        backtrace: args.backtrace,
    };
    if !matches!(args.command, Command::Verify) {
        let created = workshop.create_missing().map_err(|e| e.to_string())?;
        if !created.is_empty() {
            println!(
                "Created your copies of {} exercise(s) in {}: edit those files.\n",
                created.len(),
                workshop.dir.display()
            );
        }
    }
    match args.command {
        Command::List => list(&workshop),
        Command::Check { name } => {
            let exercise = match name {
                Some(name) => find(&name)?,
                None => match next_pending(&workshop) {
                    Some(exercise) => exercise,
                    None => {
                        println!("Every exercise is done. Well done!");
                        return Ok(ExitCode::SUCCESS);
                    }
                },
            };
            check(&workshop, exercise)
        }
        Command::Hint { name } => hint(&workshop, find(&name)?),
        Command::Reset { name } => {
            let exercise = find(&name)?;
            workshop.reset(exercise).map_err(|e| e.to_string())?;
            println!(
                "{} is back to its stub, and its hints start again from the first.",
                workshop.file(exercise).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch => watch(&workshop),
        Command::Verify => verify(&workshop),
    }
}

/// The exercise called `name`, or an error that suggests the nearest.
fn find(name: &str) -> Result<&'static Exercise, String> {
    catalog::find(name).ok_or_else(|| match catalog::nearest(name) {
        Some(near) => {
            format!("there is no exercise `{name}`. Did you mean `{near}`? (`list` shows them all)")
        }
        None => format!("there is no exercise `{name}`: `list` shows them all"),
    })
}

fn next_pending(workshop: &Workshop) -> Option<&'static Exercise> {
    EXERCISES
        .iter()
        .find(|e| workshop.status(e) == Status::Pending)
}

fn list(workshop: &Workshop) -> Result<ExitCode, String> {
    let mut done = 0;
    println!(
        "  {:<18} {:<8} {:<7} what you write",
        "exercise", "status", "after"
    );
    for exercise in EXERCISES {
        let status = workshop.status(exercise);
        let word = match status {
            Status::Done => {
                done += 1;
                "done"
            }
            Status::Pending => "pending",
        };
        println!(
            "  {:<18} {:<8} {:<7} {}",
            exercise.name,
            word,
            format!("les. {}", exercise.lesson),
            exercise.summary
        );
    }
    println!("\n{done}/{} done", EXERCISES.len());
    if let Some(next) = next_pending(workshop) {
        println!(
            "next: {} (cargo run --bin workshop -- check {})",
            workshop.file(next).display(),
            next.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check(workshop: &Workshop, exercise: &Exercise) -> Result<ExitCode, String> {
    let file = workshop.file(exercise);
    println!("Checking {} ({})...", exercise.name, file.display());
    let verdict = workshop.check(exercise).map_err(|e| e.to_string())?;
    let passed = matches!(verdict, Verdict::Passed | Verdict::PassedWithMarker);
    match verdict {
        Verdict::Passed => {
            println!("✓ {} passes. Done!", exercise.name);
            if let Some(next) = next_pending(workshop) {
                println!("Next: {} (after lesson {}).", next.name, next.lesson);
            } else {
                println!("That was the last one: every exercise is done.");
            }
        }
        Verdict::PassedWithMarker => println!(
            "✓ {} passes! Delete the `{MARKER}` line in {} to mark it done and move on.",
            exercise.name,
            file.display()
        ),
        Verdict::NotAttempted(said) => println!(
            "{} is not attempted yet, and that is fine: {said}\n\
             Read the comment at the top of {}, write your code, then check again.\n\
             Stuck? `cargo run --bin workshop -- hint {}`",
            exercise.name,
            file.display(),
            exercise.name
        ),
        Verdict::Failed(said) => println!(
            "✗ {} is not right yet.\n\n{said}\n\nMore help: `cargo run --bin workshop -- hint {}`",
            exercise.name, exercise.name
        ),
        Verdict::DoesNotCompile(errors) => println!(
            "✗ {} does not compile yet. What rustc says:\n\n{errors}",
            exercise.name
        ),
        Verdict::TooSlow => println!(
            "✗ {}'s check did not finish in time, and was stopped: your code may wait \
             forever (a task that is never woken?) or loop without end.",
            exercise.name
        ),
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn hint(workshop: &Workshop, exercise: &Exercise) -> Result<ExitCode, String> {
    let (level, hints) = workshop.next_hints(exercise).map_err(|e| e.to_string())?;
    let titles = ["a nudge", "the idea", "the shape of the code"];
    for (i, text) in hints.iter().enumerate() {
        println!("Hint {} of 3 ({}):\n{}\n", i + 1, titles[i], indent(text));
    }
    if level == exercise.hints.len() {
        println!(
            "That was the last hint. If you are still stuck, the reference solution is \
             lessons/exercises/solutions/{}.rs; the book's page is docs/src/{}.",
            exercise.name, exercise.page
        );
    } else {
        println!("Ask again for the next hint.");
    }
    Ok(ExitCode::SUCCESS)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn watch(workshop: &Workshop) -> Result<ExitCode, String> {
    let (saved, changes) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            // Only the exercises: the runner's own state file changes too,
            // when a check passes, and must not start another check.
            let an_exercise = event
                .paths
                .iter()
                .any(|path| path.extension().is_some_and(|e| e == "rs"));
            if an_exercise && (event.kind.is_modify() || event.kind.is_create()) {
                let _ = saved.send(());
            }
        }
    })
    .map_err(|e| format!("cannot watch files: {e}"))?;
    watcher
        .watch(&workshop.dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", workshop.dir.display()))?;
    loop {
        let Some(exercise) = next_pending(workshop) else {
            println!("Every exercise is done. Well done!");
            return Ok(ExitCode::SUCCESS);
        };
        check(workshop, exercise)?;
        println!(
            "\nWatching {} for changes (Ctrl-C to stop)...",
            workshop.dir.display()
        );
        // One save is often several events: wait for the first, then let
        // the rest of the burst pass.
        if changes.recv().is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        while changes.recv_timeout(Duration::from_millis(200)).is_ok() {}
        println!();
    }
}

fn verify(workshop: &Workshop) -> Result<ExitCode, String> {
    let mut wrong = Vec::new();
    for exercise in EXERCISES {
        for (kind, file, should_pass) in [
            (
                "stub",
                workshop.stubs.join(format!("{}.rs", exercise.name)),
                false,
            ),
            (
                "solution",
                workshop
                    .stubs
                    .join("solutions")
                    .join(format!("{}.rs", exercise.name)),
                true,
            ),
        ] {
            let verdict = match workshop
                .build_check(exercise, &file)
                .map_err(|e| e.to_string())?
            {
                Ok(program) => workshop.run_check(&program).map_err(|e| e.to_string())?,
                Err(errors) => Verdict::DoesNotCompile(errors),
            };
            let passed = verdict == Verdict::Passed;
            let fine = passed == should_pass && !matches!(verdict, Verdict::DoesNotCompile(_));
            let label = match &verdict {
                Verdict::Passed | Verdict::PassedWithMarker => "passes",
                Verdict::NotAttempted(_) => "not attempted",
                Verdict::Failed(_) => "fails",
                Verdict::DoesNotCompile(_) => "does not compile",
                Verdict::TooSlow => "too slow",
            };
            println!(
                "{} {:<18} {kind:<8} {label}",
                if fine { "ok  " } else { "FAIL" },
                exercise.name
            );
            if !fine {
                if let Verdict::Failed(said) | Verdict::DoesNotCompile(said) = &verdict {
                    println!("{said}");
                }
                wrong.push(format!("{} {kind}", exercise.name));
            }
        }
    }
    if wrong.is_empty() {
        println!("every stub fails its check and every solution passes");
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("these do not behave: {}", wrong.join(", ")))
    }
}
