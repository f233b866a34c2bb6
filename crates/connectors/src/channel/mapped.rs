//! A sales channel by configuration: [`MappedChannel`] reads whatever JSON
//! webhooks and polling API a [`ChannelMapping`] describes (a regional
//! marketplace, a storefront, the simulated webstore…) with no code per
//! channel, and sends ship confirmations back in that channel's shape.
//!
//! # Expressions
//!
//! Every field of the mapping that reads a payload is an *expression*: a
//! value starting with `/` is a JSON pointer (RFC 6901, `/items`,
//! `/buyer/email`); anything else is a jq program run by jaq (a jq program
//! cannot start with `/`). Pointers are preferred where they suffice: an
//! error in a value read by pointer names the payload path exactly
//! (`items[3].unit_price: expected decimal`). A value computed by jq has no
//! source path; its error names the canonical field (`lines[3].unit_price`)
//! and the mapping field whose program computed it. Every program is
//! compiled once, when the mapping is compiled.
//!
//! # Money stays exact
//!
//! Payloads are read with jaq's JSON reader, which keeps number literals as
//! written. An amount may come out of an expression as a string (`"19.99"`)
//! or a number literal (`19.99`); either is parsed from its text into a
//! `rust_decimal`. A floating-point number can only come from jq arithmetic
//! and is refused: amounts are moved, never computed, in jq. The order's
//! total is computed in Rust when the mapping does not read one.
//!
//! # Versions
//!
//! `version` is the mapping format's version. Only
//! [`SUPPORTED_MAPPING_VERSIONS`] are accepted; anything else is refused
//! when the mapping is compiled, so a mapping written for a newer hub never
//! runs with a silently different meaning.

pub mod config;

use std::collections::HashSet;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use crossdock_model::{
    Address, Customer, Money, Order, OrderLine, OrderStatus, TaxTreatment, order_id_for,
};
use hmac::{Hmac, Mac};
use jaq_json::Val;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LINK};
use reqwest::{Method, Url};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::Sha256;

use crate::http::{base_url, endpoint};
use crate::input::currency;
use crate::jq::{
    Program, check_template, exact_decimal, exact_number, field, fill, fill_path, id_text, kind,
    optional, plain_json, read_answer, render, text, to_val,
};
use crate::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate, Channel,
    ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError, ShipConfirmation,
};

