//! The catalogue of operator-facing error codes (`CD-…`).
//!
//! One list, so that a code an operator reads on an API error or on an
//! exception record is defined once, with a title and a runbook page under
//! `docs/errors/<code>.md` (a test keeps pages and codes one to one). The
//! codes are an API: a code once shipped keeps its meaning; a new error gets
//! a new code. The HTTP edge's codes mirror the status they go with
//! (`CD-IN-0413` is a 413); exception codes are numbered within `CD-EX`.
//!
//! No I/O here: the catalogue names pages, it does not read them.

use serde::{Serialize, Serializer};

/// An operator-facing error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// An inbound webhook's body could not be read or mapped.
    InBadPayload,
    /// An inbound webhook failed its signature or credential check.
    InUnauthenticated,
    /// A webhook for a channel or warehouse the hub has no connection for.
    InUnknownSource,
    /// An inbound webhook's body is larger than `server.max_body_bytes`.
    InTooLarge,
    /// An inbound webhook could not be committed now.
    InUnavailable,
    /// An API request the hub cannot read (a malformed filter).
    ApiBadRequest,
    /// No such route, order or open exception.
    ApiNotFound,
    /// An API request without a usable key (missing, unknown, revoked, expired).
    ApiUnauthenticated,
    /// An API request whose key lacks the route's scope.
    ApiForbidden,
    /// An API request over its key's rate.
    ApiRateLimited,
    /// An API request over its key's daily quota.
    ApiQuotaExceeded,
    /// The request conflicts with the order's state (releasing an order
    /// that is not held, or was released already).
    ApiConflict,
    /// The hub failed while answering.
    SrvInternal,
    /// The hub cannot answer now (starting, or its store is unreachable).
    SrvUnavailable,
    /// Exception: the data breaks a business rule.
    ExValidation,
    /// Exception: a message or job could not be mapped.
    ExMapping,
    /// Exception: the hub is not the authority for the change asked of it.
    ExAuthority,
    /// Exception: a target kept failing until retries ran out.
    ExTransient,
    /// Exception: a target refused the request.
    ExPermanent,
    /// Exception: a target refused the hub's credentials.
    ExUnauthorized,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InBadPayload,
        ErrorCode::InUnauthenticated,
        ErrorCode::InUnknownSource,
        ErrorCode::InTooLarge,
        ErrorCode::InUnavailable,
        ErrorCode::ApiBadRequest,
        ErrorCode::ApiNotFound,
        ErrorCode::ApiUnauthenticated,
        ErrorCode::ApiForbidden,
        ErrorCode::ApiRateLimited,
        ErrorCode::ApiQuotaExceeded,
        ErrorCode::ApiConflict,
        ErrorCode::SrvInternal,
        ErrorCode::SrvUnavailable,
        ErrorCode::ExValidation,
        ErrorCode::ExMapping,
        ErrorCode::ExAuthority,
        ErrorCode::ExTransient,
        ErrorCode::ExPermanent,
        ErrorCode::ExUnauthorized,
    ];

    /// The code as operators see it, e.g. `CD-IN-0400`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InBadPayload => "CD-IN-0400",
            ErrorCode::InUnauthenticated => "CD-IN-0401",
            ErrorCode::InUnknownSource => "CD-IN-0404",
            ErrorCode::InTooLarge => "CD-IN-0413",
            ErrorCode::InUnavailable => "CD-IN-0503",
            ErrorCode::ApiBadRequest => "CD-API-0400",
            ErrorCode::ApiNotFound => "CD-API-0404",
            ErrorCode::ApiUnauthenticated => "CD-API-0401",
            ErrorCode::ApiForbidden => "CD-API-0403",
            ErrorCode::ApiRateLimited => "CD-API-0429",
            // A second 429 of the API: the quota, not the rate.
            ErrorCode::ApiQuotaExceeded => "CD-QTA-0429",
            ErrorCode::ApiConflict => "CD-API-0409",
            ErrorCode::SrvInternal => "CD-SRV-0500",
            ErrorCode::SrvUnavailable => "CD-SRV-0503",
            ErrorCode::ExValidation => "CD-EX-0001",
            ErrorCode::ExMapping => "CD-EX-0002",
            ErrorCode::ExAuthority => "CD-EX-0003",
            ErrorCode::ExTransient => "CD-EX-0004",
            ErrorCode::ExPermanent => "CD-EX-0005",
            ErrorCode::ExUnauthorized => "CD-EX-0006",
        }
    }

    /// One line for an index or a log.
    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::InBadPayload => "Inbound message refused: body not readable",
            ErrorCode::InUnauthenticated => "Inbound message refused: not authenticated",
            ErrorCode::InUnknownSource => "Inbound message for an unknown connection",
            ErrorCode::InTooLarge => "Inbound message body too large",
            ErrorCode::InUnavailable => "Inbound message not committed: try again",
            ErrorCode::ApiBadRequest => "API request not readable",
            ErrorCode::ApiNotFound => "Not found",
            ErrorCode::ApiUnauthenticated => "API request without a usable key",
            ErrorCode::ApiForbidden => "API key lacks the scope the route needs",
            ErrorCode::ApiRateLimited => "API key over its rate",
            ErrorCode::ApiQuotaExceeded => "API key over its daily quota",
            ErrorCode::ApiConflict => "Request conflicts with the current state",
            ErrorCode::SrvInternal => "Internal error",
            ErrorCode::SrvUnavailable => "Hub not ready or store unreachable",
            ErrorCode::ExValidation => "Order or shipment breaks a business rule",
            ErrorCode::ExMapping => "Message or job could not be mapped",
            ErrorCode::ExAuthority => "The hub cannot make the change asked of it",
            ErrorCode::ExTransient => "Target kept failing until retries ran out",
            ErrorCode::ExPermanent => "Target refused the request",
            ErrorCode::ExUnauthorized => "Target refused the hub's credentials",
        }
    }

    /// The runbook page, relative to the repository root.
    pub fn runbook(self) -> String {
        format!("docs/errors/{}.md", self.as_str())
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// In the API's schemas a code is one of the catalogue's strings, so a
/// client can switch on them and the OpenAPI document lists them all.
impl schemars::JsonSchema for ErrorCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        schemars::json_schema!({
            "type": "string",
            "enum": codes,
            "description": "A code of the catalogue; its runbook page is docs/errors/<code>.md"
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let codes: BTreeSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }

    /// Every code has its runbook page and every page its code, and the
    /// index names them all: an operator who reads a code can look it up.
    #[test]
    fn every_code_has_a_page_and_every_page_a_code() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = root.join("docs/errors");
        let pages: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("CD-"))
            .collect();
        let wanted: BTreeSet<String> = ErrorCode::ALL
            .iter()
            .map(|c| c.runbook().trim_start_matches("docs/errors/").to_owned())
            .collect();
        assert_eq!(pages, wanted, "docs/errors/ and the catalogue differ");
        let index = std::fs::read_to_string(dir.join("README.md")).unwrap();
        for c in ErrorCode::ALL {
            let page = std::fs::read_to_string(root.join(c.runbook())).unwrap();
            assert!(
                page.starts_with(&format!("# {}: {}", c.as_str(), c.title())),
                "{} should start with `# {}: {}`",
                c.runbook(),
                c.as_str(),
                c.title()
            );
            assert!(
                index.contains(&format!("[{}]({}.md)", c.as_str(), c.as_str())),
                "docs/errors/README.md does not list {c}"
            );
        }
    }
}
