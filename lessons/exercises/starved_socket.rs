//! # starved_socket: break-it, a loop that never listens (after lesson 06)
//!
//! A callback loop with sockets, asyncio's shape: a `ready` queue and
//! `readers` (callbacks to run when a descriptor can be read). Its author
//! thought: "why ask the system about sockets when there is work to do? Only
//! poll when nothing is ready." Then a user's progress-bar callback, which
//! reschedules itself with `call_soon` every turn, made the server stop
//! answering: the socket has data, and its callback never runs.
//!
//! Find the decision in `run_once` that starves the socket and change it, so
//! that every turn looks at the sockets (without blocking when callbacks are
//! waiting) and a busy callback cannot keep a ready socket waiting for more
//! than a turn.
//!
//! Check it: `cargo run --bin workshop -- check starved_socket`.

// I AM NOT DONE

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use yieldloop::select::ready::wait_ready;

/// A callback: gets the loop, so it can schedule more.
pub type Callback = Box<dyn FnOnce(&mut IoLoop)>;

/// A ready queue and readers.
#[derive(Default)]
pub struct IoLoop {
    /// Callbacks to run, in order.
    pub ready: VecDeque<Callback>,
    /// Callbacks waiting for their descriptor to become readable.
    pub readers: Vec<(RawFd, Callback)>,
}

impl IoLoop {
    /// An empty loop.
    pub fn new() -> IoLoop {
        IoLoop::default()
    }

    /// Runs `callback` on the next turn.
    pub fn call_soon(&mut self, callback: Callback) {
        self.ready.push_back(callback);
    }

    /// Runs `callback` once, when `fd` can be read.
    pub fn add_reader(&mut self, fd: RawFd, callback: Callback) {
        self.readers.push((fd, callback));
    }

    /// Whether anything is left to do.
    pub fn is_idle(&self) -> bool {
        self.ready.is_empty() && self.readers.is_empty()
    }

    /// One turn: look at the sockets, then run what is ready.
    pub fn run_once(&mut self) -> io::Result<()> {
        if self.ready.is_empty() && !self.readers.is_empty() {
            // Nothing to do but wait: block until a socket is readable.
            self.poll_readers(None)?;
        }
        for _ in 0..self.ready.len() {
            if let Some(callback) = self.ready.pop_front() {
                callback(self);
            }
        }
        Ok(())
    }

    /// Asks which readers' descriptors are readable (waiting at most
    /// `timeout`; `None`: as long as it takes) and moves their callbacks to
    /// the back of `ready`.
    fn poll_readers(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let fds: Vec<RawFd> = self.readers.iter().map(|(fd, _)| *fd).collect();
        let (readable, _) = wait_ready(&fds, &[], timeout)?;
        let mut index = 0;
        while index < self.readers.len() {
            if readable.contains(&self.readers[index].0) {
                let (_, callback) = self.readers.remove(index);
                self.ready.push_back(callback);
            } else {
                index += 1;
            }
        }
        Ok(())
    }
}