/// Mapping format versions this hub understands.
pub const SUPPORTED_MAPPING_VERSIONS: &[u32] = &[1];
/// Pages one poll follows at most unless the mapping says otherwise: a
/// cursor that never ends must not keep a poll running forever.
const DEFAULT_MAX_PAGES: u32 = 100;
const DEFAULT_CANCEL_REASON: &str = "cancelled on the channel";

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
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignatureMapping {
    pub header: String,
    /// The shared secret, or better the environment variable holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
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

fn default_max_pages() -> u32 {
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

fn default_method() -> String {
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

fn default_availability_method() -> String {
    "PUT".to_owned()
}

fn default_availability_batch() -> usize {
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
fn secret(name: &str, value: &Option<String>, env: &Option<String>) -> Result<String, String> {
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
    fn header(&self) -> Result<Option<(HeaderName, HeaderValue)>, String> {
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

impl ChannelMapping {
    /// Compiles every program and checks every template, naming the field
    /// of the first problem (`order.line.unit_price: jq syntax error …`).
    /// Secrets are not read here (see [`MappedChannel::new`]).
    pub fn validate(&self) -> Result<(), String> {
        CompiledMapping::compile(self).map(drop)
    }
}

/// Maps one payload as `mapping` says, for channel `channel`, with no
/// network and no secrets: what `crossdock translate --from <channel>` runs.
pub fn map_payload(
    channel: &str,
    mapping: &ChannelMapping,
    body: &[u8],
) -> Result<ChannelEvent, MappingError> {
    let compiled = CompiledMapping::compile(mapping).map_err(MappingError::Mapping)?;
    compiled
        .map_message(channel, body)
        .map_err(MappingError::Input)
}

/// Why [`map_payload`] failed: the mapping itself, or the payload.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum MappingError {
    #[error("channel mapping: {0}")]
    Mapping(String),
    #[error("{0}")]
    Input(InputError),
}

/// A channel driven by a [`ChannelMapping`].
pub struct MappedChannel {
    name: String,
    base: Url,
    http: HttpClient,
    webhook_secret: Option<Vec<u8>>,
    compiled: CompiledMapping,
}

impl std::fmt::Debug for MappedChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedChannel")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("version", &self.compiled.version)
            .finish_non_exhaustive()
    }
}

impl MappedChannel {
    /// Compiles the mapping and reads its secrets (webhook signature, auth)
    /// now, so a missing one is a startup error rather than a refused order.
    pub fn new(
        name: impl Into<String>,
        base_url_str: &str,
        mapping: &ChannelMapping,
        http: HttpClient,
    ) -> Result<Self, ConnectorError> {
        let name = name.into();
        let refuse = |e: String| {
            ConnectorError::rejected(format!(
                "channel {name}: mapping version {}: {e}",
                mapping.version
            ))
        };
        let compiled = CompiledMapping::compile(mapping).map_err(refuse)?;
        let webhook_secret = mapping
            .webhook
            .signature
            .as_ref()
            .map(|s| {
                secret("secret", &s.secret, &s.secret_env)
                    .map(String::into_bytes)
                    .map_err(|e| refuse(format!("webhook.signature: {e}")))
            })
            .transpose()?;
        let http = match mapping.auth.header().map_err(refuse)? {
            Some((name, value)) => http.with_header(name, value),
            None => http,
        };
        Ok(MappedChannel {
            base: base_url(base_url_str)?,
            name,
            http,
            webhook_secret,
            compiled,
        })
    }

    /// One availability call: the body over `updates`, the answer read per SKU.
    async fn push_availability(
        &self,
        push: &CompiledAvailability,
        updates: &[AvailabilityUpdate],
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let input = serde_json::json!({
            "updates": updates
                .iter()
                .map(|u| serde_json::json!({
                    "sku": u.sku,
                    "quantity": u.quantity,
                    "previous": u.previous,
                    "idempotency_key": u.idempotency_key,
                }))
                .collect::<Vec<_>>(),
        });
        // jq values are not `Send`: the body is built before the first await.
        let body = {
            let out = push
                .body
                .run_one(to_val(&input))
                .map_err(|e| self.fault("availability.body", e))?;
            let text = render(&out).map_err(|e| self.fault("availability.body", e))?;
            RawValue::from_string(text)
                .map_err(|e| self.fault("availability.body", format!("not JSON: {e}")))?
        };
        let sku = updates.first().map_or("", |u| u.sku.as_str());
        let url = url_for(&self.base, &push.path, &[("sku", sku)]);
        let (_, answer) = self
            .http
            .send_with_headers(push.method.clone(), url.clone(), Some(&*body))
            .await?;
        let Some(results) = &push.results else {
            return Ok(updates
                .iter()
                .map(|u| AvailabilityResult {
                    sku: u.sku.clone(),
                    outcome: AvailabilityOutcome::Accepted,
                })
                .collect());
        };
        let answer = read_answer(&url, &answer)?;
        let out = results
            .run_one(answer)
            .map_err(|e| self.fault("availability.results", e))?;
        let Val::Arr(items) = out else {
            return Err(self.fault(
                "availability.results",
                format!(
                    "expected an array of {{sku, ok, error}}, got {}",
                    kind(&out)
                ),
            ));
        };
        let mut read = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = |e: String| self.fault("availability.results", format!("[{i}].{e}"));
            let sku = field(item, "sku")
                .ok_or_else(|| at("sku: missing".into()))
                .and_then(|v| id_text(v).map_err(|e| at(format!("sku: {e}"))))?;
            let outcome = match field(item, "ok") {
                Some(Val::Bool(true)) => AvailabilityOutcome::Accepted,
                Some(Val::Bool(false)) => AvailabilityOutcome::Rejected {
                    reason: field(item, "error")
                        .and_then(|e| render(e).ok())
                        .unwrap_or_else(|| "refused by the channel".into()),
                },
                _ => return Err(at("ok: expected true or false".into())),
            };
            read.push(AvailabilityResult { sku, outcome });
        }
        Ok(read)
    }

    fn fault(&self, field: &str, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::rejected(format!(
            "{field}: {message} (channel {} mapping version {})",
            self.name, self.compiled.version
        ))
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), InputError> {
        let (Some(signature), Some(secret)) = (&self.compiled.signature, &self.webhook_secret)
        else {
            return Ok(());
        };
        let at = format!("headers.{}", signature.header);
        let given = headers
            .get(&signature.header)
            .ok_or_else(|| InputError::unauthenticated(&at, "missing signature"))?
            .to_str()
            .map_err(|_| InputError::unauthenticated(&at, "not visible ASCII"))?
            .trim();
        let given = match &signature.prefix {
            Some(prefix) => given.strip_prefix(prefix.as_str()).unwrap_or(given),
            None => given,
        };
        let mismatch = || InputError::unauthenticated(&at, "signature does not match");
        let given = match signature.encoding {
            SignatureEncoding::Hex => decode_hex(given).ok_or_else(mismatch)?,
            SignatureEncoding::Base64 => BASE64.decode(given).map_err(|_| mismatch())?,
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| mismatch())?;
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&given).map_err(|_| mismatch())
    }

    /// One page of the poll: its orders and where the next page is.
    async fn poll_page(
        &self,
        poll: &CompiledPoll,
        url: &Url,
    ) -> Result<(Vec<Val>, Option<Url>), ConnectorError> {
        let (headers, answer) = self
            .http
            .send_with_headers(Method::GET, url.clone(), None::<&()>)
            .await?;
        let page = read_answer(url, &answer)?;
        let items = poll
            .items
            .eval(&page)
            .map_err(|e| self.fault("poll.items", e))?;
        let items = match items {
            Val::Arr(items) => items.iter().cloned().collect(),
            Val::Null => Vec::new(),
            other => {
                return Err(self.fault(
                    "poll.items",
                    format!("expected an array of orders, got {}", kind(&other)),
                ));
            }
        };
        let mut next = None;
        if let Some(cursor) = &poll.next_cursor {
            let value = cursor
                .eval(&page)
                .map_err(|e| self.fault("poll.next_cursor", e))?;
            let cursor = match value {
                Val::Null => None,
                other => Some(id_text(&other).map_err(|e| self.fault("poll.next_cursor", e))?),
            };
            if let (Some(cursor), Some(param)) = (cursor, &poll.cursor_param) {
                let mut url = url.clone();
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != param)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair(param, &cursor);
                next = Some(url);
            }
        }
        if next.is_none() && poll.link_header {
            next = next_link(&headers).and_then(|link| url.join(&link).ok());
        }
        Ok((items, next))
    }
}

