//! The X12 reader's and writer's integration tests, one binary.

mod canonical;
mod reference;
mod roundtrip;
