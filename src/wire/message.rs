//! The message kinds of wire v1 and their bodies.
//!
//! Bodies are postcard-encoded structs. None of them holds a sequence, so decoding allocates
//! at most the bytes of the strings it copies, never a length an attacker chose. Every field is
//! a validated type (`Ioc`, `Evaluation`), so a decoded message is always in range.

use serde::{Deserialize, Serialize};

use super::error::{Incompatibility, Misbehaviour, SealError, WireError};
use super::limits::MAX_BODY;
use crate::ioc::{Evaluation, Ioc};

/// The kind byte of the frame header. Numbers are part of the protocol and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// Discovery beacon.
    Announce = 1,
    /// Liveness probe.
    Ping = 2,
    /// Reply to a Ping.
    Pong = 3,
    /// Question about an IoC, to the whole network.
    Query = 4,
    /// Reply to a Query, to the asker only.
    Answer = 5,
    /// An own detection shared with every peer.
    Report = 6,
    /// An accusation of an attacker shared with every peer.
    Blame = 7,
    /// The sender is leaving.
    Goodbye = 8,
}

impl Kind {
    /// Every kind, in number order.
    pub const ALL: [Kind; 8] = [
        Kind::Announce,
        Kind::Ping,
        Kind::Pong,
        Kind::Query,
        Kind::Answer,
        Kind::Report,
        Kind::Blame,
        Kind::Goodbye,
    ];

    /// The kind for a header byte; unknown numbers are a newer peer's extension.
    pub fn from_byte(b: u8) -> Result<Kind, Incompatibility> {
        Kind::ALL
            .into_iter()
            .find(|k| *k as u8 == b)
            .ok_or(Incompatibility::UnknownKind(b))
    }

    /// A lowercase name for logs, counters and vectors.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Announce => "announce",
            Kind::Ping => "ping",
            Kind::Pong => "pong",
            Kind::Query => "query",
            Kind::Answer => "answer",
            Kind::Report => "report",
            Kind::Blame => "blame",
            Kind::Goodbye => "goodbye",
        }
    }
}

/// Discovery beacon, sent to the group at start and periodically. A node that hears an
/// Announce from a peer it does not know replies with a unicast Announce marked `reply`, so
/// discovery takes one round trip; replies are never answered, so there are no loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    /// True when this Announce answers another one.
    pub reply: bool,
    /// Bit set of optional features; v1 defines none and ignores unknown bits.
    pub features: u32,
}

/// Liveness probe; the nonce lets the RTT be measured and the Pong be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Chosen by the sender, echoed in the Pong.
    pub nonce: u64,
}

/// Reply to a Ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The nonce of the Ping being answered.
    pub nonce: u64,
}

/// A question to every peer: what do you think of this IoC?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Chosen by the asker, echoed in every Answer so answers match their question.
    pub request: u64,
    /// What the question is about.
    pub ioc: Ioc,
}

/// A reply to a Query, sent to the asker alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The `request` of the Query being answered.
    pub request: u64,
    /// The IoC of that Query, repeated so an Answer is meaningful on its own.
    pub ioc: Ioc,
    /// The answerer's own evaluation, or `None` for "I have no data" (which is not "benign").
    pub evaluation: Option<Evaluation>,
}

/// An own detection, shared with every peer (Slips' "report").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What the detection is about.
    pub ioc: Ioc,
    /// The sender's evaluation.
    pub evaluation: Evaluation,
}

/// An accusation: the sender was attacked by this IoC (Slips' "blame").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blame {
    /// The attacker.
    pub ioc: Ioc,
    /// How bad and how sure.
    pub evaluation: Evaluation,
}

/// The sender is shutting down; peers may mark it inactive at once. Empty body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goodbye;

/// Any v1 message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// See [`Announce`].
    Announce(Announce),
    /// See [`Ping`].
    Ping(Ping),
    /// See [`Pong`].
    Pong(Pong),
    /// See [`Query`].
    Query(Query),
    /// See [`Answer`].
    Answer(Answer),
    /// See [`Report`].
    Report(Report),
    /// See [`Blame`].
    Blame(Blame),
    /// See [`Goodbye`].
    Goodbye(Goodbye),
}