#[async_trait]
impl Channel for MappedChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        self.verify(headers, body)?;
        let payload = parse_payload(body)?;
        let (external_order_id, source_version) = self.compiled.envelope(&payload)?;
        let from_header = match &self.compiled.message_key_header {
            Some(name) => match headers.get(name) {
                Some(value) => {
                    let at = format!("headers.{name}");
                    let key = value
                        .to_str()
                        .map_err(|_| InputError::new(&at, "not visible ASCII"))?
                        .trim();
                    if key.is_empty() {
                        return Err(InputError::new(&at, "must not be empty"));
                    }
                    Some(key.to_owned())
                }
                None => None,
            },
            None => None,
        };
        let message_key = match (from_header, &self.compiled.message_key) {
            (Some(key), _) => key,
            (None, Some(expr)) => {
                let value = expr
                    .eval(&payload)
                    .map_err(|e| expr.error("", "message_key", e))?;
                id_text(&value).map_err(|e| expr.error("", "message_key", e))?
            }
            (None, None) => format!("{external_order_id}:{source_version}"),
        };
        Ok(InboundEnvelope {
            message_key,
            external_order_id,
            source_version,
        })
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        self.compiled.map_message(&self.name, body)
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let Some(poll) = &self.compiled.poll else {
            // Nothing to reconcile against: webhooks are all this channel has.
            return Ok(Vec::new());
        };
        let since = match poll.since_format {
            SinceFormat::Ms => since_ms.to_string(),
            SinceFormat::Rfc3339 => DateTime::<Utc>::from_timestamp_millis(since_ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let mut url = url_for(&self.base, &poll.path, &[]);
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in &poll.query {
                pairs.append_pair(key, value);
            }
            pairs.append_pair(&poll.since_param, &since);
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(url);
        let mut pages = 0;
        while let Some(url) = next.take() {
            if pages == poll.max_pages || !seen.insert(url.to_string()) {
                tracing::warn!(channel = %self.name, pages, "poll stopped: page limit or a cursor loop");
                break;
            }
            pages += 1;
            let (items, following) = self.poll_page(poll, &url).await?;
            for item in items {
                let raw = plain_json(&item).into_bytes();
                let envelope = |body: &[u8]| {
                    let payload = parse_payload(body)?;
                    self.compiled.envelope(&payload)
                };
                out.extend(super::polled_order(&self.name, &self.name, raw, envelope));
            }
            next = following;
        }
        Ok(out)
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let Some(confirm) = &self.compiled.confirm else {
            return Err(self.fault(
                "confirm_shipment",
                "not mapped: this channel takes no ship confirmations",
            ));
        };
        let input = serde_json::json!({
            "package_id": confirmation.package_id,
            "external_order_id": confirmation.external_order_id,
            "shipment": confirmation.shipment,
        });
        // jq values are not `Send`: the body is built before the first await.
        let body = {
            let out = confirm
                .body
                .run_one(to_val(&input))
                .map_err(|e| self.fault("confirm_shipment.body", e))?;
            let text = render(&out).map_err(|e| self.fault("confirm_shipment.body", e))?;
            RawValue::from_string(text)
                .map_err(|e| self.fault("confirm_shipment.body", format!("not JSON: {e}")))?
        };
        let placeholders = [
            ("external_order_id", confirmation.external_order_id.as_str()),
            ("package_id", confirmation.package_id.as_str()),
        ];
        let url = url_for(&self.base, &confirm.path, &placeholders);
        let (_, answer) = self
            .http
            .send_with_headers(confirm.method.clone(), url.clone(), Some(&*body))
            .await?;
        let answer = read_answer(&url, &answer)?;
        let id = confirm
            .id
            .eval(&answer)
            .map_err(|e| self.fault("confirm_shipment.id", e))?;
        id_text(&id).map_err(|e| self.fault("confirm_shipment.id", e))
    }

    fn availability_batch_limit(&self, _cadence: AvailabilityCadence) -> usize {
        match &self.compiled.availability {
            Some(a) if a.per_sku => 10,
            Some(a) => a.batch_limit,
            None => 1,
        }
    }

    async fn publish_availability(
        &self,
        updates: &[AvailabilityUpdate],
        _cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let Some(push) = &self.compiled.availability else {
            return Err(self.fault(
                "availability",
                "not mapped: this channel takes no availability",
            ));
        };
        // One call per SKU when the path names it, else the whole batch.
        let calls: Vec<&[AvailabilityUpdate]> = if push.per_sku {
            updates.chunks(1).collect()
        } else {
            vec![updates]
        };
        let mut out = Vec::with_capacity(updates.len());
        for call in calls {
            out.extend(self.push_availability(push, call).await?);
        }
        Ok(out)
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let Some(find) = &self.compiled.find else {
            return Err(self.fault(
                "find_shipment",
                "not mapped: a confirmation in doubt cannot be looked up",
            ));
        };
        let placeholders = [
            ("external_order_id", external_order_id),
            ("package_id", package_id),
        ];
        let url = url_for(&self.base, &find.path, &placeholders);
        let query: Vec<(String, String)> = find
            .query
            .iter()
            .map(|(k, v)| (k.clone(), fill(v, &placeholders)))
            .collect();
        let query: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let Some(answer) = self
            .http
            .get_json_opt::<Box<RawValue>>(&url, &query)
            .await?
        else {
            return Ok(None);
        };
        let answer = read_answer(&url, answer.get().as_bytes())?;
        let out = find
            .results
            .run_one(answer)
            .map_err(|e| self.fault("find_shipment.results", e))?;
        let Val::Arr(items) = out else {
            return Err(self.fault(
                "find_shipment.results",
                format!(
                    "expected an array of {{id, package_id}}, got {}",
                    kind(&out)
                ),
            ));
        };
        for (i, item) in items.iter().enumerate() {
            let id_at = |e: String| self.fault("find_shipment.results", format!("[{i}].id: {e}"));
            let package = match field(item, "package_id") {
                Some(v) => id_text(v).map_err(|e| {
                    self.fault("find_shipment.results", format!("[{i}].package_id: {e}"))
                })?,
                None => {
                    return Err(
                        self.fault("find_shipment.results", format!("[{i}]: no \"package_id\""))
                    );
                }
            };
            if package == package_id {
                let id = field(item, "id").ok_or_else(|| id_at("missing".to_owned()))?;
                return id_text(id).map(Some).map_err(id_at);
            }
        }
        Ok(None)
    }
}

