//! The control channel between the `roost` CLI and the running daemon: a unix socket named
//! [`SOCKET_NAME`] in the data dir (mode 0600), one JSON request per line and one JSON
//! response per line.
//!
//! This room only moves requests: the server hands each [`ControlRequest`] to the node over a
//! bounded channel together with a one-shot reply sender, and writes back whatever
//! [`ControlResponse`] comes out. The JSON shapes inside `ControlResponse::Ok` are a public
//! contract documented in [`render`], which also turns them into human tables.
//!
//! Example exchange:
//! ```text
//! -> {"cmd":"ask","ioc":"1.2.3.4"}
//! <- {"ok":{"ioc":"ip:1.2.3.4","threat":0.8,"confidence":0.6,"answers":[...],...}}
//! -> {"cmd":"nonsense"}
//! <- {"err":{"message":"malformed request: unknown variant `nonsense`, ..."}}
//! ```

pub mod client;
pub mod render;
pub mod server;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use server::{ControlHandle, ControlServer, ControlStats, ServerLimits};

/// File name of the control socket inside the data dir.
pub const SOCKET_NAME: &str = "control.sock";

/// Largest request line the server reads; anything longer is refused and the connection
/// closed, so a client cannot make the daemon buffer without bound.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Largest response line the client reads (a peer list of thousands of peers fits).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Where the control socket of the daemon using `data_dir` lives.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// One thing the operator asks the daemon. The IoC text and the numbers are passed on
/// unvalidated: the node checks them (through `Ioc` and `Evaluation`) and answers with an
/// error response when they are wrong, so there is one place that decides validity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlRequest {
    /// Identity, network and health of the daemon (`status` shape).
    Status,
    /// Known peers with their state and trust (`peers` shape).
    Peers,
    /// Ask the network about an IoC and wait for the answers (`ask` shape).
    Ask {
        /// The indicator, in the CLI text form (`1.2.3.4`, `domain:example.com`, ...).
        ioc: String,
    },
    /// Share an own detection with the network.
    Report {
        /// The indicator.
        ioc: String,
        /// How malicious, in [0, 1].
        threat: f64,
        /// How sure, in [0, 1].
        confidence: f64,
    },
    /// Accuse an attacker in front of the network.
    Blame {
        /// The indicator.
        ioc: String,
        /// How malicious, in [0, 1].
        threat: f64,
        /// How sure, in [0, 1].
        confidence: f64,
    },
    /// What this node currently believes about an IoC, without asking (`opinion` shape).
    Opinion {
        /// The indicator.
        ioc: String,
    },
    /// Stop the daemon cleanly (same as SIGTERM).
    Shutdown,
}

/// The daemon's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlResponse {
    /// Success, with the request's JSON shape.
    Ok(serde_json::Value),
    /// Failure, with a message meant for the operator.
    Err {
        /// What went wrong, in words.
        message: String,
    },
}

impl ControlResponse {
    /// Shorthand used by the server for its own refusals.
    pub fn err(message: impl Into<String>) -> Self {
        ControlResponse::Err {
            message: message.into(),
        }
    }
}

/// Everything that can go wrong on either end of the control channel, worded for the
/// operator who typed the command.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The CLI found no daemon for this data dir.
    #[error("no roost daemon is running with data dir {} (start one with `roost run --data-dir {}`)", .0.display(), .0.display())]
    NotRunning(PathBuf),
    /// The daemon found another live daemon on the same data dir.
    #[error("another roost is running with data dir {}", .0.display())]
    AlreadyRunning(PathBuf),
    /// Something that is not a socket sits where the socket should be.
    #[error("{} exists and is not a socket; remove it or use another data dir", .0.display())]
    NotASocket(PathBuf),
    /// The socket exists but this user may not use it.
    #[error("permission denied on {} (run as the user that runs the daemon, or as root)", .0.display())]
    PermissionDenied(PathBuf),
    /// The daemon accepted the connection but did not answer in time.
    #[error("the roost daemon did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The other end sent something that is not the protocol.
    #[error("control protocol error: {0}")]
    Protocol(String),
    /// An OS call failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}
