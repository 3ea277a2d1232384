//! The shared vocabulary of roost: indicators of compromise and the evaluations peers give them.
//!
//! Every layer (wire, node, trust, store, Slips relay, CLI) speaks in these types, so they are
//! validated once at construction: an `Ioc` or an `Evaluation` that exists is always in range.
//! Deserialisation goes through the same checks, so a hostile datagram cannot smuggle an
//! out-of-range value past the type system.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest domain name accepted, as in RFC 1035 (text form, without the final dot).
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest URL accepted. Frames are at most 1200 bytes, so longer URLs could not travel anyway.
pub const MAX_URL_LEN: usize = 512;

/// Why a piece of text or a value is not a valid IoC or evaluation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IocError {
    /// Nothing was given.
    #[error("empty indicator")]
    Empty,
    /// A domain name that breaks the DNS syntax rules.
    #[error("invalid domain name {0:?}: {1}")]
    Domain(String, &'static str),
    /// A URL that is too long or contains bytes that are not printable ASCII.
    #[error("invalid URL: {0}")]
    Url(&'static str),
    /// A hash that is not hex or has a length that matches no supported algorithm.
    #[error("invalid file hash {0:?}: expected 32 (md5), 40 (sha1) or 64 (sha256) hex digits")]
    Hash(String),
    /// A prefix such as `foo:` that names no IoC kind.
    #[error("unknown indicator kind {0:?} (use ip:, domain:, url:, md5:, sha1: or sha256:)")]
    UnknownKind(String),
    /// Text that fits none of the forms.
    #[error("cannot tell what kind of indicator {0:?} is (prefix it with ip:, domain:, url:, md5:, sha1: or sha256:)")]
    Unrecognised(String),
    /// A threat or confidence outside [0, 1], or not a finite number.
    #[error("{0} must be a finite number in [0, 1], got {1}")]
    OutOfRange(&'static str, f64),
}

/// A validated, lowercase domain name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Domain(String);

impl Domain {
    /// Validates and normalises (lowercase, no trailing dot) a domain name.
    pub fn new(text: &str) -> Result<Self, IocError> {
        let t = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        let bad = |why| Err(IocError::Domain(text.chars().take(64).collect(), why));
        if t.is_empty() {
            return bad("empty");
        }
        if t.len() > MAX_DOMAIN_LEN {
            return bad("longer than 253 characters");
        }
        if !t.contains('.') {
            return bad("needs at least two labels");
        }
        for label in t.split('.') {
            if label.is_empty() || label.len() > 63 {
                return bad("each label must have 1 to 63 characters");
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return bad("only letters, digits, '-' and '_' are allowed (use punycode)");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return bad("a label cannot start or end with '-'");
            }
        }
        if t.parse::<IpAddr>().is_ok() {
            return bad("this is an IP address");
        }
        Ok(Domain(t))
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Domain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <&str>::deserialize(d)?;
        let dom = Domain::new(s).map_err(serde::de::Error::custom)?;
        // Only the canonical form is accepted on the wire, so that encoding is unique.
        if dom.0 != s {
            return Err(serde::de::Error::custom("domain is not in canonical form"));
        }
        Ok(dom)
    }
}

/// A validated URL: printable ASCII, at most [`MAX_URL_LEN`] bytes, with a scheme.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Url(String);

impl Url {
    /// Validates a URL. It is kept byte for byte (URLs are case sensitive after the host).
    pub fn new(text: &str) -> Result<Self, IocError> {
        if text.is_empty() {
            return Err(IocError::Url("empty"));
        }
        if text.len() > MAX_URL_LEN {
            return Err(IocError::Url("longer than 512 bytes"));
        }
        if !text.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(IocError::Url(
                "only printable ASCII without spaces is allowed",
            ));
        }
        match text.find("://") {
            Some(i)
                if i > 0
                    && text[..i]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) => {}
            _ => return Err(IocError::Url("needs a scheme such as http://")),
        }
        Ok(Url(text.to_owned()))
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Url {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <&str>::deserialize(d)?;
        Url::new(s).map_err(serde::de::Error::custom)
    }
}

/// What a peer can be asked about or can report.
///
/// Hashes have one variant per algorithm with a fixed-size array, so a hash of the wrong
/// length cannot exist.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ioc {
    /// An IPv4 address.
    Ipv4([u8; 4]),
    /// An IPv6 address.
    Ipv6([u8; 16]),
    /// A domain name.
    Domain(Domain),
    /// A URL.
    Url(Url),
    /// The MD5 of a file.
    Md5([u8; 16]),
    /// The SHA-1 of a file.
    Sha1([u8; 20]),
    /// The SHA-256 of a file.
    Sha256([u8; 32]),
}

