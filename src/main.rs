//! The `roost` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use roost::identity::{default_data_dir, identity_path, Identity, IdentityError};

/// Peer-to-peer threat-intelligence sharing and trust for Slips.
#[derive(Parser)]
#[command(name = "roost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create this node's identity (an ed25519 key pair) in the data directory.
    Keygen {
        /// Data directory [default: $ROOST_DATA_DIR, /var/lib/roost for root, else
        /// $XDG_DATA_HOME/roost or ~/.local/share/roost].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Replace an existing identity. The node becomes a new peer and loses the trust
        /// its old identity earned.
        #[arg(long)]
        force: bool,
    },
    /// Print this node's PeerId.
    Id {
        /// Data directory (see `keygen`).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Print a JSON object with the PeerId, the public key and the file path.
        #[arg(long)]
        json: bool,
    },
}

fn keygen(data_dir: Option<PathBuf>, force: bool) -> Result<(), IdentityError> {
    let path = identity_path(&data_dir.unwrap_or_else(default_data_dir));
    let identity = Identity::generate();
    identity.save(&path, force)?;
    eprintln!("roost: wrote a new identity to {}", path.display());
    println!("{}", identity.peer_id());
    Ok(())
}

fn id(data_dir: Option<PathBuf>, json: bool) -> Result<(), IdentityError> {
    let path = identity_path(&data_dir.unwrap_or_else(default_data_dir));
    let identity = Identity::load(&path)?;
    if json {
        let out = serde_json::json!({
            "peer_id": identity.peer_id().to_string(),
            "public_key": identity
                .public_key()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "path": path.display().to_string(),
        });
        println!("{out}");
    } else {
        println!("{}", identity.peer_id());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen { data_dir, force } => keygen(data_dir, force),
        Command::Id { data_dir, json } => id(data_dir, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roost: error: {e}");
            ExitCode::FAILURE
        }
    }
}
