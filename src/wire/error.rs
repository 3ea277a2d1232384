//! The one error enum of the wire layer.
//!
//! It separates three kinds of failure because each gets a different treatment by the node:
//! anything in [`Reject`] may have been forged by anyone on the LAN, so it is dropped silently
//! and only counted; a [`Misbehaviour`] was signed by the sender's own key, so it lowers that
//! peer's reliability; an [`Incompatibility`] comes from a peer that speaks another version or
//! belongs to another network, so it is ignored without penalty.

/// Input rejected before it could be attributed to anyone (unsigned, forged or replayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Shorter than the smallest possible frame.
    #[error("frame of {0} bytes is shorter than the {min} byte minimum", min = super::limits::MIN_FRAME)]
    Truncated(usize),
    /// Longer than the largest frame allowed.
    #[error("frame of {0} bytes is longer than the {max} byte maximum", max = super::limits::MAX_FRAME)]
    Oversized(usize),
    /// Does not start with the roost magic bytes.
    #[error("bad magic bytes")]
    BadMagic,
    /// The sender field is not a valid ed25519 public key.
    #[error("sender key is not a valid ed25519 point")]
    BadKey,
    /// The signature does not verify against the sender key.
    #[error("bad signature")]
    BadSignature,
    /// The counter was already seen, or is too far behind the newest one.
    #[error("replayed or too old counter {counter} in epoch {epoch}")]
    Replayed {
        /// The epoch of the frame.
        epoch: u32,
        /// The counter of the frame.
        counter: u64,
    },
    /// The epoch is older than one already seen from this sender.
    #[error("stale epoch {got}, already saw epoch {current}")]
    StaleEpoch {
        /// The epoch of the frame.
        got: u32,
        /// The newest epoch seen from the sender.
        current: u32,
    },
    /// The timestamp is too far from the receiver's clock.
    #[error("timestamp is {skew_ms} ms away from the local clock")]
    ClockSkew {
        /// Signed distance from the local clock (positive: in the future).
        skew_ms: i64,
    },
}

/// A validly signed frame that breaks the protocol: its sender is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misbehaviour {
    /// The body does not decode as the message kind the header announces.
    #[error("body does not decode: {0}")]
    BadBody(String),
    /// A field holds a value outside its allowed range (a threat of 2, an invalid domain...).
    #[error("field value out of range or invalid: {0}")]
    OutOfRange(String),
    /// Bytes remain after the body.
    #[error("{0} trailing bytes after the body")]
    TrailingBytes(usize),
    /// The body decodes but is not in its one canonical encoding (e.g. an overlong varint).
    #[error("body is not canonically encoded")]
    NonCanonical,
}

/// A frame from a peer that speaks something roost v1 does not understand or is not part of
/// this network. Ignored, never penalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Incompatibility {
    /// A protocol version other than 1.
    #[error("protocol version {0} (this node speaks 1)")]
    Version(u8),
    /// The frame belongs to another roost network on the same LAN.
    #[error("frame belongs to another network")]
    WrongNetwork,
    /// A message kind this version does not know (a newer peer's extension).
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
}

/// Every way a received frame can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Untrusted input rejected; drop silently and count.
    #[error("rejected: {0}")]
    Reject(#[from] Reject),
    /// The authenticated sender broke the protocol; penalise it.
    #[error("misbehaving peer: {0}")]
    Misbehaving(#[from] Misbehaviour),
    /// A peer of another version or network; ignore.
    #[error("incompatible peer: {0}")]
    Incompatible(#[from] Incompatibility),
}

impl WireError {
    /// A short, stable name for the reason, used in counters and in the test vectors.
    pub fn reason(&self) -> &'static str {
        match self {
            WireError::Reject(r) => match r {
                Reject::Truncated(_) => "truncated",
                Reject::Oversized(_) => "oversized",
                Reject::BadMagic => "bad_magic",
                Reject::BadKey => "bad_key",
                Reject::BadSignature => "bad_signature",
                Reject::Replayed { .. } => "replayed",
                Reject::StaleEpoch { .. } => "stale_epoch",
                Reject::ClockSkew { .. } => "clock_skew",
            },
            WireError::Misbehaving(m) => match m {
                Misbehaviour::BadBody(_) => "bad_body",
                Misbehaviour::OutOfRange(_) => "out_of_range",
                Misbehaviour::TrailingBytes(_) => "trailing_bytes",
                Misbehaviour::NonCanonical => "non_canonical",
            },
            WireError::Incompatible(i) => match i {
                Incompatibility::Version(_) => "wrong_version",
                Incompatibility::WrongNetwork => "wrong_network",
                Incompatibility::UnknownKind(_) => "unknown_kind",
            },
        }
    }
}

/// Why a frame could not be built for sending. Only local mistakes can cause it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The encoded body does not fit in a frame.
    #[error("message body of {0} bytes does not fit in a frame (max {max})", max = super::limits::MAX_BODY)]
    TooLarge(usize),
    /// The body could not be encoded at all.
    #[error("cannot encode message: {0}")]
    Encode(String),
}
