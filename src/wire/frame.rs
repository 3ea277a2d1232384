//! The signed frame: header layout, sealing for sending, and the staged receive path.
//!
//! Layout (all integers big-endian; `PROTOCOL.md` is the normative description):
//!
//! ```text
//! 0      2  magic "RO"
//! 2      1  version (1)
//! 3      1  kind
//! 4      8  network tag
//! 12    32  sender ed25519 public key
//! 44     4  epoch
//! 48     8  counter
//! 56     8  timestamp, unix milliseconds
//! 64     n  body (postcard)
//! 64+n  64  ed25519 signature over SIGNING_DOMAIN || bytes[0 .. 64+n]
//! ```
//!
//! Receiving is split into stages so that the caller can run its cheap checks (rate limits,
//! replay window) between parsing and the expensive signature check: [`Frame::parse`] only
//! looks at lengths and fixed fields, [`Frame::verify`] checks the signature and yields a
//! [`Verified`] frame, and only a verified frame's body is decoded.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::error::{Incompatibility, Reject, SealError, WireError};
use super::limits::*;
use super::message::{Kind, Message};

/// Eight bytes derived from the network name and carried in every frame, so that two roost
/// networks on one LAN (or one multicast group) never mix their traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkTag(pub [u8; NETWORK_TAG_LEN]);

impl NetworkTag {
    /// The tag of a network name: the first 8 bytes of SHA-256(NETWORK_DOMAIN || name).
    pub fn derive(name: &str) -> NetworkTag {
        let mut h = Sha256::new();
        h.update(NETWORK_DOMAIN);
        h.update(name.as_bytes());
        let d = h.finalize();
        let mut tag = [0u8; NETWORK_TAG_LEN];
        tag.copy_from_slice(&d[..NETWORK_TAG_LEN]);
        NetworkTag(tag)
    }
}

/// The fixed fields of a frame, as a value. Used to build frames and by tests and vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The message kind of the body.
    pub kind: Kind,
    /// Which network the frame belongs to.
    pub network: NetworkTag,
    /// The sender's public key.
    pub sender: [u8; 32],
    /// The sender's boot number; never reused (persisted by the sender).
    pub epoch: u32,
    /// Strictly increasing per frame within an epoch.
    pub counter: u64,
    /// When the frame was sealed, unix milliseconds.
    pub timestamp_ms: u64,
}

impl Header {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.network.0);
        out.extend_from_slice(&self.sender);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
    }
}

/// Builds the bytes that are signed: the domain prefix and the frame up to the signature.
/// A stack buffer is enough because frames are bounded.
fn with_signing_input<R>(signed: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let mut buf = [0u8; SIGNING_DOMAIN.len() + MAX_FRAME];
    let n = SIGNING_DOMAIN.len() + signed.len().min(MAX_FRAME);
    buf[..SIGNING_DOMAIN.len()].copy_from_slice(SIGNING_DOMAIN);
    buf[SIGNING_DOMAIN.len()..n].copy_from_slice(&signed[..n - SIGNING_DOMAIN.len()]);
    f(&buf[..n])
}

/// Encodes and signs a frame from explicit header fields. Most callers use [`Sealer`], which
/// manages the counter; this is for tests, vectors and tools.
pub fn seal_with(key: &SigningKey, header: &Header, msg: &Message) -> Result<Vec<u8>, SealError> {
    debug_assert_eq!(header.kind, msg.kind());
    let body = msg.encode_body()?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + SIGNATURE_LEN);
    let header = Header {
        kind: msg.kind(),
        ..*header
    };
    header.write(&mut out);
    out.extend_from_slice(&body);
    let sig = with_signing_input(&out, |input| key.sign(input));
    out.extend_from_slice(&sig.to_bytes());
    Ok(out)
}

/// Signs arbitrary frame bytes (everything before the signature) and returns the signature.
/// Exists so that tests, vectors and fuzzers can build frames that carry a valid signature
/// over a body or header that [`seal_with`] would never produce.
#[doc(hidden)]
pub fn sign_raw(key: &SigningKey, unsigned: &[u8]) -> [u8; SIGNATURE_LEN] {
    with_signing_input(unsigned, |input| key.sign(input)).to_bytes()
}