impl Message {
    /// The header kind of this message.
    pub fn kind(&self) -> Kind {
        match self {
            Message::Announce(_) => Kind::Announce,
            Message::Ping(_) => Kind::Ping,
            Message::Pong(_) => Kind::Pong,
            Message::Query(_) => Kind::Query,
            Message::Answer(_) => Kind::Answer,
            Message::Report(_) => Kind::Report,
            Message::Blame(_) => Kind::Blame,
            Message::Goodbye(_) => Kind::Goodbye,
        }
    }

    /// The IoC the message is about, if it carries one.
    pub fn ioc(&self) -> Option<&Ioc> {
        match self {
            Message::Query(m) => Some(&m.ioc),
            Message::Answer(m) => Some(&m.ioc),
            Message::Report(m) => Some(&m.ioc),
            Message::Blame(m) => Some(&m.ioc),
            _ => None,
        }
    }

    /// Encodes the body (without header or signature).
    pub fn encode_body(&self) -> Result<Vec<u8>, SealError> {
        if self.ioc().is_some_and(is_mapped_ipv6) {
            return Err(SealError::Encode(MAPPED_IPV6.into()));
        }
        let enc = match self {
            Message::Announce(m) => postcard::to_stdvec(m),
            Message::Ping(m) => postcard::to_stdvec(m),
            Message::Pong(m) => postcard::to_stdvec(m),
            Message::Query(m) => postcard::to_stdvec(m),
            Message::Answer(m) => postcard::to_stdvec(m),
            Message::Report(m) => postcard::to_stdvec(m),
            Message::Blame(m) => postcard::to_stdvec(m),
            Message::Goodbye(m) => postcard::to_stdvec(m),
        }
        .map_err(|e| SealError::Encode(e.to_string()))?;
        if enc.len() > MAX_BODY {
            return Err(SealError::TooLarge(enc.len()));
        }
        Ok(enc)
    }

    /// Decodes a body of the given kind. The whole body must be consumed, and it must be the
    /// one canonical encoding of the message (checked by re-encoding), so that every message
    /// has exactly one byte form and signatures cannot be malleated through the body.
    pub fn decode_body(kind: Kind, body: &[u8]) -> Result<Message, WireError> {
        let msg = match kind {
            Kind::Announce => take(body).map(Message::Announce),
            Kind::Ping => take(body).map(Message::Ping),
            Kind::Pong => take(body).map(Message::Pong),
            Kind::Query => take(body).map(Message::Query),
            Kind::Answer => take(body).map(Message::Answer),
            Kind::Report => take(body).map(Message::Report),
            Kind::Blame => take(body).map(Message::Blame),
            Kind::Goodbye => take(body).map(Message::Goodbye),
        }?;
        if msg.ioc().is_some_and(is_mapped_ipv6) {
            return Err(Misbehaviour::OutOfRange(MAPPED_IPV6.into()).into());
        }
        match msg.encode_body() {
            Ok(re) if re == body => Ok(msg),
            _ => Err(Misbehaviour::NonCanonical.into()),
        }
    }
}

const MAPPED_IPV6: &str = "IPv4-mapped IPv6 address (it must travel as the IPv4 variant)";

/// An IPv4-mapped IPv6 address names the same host as its IPv4 form, and `Ioc::ip` folds it;
/// accepting both on the wire would give one host two keys and two encodings.
fn is_mapped_ipv6(ioc: &Ioc) -> bool {
    matches!(ioc, Ioc::Ipv6(o) if std::net::Ipv6Addr::from(*o).to_ipv4_mapped().is_some())
}

fn take<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, WireError> {
    match postcard::take_from_bytes::<T>(body) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(Misbehaviour::TrailingBytes(rest.len()).into()),
        // Our own validating deserialisers (Ioc, Evaluation) report through serde's custom
        // error; everything else is a structural decoding failure.
        Err(postcard::Error::SerdeDeCustom) => Err(Misbehaviour::OutOfRange(
            "a field failed validation (range, syntax or canonical form)".into(),
        )
        .into()),
        Err(e) => Err(Misbehaviour::BadBody(e.to_string()).into()),
    }
}
