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

/// Opens `/dev/null` until the lowest free descriptor is `next_free` (or
/// above: it cannot close what others opened), and returns the files, which
/// hold their numbers until dropped. Raises the open-files limit as needed.
///
/// Only meaningful in a process that opens nothing else meanwhile (another
/// thread closing a low descriptor would free a number below `next_free`);
/// `tests/select_echo.rs` checks it through the lesson 05 server.
pub fn hold_until_next_is(next_free: RawFd) -> io::Result<Vec<File>> {
    let next_free_u64 = u64::try_from(next_free).unwrap_or(0);
    raise_open_files_limit(next_free_u64 + 64)?;
    let mut held = Vec::new();
    loop {
        let file = File::open("/dev/null")?;
        if file.as_raw_fd() >= next_free {
            return Ok(held); // dropping `file` frees its number again
        }
        held.push(file);
    }
}