impl Ioc {
    /// The IoC for an IP address. IPv4-mapped IPv6 addresses are folded to IPv4, so that one
    /// host has one key whatever socket family saw it.
    pub fn ip(addr: IpAddr) -> Ioc {
        match addr {
            IpAddr::V4(a) => Ioc::Ipv4(a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Ioc::Ipv4(v4.octets()),
                None => Ioc::Ipv6(a.octets()),
            },
        }
    }

    /// The IP address, when this IoC is one.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Ioc::Ipv4(o) => Some(IpAddr::V4(Ipv4Addr::from(*o))),
            Ioc::Ipv6(o) => Some(IpAddr::V6(Ipv6Addr::from(*o))),
            _ => None,
        }
    }

    /// The kind as a short word, as used in the text syntax and in Slips' `key_type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Ioc::Ipv4(_) | Ioc::Ipv6(_) => "ip",
            Ioc::Domain(_) => "domain",
            Ioc::Url(_) => "url",
            Ioc::Md5(_) => "md5",
            Ioc::Sha1(_) => "sha1",
            Ioc::Sha256(_) => "sha256",
        }
    }

    /// The value without its kind prefix (what Slips calls the `key`).
    pub fn value(&self) -> String {
        match self {
            Ioc::Ipv4(_) | Ioc::Ipv6(_) => self.as_ip().map(|a| a.to_string()).unwrap_or_default(),
            Ioc::Domain(d) => d.0.clone(),
            Ioc::Url(u) => u.0.clone(),
            Ioc::Md5(h) => hex_lower(h),
            Ioc::Sha1(h) => hex_lower(h),
            Ioc::Sha256(h) => hex_lower(h),
        }
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn parse_hash(text: &str) -> Result<Ioc, IocError> {
    let err = || IocError::Hash(text.chars().take(80).collect());
    match text.len() {
        32 => parse_hex::<16>(text).map(Ioc::Md5).ok_or_else(err),
        40 => parse_hex::<20>(text).map(Ioc::Sha1).ok_or_else(err),
        64 => parse_hex::<32>(text).map(Ioc::Sha256).ok_or_else(err),
        _ => Err(err()),
    }
}

/// The text syntax: a bare IP address is an IP; `http://...` (any `scheme://`) is a URL; 32,
/// 40 or 64 hex digits are an md5, sha1 or sha256 file hash; anything else with a dot is a
/// domain. An explicit prefix (`ip:`, `domain:`, `url:`, `md5:`, `sha1:`, `sha256:`,
/// `hash:`) removes any doubt.
impl FromStr for Ioc {
    type Err = IocError;

    fn from_str(text: &str) -> Result<Ioc, IocError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(IocError::Empty);
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Ioc::ip(ip));
        }
        if text.contains("://") {
            return Url::new(text).map(Ioc::Url);
        }
        if let Some((kind, rest)) = text.split_once(':') {
            return match kind.to_ascii_lowercase().as_str() {
                "ip" => rest
                    .parse::<IpAddr>()
                    .map(Ioc::ip)
                    .map_err(|_| IocError::Unrecognised(text.chars().take(80).collect())),
                "domain" => Domain::new(rest).map(Ioc::Domain),
                "url" => Url::new(rest).map(Ioc::Url),
                "hash" => parse_hash(&rest.to_ascii_lowercase()),
                "md5" | "sha1" | "sha256" => {
                    let ioc = parse_hash(&rest.to_ascii_lowercase())?;
                    if ioc.kind() == kind.to_ascii_lowercase() {
                        Ok(ioc)
                    } else {
                        Err(IocError::Hash(rest.chars().take(80).collect()))
                    }
                }
                _ => Err(IocError::UnknownKind(kind.chars().take(20).collect())),
            };
        }
        if matches!(text.len(), 32 | 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return parse_hash(&text.to_ascii_lowercase());
        }
        if text.contains('.') {
            return Domain::new(text).map(Ioc::Domain);
        }
        Err(IocError::Unrecognised(text.chars().take(80).collect()))
    }
}

/// Prints the form that [`FromStr`] reads back to the same value: IPs bare, the other kinds
/// with their prefix so that they are never ambiguous.
impl fmt::Display for Ioc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ioc::Ipv4(_) | Ioc::Ipv6(_) => f.write_str(&self.value()),
            Ioc::Url(u) => f.write_str(u.as_str()),
            _ => write!(f, "{}:{}", self.kind(), self.value()),
        }
    }
}

