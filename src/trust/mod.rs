//! Placeholder: the trust models (issue 4).
