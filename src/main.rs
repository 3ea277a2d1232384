//! The `roost` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// roost: peer-to-peer threat-intelligence sharing and trust for Slips.
#[derive(Parser, Debug)]
#[command(name = "roost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Commands {
    /// Run trust models through the arena scenarios and score them.
    Arena(roost::arena::ArenaArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::Arena(args) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match roost::arena::run(&args, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("roost arena: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
