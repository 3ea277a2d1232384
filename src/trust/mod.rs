//! Trust models (issue 4): how much weight a peer's reports deserve, and what the network as a
//! whole thinks of an IoC.
//!
//! Every model sits behind [`TrustModel`], so the node, the Slips relay and the trust arena
//! (`crate::arena`) can swap them without knowing which one runs. Besides roost's own model
//! (`roost`), the crate carries the two reference models it must beat, re-implemented from
//! their published descriptions: Dovecot (the model Slips ships) and Fides, plus the trivial
//! "IDS only" baseline that ignores the network.

pub mod dovecot;
pub mod fides;
pub mod ids_only;
pub mod judge;
pub mod model;
pub mod roost;

pub use model::{PeerKey, Recommendation, Report, TrustModel};
