//! The store's integration tests, one binary: the conformance scenarios,
//! each run on SQLite and PostgreSQL, over the test databases of `support`.

// A scenario's notes (a skipped backend, timings) go to the test's output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

#[macro_use]
mod conformance;
mod settlements;
