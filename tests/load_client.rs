//! The benchmark's load client (benches/perf/load_client.rs), tested for
//! correctness, not speed: a few connections for a fraction of a second.
//!
//! A benchmark whose checker cannot fail proves nothing, so besides "a good
//! server gives zero errors" these tests feed the client servers that answer
//! wrongly or hang up, and require it to count those as errors.

#[allow(dead_code)]
#[path = "../benches/perf/load_client.rs"]
mod load_client;

#[allow(dead_code)]
#[path = "../benches/perf/echo_tokio.rs"]
mod echo_tokio;

#[allow(dead_code)]
#[path = "../benches/perf/child.rs"]
mod child;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use std::process::Command;

use child::ServerProcess;
use load_client::{LoadClient, LoadPlan, MESSAGE_LEN};

fn plan(addr: SocketAddr, connections: usize) -> LoadPlan {
    LoadPlan {
        addr,
        connections,
        max_connecting: 8,
        stall_timeout: Duration::from_secs(2),
    }
}

/// Serves `listener` on a background thread with `handle` per connection,
/// one thread each (fine for a handful of connections in a test).
fn serve_with(listener: TcpListener, handle: fn(std::net::TcpStream)) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(false).unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || handle(stream));
        }
    });
    addr
}

#[test]
fn every_reply_from_the_tokio_echo_server_checks_out() {
    let listener = yieldloop::select::net::listen("127.0.0.1", 0).unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || echo_tokio::serve(listener, Some(Duration::from_secs(30))));

    let mut client = LoadClient::connect_all(plan(addr, 20)).unwrap();
    assert_eq!(
        client.established(),
        20,
        "errors: {:?}",
        client.first_errors()
    );
    let report = client.ping_pong(Duration::from_millis(300)).unwrap();

    assert_eq!(client.errors(), 0, "errors: {:?}", client.first_errors());
    assert_eq!(client.established(), 20);
    assert!(report.fewest_per_connection >= 1, "{report:?}");
    assert!(report.round_trips >= 20 * report.fewest_per_connection);
}

/// The bench's own path to lesson 06: a child process, found by its
/// `listening on` line, under the load client, with zero errors.
#[test]
fn lesson_06_answers_every_ping_of_the_load_client() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_06-reactor"));
    command
        .args(["--port", "0", "--seconds", "30"])
        .env("RUST_LOG", "warn");
    let server = ServerProcess::start(command).unwrap();

    let mut client = LoadClient::connect_all(plan(server.addr, 50)).unwrap();
    let report = client.ping_pong(Duration::from_millis(300)).unwrap();

    assert_eq!(client.errors(), 0, "errors: {:?}", client.first_errors());
    assert_eq!(client.established(), 50);
    assert!(report.fewest_per_connection >= 1, "{report:?}");
}

#[test]
fn an_echo_that_does_not_upper_case_is_counted_as_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = serve_with(listener, |mut stream| {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = stream.read(&mut buf) {
            if stream.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });

    let client = LoadClient::connect_all(plan(addr, 5)).unwrap();

    assert_eq!(client.established(), 0);
    assert_eq!(client.errors(), 5);
    assert!(
        client.first_errors()[0].contains("byte 0"),
        "{:?}",
        client.first_errors()
    );
}

#[test]
fn a_server_that_hangs_up_is_counted_as_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = serve_with(listener, |mut stream| {
        // Answer half a message, then close.
        let mut buf = [0u8; MESSAGE_LEN];
        if stream.read_exact(&mut buf).is_ok() {
            let _ = stream.write_all(&buf[..MESSAGE_LEN / 2].to_ascii_uppercase());
        }
    });

    let client = LoadClient::connect_all(plan(addr, 3)).unwrap();

    assert_eq!(client.established(), 0);
    assert_eq!(client.errors(), 3, "{:?}", client.first_errors());
}

#[test]
fn a_server_that_never_answers_times_out_instead_of_hanging() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = serve_with(listener, |stream| {
        thread::sleep(Duration::from_secs(5));
        drop(stream);
    });
    let mut quick = plan(addr, 2);
    quick.stall_timeout = Duration::from_millis(300);

    let client = LoadClient::connect_all(quick).unwrap();

    assert_eq!(client.errors(), 2);
    assert!(
        client.first_errors()[0].contains("no progress"),
        "{:?}",
        client.first_errors()
    );
}