/// A writing HTTP method named in a mapping.
fn write_method(key: &str, name: &str) -> Result<Method, String> {
    match name.to_ascii_uppercase().as_str() {
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        other => Err(format!("{key}: {other:?} is not POST, PUT or PATCH")),
    }
}

/// A path template filled and percent-encoded segment by segment.
fn url_for(base: &Url, template: &str, placeholders: &[(&str, &str)]) -> Url {
    let segments = fill_path(template, placeholders);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    endpoint(base, &segments)
}

/// A payload as a jq value, numbers kept as written.
fn parse_payload(body: &[u8]) -> Result<Val, InputError> {
    jaq_json::read::parse_single(body)
        .map_err(|e| InputError::new("body", format!("not valid JSON: {e}")))
}

/// An expression of the mapping: a JSON pointer or a jq program.
enum Expr {
    /// Reference tokens, unescaped (`~1` → `/`, `~0` → `~`).
    Pointer(Vec<String>),
    Jq(Program),
}

impl Expr {
    fn compile(field: &str, code: &str) -> Result<Expr, String> {
        let code = code.trim();
        if code.is_empty() {
            return Err(format!("{field}: empty expression"));
        }
        if let Some(rest) = code.strip_prefix('/') {
            let tokens = rest
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect();
            return Ok(Expr::Pointer(tokens));
        }
        Program::compile(field, code).map(Expr::Jq)
    }

    fn compile_opt(field: &str, code: &Option<String>) -> Result<Option<Expr>, String> {
        code.as_deref()
            .and_then(optional)
            .map(|c| Expr::compile(field, c))
            .transpose()
    }

    /// The value at the pointer (null when absent), or the program's
    /// output (null when it yields nothing).
    fn eval(&self, input: &Val) -> Result<Val, String> {
        match self {
            Expr::Pointer(tokens) => {
                let mut at = input;
                for token in tokens {
                    let next = match at {
                        Val::Obj(_) => field(at, token),
                        Val::Arr(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                        _ => None,
                    };
                    match next {
                        Some(v) => at = v,
                        None => return Ok(Val::Null),
                    }
                }
                Ok(at.clone())
            }
            Expr::Jq(program) => program.run_at_most_one(input.clone()),
        }
    }

    /// The payload path a pointer reads under `base` (`items[3].sku`).
    fn source_path(&self, base: &str) -> Option<String> {
        let Expr::Pointer(tokens) = self else {
            return None;
        };
        let mut path = base.to_owned();
        for token in tokens {
            if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
                path.push_str(&format!("[{token}]"));
            } else {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(token);
            }
        }
        Some(if path.is_empty() {
            "body".to_owned()
        } else {
            path
        })
    }

    /// An error about this expression's value: at its payload path when it
    /// is a pointer, else at the canonical field, saying that jq computed it.
    fn error(&self, base: &str, canonical: &str, message: impl std::fmt::Display) -> InputError {
        match self.source_path(base) {
            Some(path) => InputError::new(path, message.to_string()),
            None => InputError::new(
                canonical,
                format!("{message} (computed by the mapping's jq program; source path unknown)"),
            ),
        }
    }
}

/// An expression with what it maps to: its errors' canonical name.
struct Field {
    expr: Expr,
    canonical: &'static str,
}

impl Field {
    fn compile(mapping_field: &str, canonical: &'static str, code: &str) -> Result<Field, String> {
        Ok(Field {
            expr: Expr::compile(mapping_field, code)?,
            canonical,
        })
    }

