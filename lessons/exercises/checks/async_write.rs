//! Check for the `async_write` exercise: the write runs on another thread,
//! the loop keeps ticking meanwhile, and the write's error comes back.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use yieldloop::{secs, sleep, spawn, EventLoop};

use super::report::{guarded, task_failed, wrong, Outcome};

type Write = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// What happened during one `save`: how often the heartbeat ticked, which
/// thread wrote, and what `save` returned.
struct Seen {
    ticks: u32,
    writer: Option<ThreadId>,
    result: io::Result<()>,
}

fn run_save(save: fn(Write) -> io::Result<()>, fail: bool) -> Result<Seen, super::report::Failure> {
    // The real clock: the write truly blocks a thread for 0.3 s.
    let mut event_loop =
        EventLoop::new().map_err(|error| wrong(format!("could not start a loop: {error}")))?;
    let writer = Arc::new(Mutex::new(None));
    let write: Write = {
        let writer = writer.clone();
        Box::new(move || {
            if let Ok(mut writer) = writer.lock() {
                *writer = Some(thread::current().id());
            }
            thread::sleep(Duration::from_millis(300));
            if fail {
                Err(io::Error::other("disk full"))
            } else {
                Ok(())
            }
        })
    };
    let (ticks, result) = guarded("your save()", || {
        event_loop.run_until_complete(move || {
            let ticks = Rc::new(Cell::new(0u32));
            let heartbeat = spawn("heartbeat", {
                let ticks = ticks.clone();
                move || {
                    while sleep(secs(0.05)).is_ok() {
                        ticks.set(ticks.get() + 1);
                    }
                }
            });
            let result = save(write);
            heartbeat.cancel();
            (ticks.get(), result)
        })
    })?
    .map_err(task_failed)?;
    let writer = writer.lock().ok().and_then(|writer| *writer);
    Ok(Seen {
        ticks,
        writer,
        result,
    })
}

pub fn check(save: fn(Write) -> io::Result<()>) -> Outcome {
    let seen = run_save(save, false)?;
    match seen.writer {
        None => return Err(wrong("save returned without running the write")),
        Some(id) if id == thread::current().id() => {
            return Err(wrong(format!(
                "the write ran on the loop's own thread, so the loop stood still for 0.3 s \
                 (the heartbeat ticked {} time(s) instead of about 6): hand it to the \
                 executor and let this task wait for it",
                seen.ticks
            )))
        }
        Some(_) => {}
    }
    if let Err(error) = seen.result {
        return Err(wrong(format!(
            "the write succeeded, but save returned {error}"
        )));
    }
    // About 6 ticks in 0.3 s; a loaded machine may lose some, a blocked loop all.
    if seen.ticks < 2 {
        return Err(wrong(format!(
            "the heartbeat ticked only {} time(s) while the write took 0.3 s: is the loop \
             waiting for the write instead of only this task?",
            seen.ticks
        )));
    }
    let seen = run_save(save, true)?;
    match seen.result {
        Err(error) if error.to_string().contains("disk full") => Ok(()),
        Err(error) => Err(wrong(format!(
            "the write failed with `disk full`, but save returned `{error}`: pass the \
             write's own error back"
        ))),
        Ok(()) => Err(wrong(
            "the write failed with `disk full`, but save returned Ok: pass its error back",
        )),
    }
}
