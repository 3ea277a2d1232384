//! Placeholder: this room is built by its own issue (see ARCHITECTURE.md).
