//! `delay-server`: an HTTP server on the reactor that answers after a delay,
//! for the workshop's exercises and for testing HTTP clients (the fetcher).
//!
//! ```text
//! GET /delay/{ms}/{name}   waits ms milliseconds, then 200 with the body "{name}\n"
//! GET /status/{code}       answers with that status (200-599)
//! GET /stats               {"requests": N, "in_flight": N, "max_in_flight": N}
//! ```
//!
//! `max_in_flight` is the most requests it was ever working on at once: a
//! client that promises "at most 5 requests in flight" can be held to it.
//! Its first line is `listening on HOST:PORT`, as for every server in the
//! course (`--host`, `--port`, `--seconds`: src/course/cli.rs). One task per
//! connection, one request per connection (`Connection: close`). A request
//! head that is not HTTP gets a 400, one that never ends a 408 after 10 s,
//! and a client that resets the connection only ends its own task.

use std::cell::Cell;
use std::error::Error;
use std::io::{self, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use yieldloop::course::cli::{self, ObserveArgs, ServerArgs};
use yieldloop::debug::signal::dump_tasks_on_sigusr1;
use yieldloop::println; // like std's, but `| head` ends the program quietly
use yieldloop::{
    secs, sleep, spawn, wait_for, EventLoop, Handle, SuspendError, TcpListener, TcpStream,
};

/// An HTTP server that answers after a delay: /delay/{ms}/{name}, /status/{code}, /stats.
#[derive(Parser)]
#[command(name = "delay-server")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

/// A request head larger than this is refused (431): nothing here needs more.
const HEAD_LIMIT: usize = 8 * 1024;
/// A client has this long to send its request head (slow clients get a 408).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest delay a client may ask for.
const MAX_DELAY_MS: u64 = 60_000;

/// What `/stats` reports.
#[derive(Default)]
struct Stats {
    requests: Cell<u64>,
    in_flight: Cell<u64>,
    max_in_flight: Cell<u64>,
}

/// Counts a request as in flight from its head to its last byte, whatever
/// way its task ends (an error, a reset, a cancellation).
struct InFlight(Rc<Stats>);

impl InFlight {
    fn start(stats: &Rc<Stats>) -> InFlight {
        stats.requests.set(stats.requests.get() + 1);
        stats.in_flight.set(stats.in_flight.get() + 1);
        stats
            .max_in_flight
            .set(stats.max_in_flight.get().max(stats.in_flight.get()));
        InFlight(stats.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get() - 1);
    }
}

/// An answer: status, reason phrase, body.
struct Response {
    status: u16,
    body: String,
}

impl Response {
    fn new(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            body: body.into(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let content_type = if self.body.starts_with('{') {
            "application/json"
        } else {
            "text/plain"
        };
        format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.status,
            reason(self.status),
            self.body.len(),
            self.body
        )
        .into_bytes()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// Reads up to the blank line that ends a request head.
fn read_head(stream: &TcpStream) -> Result<Result<String, Response>, Box<dyn Error>> {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > HEAD_LIMIT {
            return Ok(Err(Response::new(431, "request head too large\n")));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err("the client closed the connection before its request was complete".into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(match String::from_utf8(head) {
        Ok(text) => Ok(text),
        Err(_) => Err(Response::new(400, "the request head is not UTF-8\n")),
    })
}

/// The request line's method and path, or a 400 saying what is wrong.
fn parse_request_line(head: &str) -> Result<(&str, &str), Response> {
    let line = head.lines().next().unwrap_or("");
    let parts: Vec<&str> = line.split(' ').collect();
    match parts[..] {
        [method, path, version] if version.starts_with("HTTP/1.") && path.starts_with('/') => {
            Ok((method, path))
        }
        _ => Err(Response::new(
            400,
            "expected a request line like `GET /path HTTP/1.1`\n",
        )),
    }
}

/// What the server says to `GET path`.
fn route(path: &str, stats: &Stats) -> Result<Response, SuspendError> {
    let path = path.split('?').next().unwrap_or(path);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Ok(match parts[..] {
        ["delay", ms, name] if !name.is_empty() => match ms.parse::<u64>() {
            Ok(ms) if ms <= MAX_DELAY_MS => {
                sleep(Duration::from_millis(ms))?;
                Response::new(200, format!("{name}\n"))
            }
            _ => Response::new(
                400,
                format!("delay must be 0 to {MAX_DELAY_MS} milliseconds, not `{ms}`\n"),
            ),
        },
        ["status", code] => match code.parse::<u16>() {
            Ok(code) if (200..=599).contains(&code) => {
                Response::new(code, format!("status {code}\n"))
            }
            _ => Response::new(400, format!("status must be 200 to 599, not `{code}`\n")),
        },
        ["stats"] => Response::new(
            200,
            format!(
                "{{\"requests\": {}, \"in_flight\": {}, \"max_in_flight\": {}}}\n",
                stats.requests.get(),
                stats.in_flight.get(),
                stats.max_in_flight.get()
            ),
        ),
        _ => Response::new(
            404,
            format!("no such page: {path} (try /delay/200/a, /status/500, /stats)\n"),
        ),
    })
}

/// One connection: one request, one answer.
fn serve_client(stream: TcpStream, stats: Rc<Stats>) -> Result<(), Box<dyn Error>> {
    let head = match wait_for(HEAD_TIMEOUT, || read_head(&stream)) {
        Ok(head) => head?,
        Err(_) => Err(Response::new(408, "the request head took too long\n")),
    };
    let (line, response) = match head {
        Err(refusal) => ("(unreadable request)".to_string(), refusal),
        Ok(head) => match parse_request_line(&head) {
            Err(refusal) => (head.lines().next().unwrap_or("").to_string(), refusal),
            Ok((method, path)) => {
                let line = format!("{method} {path}");
                // Counted only once the request is known to be one; the
                // stats page counts itself, as any request.
                let _in_flight = InFlight::start(&stats);
                let response = if method == "GET" {
                    route(path, &stats)?
                } else {
                    Response::new(405, "only GET is served here\n")
                };
                stream.write_all(&response.bytes())?;
                println!("{line} {}", response.status);
                return Ok(());
            }
        },
    };
    stream.write_all(&response.bytes())?;
    println!("{line} {}", response.status);
    close_politely(&stream);
    Ok(())
}

/// After a refusal the client may still be sending (the rest of a head too
/// large to read). Closing a socket with unread bytes sends a reset, which
/// can destroy the refusal before the client reads it; so say "no more from
/// me" first and drain what comes, for a second at most.
fn close_politely(stream: &TcpStream) {
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let mut buf = [0; 4096];
    let _ = wait_for(Duration::from_secs(1), || {
        let mut drained = 0;
        while drained < 1 << 20 {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    });
}

fn accept_connections(listener: TcpListener) -> Result<(), Box<dyn Error>> {
    let stats = Rc::new(Stats::default());
    loop {
        let (client, _) = match listener.accept() {
            Ok(connection) => connection,
            // A connection reset before it was accepted, or no descriptor
            // left: log it, go on serving the others.
            Err(error) if !matches!(error.kind(), io::ErrorKind::Other) => {
                eprintln!("delay-server: accept failed: {error}");
                if error.raw_os_error() == Some(24) {
                    sleep(secs(0.1))?; // out of descriptors: give clients time to close
                }
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let stats = stats.clone();
        drop(spawn("client", move || {
            if let Err(error) = serve_client(client, stats) {
                // A reset or a client that left: its own business.
                eprintln!("delay-server: a client went away: {error}");
            }
        }));
    }
}

/// The `ctrlc` handler runs on its own thread and must not touch the loop:
/// it sets a flag that a task looks at ten times a second (as lesson 06).
fn stop_on_ctrl_c(handle: Handle) -> io::Result<impl FnOnce() -> Result<(), SuspendError>> {
    let pressed = Arc::new(AtomicBool::new(false));
    let flag = pressed.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)).map_err(io::Error::other)?;
    Ok(move || {
        while !pressed.load(Ordering::Relaxed) {
            sleep(secs(0.1))?;
        }
        println!("Ctrl-C: stopping");
        handle.stop();
        Ok(())
    })
}

fn serve(args: &ServerArgs) -> Result<(), Box<dyn Error>> {
    let mut event_loop = EventLoop::new()?;
    // Lesson 11: `kill -USR1 <pid>` prints every task with its backtrace.
    // Before the first line, so that a script that reads it may signal at once.
    dump_tasks_on_sigusr1(&event_loop.handle())?;
    let listener = TcpListener::bind(&args.host, args.port)?;
    println!("{}", cli::listening_line(listener.local_addr()?));
    io::stdout().flush()?;
    drop(event_loop.spawn("accept", move || accept_connections(listener)));
    drop(event_loop.spawn("ctrl-c", stop_on_ctrl_c(event_loop.handle())?));
    if let Some(delay) = args.run_for() {
        let handle = event_loop.handle();
        let _ = event_loop.call_later(delay, move || handle.stop());
    }
    event_loop.run_forever()?;
    println!("stopped");
    Ok(()) // dropping the loop unwinds the client tasks: their sockets close
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.observe.install_stepper(); // lesson 11's `--step`
    match serve(&args.server) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("delay-server: {error}");
            ExitCode::FAILURE
        }
    }
}
