//! Peak-day rehearsal: the real hub against a simulated estate in virtual
//! time, and the report operations would want before the day comes.
//!
//! - [`scenario`]: the TOML a rehearsal is described in, checked with
//!   errors that name the file and field.
//! - `estate`: channels, ERP, warehouses and 3PLs as models behind the
//!   hub's connector traits, with the scenario's limits and faults.
//! - [`run`]: the clock, the agenda and the hub, stepped one job at a time.
//! - [`report`] and [`html`]: the findings, as JSON and as a page.

mod estate;
pub mod html;
pub mod report;
pub mod run;
pub mod scenario;

pub use report::Report;
pub use run::{Progress, rehearse};
pub use scenario::{Scenario, ScenarioError};
