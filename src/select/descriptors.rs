//! Descriptor numbers: the open-files limit, and a way to use up the low
//! numbers. Introduced by lesson 05, for its FD_SETSIZE test.
//!
//! A descriptor is the lowest free number when it is opened. select(2) can
//! only watch numbers below `FD_SETSIZE` (1024), and lesson 05 must refuse a
//! client whose socket got a higher one. Getting there honestly would take a
//! thousand clients; instead a test asks the server to hold dummy descriptors
//! (`/dev/null`, opened again and again) until the next free number is the one
//! it wants, so the next `accept` really returns it.
//!
//! The soft open-files limit (`ulimit -n`) is often 1024 in a shell: exactly
//! `FD_SETSIZE`, and not by chance. Programs that use select(2) stay safe
//! because the kernel will not hand them a descriptor the `fd_set` cannot
//! hold. A server that wants more raises its soft limit up to the hard one,
//! as [`raise_open_files_limit`] does; from then on, checking is its own job.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises this process's soft limit on open descriptors to at least
/// `at_least`, or to the hard limit if that is lower. Never lowers it.
pub fn raise_open_files_limit(at_least: u64) -> io::Result<()> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < at_least {
        setrlimit(Resource::RLIMIT_NOFILE, at_least.min(hard), hard)?;
    }
    Ok(())
}

/// Descriptors to leave free above the one asked for: the clients' own
/// sockets, which get the numbers from there on.
pub const HEADROOM: u64 = 64;

/// The most descriptors [`hold_until_next_is`] will hold, whatever the
/// limit: each is a real open file, and the test aid needs about a thousand.
pub const MOST_HELD: u64 = 65_536;

/// Checks, before anything is opened, that this process could reach
/// descriptor `next_free` with [`HEADROOM`] to spare for the clients above
/// it: below the hard open-files limit (`ulimit -Hn`), the ceiling no process
/// can raise by itself, and below [`MOST_HELD`]. Returns `next_free` as a `u64`.
pub fn check_reachable(next_free: RawFd) -> io::Result<u64> {
    let Ok(wanted) = u64::try_from(next_free) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {next_free}: a descriptor number must not be negative"),
        ));
    };
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let highest = hard.min(MOST_HELD).saturating_sub(HEADROOM);
    if wanted > highest {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "descriptor {next_free} is out of reach: the open-files limit of this \
                 process is {hard} (`ulimit -Hn`), this aid holds at most {MOST_HELD}, and \
                 {HEADROOM} must stay free for the clients; ask for at most {highest}"
            ),
        ));
    }
    Ok(wanted)
}

/// Opens `/dev/null` until the lowest free descriptor is `next_free` (or
/// above: it cannot close what others opened), and returns the files, which
/// hold their numbers until dropped. Raises the open-files limit as needed,
/// and fails at once, opening nothing, if [`check_reachable`] says no.
///
/// Only meaningful in a process that opens nothing else meanwhile (another
/// thread closing a low descriptor would free a number below `next_free`);
/// `tests/select_echo.rs` checks it through the lesson 05 server.
pub fn hold_until_next_is(next_free: RawFd) -> io::Result<Vec<File>> {
    let next_free_u64 = check_reachable(next_free)?;
    raise_open_files_limit(next_free_u64 + HEADROOM)?;
    let mut held = Vec::new();
    loop {
        let file = File::open("/dev/null")?;
        if file.as_raw_fd() >= next_free {
            return Ok(held); // dropping `file` frees its number again
        }
        held.push(file);
    }
}