    fn compile_opt(
        mapping_field: &str,
        canonical: &'static str,
        code: &Option<String>,
    ) -> Result<Option<Field>, String> {
        Ok(Expr::compile_opt(mapping_field, code)?.map(|expr| Field { expr, canonical }))
    }

    /// Reads the value under `base` (the payload path of `input`), named
    /// `prefix` + canonical name in errors about jq-computed values.
    fn read<T>(
        &self,
        input: &Val,
        base: &str,
        prefix: &str,
        convert: impl FnOnce(&Val) -> Result<T, String>,
    ) -> Result<T, InputError> {
        let canonical = format!("{prefix}{}", self.canonical);
        let value = self
            .expr
            .eval(input)
            .map_err(|e| self.expr.error(base, &canonical, e))?;
        convert(&value).map_err(|e| self.expr.error(base, &canonical, e))
    }
}

struct CompiledSignature {
    header: String,
    encoding: SignatureEncoding,
    prefix: Option<String>,
}

struct CompiledPoll {
    path: String,
    since_param: String,
    since_format: SinceFormat,
    query: Vec<(String, String)>,
    items: Expr,
    next_cursor: Option<Expr>,
    cursor_param: Option<String>,
    link_header: bool,
    max_pages: u32,
}

struct CompiledConfirm {
    method: Method,
    path: String,
    body: Program,
    id: Expr,
}

struct CompiledFind {
    path: String,
    query: Vec<(String, String)>,
    results: Program,
}

struct CompiledAvailability {
    method: Method,
    path: String,
    per_sku: bool,
    body: Program,
    results: Option<Program>,
    batch_limit: usize,
}

struct CompiledLine {
    line_id: Option<Field>,
    sku: Field,
    title: Option<Field>,
    quantity: Field,
    unit_price: Field,
    discount: Option<Field>,
    tax: Option<Field>,
}

/// Every expression of a mapping, compiled.
struct CompiledMapping {
    version: u32,
    signature: Option<CompiledSignature>,
    message_key_header: Option<String>,
    message_key: Option<Expr>,
    external_order_id: Field,
    source_version: Field,
    cancelled: Option<Expr>,
    cancel_reason: Option<Expr>,
    placed_at: Field,
    currency: Field,
    customer_email: Field,
    customer_name: Field,
    customer_id: Option<Field>,
    customer_phone: Option<Field>,
    shipping_address: Option<Field>,
    billing_address: Option<Field>,
    lines: Field,
    line: CompiledLine,
    shipping: Option<Field>,
    total: Option<Field>,
    service_level: Option<Field>,
    tax_treatment: TaxTreatment,
    poll: Option<CompiledPoll>,
    confirm: Option<CompiledConfirm>,
    find: Option<CompiledFind>,
    availability: Option<CompiledAvailability>,
}

const SHIPMENT_PLACEHOLDERS: &[&str] = &["external_order_id", "package_id"];

