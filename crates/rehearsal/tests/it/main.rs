//! The rehearsal's integration tests, one binary.

mod rehearsal;
