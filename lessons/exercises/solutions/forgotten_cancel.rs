//! Reference solution to the `forgotten_cancel` exercise: a guard cancels
//! the heartbeat when `download` returns, by any path (`?` included).
//!
//! # forgotten_cancel: break-it, a task that outlives its job (after lesson 08)
//!
//! `download` starts a heartbeat task that says `still working` every 0.3 s,
//! so a user can see the download is alive, then downloads (here: sleeps one
//! second). It returns the page, and the caller moves on. But the heartbeat
//! keeps saying `still working` long after: in a server doing a download per
//! request, these pile up until the process is all heartbeats.
//!
//! Fix `download` so that the heartbeat ends when the download does, on
//! every path out of the function (lesson 08: `JoinHandle::cancel`, or a
//! `scope`).
//!
//! Check it: `cargo run --bin workshop -- check forgotten_cancel`.

use std::rc::Rc;

use yieldloop::{secs, sleep, spawn, JoinHandle, SuspendError};

/// Downloads a page, saying `still working` every 0.3 s meanwhile.
pub fn download(say: Rc<dyn Fn(&str)>) -> Result<String, SuspendError> {
    let heartbeat_say = say.clone();
    let heartbeat = spawn("heartbeat", move || -> Result<(), SuspendError> {
        loop {
            sleep(secs(0.3))?;
            heartbeat_say("still working");
        }
    });
    // Dropping a JoinHandle does not stop its task (lesson 08): this guard
    // cancels it when `download` returns, by any path, `?` included.
    let _stop_heartbeat = CancelOnDrop(heartbeat);
    sleep(secs(1.0))?; // the download
    say("downloaded");
    Ok("the page".to_string())
}

/// Cancels the task when dropped.
struct CancelOnDrop<T: 'static>(JoinHandle<T>);

impl<T: 'static> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
