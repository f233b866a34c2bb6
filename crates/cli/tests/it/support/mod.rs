//! Shared pieces of the end-to-end tests.
#![allow(dead_code)]

pub mod marketplaces;
