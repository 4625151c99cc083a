//! Check for the `starved_socket` exercise: a busy callback beside a ready socket.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use super::report::{guarded, wrong, Outcome};

/// What the check needs of the learner's `IoLoop`.
pub trait IoLoopLike: Sized + 'static {
    /// `IoLoop::new()`.
    fn make() -> Self;
    /// `call_soon`.
    fn soon(&mut self, callback: impl FnOnce(&mut Self) + 'static);
    /// `add_reader`.
    fn reader(&mut self, fd: RawFd, callback: impl FnOnce(&mut Self) + 'static);
    /// `run_once`.
    fn turn(&mut self) -> io::Result<()>;
}

/// Implements [`IoLoopLike`] for the exercise's `IoLoop`.
#[macro_export]
macro_rules! impl_io_loop {
    ($io_loop:path) => {
        impl $crate::checks::starved_socket::IoLoopLike for $io_loop {
            fn make() -> Self {
                <$io_loop>::new()
            }
            fn soon(&mut self, callback: impl FnOnce(&mut Self) + 'static) {
                self.call_soon(Box::new(callback));
            }
            fn reader(
                &mut self,
                fd: std::os::fd::RawFd,
                callback: impl FnOnce(&mut Self) + 'static,
            ) {
                self.add_reader(fd, Box::new(callback));
            }
            fn turn(&mut self) -> std::io::Result<()> {
                self.run_once()
            }
        }
    };
}

type Events = std::rc::Rc<std::cell::RefCell<Vec<String>>>;

/// A callback that notes its turn and reschedules itself, `left` more times.
fn spinner<L: IoLoopLike>(events: Events, turn: u32, left: u32) -> impl FnOnce(&mut L) + 'static {
    move |io_loop: &mut L| {
        events.borrow_mut().push(format!("spinner turn {turn}"));
        if left > 0 {
            io_loop.soon(spinner(events, turn + 1, left - 1));
        }
    }
}

/// A socket with data waiting from the start, beside a spinner of 50 turns.
pub fn check<L: IoLoopLike>() -> Outcome {
    let (mut client, mut server) = UnixStream::pair()
        .map_err(|error| wrong(format!("could not make a socket pair: {error}")))?;
    client
        .write_all(b"ping")
        .map_err(|error| wrong(format!("could not write to the socket pair: {error}")))?;
    let events: Events = Default::default();
    let mut io_loop = L::make();
    io_loop.soon(spinner(events.clone(), 1, 50));
    let fd = server.as_raw_fd();
    let noted = events.clone();
    io_loop.reader(fd, move |_: &mut L| {
        let mut buf = [0; 16];
        let n = server.read(&mut buf).unwrap_or(0);
        noted.borrow_mut().push(format!(
            "socket read {}",
            String::from_utf8_lossy(&buf[..n])
        ));
    });
    guarded("your run_once()", || -> io::Result<()> {
        for _ in 0..60 {
            io_loop.turn()?;
        }
        Ok(())
    })?
    .map_err(|error| wrong(format!("run_once returned an error: {error}")))?;
    let events = events.borrow();
    let socket_at = events.iter().position(|e| e.starts_with("socket read"));
    let shown = |upto: usize| {
        events
            .iter()
            .take(upto)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    match socket_at {
        Some(at) if at <= 2 => Ok(()),
        Some(at) => Err(wrong(format!(
            "the socket had data from the start, but its callback ran only after \
             {at} other callbacks ({} ...). A busy callback kept it waiting: does \
             run_once look at the sockets every turn, or only when nothing is ready?",
            shown(4)
        ))),
        None => Err(wrong(format!(
            "the socket had data from the start, but its callback never ran in 60 turns \
             (what ran: {} ...). Does run_once look at the sockets while callbacks are ready?",
            shown(4)
        ))),
    }
}
