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
//! - [`evidence`]: the P2P evidence JSON and `p2p_reports.log` lines of native mode;
//! - [`json_text`]: byte-exact Python / Go JSON text.
//!
//! The contract with Slips is `slips-interface.md` (design doc section 5).

pub mod dovecot;
pub mod events;
pub mod evidence;
pub mod json_text;
pub mod native;
pub mod pigeon_args;
pub mod pigeon_channels;
pub mod relay;
pub mod version;

pub use dovecot::{DovecotError, DovecotMessage, DovecotScore};
pub use events::{SlipsCommand, SlipsEvent};
pub use relay::{Relay, RelayConfig, RelayError, RelayMode, RelayStats, RelayStatus};
