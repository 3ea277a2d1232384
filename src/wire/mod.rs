//! Placeholder: wire protocol v1 (issue 2).
