//! The store's integration tests, one binary: the conformance scenarios,
//! each run on SQLite and PostgreSQL, over the test databases of `support`.

mod support;

mod conformance;
