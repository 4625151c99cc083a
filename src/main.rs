//! `cargo run`: the course's front door. Prints the lesson ladder and says
//! where to start. The list comes from [`yieldloop::course::ladder::LESSONS`], so it
//! stays true as lessons are added.

use clap::Parser;
use yieldloop::course::ladder;
use yieldloop::course::output::write_stdout; // `| head` ends it quietly
use yieldloop::println; // like std's, but `| head` ends the program quietly

/// yieldloop: build an asyncio-style event loop from generators up, in Rust.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Print the ladder as a Markdown table (the one in README.md and the book).
    #[arg(long)]
    markdown: bool,
}

fn main() {
    let args = Args::parse();
    if args.markdown {
        write_stdout(ladder::markdown("docs/src/").as_bytes());
        return;
    }
    println!("yieldloop: how an event loop like asyncio's is made, one lesson at a time.\n");
    println!("The ladder (take the lessons in order; each adds one idea):\n");
    write_stdout(ladder::plain().as_bytes());
    println!("First time? What to install (Linux or macOS, Rust 1.85, nc): docs/src/setup.md.");
    if let Some(first) = ladder::LESSONS.first() {
        println!(
            "Start here: read {}, then run `{}`.",
            first.source,
            first.command()
        );
    }
    println!("Every lesson takes --help. The book: `mdbook serve docs` (chapters in docs/src).");
}
