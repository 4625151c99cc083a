//! The step-through debugger behind `--step`: it pauses a loop before each
//! iteration (or, one level finer, before each task step) and shows what the
//! loop is about to do. Introduced by lesson 11.
//!
//! Every loop of the course calls the hook in [`crate::stepping`]: lesson
//! 03's `run` (and 04's), lesson 05's select loop, the reactor from lesson
//! 06 on. Before each iteration this prints the loop's [`LoopView`]: the
//! ready queue, the pending timers and whom they wake, what the selector
//! watches, and the timeout the loop is about to wait with, and why. Then it
//! waits for a key:
//!
//! | key     | does                                                         |
//! |---------|--------------------------------------------------------------|
//! | Enter   | step: run this iteration, pause before the next              |
//! | `t`     | step one task: pause again before the next task's step       |
//! | `c`     | continue: run to the end without pausing                     |
//! | `p`     | print the task tree with backtraces (`dump_tasks`), and wait |
//! | `q`     | quit: end the process at once, exit status 0                 |
//!
//! On a terminal a key is read in raw mode (crossterm), one key press, no
//! Enter needed; the terminal is restored by a guard as soon as the key is
//! read, also on a panic. When standard input is not a terminal (a script,
//! a test), it reads lines instead: an empty line is Enter, `t`, `c`, `p`
//! and `q` are themselves; the end of input means `c`. The debugger writes
//! to standard error, so the lesson's own trace on standard output stays as
//! it is.
//!
//! On the virtual clock (`--virtual`) a step is exact: time moves only when
//! the loop jumps to the next timer, so each screen shows the same times on
//! every run.

use std::cell::Cell;
use std::io::{self, BufRead, IsTerminal, Write};
use std::rc::Rc;

use crate::debug::dump::{TaskDump, TaskTree};
use crate::stepping::{self, DumpTasks, LoopView, StepHook};

/// How far the debugger lets the loop run before it pauses again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// Pause before each iteration (Enter).
    Iteration,
    /// Pause before each task step too (`t`).
    Task,
    /// Never pause again (`c`).
    Continue,
}

/// What the user asked for at a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Step,
    StepTask,
    Continue,
    PrintTasks,
    Quit,
}

impl Command {
    /// The command a typed line (or key) names; `None` if none.
    fn parse(text: &str) -> Option<Command> {
        match text.trim() {
            "" => Some(Command::Step),
            "t" => Some(Command::StepTask),
            "c" => Some(Command::Continue),
            "p" => Some(Command::PrintTasks),
            "q" => Some(Command::Quit),
            _ => None,
        }
    }

    /// The key that gives this command, as the screen shows it.
    fn key(self) -> &'static str {
        match self {
            Command::Step => "Enter",
            Command::StepTask => "t",
            Command::Continue => "c",
            Command::PrintTasks => "p",
            Command::Quit => "q",
        }
    }
}

/// The help line shown at every pause.
const KEYS: &str = "[Enter] step  [t] step one task  [c] continue  [p] tasks  [q] quit";

/// The debugger: a [`StepHook`] that prints and waits for keys.
#[derive(Debug)]
pub struct Stepper {
    pace: Cell<Pace>,
    /// Iterations shown so far, for the screen's header.
    iterations: Cell<u64>,
    /// Whether keys come from a terminal (raw mode) or from lines.
    terminal: bool,
}

/// Installs the debugger for every loop this thread starts from now on:
/// what `--step` does (`ObserveArgs::install_stepper`).
pub fn install() {
    let stepper = Stepper {
        pace: Cell::new(Pace::Iteration),
        iterations: Cell::new(0),
        terminal: io::stdin().is_terminal(),
    };
    stepping::install(Rc::new(stepper));
}

impl StepHook for Stepper {
    fn before_iteration(&self, view: &LoopView, dump_tasks: DumpTasks<'_>) {
        if self.pace.get() == Pace::Continue {
            return;
        }
        let iteration = self.iterations.replace(self.iterations.get() + 1) + 1;
        // One write, so that whoever reads the screen never sees half a view.
        show(&format!("\n[step] iteration {iteration}\n{view}"));
        self.pause(dump_tasks);
    }

