//! The baseline server: lesson 06's upper-casing echo server, written with
//! tokio on its single-threaded (`current_thread`) runtime.
//!
//! It does what lesson 06 does, the way a tokio user would write it: accept in
//! a loop, one task per client, read up to 1 KiB, upper-case it, write it all
//! back. Same listening socket (`yieldloop::select::net::listen`, backlog 1,024),
//! same first line. The benchmark runs it as a child process (`perf
//! --serve-tokio`) so that both servers are started, loaded and measured in
//! exactly the same way.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves on `listener` until `run_for` has passed (or forever).
pub fn serve(listener: std::net::TcpListener, run_for: Option<Duration>) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let accept_forever = accept_loop(listener);
        match run_for {
            Some(limit) => tokio::time::timeout(limit, accept_forever)
                .await
                .unwrap_or(Ok(())),
            None => accept_forever.await,
        }
    })
}

async fn accept_loop(listener: tokio::net::TcpListener) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                tokio::spawn(echo_upper(stream));
            }
            // Out of descriptors (EMFILE) and similar: the listener is fine,
            // this one connection is not. Back off briefly and keep serving.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

// ANCHOR: echo_upper
/// One client: echo every byte upper-cased until it closes or fails.
async fn echo_upper(mut stream: tokio::net::TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf[..n].make_ascii_uppercase();
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
// ANCHOR_END: echo_upper
