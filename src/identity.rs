//! Placeholder: identity (issue 2).
