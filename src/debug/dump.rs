//! `EventLoop::dump_tasks`: every task, as a tree by parent, with what it
//! waits on, since when, and the backtrace of its suspended stack. Introduced
//! by lesson 11.
//!
//! asyncio can only print the chain of coroutines awaiting each other
//! (`asyncio pstree` in Python 3.14). A stackful task has a real stack, so
//! we show it, function by function: the loop resumes each suspended task
//! with a "capture your backtrace" request, which the task answers from
//! inside its suspension point before suspending again (the soundness
//! argument is on `CurrentTask::attend` in [`crate::reactor::task`]).

use std::fmt;
use std::time::Duration;

use crate::reactor::event_loop::{EventLoop, TaskSnapshot};
use crate::reactor::instrument::WaitOn;

/// One task in a [`TaskTree`].
#[derive(Debug, Clone)]
pub struct TaskDump {
    /// Its id (never reused).
    pub id: u64,
    /// Its name, as given to `spawn`.
    pub name: String,
    /// The id of the task that spawned it, if a task did.
    pub parent: Option<u64>,
    /// What it waits on (`Ready`: queued to run).
    pub waits_on: WaitOn,
    /// Since when, in loop time (for `Ready`, since its last suspension).
    pub since: Duration,
    /// The functions on its suspended stack, innermost first, from the
    /// waiting function out to the task's own function; empty if it has not
    /// started yet.
    pub frames: Vec<String>,
}

/// Every task of a loop, printable as a tree by parent
/// ([`EventLoop::dump_tasks`]).
#[derive(Debug, Clone, Default)]
pub struct TaskTree {
    /// The tasks, in the loop's order.
    pub tasks: Vec<TaskDump>,
}

impl EventLoop {
    /// Every task with its id, name, parent, what it waits on and since
    /// when, and the backtrace of its suspended stack, function by function
    /// (lesson 11). Print it (`{}`) to see a tree by parent.
    ///
    /// ```
    /// use yieldloop::{secs, sleep, Builder, Clock};
    ///
    /// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
    /// let _sleeper = event_loop.spawn("sleeper", || sleep(secs(5.0)));
    /// event_loop.run_until_complete(|| sleep(secs(1.0))).unwrap().unwrap();
    /// let tree = event_loop.dump_tasks();
    /// assert_eq!(tree.tasks[0].name, "sleeper");
    /// assert!(tree.to_string().contains("timer at 5.000"));
    /// ```
    pub fn dump_tasks(&self) -> TaskTree {
        let tasks = self
            .core()
            .snapshot_tasks(true)
            .into_iter()
            .map(TaskDump::from)
            .collect();
        TaskTree { tasks }
    }
}

impl From<TaskSnapshot> for TaskDump {
    fn from(snapshot: TaskSnapshot) -> Self {
        let frames = snapshot
            .backtrace
            .as_deref()
            .map(suspended_frames)
            .unwrap_or_default();
        TaskDump {
            id: snapshot.id,
            name: snapshot.name,
            parent: snapshot.parent,
            waits_on: snapshot.waits_on,
            since: snapshot.since,
            frames,
        }
    }
}

/// The function names of a captured backtrace, between the capture (inside
/// the task's suspension point) and `task_body` (where every task starts):
/// the functions the task itself is in, innermost first. A generator of
/// lessons 02–05 (under `--step`, which has each take its backtrace as it
/// yields) is cut the same way, between `Co::yield_` and the closure of
/// `Generator::with_stack_size` that starts its body.
fn suspended_frames(backtrace: &str) -> Vec<String> {
    let names = backtrace.lines().filter_map(|line| {
        // Frame lines look like "  12: crate::module::function".
        let (number, name) = line.trim_start().split_once(": ")?;
        number.parse::<usize>().ok()?;
        Some(name.trim().to_string())
    });
    let mut frames = Vec::new();
    let mut inside = false;
    for name in names {
        if name.contains("yieldloop::reactor::task::task_body")
            || name.contains("yieldloop::generators::generator::Generator<")
        {
            break;
        }
        if inside && !is_plumbing(&name) {
            frames.push(name);
        } else if name.contains("CurrentTask::attend")
            || name.contains("yieldloop::generators::generator::Co<")
        {
            inside = true;
        }
    }
    frames
}

/// Frames that are the runtime's own suspending machinery or Rust's panic
/// boundary, not the task's code.
fn is_plumbing(name: &str) -> bool {
    name.contains("yieldloop::reactor::task::CurrentTask::suspend")
        || name.starts_with("std::panic")
        || name.starts_with("std::panicking")
        || name.starts_with("core::ops::function")
        || name.starts_with("<core::panic")
        || name.starts_with("__rust")
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = |id: u64| self.tasks.iter().any(|task| task.id == id);
        // Roots: no parent, or a parent that has finished.
        for root in self
            .tasks
            .iter()
            .filter(|task| !task.parent.is_some_and(known))
        {
            self.write_task(f, root, 0)?;
        }
        Ok(())
    }
}

impl TaskTree {
    fn write_task(&self, f: &mut fmt::Formatter<'_>, task: &TaskDump, depth: usize) -> fmt::Result {
        let indent = "  ".repeat(depth);
        let parent = task
            .parent
            .map_or("none".to_string(), |parent| parent.to_string());
        writeln!(
            f,
            "{indent}task {} {:?} (parent {parent}): {} since {:.3}",
            task.id,
            task.name,
            task.waits_on,
            task.since.as_secs_f64()
        )?;
        if task.frames.is_empty() {
            writeln!(f, "{indent}    (not started)")?;
        }
        for frame in &task.frames {
            writeln!(f, "{indent}    at {frame}")?;
        }
        for child in self.tasks.iter().filter(|t| t.parent == Some(task.id)) {
            self.write_task(f, child, depth + 1)?;
        }
        Ok(())
    }
}
