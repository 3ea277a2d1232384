//! Placeholder: threads, channels, signals and shutdown (issue 3).
