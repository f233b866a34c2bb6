#![allow(clippy::print_stdout, clippy::print_stderr)] // the demo and benchmarks report on stdout/stderr

//! The `crossdock` binary's library half: configuration, wiring of a hub,
//! the demo and the benchmarks. Integration tests drive a hub through it.

pub mod authority;
pub mod bench;
pub mod config;
pub mod demo;
pub mod edi;
pub mod exceptions;
pub mod hub;
pub mod inventory;
pub mod json_diff;
pub mod keys;
pub mod mapping;
pub mod orders;
pub mod plan;
pub mod reload;
pub mod routing;
pub mod rules;
pub mod secrets;
pub mod settlement;
pub mod simulate;
pub mod store_args;
pub mod translate;
