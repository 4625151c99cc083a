//! Reference solution to the `select_loop` exercise.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::RawFd;

use yieldloop::select::ready::wait_ready;
use yieldloop::{Generator, GeneratorState, Request};

/// A task: sent nothing, yields what it waits for.
pub type Task = Generator<(), Request>;

/// Runs `tasks` until all have returned.
pub fn run(tasks: Vec<Task>) -> io::Result<()> {
    let mut ready: VecDeque<Task> = tasks.into();
    let mut to_read: HashMap<RawFd, Task> = HashMap::new();
    let mut to_write: HashMap<RawFd, Task> = HashMap::new();
    loop {
        while let Some(mut task) = ready.pop_front() {
            match task.send(()) {
                Ok(GeneratorState::Yielded(Request::Read(fd))) => {
                    to_read.insert(fd, task);
                }
                Ok(GeneratorState::Yielded(Request::Write(fd))) => {
                    to_write.insert(fd, task);
                }
                Ok(GeneratorState::Yielded(Request::Sleep(_))) => {
                    return Err(io::Error::other(
                        "this loop has no timers: Sleep is not served",
                    ))
                }
                Ok(GeneratorState::Returned(())) | Err(_) => {} // finished
            }
        }
        if to_read.is_empty() && to_write.is_empty() {
            return Ok(());
        }
        let reading: Vec<RawFd> = to_read.keys().copied().collect();
        let writing: Vec<RawFd> = to_write.keys().copied().collect();
        let (readable, writable) = wait_ready(&reading, &writing, None)?;
        ready.extend(readable.iter().filter_map(|fd| to_read.remove(fd)));
        ready.extend(writable.iter().filter_map(|fd| to_write.remove(fd)));
    }
}
