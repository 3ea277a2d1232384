//! Wire protocol v1: pure bytes <-> typed messages, signatures, and the replay window.
//!
//! No IO and no clock: callers pass the time in. `proto/PROTOCOL.md` is the normative spec;
//! `proto/vectors/` holds the test vectors that pin it.

pub mod error;
pub mod frame;
pub mod limits;
pub mod message;
pub mod replay;

pub use error::{Incompatibility, Misbehaviour, Reject, SealError, WireError};
pub use frame::{open, seal_with, Frame, Header, NetworkTag, Sealer, Verified};
pub use message::{Announce, Answer, Blame, Goodbye, Kind, Message, Ping, Pong, Query, Report};
pub use replay::ReplayWindow;
