use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a step landed in the exception queue, which decides who acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionClass {
    /// The data breaks a business rule (unknown SKU, totals that don't add up).
    Validation,
    /// The payload could not be mapped to the canonical model.
    Mapping,
    /// The hub is not the authority for the change it was asked to make.
    Authority,
    /// The target kept failing in a way that may pass (timeouts, 5xx, 429) until retries ran out.
    Transient,
    /// The target refused the request in a way retrying will not fix.
    Permanent,
}

impl ExceptionClass {
    pub const ALL: [ExceptionClass; 5] = [
        ExceptionClass::Validation,
        ExceptionClass::Mapping,
        ExceptionClass::Authority,
        ExceptionClass::Transient,
        ExceptionClass::Permanent,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ExceptionClass::Validation => "validation",
            ExceptionClass::Mapping => "mapping",
            ExceptionClass::Authority => "authority",
            ExceptionClass::Transient => "transient",
            ExceptionClass::Permanent => "permanent",
        }
    }

    pub fn parse(s: &str) -> Option<ExceptionClass> {
        ExceptionClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionStatus {
    Open,
    Replayed,
    Resolved,
}

impl ExceptionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExceptionStatus::Open => "open",
            ExceptionStatus::Replayed => "replayed",
            ExceptionStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<ExceptionStatus> {
        [
            ExceptionStatus::Open,
            ExceptionStatus::Replayed,
            ExceptionStatus::Resolved,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// A workflow step that gave up, kept with everything needed to replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExceptionRecord {
    pub id: String,
    /// The job that failed; replay re-runs it from this step.
    pub job_id: i64,
    pub entity_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub step: String,
    pub class: ExceptionClass,
    pub reason: String,
    pub payload: serde_json::Value,
    pub status: ExceptionStatus,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub replay_count: u32,
}
