//! The engine's integration tests, one binary.

mod no_oversell_property;
mod polling;
mod velocity_restart;
