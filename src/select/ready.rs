//! `wait_ready`: "which of these descriptors can I read or write now?" as one
//! plain call. Introduced for the workshop's exercises on lesson 05.
//!
//! Lesson 05's loop calls select(2) itself, with its `FdSet`s and the
//! `FD_SETSIZE` guard. The workshop asks the learner to write Beazley's loop
//! (the `to_read` and `to_write` bookkeeping) without also learning that
//! API, so this hands them the readiness question ready-made, answered with
//! poll(2), which has no descriptor-number limit.

use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Waits until at least one descriptor in `to_read` can be read (or has a
/// connection to accept, or its peer has hung up) or one in `to_write` can be
/// written, or until `timeout` has passed (`None`: no limit). Returns the
/// ready ones, each list in the order given. A signal ends the wait early
/// with nothing ready.
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// let (mut a, b) = UnixStream::pair().unwrap();
/// a.write_all(b"ping").unwrap();
/// let (readable, writable) =
///     yieldloop::select::ready::wait_ready(&[b.as_raw_fd()], &[], None).unwrap();
/// assert_eq!((readable, writable), (vec![b.as_raw_fd()], vec![]));
/// ```
pub fn wait_ready(
    to_read: &[RawFd],
    to_write: &[RawFd],
    timeout: Option<Duration>,
) -> io::Result<(Vec<RawFd>, Vec<RawFd>)> {
    let wanted = to_read
        .iter()
        .map(|&fd| (fd, PollFlags::POLLIN))
        .chain(to_write.iter().map(|&fd| (fd, PollFlags::POLLOUT)));
    let mut polled: Vec<PollFd> = wanted
        .map(|(fd, flags)| {
            // SAFETY: poll(2) only reads the number; it never reads or writes
            // through the descriptor. If the caller has closed it, poll
            // reports POLLNVAL for it, which we return as an error below.
            PollFd::new(unsafe { BorrowedFd::borrow_raw(fd) }, flags)
        })
        .collect();
    let timeout = match timeout {
        None => PollTimeout::NONE,
        // Round up, so a 0.4 ms wait does not become a busy "0 ms" poll.
        Some(limit) => {
            let millis = limit.as_micros().div_ceil(1000);
            PollTimeout::try_from(millis.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
        }
    };
    match poll(&mut polled, timeout) {
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => return Ok((Vec::new(), Vec::new())),
        Err(errno) => return Err(errno.into()),
    }
    let mut readable = Vec::new();
    let mut writable = Vec::new();
    let fds = to_read.iter().chain(to_write.iter());
    for (index, (&fd, entry)) in fds.zip(&polled).enumerate() {
        let events = entry.revents().unwrap_or(PollFlags::empty());
        if events.contains(PollFlags::POLLNVAL) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("descriptor {fd} is not open (closed while it was being waited for?)"),
            ));
        }
        // Hang-up and error count as "ready": the next read or write tells
        // the task what happened, instead of the task waiting forever.
        let ready_bits =
            PollFlags::POLLIN | PollFlags::POLLOUT | PollFlags::POLLHUP | PollFlags::POLLERR;
        if events.intersects(ready_bits) {
            if index < to_read.len() {
                readable.push(fd);
            } else {
                writable.push(fd);
            }
        }
    }
    Ok((readable, writable))
}
