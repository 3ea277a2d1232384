//! Placeholder: configuration file and CLI overrides (issue 3).
