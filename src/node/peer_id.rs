//! The text form of a peer's identity, as shown to operators and to Slips.
//!
//! TODO(lead): point this at `identity::PeerId` once that lands; the rule is the same.

use sha2::{Digest, Sha256};

/// Domain prefix of the peer-id hash, so the id can never collide with another use of the key.
const PEER_ID_DOMAIN: &[u8] = b"roost/peer-id/v1\0";
/// Crockford base32 alphabet, lowercase (no i, l, o, u).
const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// The 24-character peer id of a public key: Crockford base32 (lowercase) of the first 15
/// bytes of SHA-256("roost/peer-id/v1\0" || key). Short enough to read, long enough (120 bits)
/// that nobody can make a key with someone else's id.
pub fn peer_id_text(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(PEER_ID_DOMAIN);
    h.update(key);
    let digest = h.finalize();
    let mut out = String::with_capacity(24);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in digest.iter().take(15) {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(CROCKFORD[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_stability() {
        let a = peer_id_text(&[1u8; 32]);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|b| CROCKFORD.contains(&b)));
        assert_eq!(a, peer_id_text(&[1u8; 32]));
        assert_ne!(a, peer_id_text(&[2u8; 32]));
    }

    #[test]
    fn matches_the_rule() {
        // Independent computation of the first character: the top 5 bits of the digest.
        let mut h = Sha256::new();
        h.update(b"roost/peer-id/v1\0");
        h.update([9u8; 32]);
        let d = h.finalize();
        let first = CROCKFORD[(d[0] >> 3) as usize] as char;
        let last = CROCKFORD[(d[14] & 31) as usize] as char;
        let id = peer_id_text(&[9u8; 32]);
        assert_eq!(id.chars().next(), Some(first));
        assert_eq!(id.chars().last(), Some(last));
    }
}
