//! Lesson 11's instrumentation: the `tracing` events and spans the loop
//! emits per task (`yieldloop::task`) and per iteration (`yieldloop::loop`).
//! A small recording subscriber collects them while a loop on the virtual
//! clock runs a parent that sleeps, spawns, joins and cancels.

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use yieldloop::{secs, sleep, spawn, Builder, Clock};

/// One recorded event: target, message, its fields as `name=value`, and
/// the `task` span it was emitted in (that span's `name` field).
#[derive(Debug, Clone)]
struct Line {
    target: String,
    message: String,
    fields: Vec<String>,
    in_task: Option<String>,
}

impl Line {
    fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f == field)
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.push(format!("{}={value}", field.name()));
    }
}

/// The span's fields, kept in its extensions.
struct SpanFields(Vec<String>);

struct Recorder(Arc<Mutex<Vec<Line>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let in_task = ctx.event_span(event).and_then(|span| {
            let extensions = span.extensions();
            let fields = extensions.get::<SpanFields>()?;
            fields.0.iter().find(|f| f.starts_with("name=")).cloned()
        });
        self.0.lock().unwrap().push(Line {
            target: event.metadata().target().to_string(),
            message: fields.message,
            fields: fields.fields,
            in_task,
        });
    }
}

/// Runs `parent` (below) with the recorder installed on this thread only,
/// under a watchdog, and returns what was recorded.
fn record_run() -> Vec<Line> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (done, finished) = mpsc::channel();
    let recorded = lines.clone();
    thread::spawn(move || {
        let subscriber = tracing_subscriber::registry().with(Recorder(recorded).with_filter(
            tracing_subscriber::EnvFilter::new("yieldloop::task=trace,yieldloop::loop=trace"),
        ));
        tracing::subscriber::with_default(subscriber, || {
            let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
            event_loop
                .run_until_complete(|| {
                    let child = spawn("child", || sleep(secs(1.0)));
                    child.join().unwrap().unwrap();
                    let doomed = spawn("doomed", || sleep(secs(10.0)));
                    sleep(secs(0.5)).unwrap();
                    doomed.cancel();
                    let _ = doomed.join();
                })
                .unwrap();
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the instrumented run hung or panicked");
    let lines = lines.lock().unwrap().clone();
    lines
}

fn find<'a>(lines: &'a [Line], message: &str, fields: &[&str]) -> Option<&'a Line> {
    lines
        .iter()
        .find(|line| line.message == message && fields.iter().all(|f| line.has(f)))
}

#[test]
fn spawn_events_name_the_task_and_its_parent() {
    let lines = record_run();
    // The loop's own task (run_until_complete's) is task 1, with no parent.
    let main = find(&lines, "spawn", &["task=1", "parent=None"]).expect("task 1 spawned");
    assert_eq!(main.target, "yieldloop::task");
    let child = find(&lines, "spawn", &["task=2", "name=child"]).expect("child spawned");
    assert!(child.has("parent=Some(1)"), "{child:?}");
    assert!(find(
        &lines,
        "spawn",
        &["task=3", "name=doomed", "parent=Some(1)"]
    )
    .is_some());
}

#[test]
fn suspend_says_what_the_task_waits_on() {
    let lines = record_run();
    let suspends: Vec<(&Option<String>, &Vec<String>)> = lines
        .iter()
        .filter(|line| line.message == "suspend")
        .map(|line| (&line.in_task, &line.fields))
        .collect();
    let waits = |task: &str| -> Vec<String> {
        suspends
            .iter()
            .filter(|(in_task, _)| in_task.as_deref() == Some(&format!("name={task}")))
            .flat_map(|(_, fields)| fields.iter().cloned())
            .collect()
    };
    // The child sleeps 1 s from 0: its timer is due at 1.000. (`kind` is
    // the one word the timelines of lesson 11 draw a state from.)
    assert_eq!(waits("child"), ["on=timer at 1.000", "kind=timer"]);
    // The doomed task sleeps 10 s from 1.000.
    assert_eq!(waits("doomed"), ["on=timer at 11.000", "kind=timer"]);
    // The first task waits on the join of task 2, a timer at 1.500, then
    // on the join of task 3.
    let all: Vec<String> = suspends
        .iter()
        .flat_map(|(_, fields)| fields.iter().cloned())
        .collect();
    for expected in [
        "on=join of task 2",
        "on=timer at 1.500",
        "on=join of task 3",
        "kind=join",
    ] {
        assert!(
            all.iter().any(|f| f == expected),
            "{expected} missing in {all:?}"
        );
    }
}

#[test]
fn wake_cancel_and_finish_carry_their_cause_and_outcome() {
    let lines = record_run();
    assert!(find(&lines, "wake", &["task=2", "cause=timer fired"]).is_some());
    assert!(find(&lines, "wake", &["task=1", "cause=future done"]).is_some());
    assert!(find(&lines, "cancel", &["task=3", "name=doomed"]).is_some());
    assert!(find(&lines, "wake", &["task=3", "cause=cancelled"]).is_some());
    assert!(find(&lines, "finish", &["task=2", "outcome=returned"]).is_some());
    let doomed = find(&lines, "finish", &["task=3"]).expect("doomed finished");
    assert!(
        doomed.fields.iter().any(|f| f.contains("was cancelled")),
        "{doomed:?}"
    );
    // Every resume and suspend happens inside its task's span.
    for line in lines
        .iter()
        .filter(|l| l.message == "resume" || l.message == "suspend")
    {
        assert!(line.in_task.is_some(), "{line:?} outside a task span");
    }
}

#[test]
fn each_iteration_says_how_many_are_ready_and_why_that_timeout() {
    let lines = record_run();
    let iterations: Vec<&Line> = lines
        .iter()
        .filter(|line| line.target == "yieldloop::loop" && line.message == "iteration")
        .collect();
    assert!(iterations.len() >= 4, "{iterations:?}");
    // The first iteration runs the main task: one ready, no waiting.
    assert!(iterations[0].has("ready=1"), "{:?}", iterations[0]);
    assert!(iterations[0].has("why=tasks are ready: do not wait"));
    assert!(iterations[0].has("timeout=Some(0ns)"));
    // While everyone sleeps, the loop waits until the next timer.
    assert!(iterations
        .iter()
        .any(|line| line.has("ready=0") && line.has("why=until the next timer")));
}
