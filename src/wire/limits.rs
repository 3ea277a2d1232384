//! Size and time limits of wire v1. They are part of the protocol: a peer that exceeds them is
//! not speaking v1, whatever else it does.

/// Largest datagram roost sends or accepts. Small enough to never fragment on any sane LAN
/// (IPv6 minimum MTU 1280 minus headers), which keeps loss independent per message.
pub const MAX_FRAME: usize = 1200;
/// Bytes of the fixed header that precedes the body.
pub const HEADER_LEN: usize = 64;
/// Bytes of the ed25519 signature that closes every frame.
pub const SIGNATURE_LEN: usize = 64;
/// Smallest possible frame: a header, an empty body and a signature.
pub const MIN_FRAME: usize = HEADER_LEN + SIGNATURE_LEN;
/// Largest body that fits in a frame.
pub const MAX_BODY: usize = MAX_FRAME - MIN_FRAME;
/// The two magic bytes "RO" that open every frame, so stray traffic on the port is rejected
/// before anything else is looked at.
pub const MAGIC: [u8; 2] = *b"RO";
/// The protocol version this code speaks.
pub const VERSION: u8 = 1;
/// Bytes of the network tag (see `NetworkTag`).
pub const NETWORK_TAG_LEN: usize = 8;
/// Prefix of every signing input: signatures made for roost frames can never be replayed as
/// signatures over anything else signed with the same key, and vice versa.
pub const SIGNING_DOMAIN: &[u8; 16] = b"roost/wire/v1\0\0\0";
/// Prefix hashed with the network name to derive the network tag.
pub const NETWORK_DOMAIN: &[u8] = b"roost/network/v1\0";
/// How far a frame's timestamp may be from the receiver's clock, in milliseconds, by default.
/// Replays of old captures are refused by this even when the receiver lost its replay state.
pub const DEFAULT_TIME_TOLERANCE_MS: u64 = 120_000;
/// Counters remembered behind the highest one seen per sender (the sliding replay window).
pub const REPLAY_WINDOW: u64 = 128;
