//! The mapping file's shape (`[mapping]` in the hub configuration): serde types only, compiled by `compile.rs`.

use crossdock_model::TaxTreatment;
use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

/// Mapping format versions this hub understands.
pub const SUPPORTED_MAPPING_VERSIONS: &[u32] = &[1];
/// Pages one poll follows at most unless the mapping says otherwise: a
/// cursor that never ends must not keep a poll running forever.
pub(super) const DEFAULT_MAX_PAGES: u32 = 100;
pub(super) const DEFAULT_CANCEL_REASON: &str = "cancelled on the channel";

/// How one channel's payloads map to the canonical order and back.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelMapping {
    /// The mapping format's version (see [`SUPPORTED_MAPPING_VERSIONS`]).
    pub version: u32,
    #[serde(default)]
    pub webhook: WebhookMapping,
    pub envelope: EnvelopeMapping,
    pub order: OrderMapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_shipment: Option<ConfirmShipmentMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find_shipment: Option<FindShipmentMapping>,
    /// How the channel is told what to offer; absent = it takes no stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<AvailabilityMapping>,
    /// Credentials of outbound calls (poll, confirmations, lookups).
    #[serde(default)]
    pub auth: ChannelAuth,
}

/// What a webhook delivery carries besides the order.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookMapping {
    /// Header holding the delivery's unique id (the dedupe key), preferred
    /// when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_key_header: Option<String>,
    /// Expression over the body for the dedupe key when the header is
    /// absent. Default: `<external order id>:<source version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureMapping>,
}

/// An HMAC-SHA256 of the raw body in a header, checked before anything is read.
#[derive(Deserialize, Serialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignatureMapping {
    pub header: String,
    /// The shared secret, or better the environment variable or the file
    /// holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// Text before the digest in the header (`sha256=`), stripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

/// The cheap part of a message, read before it is committed.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeMapping {
    /// The channel's order id (a string or a number, kept as written).
    pub external_order_id: String,
    /// An integer sequence, or an RFC 3339 time (taken in ms).
    pub source_version: String,
    /// jq predicate: `true` when the message cancels the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<String>,
    /// Expression for the cancellation's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

/// The canonical order's fields. Optional ones may be left out.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrderMapping {
    /// RFC 3339 time, or ms since the epoch.
    pub placed_at: String,
    /// ISO 4217 code.
    pub currency: String,
    pub customer_email: String,
    pub customer_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    /// An object with `name, line1, line2, city, region, postal_code,
    /// country` (or null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<String>,
    /// The array of lines; `line` maps each element.
    pub lines: String,
    pub line: LineMapping,
    /// Absent: no shipping charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<String>,
    /// The channel's stated total; absent: computed from the lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// Absent or null: `standard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_level: Option<String>,
    /// Who collects the tax: a constant of the channel, not of the payload.
    #[serde(default)]
    pub tax_treatment: TaxTreatment,
}

/// One line's fields, run over one element of `order.lines`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LineMapping {
    /// Absent: the line's position, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_id: Option<String>,
    pub sku: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub quantity: String,
    pub unit_price: String,
    /// Absent: zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<String>,
    /// Absent: zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<String>,
}

/// Reconciliation poll: `GET path?since_param=…`, pages followed by cursor
/// or `Link: <…>; rel="next"`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PollMapping {
    pub path: String,
    pub since_param: String,
    #[serde(default)]
    pub since_format: SinceFormat,
    /// Fixed query pairs sent with every page.
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// Expression over one page yielding the array of orders.
    pub items: String,
    /// Expression over one page yielding the next page's cursor (null or
    /// empty: last page); sent as `cursor_param`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_param: Option<String>,
    /// Follow the answer's `Link` header `rel="next"` URL.
    #[serde(default)]
    pub link_header: bool,
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
}

pub(super) fn default_max_pages() -> u32 {
    DEFAULT_MAX_PAGES
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SinceFormat {
    /// Milliseconds since the epoch.
    #[default]
    Ms,
    /// RFC 3339 (UTC, millisecond precision).
    Rfc3339,
}

/// A ship confirmation: `method path` with the `body` program's result over
/// `{package_id, external_order_id, shipment}` (the canonical `Shipment`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfirmShipmentMapping {
    #[serde(default = "default_method")]
    pub method: String,
    /// Placeholders: `{external_order_id}`, `{package_id}`.
    pub path: String,
    pub body: String,
    /// Expression over the answer yielding the confirmation id.
    pub id: String,
}

