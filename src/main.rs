//! The `roost` command line: the daemon (`run`), the operator's commands that talk to it over
//! the control socket, identity tools, and the trust arena.
//!
//! # Started as Pigeon
//!
//! When the binary is called `p2p4slips` or its first argument is a Go-style Pigeon flag
//! (`-port 32769 -host 10.0.0.5 ...`), it is Slips starting its P2P binary, and clap is not
//! used: [`pigeon_main`] parses Go `flag` syntax and runs the daemon in pigeon mode:
//! - data directory = the current directory (Slips sets it to its `p2p_trust_runtime` dir):
//!   roost's own identity (`identity.key`), database and control socket live there, so
//!   `roost status --data-dir <that dir>` works; `roost.toml` there, if present, is loaded
//!   as the config file;
//! - `-key-file` (Pigeon's libp2p RSA key), `-key-reset`, `-peerstore-file`, `-pid` are
//!   accepted and ignored: roost peers are ed25519 keys on its own UDP protocol, so a libp2p
//!   peer id could not be kept anyway;
//! - `-host` = the interface address, `-port` = the unicast UDP port (both shown in
//!   `multiAddress`), `-rendezvous` = the network name (default `slips`, as roost's);
//! - `-redis-db host:port` (DB 0) and the channel flags (with `-rename-with-port`) configure
//!   the relay; the Slips version comes from `-slips-version`, `$ROOST_SLIPS_VERSION` or a
//!   `VERSION` file (Slips' root), and its absence is exit 1;
//! - Redis down at start: exit 1 (like Pigeon); sockets cannot be opened (port taken, no
//!   such address): exit 2 (Pigeon panics); bad flag: usage, exit 2; `-help`/`-test`:
//!   exit 0; SIGINT/SIGTERM: exit 0.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use roost::config::{default_data_dir, Config, LogLevel, Overrides, RedisMode};
use roost::control::{client, render, ControlRequest, ControlResponse};
use roost::identity::{identity_path, Identity, IdentityError};
use roost::slips::bridge::{is_pigeon_invocation, BridgeConfig, BridgeMode};
use roost::slips::pigeon_args::{usage, PigeonArgs};
use roost::slips::RelayConfig;

/// Peer-to-peer threat-intelligence sharing and trust for Slips.
#[derive(Parser)]
#[command(name = "roost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Selects which daemon a command talks to.
#[derive(Args, Clone)]
struct Target {
    /// Data directory of the daemon [default: $ROOST_DATA_DIR, /var/lib/roost for root, else
    /// $XDG_DATA_HOME/roost or ~/.local/share/roost].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print the machine-readable JSON reply (a public contract, see the README).
    #[arg(long)]
    json: bool,
}

impl Target {
    fn dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }
}

/// An evaluation given on the command line.
#[derive(Args, Clone)]
struct EvalArgs {
    /// The indicator: an IP, or domain:NAME, url (scheme://...), md5:/sha1:/sha256:HEX.
    ioc: String,
    /// How malicious, from 0 (benign) to 1 (malicious).
    #[arg(long)]
    threat: f64,
    /// How sure, from 0 to 1.
    #[arg(long)]
    confidence: f64,
    #[command(flatten)]
    target: Target,
}

