//! The availability crate's integration tests, one binary: one module per
//! concern (`properties`: the proptests of the allocation rules).

mod properties;
