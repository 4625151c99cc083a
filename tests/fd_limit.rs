//! Lesson 06's server when the process runs out of descriptors (`EMFILE`):
//! it must refuse the extra clients cleanly (they wait in the backlog), keep
//! serving the ones it has, and take new ones once descriptors are free.
//!
//! A file of its own because it lowers this process's descriptor limit for a
//! moment (the child inherits it), which would upset tests running beside it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::server::EchoServer;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

const REACTOR: &str = env!("CARGO_BIN_EXE_06-reactor");

/// Starts lesson 06 allowed only `limit` open descriptors.
fn start_with_fd_limit(limit: u64) -> EchoServer {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();
    let server = EchoServer::start(REACTOR, &[]);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    server
}

#[test]
fn running_out_of_descriptors_refuses_clients_cleanly_and_recovers() {
    // 16 descriptors: stdio, epoll and its eventfd, the listener… room for a few clients.
    let server = start_with_fd_limit(16);
    let mut crowd: Vec<TcpStream> = (0..24).map(|_| server.connect()).collect();
    server.wait_for_line("accept failed: Too many open files");
    // Those already in are served while the rest wait in the backlog.
    crowd[0].write_all(b"in").unwrap();
    let mut echoed = [0u8; 2];
    crowd[0].read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"IN");
    // Room again: the waiting ones get in, then a newcomer, and it is served.
    crowd.truncate(1);
    server.assert_serves_fresh_client();
}

const TASKS: &str = env!("CARGO_BIN_EXE_07-tasks");

/// Issue 8: lesson 07's page server used to end on the first failed
/// `accept` (EMFILE), leaving `update_index`'s clients waiting for ever. With
/// 15 descriptors the five concurrent requests run it out of descriptors; it
/// must back off and keep serving, so the lesson still finishes.
#[test]
fn lesson_07s_page_server_backs_off_on_emfile_and_keeps_serving() {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(TASKS);
    command
        .arg("--virtual")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // Lower the limit in the child only (between fork and exec), so that the
    // other test of this file, running beside this one, keeps its own.
    // SAFETY: the closure only calls setrlimit(2), which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            let (_soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
            setrlimit(Resource::RLIMIT_NOFILE, 15, hard)?;
            Ok(())
        });
    }
    let child = command.spawn();
    let child = child.expect("start lesson 07");
    let id = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let Ok(output) = receiver.recv_timeout(std::time::Duration::from_secs(60)) else {
        let _ = std::process::Command::new("kill")
            .args(["-9", &id.to_string()])
            .status();
        panic!("lesson 07 hung with 15 descriptors: its page server stopped serving");
    };
    let output = output.expect("lesson 07's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("accept failed: Too many open files"),
        "{stdout}"
    );
}