impl fmt::Debug for Ioc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ioc({self})")
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Domain({})", self.0)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({})", self.0)
    }
}

/// What someone thinks of an IoC: `threat` in [0, 1] (1 = malicious, as Slips' threat levels)
/// and `confidence` in [0, 1]. Both are f64 so that values relayed from Slips round-trip
/// exactly. Construction and deserialisation reject NaN, infinities and out-of-range values.
#[derive(Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    threat: f64,
    confidence: f64,
}

impl Evaluation {
    /// Checks both numbers and builds the evaluation.
    pub fn new(threat: f64, confidence: f64) -> Result<Self, IocError> {
        if !(threat.is_finite() && (0.0..=1.0).contains(&threat)) {
            return Err(IocError::OutOfRange("threat", threat));
        }
        if !(confidence.is_finite() && (0.0..=1.0).contains(&confidence)) {
            return Err(IocError::OutOfRange("confidence", confidence));
        }
        // -0.0 and 0.0 compare equal but encode differently; keep one encoding.
        Ok(Evaluation {
            threat: threat + 0.0,
            confidence: confidence + 0.0,
        })
    }

    /// How malicious, from 0 (benign) to 1 (malicious).
    pub fn threat(&self) -> f64 {
        self.threat
    }

    /// How sure the evaluator is, from 0 (no idea) to 1 (certain).
    pub fn confidence(&self) -> f64 {
        self.confidence
    }

    /// The same opinion in the trust arena's convention: S in [-1, 1] with -1 = malicious.
    pub fn to_score(&self) -> f64 {
        1.0 - 2.0 * self.threat
    }
}

impl fmt::Debug for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Evaluation(threat={}, confidence={})",
            self.threat, self.confidence
        )
    }
}

impl<'de> Deserialize<'de> for Evaluation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            threat: f64,
            confidence: f64,
        }
        let raw = Raw::deserialize(d)?;
        // Negative zero is refused rather than folded, so that every value has one encoding.
        if raw.threat.to_bits() == (-0.0f64).to_bits()
            || raw.confidence.to_bits() == (-0.0f64).to_bits()
        {
            return Err(serde::de::Error::custom("negative zero is not canonical"));
        }
        Evaluation::new(raw.threat, raw.confidence).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for t in [
            "1.2.3.4",
            "2001:db8::1",
            "domain:example.com",
            "https://example.com/a?b=c",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let ioc: Ioc = t.parse().unwrap();
            assert_eq!(ioc.to_string(), t);
            assert_eq!(ioc.to_string().parse::<Ioc>().unwrap(), ioc);
        }
    }

    #[test]
    fn bare_forms_are_recognised() {
        assert_eq!(
            "Example.COM.".parse::<Ioc>().unwrap().to_string(),
            "domain:example.com"
        );
        assert_eq!(
            "::ffff:1.2.3.4".parse::<Ioc>().unwrap().to_string(),
            "1.2.3.4"
        );
        assert_eq!(
            "D41D8CD98F00B204E9800998ECF8427E"
                .parse::<Ioc>()
                .unwrap()
                .kind(),
            "md5"
        );
        assert!(matches!(
            "localhost".parse::<Ioc>(),
            Err(IocError::Unrecognised(_))
        ));
        assert!(matches!(
            "foo:bar".parse::<Ioc>(),
            Err(IocError::UnknownKind(_))
        ));
        assert!("md5:abcd".parse::<Ioc>().is_err());
        assert!("sha1:d41d8cd98f00b204e9800998ecf8427e"
            .parse::<Ioc>()
            .is_err());
        assert!("domain:-bad-.com".parse::<Ioc>().is_err());
        assert!("domain:1.2.3.4".parse::<Ioc>().is_err());
        assert!("http://a b".parse::<Ioc>().is_err());
    }

    #[test]
    fn evaluation_rejects_out_of_range() {
        assert!(Evaluation::new(0.5, 0.5).is_ok());
        assert!(Evaluation::new(1.0, 0.0).is_ok());
        for (t, c) in [
            (f64::NAN, 0.5),
            (0.5, f64::INFINITY),
            (-0.1, 0.5),
            (0.5, 1.0001),
        ] {
            assert!(Evaluation::new(t, c).is_err(), "{t} {c}");
        }
        assert_eq!(Evaluation::new(-0.0, 0.0).unwrap().threat().to_bits(), 0);
    }
}