impl CompiledMapping {
    fn compile(m: &ChannelMapping) -> Result<CompiledMapping, String> {
        if !SUPPORTED_MAPPING_VERSIONS.contains(&m.version) {
            return Err(format!(
                "version: {} is not a channel mapping version this hub knows (supported: {})",
                m.version,
                SUPPORTED_MAPPING_VERSIONS
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let signature = match &m.webhook.signature {
            Some(s) => {
                HeaderName::from_bytes(s.header.as_bytes()).map_err(|_| {
                    format!(
                        "webhook.signature.header: {:?} is not a header name",
                        s.header
                    )
                })?;
                if s.secret.is_none() && s.secret_env.is_none() {
                    return Err("webhook.signature: set secret_env or secret".to_owned());
                }
                Some(CompiledSignature {
                    header: s.header.clone(),
                    encoding: s.encoding,
                    prefix: s.prefix.clone(),
                })
            }
            None => None,
        };
        if let Some(h) = &m.webhook.message_key_header {
            HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| format!("webhook.message_key_header: {h:?} is not a header name"))?;
        }
        let e = &m.envelope;
        let o = &m.order;
        let l = &o.line;
        let line = CompiledLine {
            line_id: Field::compile_opt("order.line.line_id", "line_id", &l.line_id)?,
            sku: Field::compile("order.line.sku", "sku", &l.sku)?,
            title: Field::compile_opt("order.line.title", "title", &l.title)?,
            quantity: Field::compile("order.line.quantity", "quantity", &l.quantity)?,
            unit_price: Field::compile("order.line.unit_price", "unit_price", &l.unit_price)?,
            discount: Field::compile_opt("order.line.discount", "discount", &l.discount)?,
            tax: Field::compile_opt("order.line.tax", "tax", &l.tax)?,
        };
        let poll = match &m.poll {
            Some(p) => {
                check_template("poll.path", &p.path, &[])?;
                if p.next_cursor.is_some() != p.cursor_param.is_some() {
                    return Err(
                        "poll.cursor_param: next_cursor and cursor_param go together".to_owned(),
                    );
                }
                if p.max_pages == 0 {
                    return Err("poll.max_pages: must be at least 1".to_owned());
                }
                Some(CompiledPoll {
                    path: p.path.clone(),
                    since_param: p.since_param.clone(),
                    since_format: p.since_format,
                    query: p.query.clone(),
                    items: Expr::compile("poll.items", &p.items)?,
                    next_cursor: Expr::compile_opt("poll.next_cursor", &p.next_cursor)?,
                    cursor_param: p.cursor_param.clone(),
                    link_header: p.link_header,
                    max_pages: p.max_pages,
                })
            }
            None => None,
        };
        let confirm = match &m.confirm_shipment {
            Some(c) => {
                let method = write_method("confirm_shipment.method", &c.method)?;
                check_template("confirm_shipment.path", &c.path, SHIPMENT_PLACEHOLDERS)?;
                Some(CompiledConfirm {
                    method,
                    path: c.path.clone(),
                    body: Program::compile("confirm_shipment.body", &c.body)?,
                    id: Expr::compile("confirm_shipment.id", &c.id)?,
                })
            }
            None => None,
        };
        let find = match &m.find_shipment {
            Some(f) => {
                check_template("find_shipment.path", &f.path, SHIPMENT_PLACEHOLDERS)?;
                for (key, value) in &f.query {
                    check_template(
                        &format!("find_shipment.query.{key}"),
                        value,
                        SHIPMENT_PLACEHOLDERS,
                    )?;
                }
                Some(CompiledFind {
                    path: f.path.clone(),
                    query: f.query.clone(),
                    results: Program::compile("find_shipment.results", &f.results)?,
                })
            }
            None => None,
        };
        let availability = match &m.availability {
            Some(a) => {
                check_template("availability.path", &a.path, &["sku"])?;
                if a.batch_limit == 0 {
                    return Err("availability.batch_limit: must be at least 1".into());
                }
                Some(CompiledAvailability {
                    method: write_method("availability.method", &a.method)?,
                    path: a.path.clone(),
                    per_sku: a.path.contains("{sku}"),
                    body: Program::compile("availability.body", &a.body)?,
                    results: a
                        .results
                        .as_deref()
                        .map(|r| Program::compile("availability.results", r))
                        .transpose()?,
                    batch_limit: a.batch_limit,
                })
            }
            None => None,
        };
        Ok(CompiledMapping {
            version: m.version,
            signature,
            message_key_header: m.webhook.message_key_header.clone(),
            message_key: Expr::compile_opt("webhook.message_key", &m.webhook.message_key)?,
            external_order_id: Field::compile(
                "envelope.external_order_id",
                "external_id",
                &e.external_order_id,
            )?,
            source_version: Field::compile(
                "envelope.source_version",
                "source_version",
                &e.source_version,
            )?,
            cancelled: Expr::compile_opt("envelope.cancelled", &e.cancelled)?,
            cancel_reason: Expr::compile_opt("envelope.cancel_reason", &e.cancel_reason)?,
            placed_at: Field::compile("order.placed_at", "placed_at", &o.placed_at)?,
            currency: Field::compile("order.currency", "currency", &o.currency)?,
            customer_email: Field::compile(
                "order.customer_email",
                "customer.email",
                &o.customer_email,
            )?,
            customer_name: Field::compile(
                "order.customer_name",
                "customer.name",
                &o.customer_name,
            )?,
            customer_id: Field::compile_opt(
                "order.customer_id",
                "customer.external_id",
                &o.customer_id,
            )?,
            customer_phone: Field::compile_opt(
                "order.customer_phone",
                "customer.phone",
                &o.customer_phone,
            )?,
            shipping_address: Field::compile_opt(
                "order.shipping_address",
                "shipping_address",
                &o.shipping_address,
            )?,
            billing_address: Field::compile_opt(
                "order.billing_address",
                "billing_address",
                &o.billing_address,
            )?,
            lines: Field::compile("order.lines", "lines", &o.lines)?,
            line,
            shipping: Field::compile_opt("order.shipping", "shipping", &o.shipping)?,
            total: Field::compile_opt("order.total", "total", &o.total)?,
            service_level: Field::compile_opt(
                "order.service_level",
                "service_level",
                &o.service_level,
            )?,
            tax_treatment: o.tax_treatment,
            poll,
            confirm,
            find,
            availability,
        })
    }

    /// The order id and source version of a payload.
    fn envelope(&self, payload: &Val) -> Result<(String, i64), InputError> {
        let id = self
            .external_order_id
            .read(payload, "", "", required_string)?;
        let version = self.source_version.read(payload, "", "", version_ms)?;
        Ok((id, version))
    }

    fn map_message(&self, channel: &str, body: &[u8]) -> Result<ChannelEvent, InputError> {
        let payload = parse_payload(body)?;
        let (external_order_id, source_version) = self.envelope(&payload)?;
        if let Some(cancelled) = &self.cancelled {
            let value = cancelled
                .eval(&payload)
                .map_err(|e| cancelled.error("", "envelope.cancelled", e))?;
            let is_cancelled = match value {
                Val::Bool(b) => b,
                Val::Null => false,
                other => {
                    return Err(cancelled.error(
                        "",
                        "envelope.cancelled",
                        format!("expected a boolean, got {}", kind(&other)),
                    ));
                }
            };
            if is_cancelled {
                let reason = match &self.cancel_reason {
                    Some(expr) => {
                        let value = expr
                            .eval(&payload)
                            .map_err(|e| expr.error("", "envelope.cancel_reason", e))?;
                        optional_string(&value)
                            .map_err(|e| expr.error("", "envelope.cancel_reason", e))?
                    }
                    None => None,
                };
                return Ok(ChannelEvent::Cancelled {
                    external_order_id,
                    source_version,
                    reason: reason.unwrap_or_else(|| DEFAULT_CANCEL_REASON.to_owned()),
                });
            }
        }
        let order = self.map_order(channel, &payload, external_order_id, source_version)?;
        Ok(ChannelEvent::Order(Box::new(order)))
    }

    fn map_order(
        &self,
        channel: &str,
        payload: &Val,
        external_id: String,
        source_version: i64,
    ) -> Result<Order, InputError> {
        let p = payload;
        let currency = self.currency.read(p, "", "", |v| {
            let code = required_string(v)?;
            currency("", &code).map_err(|e| e.message)
        })?;
        let placed_at = self.placed_at.read(p, "", "", timestamp)?;
        let money = |field: &Option<Field>, prefix: &str, input: &Val, base: &str| match field {
            Some(f) => f.read(input, base, prefix, |v| amount(v, currency)),
            None => Ok(Money::new(Decimal::ZERO, currency)),
        };
        let opt_string = |field: &Option<Field>| match field {
            Some(f) => f.read(p, "", "", optional_string),
            None => Ok(None),
        };
        let address = |field: &Option<Field>| -> Result<Option<Address>, InputError> {
            let Some(f) = field else { return Ok(None) };
            let value = f
                .expr
                .eval(p)
                .map_err(|e| f.expr.error("", f.canonical, e))?;
            address(&value).map_err(|(key, e)| {
                let canonical = match key {
                    Some(k) => format!("{}.{k}", f.canonical),
                    None => f.canonical.to_owned(),
                };
                match (f.expr.source_path(""), key) {
                    (Some(path), Some(k)) => InputError::new(format!("{path}.{k}"), e),
                    _ => f.expr.error("", &canonical, e),
                }
            })
        };
        let customer = Customer {
            external_id: opt_string(&self.customer_id)?,
            email: self.customer_email.read(p, "", "", required_string)?,
            name: self.customer_name.read(p, "", "", required_string)?,
            phone: opt_string(&self.customer_phone)?,
        };
        let shipping_address = address(&self.shipping_address)?;
        let billing_address = address(&self.billing_address)?;
        let items = self.lines.read(p, "", "", |v| match v {
            Val::Arr(items) if items.is_empty() => {
                Err("an order needs at least one item".to_owned())
            }
            Val::Arr(items) => Ok(items.iter().cloned().collect::<Vec<Val>>()),
            Val::Null => Err("missing field".to_owned()),
            other => Err(format!("expected an array of lines, got {}", kind(other))),
        })?;
        let lines_base = self.lines.expr.source_path("");
        let mut lines = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            // Payload path of this element when `lines` is a pointer; the
            // canonical `lines[i].` prefix names jq-computed fields.
            let base = match &lines_base {
                Some(b) => format!("{b}[{i}]"),
                None => format!("lines[{i}]"),
            };
            let prefix = format!("lines[{i}].");
            let l = &self.line;
            let line_id = match &l.line_id {
                Some(f) => f.read(item, &base, &prefix, required_string)?,
                None => (i + 1).to_string(),
            };
            let title = match &l.title {
                Some(f) => f.read(item, &base, &prefix, optional_string)?,
                None => None,
            };
            lines.push(OrderLine {
                line_id,
                sku: l.sku.read(item, &base, &prefix, required_string)?,
                title: title.unwrap_or_default(),
                quantity: l.quantity.read(item, &base, &prefix, quantity)?,
                unit_price: l
                    .unit_price
                    .read(item, &base, &prefix, |v| amount(v, currency))?,
                discount: money(&l.discount, &prefix, item, &base)?,
                tax: money(&l.tax, &prefix, item, &base)?,
                shipped_quantity: 0,
                cancelled_quantity: 0,
            });
        }
        let shipping = money(&self.shipping, "", p, "")?;
        let service_level = opt_string(&self.service_level)?.unwrap_or_else(|| "standard".into());
        let mut order = Order {
            id: order_id_for(channel, &external_id),
            channel: channel.to_owned(),
            external_id,
            source_version,
            placed_at,
            currency,
            customer,
            shipping_address,
            billing_address,
            lines,
            shipping,
            total: Money::new(Decimal::ZERO, currency),
            tax_treatment: self.tax_treatment,
            service_level,
            status: OrderStatus::Received,
            erp_ref: None,
        };
        order.total = match &self.total {
            Some(f) => f.read(p, "", "", |v| amount(v, currency))?,
            // Totals are Rust arithmetic on exact decimals, never jq's.
            None => order
                .computed_total()
                .map_err(|e| InputError::new("total", format!("cannot compute: {e}")))?,
        };
        Ok(order)
    }
}

/// A required string: a non-blank string, or a number's literal text (ids).
fn required_string(v: &Val) -> Result<String, String> {
    match v {
        Val::Null => Err("missing field".to_owned()),
        Val::TStr(s) if text(s).trim().is_empty() => Err("must not be empty".to_owned()),
        Val::TStr(s) => Ok(text(s)),
        Val::Num(n) => exact_number(n),
        other => Err(format!("expected a string, got {}", kind(other))),
    }
}

/// An optional string: null and blank are absent.
fn optional_string(v: &Val) -> Result<Option<String>, String> {
    match v {
        Val::Null => Ok(None),
        other => match required_string(other) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e == "must not be empty" => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// A non-negative amount, exact.
fn amount(v: &Val, currency: crossdock_model::Currency) -> Result<Money, String> {
    let amount = exact_decimal(v)?;
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err("must not be negative".to_owned());
    }
    Ok(Money::new(amount, currency))
}

fn integer(v: &Val) -> Result<i64, String> {
    match v {
        Val::Num(n) => exact_number(n)?
            .parse::<i64>()
            .map_err(|_| format!("expected an integer, got {n}")),
        Val::Null => Err("missing field".to_owned()),
        other => Err(format!("expected an integer, got {}", kind(other))),
    }
}

fn quantity(v: &Val) -> Result<u32, String> {
    let q = integer(v)?;
    if q < 0 {
        return Err("must not be negative".to_owned());
    }
    u32::try_from(q).map_err(|_| "too large".to_owned())
}

fn rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("expected an RFC 3339 time, got {s:?}"))
}

