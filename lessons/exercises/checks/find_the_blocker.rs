//! Check for the `find_the_blocker` exercise: no step of any task holds the
//! loop longer than 0.1 s, all the work is still done, and the ticker ticks
//! on time. A failure shows the learner the timeline (lesson 11's
//! `--timeline`) and names the task whose long bar is the culprit.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use yieldloop::course::gantt;
use yieldloop::course::task_states::{record, TaskState};
use yieldloop::{secs, Builder, Clock, TaskError};

use super::report::{guarded, task_failed, wrong, Log, Outcome};

type Dashboard = fn(Rc<dyn Fn(Duration)>, Rc<dyn Fn(&str)>) -> Result<(), TaskError>;

/// The longest one step of a task may take: one image.
const LONGEST_STEP: Duration = Duration::from_millis(100);
/// How much number crunching the dashboard does in all (4 images of 0.1 s,
/// 3 log lines of 0.01 s).
const ALL_THE_WORK: Duration = Duration::from_millis(430);

/// Runs the learner's dashboard on the virtual clock with the task recorder.
pub fn check(dashboard: Dashboard) -> Outcome {
    let clock = Clock::new_virtual();
    let mut event_loop = Builder::new()
        .clock(clock.clone())
        .build()
        .map_err(|error| wrong(format!("could not start an event loop: {error}")))?;
    let log = Log::default();
    let say: Rc<dyn Fn(&str)> = {
        let log = log.clone();
        Rc::new(move |what: &str| log.now(what))
    };
    let worked = Rc::new(Cell::new(Duration::ZERO));
    let cpu: Rc<dyn Fn(Duration)> = {
        let (clock, worked) = (clock.clone(), worked.clone());
        // Number crunching that never suspends: on the virtual clock the
        // time moves on, as lesson 01's blocking sleep moves it.
        Rc::new(move |how_long: Duration| {
            worked.set(worked.get() + how_long);
            clock.sleep(how_long);
        })
    };
    let (ran, rows) = record(&clock, || {
        guarded("your dashboard()", || {
            event_loop.run_until_complete(move || dashboard(cpu, say))
        })
    });
    ran?.map_err(task_failed)?.map_err(task_failed)?;
    let picture = gantt::render_terminal(&rows, false);

    // The point of the exercise: the timeline has no long running bar.
    let longest = rows
        .iter()
        .flat_map(|row| row.intervals.iter().map(move |i| (row, i)))
        .filter(|(_, i)| i.state == TaskState::Running)
        .max_by_key(|(_, i)| i.end - i.start);
    if let Some((row, step)) = longest {
        let took = step.end - step.start;
        if took > LONGEST_STEP {
            return Err(wrong(format!(
                "task `{}` ran {:.3} s in one step ({:.3} to {:.3} s) without suspending: for \
                 all that time no other task could run. Its row is the long █ bar:\n\n{picture}\n\
                 Meanwhile the ticker's timer had fired, but it could not tick until `{}` let \
                 the loop go. Give the loop a turn between pieces of that task's work \
                 (yield_now), so that no step takes more than {:.1} s.",
                row.name,
                took.as_secs_f64(),
                step.start.as_secs_f64(),
                step.end.as_secs_f64(),
                row.name,
                LONGEST_STEP.as_secs_f64()
            )));
        }
    }
    if worked.get() < ALL_THE_WORK {
        return Err(wrong(format!(
            "the tasks crunched {:.3} s of numbers, not {:.3} s: keep all the work (every \
             image resized, every log line formatted), only cut it into steps",
            worked.get().as_secs_f64(),
            ALL_THE_WORK.as_secs_f64()
        )));
    }
    let lines = log.lines();
    for needed in ["images resized", "news arrived"] {
        if !lines.iter().any(|line| line.ends_with(needed)) {
            return Err(wrong(format!(
                "nobody said `{needed}`: keep every task's work"
            )));
        }
    }
    let ticks: Vec<&String> = lines
        .iter()
        .filter(|line| line.ends_with(" tick"))
        .collect();
    if ticks.len() != 6 {
        return Err(wrong(format!(
            "the ticker ticked {} times, not 6",
            ticks.len()
        )));
    }
    // A tick may come late by at most one step of another task (and a bit)
    // after the ticker's own 0.1 s sleep: the sleep starts at its last tick.
    let mut previous = Duration::ZERO;
    for (n, tick) in ticks.iter().enumerate() {
        let at = super::report::millis_of(tick).map_or(Duration::ZERO, Duration::from_millis);
        let due = previous + secs(0.1);
        if at > due + LONGEST_STEP + secs(0.02) {
            return Err(wrong(format!(
                "tick {} came at `{tick}`, due at {:.3}: still late. The timeline:\n\n{picture}",
                n + 1,
                due.as_secs_f64()
            )));
        }
        previous = at;
    }
    Ok(())
}
