//! Everything roost needs to talk to Slips through its Redis, and nothing else touches Redis.
//!
//! - [`events`]: the typed values the relay and the node exchange ([`SlipsEvent`],
//!   [`SlipsCommand`]);
//! - [`relay`]: the Redis threads (subscribe, publish, reconnect, bounded queue, counters);
//! - [`dovecot`]: the peer message Slips' Python module sends and receives, strictly validated;
//! - [`pigeon_channels`]: the `p2p_pygo` / `p2p_gopy` JSON of the Pigeon drop-in mode;
//! - [`pigeon_args`]: the Pigeon command line (Go `flag` syntax) Slips starts the binary with;
//! - [`version`]: where the Slips version stamped into every message comes from;
//! - [`native`]: the native-mode channels (`report_to_peers`, `p2p_data_request`, `new_blame`,
//!   `peer_trust`, `IPsInfo`);
//! - [`evidence`]: the P2P evidence JSON, Slips' time-window arithmetic and the
//!   `p2p_reports.log` lines of native mode;
//! - [`set_evidence`]: the Redis writes of Slips' `db.set_evidence`, run by the relay;
//! - [`json_text`]: byte-exact Python / Go JSON text;
//! - [`bridge`]: the sans-IO translation between relay events / commands and the node's
//!   commands / notifications (the runtime carries it out; its docs list every mapping).
//!
//! The contract with Slips is `slips-interface.md` (design doc section 5).
//!
//! # Wiring (pigeon mode)
//!
//! 1. `PigeonArgs::parse(argv)`; on error print it and [`pigeon_args::usage`] to stderr and
//!    exit with `exit_code()` (2, or 0 for `-h`). `-help`: usage, exit 0. `-test`: exit 0.
//! 2. `version::find_slips_version(args.slips_version.as_deref())`; without a version every
//!    message would be dropped silently by Slips, so fail loudly (exit 1).
//! 3. `Relay::spawn(RelayConfig::from_pigeon_args(&args, version)?, events_tx, commands_rx)`
//!    with bounded channels; Pigeon exits 1 when Redis is down at start, so
//!    `relay.wait_connected(..)` then exit 1 if false (the relay itself never gives up).
//! 4. Send `SlipsCommand::SetMultiAddress` once at start, `PeerUpdate` (with `ip`) for each
//!    peer before its first `GoData`, and never exit non-zero afterwards (spec A.8.8); exit 0
//!    on SIGINT/SIGTERM. On `SlipsEvent::Stop`, close the network side and keep running.
//!
//! The steps above are implemented by `main.rs` (`pigeon_main`) and `runtime::run_with`.
//!
//! # Native mode's Slips-side effects
//!
//! - Trusted peers' reports and blames become P2P_REPORT evidence, and data requests the
//!   network finds malicious become the two MALICIOUS_IP_FROM_P2P_NETWORK evidences, stored
//!   by [`set_evidence`] the way Slips' `db.set_evidence` stores its own (that module lists
//!   the steps it leaves out and why); the thresholds and rate limits are the bridge's
//!   ([`bridge`] module docs).
//! - `p2p_reports.log` gets Slips' lines for those reports and for peer updates, in
//!   `<slips_output_dir>/p2p_trust/`, rotated daily by the runtime ([`crate::logs`]).
//!
//! # Not done yet
//!
//! - `msgs_published_at_runtime` (Slips' publish statistics) is not incremented.

pub mod bridge;
pub mod dovecot;
pub mod events;
pub mod evidence;
pub mod json_text;
pub mod native;
pub mod pigeon_args;
pub mod pigeon_channels;
pub mod relay;
pub mod set_evidence;
pub mod version;

pub use dovecot::{DovecotError, DovecotMessage, DovecotScore};
pub use events::{SlipsCommand, SlipsEvent};
pub use relay::{Relay, RelayConfig, RelayError, RelayMode, RelayMonitor, RelayStats, RelayStatus};