/// Builds a frame from explicit header fields and raw body bytes, validly signed. The body
/// is not checked at all: this is for test vectors of malformed bodies, never for sending.
#[doc(hidden)]
pub fn seal_raw(key: &SigningKey, header: &Header, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + SIGNATURE_LEN);
    header.write(&mut out);
    out.extend_from_slice(body);
    let sig = sign_raw(key, &out);
    out.extend_from_slice(&sig);
    out
}

/// The sending side of one identity in one boot: it owns the key, the epoch and the counter,
/// so every frame it produces has a fresh (epoch, counter) pair.
pub struct Sealer {
    key: SigningKey,
    public: [u8; 32],
    network: NetworkTag,
    epoch: u32,
    next_counter: u64,
}

impl Sealer {
    /// A sealer for one boot. `epoch` must come from persistent storage and be larger than any
    /// epoch this identity used before, or peers will refuse the frames as stale.
    pub fn new(key: SigningKey, network: NetworkTag, epoch: u32) -> Sealer {
        let public = key.verifying_key().to_bytes();
        Sealer {
            key,
            public,
            network,
            epoch,
            next_counter: 0,
        }
    }

    /// This sender's public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The epoch frames are sealed with.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Encodes, stamps and signs a message. The counter advances only on success.
    pub fn seal(&mut self, now_ms: u64, msg: &Message) -> Result<Vec<u8>, SealError> {
        let header = Header {
            kind: msg.kind(),
            network: self.network,
            sender: self.public,
            epoch: self.epoch,
            counter: self.next_counter,
            timestamp_ms: now_ms,
        };
        let out = seal_with(&self.key, &header, msg)?;
        self.next_counter += 1;
        Ok(out)
    }
}

/// A datagram whose fixed fields are well-formed and belong to this network, but whose
/// signature has not been checked yet. Accessors read fixed offsets of a slice whose length
/// was checked once in [`Frame::parse`], so none of them can fail.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    bytes: &'a [u8],
    kind: Kind,
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

impl<'a> Frame<'a> {
    /// The cheap checks, in order: length, magic, version, network, kind. Nothing here
    /// allocates or touches cryptography.
    pub fn parse(bytes: &'a [u8], network: &NetworkTag) -> Result<Frame<'a>, WireError> {
        if bytes.len() < MIN_FRAME {
            return Err(Reject::Truncated(bytes.len()).into());
        }
        if bytes.len() > MAX_FRAME {
            return Err(Reject::Oversized(bytes.len()).into());
        }
        if bytes[0..2] != MAGIC {
            return Err(Reject::BadMagic.into());
        }
        if bytes[2] != VERSION {
            return Err(Incompatibility::Version(bytes[2]).into());
        }
        if bytes[4..12] != network.0 {
            return Err(Incompatibility::WrongNetwork.into());
        }
        let kind = Kind::from_byte(bytes[3])?;
        Ok(Frame { bytes, kind })
    }

    /// The message kind announced by the header.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The sender's public key bytes (not yet proven to be a valid key).
    pub fn sender(&self) -> [u8; 32] {
        array(self.bytes, 12)
    }

    /// The sender's boot epoch.
    pub fn epoch(&self) -> u32 {
        u32::from_be_bytes(array(self.bytes, 44))
    }

    /// The frame counter within the epoch.
    pub fn counter(&self) -> u64 {
        u64::from_be_bytes(array(self.bytes, 48))
    }

    /// When the sender sealed the frame, unix milliseconds.
    pub fn timestamp_ms(&self) -> u64 {
        u64::from_be_bytes(array(self.bytes, 56))
    }

    /// The header as a value.
    pub fn header(&self) -> Header {
        Header {
            kind: self.kind,
            network: NetworkTag(array(self.bytes, 4)),
            sender: self.sender(),
            epoch: self.epoch(),
            counter: self.counter(),
            timestamp_ms: self.timestamp_ms(),
        }
    }

    /// The encoded body.
    pub fn body(&self) -> &'a [u8] {
        self.bytes
            .get(HEADER_LEN..self.bytes.len() - SIGNATURE_LEN)
            .unwrap_or(&[])
    }