    fn before_task_step(&self, task: &str, dump_tasks: DumpTasks<'_>) {
        if self.pace.get() != Pace::Task {
            return;
        }
        show(&format!("[step] next: {task} runs one step\n"));
        self.pause(dump_tasks);
    }
}

impl Stepper {
    /// Waits for a command that lets the loop go on.
    fn pause(&self, dump_tasks: DumpTasks<'_>) {
        loop {
            show(&format!("{KEYS} > "));
            let command = if self.terminal {
                read_key()
            } else {
                read_line()
            };
            // Neither raw mode nor a script echoes the key: say which it was.
            // (Raw mode, if any, is off again here: plain newlines work.)
            let key = match command {
                Ok(Some(command)) => command.key(),
                _ => "?",
            };
            show(&format!("{key}\n"));
            match command {
                Ok(Some(Command::Step)) => return self.pace.set(Pace::Iteration),
                Ok(Some(Command::StepTask)) => return self.pace.set(Pace::Task),
                Ok(Some(Command::Continue)) => {
                    show("[step] continuing to the end\n");
                    return self.pace.set(Pace::Continue);
                }
                Ok(Some(Command::PrintTasks)) => {
                    let tasks = dump_tasks().into_iter().map(TaskDump::from).collect();
                    let tree = TaskTree { tasks }.to_string();
                    show(&tree); // one write, as the view's
                }
                Ok(Some(Command::Quit)) => {
                    show("[step] quit (q): stopping here\n");
                    let _ = io::stdout().flush();
                    std::process::exit(0);
                }
                Ok(None) => show("[step] unknown key\n"),
                Err(error) => {
                    // No way to ask: do not hang, run to the end.
                    show(&format!(
                        "[step] cannot read keys ({error}): continuing to the end\n"
                    ));
                    return self.pace.set(Pace::Continue);
                }
            }
        }
    }
}

/// Writes one piece of the debugger's screen to standard error, in one
/// write, so that whoever reads the screen never sees half a view. If the
/// reader has gone (`2>&1 | head` has read all it wanted), there is nobody
/// left to step for: end quietly with status 0, as the lessons' own output
/// does (lesson 01's `| head`), instead of the panic `eprint!` would raise.
fn show(text: &str) {
    let mut stderr = io::stderr().lock();
    if let Err(error) = stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.flush())
    {
        if error.kind() == io::ErrorKind::BrokenPipe {
            let _ = io::stdout().flush();
            std::process::exit(0);
        }
        // Any other failure: the screen is lost, the run goes on.
    }
}

/// One line of standard input as a command; the end of input is `c`, so a
/// script that runs out of lines never hangs.
fn read_line() -> io::Result<Option<Command>> {
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(Some(Command::Continue));
    }
    Ok(Command::parse(&line))
}

/// Puts the terminal back in its normal mode when dropped: after the key is
/// read, on an error, and on a panic's unwinding.
struct RawMode;

impl RawMode {
    fn enter() -> io::Result<RawMode> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// One key press from the terminal, in raw mode (no Enter needed). Ctrl-C
/// does not raise SIGINT in raw mode, so it is read as `q`.
fn read_key() -> io::Result<Option<Command>> {
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    let _raw = RawMode::enter()?;
    loop {
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        return Ok(match key.code {
            KeyCode::Enter => Some(Command::Step),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Command::Quit)
            }
            KeyCode::Char(c) => Command::parse(&c.to_string()),
            _ => None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_commands() {
        assert_eq!(Command::parse("\n"), Some(Command::Step));
        assert_eq!(Command::parse("t\n"), Some(Command::StepTask));
        assert_eq!(Command::parse("c"), Some(Command::Continue));
        assert_eq!(Command::parse("p"), Some(Command::PrintTasks));
        assert_eq!(Command::parse("q"), Some(Command::Quit));
        assert_eq!(Command::parse("x"), None);
    }
}
