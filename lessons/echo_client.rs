//! # echo-client — talk to the echo servers
//!
//! Not a lesson: a tool to try lessons 05 and 06 by hand and in tests. It
//! connects, sends its message, says "that is all" by shutting down its
//! sending side, and prints everything the server sends back until the server
//! closes the connection.
//!
//! ```text
//! cargo run --bin 05-select-echo            # in one terminal (or 06-reactor)
//! cargo run --bin echo-client -- --port 15000 "hello"   # prints HELLO
//! cargo run --bin echo-client -- --hex 80 ff 61       # any bytes: prints 80 ff 41
//! printf 'a\x80b' | cargo run --bin echo-client       # no message: sends stdin
//! ```
//!
//! It is an ordinary blocking client on purpose: one connection, one thread,
//! nothing to schedule. If nothing listens, or no reply comes within
//! `--timeout`, it says so and exits with status 1.

use std::io::{self, IsTerminal, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use yieldloop::course::cli::{parse_port, parse_timeout};
use yieldloop::course::output::write_stdout;
use yieldloop::select::net;

/// Send a message to an echo server and print the reply.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The server's port.
    #[arg(long, default_value_t = 15000, value_parser = parse_port, allow_negative_numbers = true)]
    port: u16,
    /// Give up if connecting or the reply takes longer than this many seconds
    /// (more than 0, at most 1000000).
    #[arg(long, default_value = "5", value_parser = parse_timeout, allow_negative_numbers = true)]
    timeout: Duration,
    /// The message is hex (`80 ff 0a` or `80ff0a`), so it can hold any byte;
    /// the reply is printed as hex too.
    #[arg(long)]
    hex: bool,
    /// What to send; several words are sent joined by spaces. Without it, the
    /// bytes of standard input are sent, unchanged.
    message: Vec<String>,
}

/// The bytes to send: the message's words, as text or hex, or standard input.
fn message_bytes(args: &Args) -> Result<Vec<u8>, String> {
    if args.message.is_empty() {
        let mut stdin = io::stdin();
        if stdin.is_terminal() {
            eprintln!("echo-client: sending what you type; end it with Ctrl-D");
        }
        let mut bytes = Vec::new();
        stdin
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading standard input: {e}"))?;
        return Ok(bytes);
    }
    let text = args.message.join(" ");
    if args.hex {
        parse_hex(&text)
    } else {
        Ok(text.into_bytes())
    }
}

/// `"80 ff0a"` → `[0x80, 0xff, 0x0a]`: pairs of hex digits, spaces anywhere.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bad =
        || format!("--hex: {text:?} is not hex: expected pairs of hex digits, like `80 ff 0a`");
    if digits.len() % 2 != 0 {
        return Err(bad());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair: String = pair.iter().collect();
            u8::from_str_radix(&pair, 16).map_err(|_| bad())
        })
        .collect()
}

/// `[0x80, 0x41]` → `"80 41"`.
fn to_hex(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    pairs.join(" ")
}

/// Sends the message and returns the whole reply.
fn talk(args: &Args, message: &[u8]) -> Result<Vec<u8>, String> {
    let addr = net::resolve(&args.host, args.port).map_err(|e| e.to_string())?;
    let seconds = args.timeout.as_secs_f64();
    let mut stream = TcpStream::connect_timeout(&addr, args.timeout)
        .map_err(|e| connect_error(addr, seconds, &e))?;
    let io_error = |e: io::Error| match e.kind() {
        // A read timeout is reported as WouldBlock on Linux, TimedOut elsewhere.
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("no reply from {addr}: timed out after {seconds} s")
        }
        _ => format!("talking to {addr}: {e}"),
    };
    stream
        .set_read_timeout(Some(args.timeout))
        .map_err(io_error)?;
    stream
        .set_write_timeout(Some(args.timeout))
        .map_err(io_error)?;
    stream.write_all(message).map_err(io_error)?;
    // End of our message: the server echoes what is left, sees end of file
    // and closes, which ends our read below.
    stream.shutdown(Shutdown::Write).map_err(io_error)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map_err(io_error)?;
    Ok(reply)
}

/// Why connecting to `addr` failed, and what to do about it. Lessons 05 and
/// 06 both listen on 15000 by default, so the hint names both.
fn connect_error(addr: SocketAddr, seconds: f64, error: &io::Error) -> String {
    let start = if addr.port() == 15000 {
        "`cargo run --bin 05-select-echo` or `cargo run --bin 06-reactor`".to_string()
    } else {
        format!(
            "`cargo run --bin 05-select-echo -- --port {0}` or `cargo run --bin 06-reactor -- --port {0}`",
            addr.port()
        )
    };
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("cannot connect to {addr}: timed out after {seconds} s")
        }
        io::ErrorKind::ConnectionRefused => format!(
            "cannot connect to {addr}: connection refused, nothing listens there; start a server: {start}"
        ),
        _ => format!("cannot connect to {addr}: {error} (is a server running? {start})"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match message_bytes(&args).and_then(|message| talk(&args, &message)) {
        Ok(reply) if args.hex => {
            write_stdout(format!("{}\n", to_hex(&reply)).as_bytes());
            ExitCode::SUCCESS
        }
        Ok(reply) => {
            // The reply's bytes as they came, not "fixed" to UTF-8. A message
            // from the command line gets a newline after it, like `echo`.
            write_stdout(&reply);
            if !args.message.is_empty() {
                write_stdout(b"\n");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("echo-client: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_goes_both_ways() {
        assert_eq!(parse_hex("80 ff0a"), Ok(vec![0x80, 0xff, 0x0a]));
        assert_eq!(to_hex(&[0x80, 0x41]), "80 41");
        assert!(parse_hex("8").is_err());
        assert!(parse_hex("zz").unwrap_err().contains("pairs of hex digits"));
    }
}
