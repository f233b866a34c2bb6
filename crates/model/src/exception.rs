//! The exception queue's record: a workflow step that gave up, kept with its
//! payload so it can be replayed from that step. Its class says who acts on
//! it; its code (`codes.rs`) names the runbook page an operator reads.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

use crate::codes::ErrorCode;

/// How the engine words a target's refusal of the hub's credentials
/// (`ConnectorError::Unauthorized`) in an exception's reason: the one error
/// kind that gets a code of its own within its class, because the operator's
/// fix (credentials, not data) differs from every other refusal.
pub const UNAUTHORIZED_REASON_PREFIX: &str = "unauthorized: ";

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

    /// The catalogue code of an exception of this class.
    pub fn code(self) -> ErrorCode {
        match self {
            ExceptionClass::Validation => ErrorCode::ExValidation,
            ExceptionClass::Mapping => ErrorCode::ExMapping,
            ExceptionClass::Authority => ErrorCode::ExAuthority,
            ExceptionClass::Transient => ErrorCode::ExTransient,
            ExceptionClass::Permanent => ErrorCode::ExPermanent,
        }
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
///
/// Serialized with its catalogue `code` after `class` (derived from the
/// record, not stored: see [`ExceptionRecord::code`]).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[schemars(transform = code_in_schema)]
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

impl ExceptionRecord {
    /// The catalogue code an operator looks up: the class's, except a
    /// refusal of the hub's credentials, which has its own.
    pub fn code(&self) -> ErrorCode {
        match self.class {
            ExceptionClass::Permanent if self.reason.starts_with(UNAUTHORIZED_REASON_PREFIX) => {
                ErrorCode::ExUnauthorized
            }
            class => class.code(),
        }
    }
}

/// The record as written on the API: the stored fields in their order, with
/// `code` added after `class`.
#[derive(Serialize)]
struct ExceptionRecordOut<'a> {
    id: &'a str,
    job_id: i64,
    entity_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    step: &'a str,
    class: ExceptionClass,
    code: ErrorCode,
    reason: &'a str,
    payload: &'a serde_json::Value,
    status: ExceptionStatus,
    created_at: &'a DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replayed_at: Option<&'a DateTime<Utc>>,
    replay_count: u32,
}

impl Serialize for ExceptionRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ExceptionRecordOut {
            id: &self.id,
            job_id: self.job_id,
            entity_key: &self.entity_key,
            channel: self.channel.as_deref(),
            step: &self.step,
            class: self.class,
            code: self.code(),
            reason: &self.reason,
            payload: &self.payload,
            status: self.status,
            created_at: &self.created_at,
            replayed_at: self.replayed_at.as_ref(),
            replay_count: self.replay_count,
        }
        .serialize(s)
    }
}

/// The schema documents what the API writes, `code` included.
fn code_in_schema(schema: &mut schemars::Schema) {
    if let Some(properties) = schema
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    {
        properties.insert(
            "code".to_owned(),
            serde_json::json!({
                "description": "The error-code catalogue's code for this exception (docs/errors/<code>.md).",
                "type": "string",
                "pattern": "^CD-[A-Z]+-[0-9]{4}$"
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(class: ExceptionClass, reason: &str) -> ExceptionRecord {
        ExceptionRecord {
            id: "ex-1".into(),
            job_id: 7,
            entity_key: "order:1".into(),
            channel: None,
            step: "accept_in_erp".into(),
            class,
            reason: reason.into(),
            payload: serde_json::json!({ "order_id": "1" }),
            status: ExceptionStatus::Open,
            created_at: DateTime::from_timestamp_millis(0).unwrap_or_default(),
            replayed_at: None,
            replay_count: 0,
        }
    }

    #[test]
    fn every_class_has_its_own_exception_code() {
        let codes: std::collections::BTreeSet<_> =
            ExceptionClass::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes.len(), ExceptionClass::ALL.len());
        assert!(codes.iter().all(|c| c.as_str().starts_with("CD-EX-")));
    }

    #[test]
    fn a_refusal_of_credentials_has_its_own_code() {
        let refused = record(ExceptionClass::Permanent, "unauthorized: 401 bad token");
        assert_eq!(refused.code(), ErrorCode::ExUnauthorized);
        let rejected = record(ExceptionClass::Permanent, "unknown product");
        assert_eq!(rejected.code(), ErrorCode::ExPermanent);
        let given_up = record(ExceptionClass::Transient, "gave up after 8 attempts: 503");
        assert_eq!(given_up.code(), ErrorCode::ExTransient);
    }

    /// The JSON gains `code` after `class` and keeps every other field as
    /// the derived form wrote it, and still reads back.
    #[test]
    fn the_json_adds_the_code_and_nothing_else() {
        let r = record(ExceptionClass::Validation, "lines[0].sku: unknown SKU");
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"id":"ex-1","job_id":7,"entity_key":"order:1","step":"accept_in_erp","class":"validation","code":"CD-EX-0001","reason":"lines[0].sku: unknown SKU","payload":{"order_id":"1"},"status":"open","created_at":"1970-01-01T00:00:00Z","replay_count":0}"#
        );
        let back: ExceptionRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        let schema = serde_json::to_value(schemars::schema_for!(ExceptionRecord)).unwrap();
        assert_eq!(schema["properties"]["code"]["type"], "string");
    }
}
