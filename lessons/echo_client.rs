//! # echo-client — talk to the echo servers
//!
//! Not a lesson: a tool to try lessons 05 and 06 by hand and in tests. It
//! connects, sends its message, says "that is all" by shutting down its
//! sending side, and prints everything the server sends back until the server
//! closes the connection.
//!
//! ```text
//! cargo run --bin 05-select-echo            # in one terminal
//! cargo run --bin echo-client -- --port 15000 "hello"   # prints HELLO
//! ```
//!
//! It is an ordinary blocking client on purpose: one connection, one thread,
//! nothing to schedule. If nothing listens, it says so and exits with status 1.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;

use clap::Parser;
use yieldloop::secs;
use yieldloop::select::net;

/// Send a message to an echo server and print the reply.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The server's port.
    #[arg(long, default_value_t = 15000)]
    port: u16,
    /// Give up if connecting or the reply takes longer than this many seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// What to send; several words are sent joined by spaces.
    #[arg(required = true)]
    message: Vec<String>,
}

/// Sends the message and returns the whole reply.
fn talk(args: &Args) -> Result<Vec<u8>, String> {
    let addr = net::resolve(&args.host, args.port).map_err(|e| e.to_string())?;
    let timeout = secs(args.timeout).max(secs(0.001)); // std rejects a zero timeout
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        format!(
            "cannot connect to {addr}: {e} (is a server running? `cargo run --bin 05-select-echo`)"
        )
    })?;
    let io_error = |e: io::Error| format!("talking to {addr}: {e}");
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream
        .write_all(args.message.join(" ").as_bytes())
        .map_err(io_error)?;
    // End of our message: the server echoes what is left, sees end of file
    // and closes, which ends our read below.
    stream.shutdown(Shutdown::Write).map_err(io_error)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map_err(io_error)?;
    Ok(reply)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match talk(&args) {
        Ok(reply) => {
            println!("{}", String::from_utf8_lossy(&reply));
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("echo-client: {message}");
            ExitCode::FAILURE
        }
    }
}