/// An RFC 3339 string or ms since the epoch.
fn timestamp(v: &Val) -> Result<DateTime<Utc>, String> {
    match v {
        Val::TStr(s) => rfc3339(&text(s)),
        Val::Num(_) => {
            let ms = integer(v)?;
            DateTime::<Utc>::from_timestamp_millis(ms)
                .ok_or_else(|| format!("{ms} ms is out of range"))
        }
        Val::Null => Err("missing field".to_owned()),
        other => Err(format!(
            "expected an RFC 3339 time or ms since the epoch, got {}",
            kind(other)
        )),
    }
}

/// A source version: an integer (or its text), or an RFC 3339 time in ms.
fn version_ms(v: &Val) -> Result<i64, String> {
    match v {
        Val::TStr(s) => {
            let s = text(s);
            match s.trim().parse::<i64>() {
                Ok(n) => Ok(n),
                Err(_) => rfc3339(&s)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| format!("expected an integer or an RFC 3339 time, got {s:?}")),
            }
        }
        other => integer(other),
    }
}

/// A canonical address from an object with the canonical keys; null is
/// none. An error names the key it is about, if any.
fn address(v: &Val) -> Result<Option<Address>, (Option<&'static str>, String)> {
    if matches!(v, Val::Null) {
        return Ok(None);
    }
    if !matches!(v, Val::Obj(_)) {
        return Err((None, format!("expected an address object, got {}", kind(v))));
    }
    let get = |k: &str| field(v, k).cloned().unwrap_or(Val::Null);
    let required = |k: &'static str| required_string(&get(k)).map_err(|e| (Some(k), e));
    let optional = |k: &'static str| optional_string(&get(k)).map_err(|e| (Some(k), e));
    Ok(Some(Address {
        name: optional("name")?.unwrap_or_default(),
        line1: required("line1")?,
        line2: optional("line2")?,
        city: optional("city")?.unwrap_or_default(),
        region: optional("region")?,
        postal_code: optional("postal_code")?.unwrap_or_default(),
        country: required("country")?,
    }))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The `rel="next"` URL of the answer's `Link` headers.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|entry| {
            let (target, params) = entry.trim().split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| target.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_name_payload_paths() {
        let e = Expr::compile("f", "/items/3/unit_price").unwrap();
        assert_eq!(e.source_path("").as_deref(), Some("items[3].unit_price"));
        assert_eq!(
            Expr::compile("f", "/sku")
                .unwrap()
                .source_path("items[2]")
                .as_deref(),
            Some("items[2].sku")
        );
        assert!(
            Expr::compile("f", ".a | .b")
                .unwrap()
                .source_path("")
                .is_none()
        );
    }

    #[test]
    fn amounts_are_exact_and_floats_refused() {
        let val = |s: &str| jaq_json::read::parse_single(s.as_bytes()).unwrap();
        let usd = crossdock_model::Currency::USD;
        assert_eq!(
            amount(&val("19.99"), usd).unwrap().amount,
            Decimal::new(1999, 2)
        );
        assert_eq!(
            amount(&val("\"0.10\""), usd).unwrap().amount.to_string(),
            "0.10"
        );
        let float = Program::compile("t", ".x * 1.5")
            .unwrap()
            .run_one(val(r#"{"x": 2}"#))
            .unwrap();
        assert!(amount(&float, usd).is_err());
        assert!(
            amount(&val("\"-1\""), usd)
                .unwrap_err()
                .contains("negative")
        );
    }

    #[test]
    fn link_headers_and_hex() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(
                r#"<https://x/o?page=1>; rel="previous", <https://x/o?page=3>; rel="next""#,
            ),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://x/o?page=3"));
        assert_eq!(decode_hex("0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("0g"), None);
    }

    #[test]
    fn versions_read_numbers_and_times() {
        let val = |s: &str| jaq_json::read::parse_single(s.as_bytes()).unwrap();
        assert_eq!(version_ms(&val("7")).unwrap(), 7);
        assert_eq!(
            version_ms(&val("\"1970-01-01T00:00:01.5Z\"")).unwrap(),
            1500
        );
        assert!(version_ms(&val("\"soon\"")).is_err());
    }
}