    /// Refuses a frame whose timestamp is more than `tolerance_ms` away from `now_ms`.
    pub fn check_time(&self, now_ms: u64, tolerance_ms: u64) -> Result<(), WireError> {
        let skew = self.timestamp_ms() as i128 - now_ms as i128;
        if skew.unsigned_abs() > tolerance_ms as u128 {
            let skew_ms = skew.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
            return Err(Reject::ClockSkew { skew_ms }.into());
        }
        Ok(())
    }

    /// Parses the sender key. Callers that see the same sender often should cache the result
    /// (point decompression costs a fair share of a verification) and use [`Frame::verify`].
    pub fn sender_key(&self) -> Result<VerifyingKey, WireError> {
        VerifyingKey::from_bytes(&self.sender()).map_err(|_| Reject::BadKey.into())
    }

    /// Checks the signature with the sender's parsed key. `key` must be the key of
    /// [`Frame::sender`]; a different key fails as a bad signature.
    pub fn verify(self, key: &VerifyingKey) -> Result<Verified<'a>, WireError> {
        if key.as_bytes() != &self.sender() {
            return Err(Reject::BadSignature.into());
        }
        let split = self.bytes.len() - SIGNATURE_LEN;
        let sig = Signature::from_bytes(&array(self.bytes, split));
        let signed = self.bytes.get(..split).unwrap_or(&[]);
        with_signing_input(signed, |input| key.verify_strict(input, &sig))
            .map_err(|_| WireError::from(Reject::BadSignature))?;
        Ok(Verified { frame: self })
    }
}

/// A frame whose signature verified: its header fields are the sender's own words.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    frame: Frame<'a>,
}

impl<'a> Verified<'a> {
    /// The verified header fields.
    pub fn frame(&self) -> &Frame<'a> {
        &self.frame
    }

    /// Decodes the body. A failure here is the sender's fault ([`WireError::Misbehaving`]).
    pub fn message(&self) -> Result<Message, WireError> {
        Message::decode_body(self.frame.kind, self.frame.body())
    }
}

/// Parses, verifies and decodes in one call, without replay or time checks: for tools, tests
/// and fuzzing. The node uses the staged API instead.
pub fn open(bytes: &[u8], network: &NetworkTag) -> Result<(Header, Message), WireError> {
    let frame = Frame::parse(bytes, network)?;
    let key = frame.sender_key()?;
    let verified = frame.verify(&key)?;
    let msg = verified.message()?;
    Ok((frame.header(), msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{Evaluation, Ioc};
    use crate::wire::message::Report;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn seal_then_open() {
        let net = NetworkTag::derive("slips");
        let mut s = Sealer::new(key(), net, 3);
        let msg = Message::Report(Report {
            ioc: "1.2.3.4".parse::<Ioc>().unwrap(),
            evaluation: Evaluation::new(0.8, 0.6).unwrap(),
        });
        let a = s.seal(1_000, &msg).unwrap();
        let b = s.seal(1_000, &msg).unwrap();
        let (h, m) = open(&a, &net).unwrap();
        assert_eq!(m, msg);
        assert_eq!((h.epoch, h.counter, h.timestamp_ms), (3, 0, 1_000));
        assert_eq!(open(&b, &net).unwrap().0.counter, 1);
        let other = NetworkTag::derive("other");
        assert_eq!(open(&a, &other).unwrap_err().reason(), "wrong_network");
        let mut bad = a.clone();
        let last = bad.len() - 70;
        bad[last] ^= 1;
        assert_eq!(open(&bad, &net).unwrap_err().reason(), "bad_signature");
    }

    #[test]
    fn time_tolerance() {
        let net = NetworkTag::derive("slips");
        let mut s = Sealer::new(key(), net, 1);
        let f = s
            .seal(10_000, &Message::Goodbye(crate::wire::Goodbye))
            .unwrap();
        let frame = Frame::parse(&f, &net).unwrap();
        assert!(frame.check_time(10_500, 1_000).is_ok());
        assert!(frame.check_time(11_001, 1_000).is_err());
        assert!(frame.check_time(8_999, 1_000).is_err());
    }
}