/// Settings of `roost run`; each flag overrides the config file.
#[derive(Args)]
struct RunArgs {
    /// Config file (TOML; see config/roost.toml for every key and its default).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory: identity, database, control socket, logs.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Network name; nodes with different names ignore each other.
    #[arg(long)]
    network: Option<String>,
    /// Multicast group.
    #[arg(long)]
    group: Option<IpAddr>,
    /// UDP port of the group.
    #[arg(long)]
    port: Option<u16>,
    /// Interface name or address to use (default: the interface of the default route).
    #[arg(long)]
    interface: Option<String>,
    /// Port of the unicast socket (default: chosen by the kernel).
    #[arg(long)]
    unicast_port: Option<u16>,
    /// How long an ask waits for answers, in milliseconds.
    #[arg(long)]
    ask_deadline_ms: Option<u64>,
    /// Slips integration: native, pigeon or off.
    #[arg(long)]
    redis_mode: Option<RedisMode>,
    /// Redis URL of Slips' database.
    #[arg(long)]
    redis_url: Option<String>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long)]
    log_level: Option<LogLevel>,
    /// Detailed log file (relative paths are inside the data directory).
    #[arg(long)]
    log_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the daemon (works with no config, no Redis and no root).
    Run(RunArgs),
    /// Identity, network and health of the running daemon.
    Status(Target),
    /// Known peers, their state, reliability and trust.
    Peers(Target),
    /// Ask the network about an indicator and print the aggregated opinion.
    Ask {
        /// The indicator: an IP, or domain:NAME, url (scheme://...), md5:/sha1:/sha256:HEX.
        ioc: String,
        #[command(flatten)]
        target: Target,
    },
    /// Share an own detection with every peer (and answer their questions with it).
    Report(EvalArgs),
    /// Accuse an attacker in front of every peer.
    Blame(EvalArgs),
    /// What this node already knows about an indicator, without asking anyone.
    Opinion {
        /// The indicator.
        ioc: String,
        #[command(flatten)]
        target: Target,
    },
    /// Stop the running daemon cleanly (like SIGTERM).
    Stop(Target),
    /// Create this node's identity (an ed25519 key pair) in the data directory.
    Keygen {
        /// Data directory (see `run`).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Replace an existing identity. The node becomes a new peer and loses the trust
        /// its old identity earned.
        #[arg(long)]
        force: bool,
    },
    /// Run trust models through the arena scenarios and score them against the targets.
    Arena(roost::arena::ArenaArgs),
    /// Print this node's PeerId.
    Id {
        /// Data directory (see `run`).
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

fn init_logging(level: LogLevel, sink: roost::logs::TeeLog) {
    let filter = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_writer(sink)
        .with_ansi(false)
        .try_init();
}

fn run(args: RunArgs) -> Result<(), String> {
    let overrides = Overrides {
        network: args.network,
        data_dir: args.data_dir,
        group: args.group,
        port: args.port,
        interface: args.interface,
        unicast_port: args.unicast_port,
        ask_deadline_ms: args.ask_deadline_ms,
        redis_mode: args.redis_mode,
        redis_url: args.redis_url,
        log_level: args.log_level,
        log_file: args.log_file,
    };
    let cfg = Config::load_with(args.config.as_deref(), &overrides).map_err(|e| e.to_string())?;
    let file = cfg
        .log_path()
        .map(|p| roost::logs::DailyFile::new(p, cfg.log.keep_days));
    init_logging(cfg.log.level, roost::logs::TeeLog::new(file));
    roost::runtime::run(&cfg).map_err(|e| e.to_string())
}

/// Sends one request to the daemon and prints the reply.
fn call(target: &Target, req: ControlRequest, timeout: Duration) -> Result<(), String> {
    let dir = target.dir();
    match client::call(&dir, &req, timeout).map_err(|e| e.to_string())? {
        ControlResponse::Ok(value) => {
            if target.json {
                println!("{value}");
            } else {
                let now = roost::runtime::now_ms() / 1000;
                print!("{}", render::human(&req, &value, now));
            }
            Ok(())
        }
        ControlResponse::Err { message } => Err(message),
    }
}

/// Long enough for any ask: the deadline can be set up to a minute in the config.
const ASK_TIMEOUT: Duration = Duration::from_secs(70);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs roost the way Slips runs Pigeon (see the module docs); returns the exit code.
fn pigeon_main(argv: &[String]) -> u8 {
    let program = argv.first().map(String::as_str).unwrap_or("p2p4slips");
    let args = match PigeonArgs::parse(argv.iter().skip(1).cloned()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            eprint!("{}", usage(program));
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    if args.help {
        eprint!("{}", usage(program));
        return 0;
    }
    if args.test {
        return 0;
    }
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("roost: cannot read the current directory: {e}");
            return 1;
        }
    };
    let config_file = cwd.join("roost.toml");
    let overrides = Overrides {
        network: Some(args.rendezvous.clone()).filter(|n| !n.is_empty()),
        data_dir: Some(cwd.clone()),
        interface: Some(args.host.clone()).filter(|h| !h.is_empty()),
        unicast_port: Some(args.port),
        redis_mode: Some(RedisMode::Pigeon),
        ..Overrides::default()
    };
    let cfg = match Config::load_with(
        config_file.is_file().then_some(config_file.as_path()),
        &overrides,
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("roost: {e}");
            return 1;
        }
    };
    init_logging(cfg.log.level, roost::logs::TeeLog::stdout_only());
    let version = match roost::slips::version::find_slips_version(args.slips_version.as_deref()) {
        Ok((v, _)) => v,
        Err(e) => {
            eprintln!("roost: {e}");
            return 1;
        }
    };
    let mut relay = match RelayConfig::from_pigeon_args(&args, version) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("roost: {e}");
            eprint!("{}", usage(program));
            return 2;
        }
    };
    relay.queue_capacity = (cfg.redis.outbox as usize).max(1);
    println!(
        "[PEER] roost (Pigeon mode) starting: data dir {}, Redis {}:{}",
        cwd.display(),
        relay.redis_host,
        relay.redis_port
    );
    let link = roost::runtime::SlipsLink {
        relay,
        bridge: BridgeConfig::new(BridgeMode::Pigeon),
        require_redis: true,
    };
    match roost::runtime::run_with(&cfg, Some(link)) {
        Ok(()) => 0,
        Err(e) => {
            println!("[PEER] Initializing failed: {e}");
            eprintln!("roost: error: {e}");
            // Pigeon panics (exit 2) when its port is taken or its host cannot start.
            match e {
                roost::runtime::RuntimeError::Net(_) => 2,
                _ => 1,
            }
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if is_pigeon_invocation(&argv) {
        return ExitCode::from(pigeon_main(&argv));
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Status(t) => call(&t, ControlRequest::Status, CALL_TIMEOUT),
        Command::Peers(t) => call(&t, ControlRequest::Peers, CALL_TIMEOUT),
        Command::Ask { ioc, target } => call(&target, ControlRequest::Ask { ioc }, ASK_TIMEOUT),
        Command::Opinion { ioc, target } => {
            call(&target, ControlRequest::Opinion { ioc }, CALL_TIMEOUT)
        }
        Command::Report(e) => call(
            &e.target,
            ControlRequest::Report {
                ioc: e.ioc.clone(),
                threat: e.threat,
                confidence: e.confidence,
            },
            CALL_TIMEOUT,
        ),
        Command::Blame(e) => call(
            &e.target,
            ControlRequest::Blame {
                ioc: e.ioc.clone(),
                threat: e.threat,
                confidence: e.confidence,
            },
            CALL_TIMEOUT,
        ),
        Command::Stop(t) => call(&t, ControlRequest::Shutdown, CALL_TIMEOUT),
        Command::Keygen { data_dir, force } => keygen(data_dir, force).map_err(|e| e.to_string()),
        Command::Id { data_dir, json } => id(data_dir, json).map_err(|e| e.to_string()),
        Command::Arena(args) => {
            roost::arena::run(&args, &mut std::io::stdout().lock()).map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roost: error: {e}");
            ExitCode::FAILURE
        }
    }
}
