//! The text form of a peer's identity, as shown to operators and to Slips.

/// The 24-character peer id of a public key (see [`crate::identity::PeerId`] for the rule).
/// The node names peers by text in every reply and notification; this keeps one definition.
pub fn peer_id_text(key: &[u8; 32]) -> String {
    crate::identity::PeerId::from_public_key(key).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_identity_vector() {
        // The test key of proto/vectors (seed 32 x 0x01) has this PeerId (proto/PROTOCOL.md).
        let id = crate::identity::Identity::from_seed([1u8; 32]);
        assert_eq!(peer_id_text(&id.public_key()), "60bexxygshxm3a7g049yr0zv");
        assert_ne!(peer_id_text(&[1u8; 32]), peer_id_text(&[2u8; 32]));
    }
}
