//! # find_the_blocker, a reference solution: read a timeline, find the task that holds the loop (after lesson 11)
//!
//! `dashboard` starts four tasks: a `ticker` that should tick every 0.1 s, a
//! `fetch_news` that waits for the network, a `resize_images` and a
//! `write_log`. The ticks come late, in a bunch. One of the tasks holds the
//! loop; which one? Do not guess from the code: read the timeline. The
//! check draws it for you (lesson 11's `--timeline`), one row per task:
//!
//! ```text
//!                0s        0.5s      1s
//! main           █·················█·█
//! ticker         █───────█─█─█─█─█─█
//! fetch_news     █───────█
//! resize_images  ████████
//! write_log      ░░░░░░░░█───█───█───█
//! ```
//!
//! (That is the picture of the code below; `cargo run --bin workshop -- check
//! find_the_blocker` draws the one of your version.) `█` is *running*, `░`
//! *ready, waiting for its turn*, `─` *waiting on a timer*, `·` *waiting on
//! a task* (here: `main` joining the others). A task that runs for a long stretch without suspending is one
//! long `█` bar, and while it lasts every other row can only wait.
//!
//! `cpu(d)` stands for `d` of number crunching: it takes that long and never
//! suspends (on the check's virtual clock it moves the time on, as lesson
//! 01's blocking sleep does). Keep all the work (the check counts it), but
//! fix the task that holds the loop so that no step of any task takes more
//! than 0.1 s: give the loop a turn between pieces of work (lesson 06's
//! `yield_now`), as a long computation in asyncio would `await
//! asyncio.sleep(0)`.
//!
//! Check it: `cargo run --bin workshop -- check find_the_blocker`.

use std::rc::Rc;
use std::time::Duration;

use yieldloop::{secs, sleep, spawn, yield_now, SuspendError, TaskError};

/// The dashboard: four tasks, joined.
pub fn dashboard(cpu: Rc<dyn Fn(Duration)>, say: Rc<dyn Fn(&str)>) -> Result<(), TaskError> {
    let ticker = {
        let say = say.clone();
        spawn("ticker", move || -> Result<(), SuspendError> {
            for _ in 0..6 {
                sleep(secs(0.1))?;
                say("tick");
            }
            Ok(())
        })
    };
    let news = {
        let say = say.clone();
        spawn("fetch_news", move || -> Result<(), SuspendError> {
            sleep(secs(0.25))?; // the network
            say("news arrived");
            Ok(())
        })
    };
    let images = {
        let (cpu, say) = (cpu.clone(), say.clone());
        spawn("resize_images", move || -> Result<(), SuspendError> {
            for _ in 0..4 {
                cpu(secs(0.1)); // one image
                                // The fix: a turn for the others after each image, so no
                                // step holds the loop longer than one image takes.
                yield_now()?;
            }
            say("images resized");
            Ok(())
        })
    };
    let log = spawn("write_log", move || -> Result<(), SuspendError> {
        for _ in 0..3 {
            cpu(secs(0.01)); // format a line
            sleep(secs(0.2))?;
        }
        Ok(())
    });
    for task in [ticker, news, images, log] {
        task.join()??;
    }
    Ok(())
}