pub(super) fn default_method() -> String {
    "POST".to_owned()
}

/// An availability push: `method path` with the `body` program's result
/// over `{updates: [{sku, quantity, previous, idempotency_key}]}`. With
/// `{sku}` in the path, one call per SKU (each body sees one update).
/// `results` (optional) reads the answer into `[{sku, ok, error}]`; without
/// it a 2xx answer accepts every SKU of the call.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityMapping {
    #[serde(default = "default_availability_method")]
    pub method: String,
    /// Placeholder: `{sku}` (one call per SKU).
    pub path: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<String>,
    /// SKUs per call when the path has no `{sku}`.
    #[serde(default = "default_availability_batch")]
    pub batch_limit: usize,
}

pub(super) fn default_availability_method() -> String {
    "PUT".to_owned()
}

pub(super) fn default_availability_batch() -> usize {
    100
}

/// Lookup of the confirmations an order holds: `GET path?query`, then
/// `results` yields `[{id, package_id}]`. A 404 means none.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FindShipmentMapping {
    /// Placeholders: `{external_order_id}`, `{package_id}`.
    pub path: String,
    #[serde(default)]
    pub query: Vec<(String, String)>,
    pub results: String,
}

/// Credentials for outbound calls; secrets from the environment or inline.
#[derive(Deserialize, Serialize, Clone, Default, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelAuth {
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_env: Option<String>,
    },
    /// `<header>: <key>`.
    ApiKey {
        header: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_env: Option<String>,
    },
}

/// Where the secret is, never what it is.
impl std::fmt::Debug for SignatureMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureMapping")
            .field("header", &self.header)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_env", &self.secret_env)
            .field("secret_file", &self.secret_file)
            .field("encoding", &self.encoding)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl std::fmt::Debug for ChannelAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log.
        match self {
            ChannelAuth::None => f.write_str("None"),
            ChannelAuth::Bearer { token_env, .. } => f
                .debug_struct("Bearer")
                .field("token_env", token_env)
                .finish_non_exhaustive(),
            ChannelAuth::ApiKey {
                header, key_env, ..
            } => f
                .debug_struct("ApiKey")
                .field("header", header)
                .field("key_env", key_env)
                .finish_non_exhaustive(),
        }
    }
}

/// A secret from the named environment variable, else the inline value.
pub(super) fn secret(
    name: &str,
    value: &Option<String>,
    env: &Option<String>,
) -> Result<String, String> {
    let secret = match (env, value) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| format!("environment variable {var} ({name}_env) is not set"))?,
        (None, Some(v)) => v.clone(),
        (None, None) => return Err(format!("set {name}_env or {name}")),
    };
    if secret.is_empty() {
        return Err(format!("{name} is empty"));
    }
    Ok(secret)
}

impl ChannelAuth {
    /// The header every outbound call carries, if any.
    pub(super) fn header(&self) -> Result<Option<(HeaderName, HeaderValue)>, String> {
        let value = |v: String, what: &str| {
            HeaderValue::from_str(&v)
                .map_err(|_| format!("auth.{what}: not visible ASCII (it goes into a header)"))
        };
        match self {
            ChannelAuth::None => Ok(None),
            ChannelAuth::Bearer { token, token_env } => {
                let token = secret("token", token, token_env).map_err(|e| format!("auth: {e}"))?;
                Ok(Some((
                    reqwest::header::AUTHORIZATION,
                    value(format!("Bearer {token}"), "token")?,
                )))
            }
            ChannelAuth::ApiKey {
                header,
                key,
                key_env,
            } => {
                let name = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| format!("auth.header: {header:?} is not a header name"))?;
                let key = secret("key", key, key_env).map_err(|e| format!("auth: {e}"))?;
                Ok(Some((name, value(key, "key")?)))
            }
        }
    }
}
