//! The JSON bodies of `/v1`, typed: what the handlers send and take. The
//! OpenAPI document (`openapi.rs`) takes their schemas from these same
//! types (schemars, with serde's attributes), so the contract describes the
//! bytes the hub really writes; schemathesis checks answers against it.

use std::collections::BTreeMap;

use crossdock_engine::availability::ChannelSyncStats;
use crossdock_engine::governor::GovernorStatus;
use crossdock_model::{ExceptionRecord, Order};
use crossdock_store::{
    ApiAuditEntry, ApiKey, ApiScope, AuditEvent, Effect, InboxCounts, PositionRow, QueueStats,
    ReservationRow, StoredShipment,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `GET /v1/orders`, `GET /v1/orders/held`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderList {
    pub orders: Vec<Order>,
}

/// `GET /v1/orders/{id}`: the order with what the hub did for it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderDetail {
    pub order: Order,
    pub shipments: Vec<StoredShipment>,
    pub reservations: Vec<ReservationRow>,
    /// Calls to other systems made for the order, with their outcome.
    pub effects: Vec<Effect>,
}

/// `GET /v1/orders/{id}/timeline`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderTimeline {
    pub order_id: String,
    pub events: Vec<AuditEvent>,
}

/// `POST /v1/orders/{id}/release` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Why the operator released the order (kept on its timeline); not blank.
    #[schemars(pattern(r"\S"))]
    pub reason: String,
}

/// `POST /v1/orders/{id}/release` answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Released {
    pub order_id: String,
    /// The rule whose hold was released.
    pub released: String,
}

/// `GET /v1/exceptions`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExceptionList {
    pub exceptions: Vec<ExceptionRecord>,
}

/// `POST /v1/exceptions/replay`, `POST /v1/exceptions/{id}/replay`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Replayed {
    /// How many exceptions were replayed (`exceptions.len()`).
    pub replayed: usize,
    pub exceptions: Vec<ExceptionRecord>,
}

/// `GET /v1/inventory`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PositionList {
    pub positions: Vec<PositionRow>,
}

/// `GET /v1/inventory/{sku}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SkuPositions {
    pub sku: String,
    /// Σ (on hand − reserved) over the SKU's locations.
    pub available: i64,
    pub positions: Vec<PositionRow>,
}

/// `GET /v1/availability`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AvailabilityStats {
    pub channels: Vec<ChannelSyncStats>,
}

/// `GET /v1/stats`: what the hub holds and does, by state.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Stats {
    /// Orders by status.
    pub orders: BTreeMap<String, i64>,
    pub inbox: InboxCounts,
    pub jobs: QueueStats,
    /// Jobs waiting without spending attempts, by why: a breaker, a rate
    /// limit, or an order its channel holds back (`pending_payment`).
    pub waiting: BTreeMap<String, i64>,
    pub exceptions: Vec<ExceptionCount>,
    pub effects: Vec<EffectCount>,
    /// The ERP's governor, when the hub has one.
    pub erp_governor: Option<GovernorStatus>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExceptionCount {
    pub class: String,
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EffectCount {
    pub target: String,
    pub status: String,
    pub count: i64,
}

/// `GET /v1/keys`: live keys, never their secrets.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyList {
    pub keys: Vec<ApiKey>,
}

/// `POST /v1/keys` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// 1 to 64 letters, digits, `-`, `_` or `.`; unique among live keys.
    #[schemars(pattern(r"^[A-Za-z0-9._-]{1,64}$"))]
    pub name: String,
    pub scopes: Scopes,
    /// Requests a second; none = no limit.
    #[schemars(range(min = 1, max = 4294967295_u32))]
    pub rate_per_sec: Option<u32>,
    /// Requests a UTC day; none = no quota.
    #[schemars(range(min = 1, max = 18446744073709551615_u64))]
    pub daily_quota: Option<u64>,
    /// How long the key lives: a whole number (no leading zero, at most six
    /// digits) of seconds, minutes, hours, days or weeks, such as `90d`;
    /// none = until revoked.
    #[schemars(pattern(r"^[1-9][0-9]{0,5}[smhdw]$"))]
    pub expires_in: Option<String>,
}

/// Scopes as a list or as `"read,operate"` (no spaces).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scopes {
    List(#[schemars(length(min = 1))] Vec<ApiScope>),
    Text(#[schemars(pattern(r"^(read|operate|admin)(,(read|operate|admin))*$"))] String),
}

/// `POST /v1/keys` answer: the key and its secret, shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedKey {
    pub key: ApiKey,
    /// `cdk_…`: send as `Authorization: Bearer <secret>`. Only its SHA-256
    /// is kept; it cannot be shown again.
    pub secret: String,
}

/// `POST /v1/keys/{name}/revoke` answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RevokedKey {
    pub revoked: String,
}

/// `GET /v1/audit` query.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AuditQuery {
    /// Only this key's writes.
    pub key: Option<String>,
    /// At most this many entries, newest first (default 100; at most
    /// 10000, below 0 counts as 0).
    pub limit: Option<i64>,
}

/// `GET /v1/audit`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditList {
    pub entries: Vec<ApiAuditEntry>,
}

/// `GET /v1/config/versions` query.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct VersionsQuery {
    /// At most this many versions, newest first (default 100).
    pub limit: Option<i64>,
}

/// `GET /v1/config/versions`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigVersionList {
    pub versions: Vec<crossdock_store::ConfigVersion>,
}

/// `GET /v1/authority` query.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AuthorityQuery {
    /// Only the latest kept updates of this kind.
    pub kind: Option<crossdock_model::DataKind>,
    /// How many of the latest kept updates to list (default 50, at most 1000).
    pub limit: Option<u32>,
}

/// Updates of one kind kept and not applied.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct UnappliedCount {
    pub total: i64,
    /// Per sending system (`channel:<name>`, `warehouse:<name>`, `erp`).
    pub by_source: BTreeMap<String, i64>,
}

/// `GET /v1/authority`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuthorityView {
    /// The registry in force, built-in owners filled in.
    pub registry: crossdock_model::Authority,
    /// Per kind of data.
    pub unapplied: BTreeMap<String, UnappliedCount>,
    /// The latest kept updates, newest first.
    pub recent: Vec<crossdock_store::UnappliedUpdate>,
    /// The latest stock report rows kept and not applied.
    pub recent_stock_reports: Vec<crossdock_store::StockReport>,
}

/// `GET /v1/settlements`: settlements, the latest import first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SettlementList {
    pub settlements: Vec<crossdock_engine::settlements::SettlementListItem>,
}

/// `GET /v1/settlement-residuals`: the residual ledger.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ResidualList {
    pub residuals: Vec<crossdock_engine::settlements::ResidualView>,
}

/// `GET /v1/settlements` query.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SettlementQuery {
    /// At most this many (default 100; at most 1000, below 1 counts as 1).
    pub limit: Option<u32>,
}

/// `GET /v1/settlement-residuals` query.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ResidualQuery {
    /// Only the open ones.
    pub open: Option<bool>,
    /// Of one settlement only (`channel:settlement_id`).
    pub settlement: Option<String>,
}

/// The report formats `POST /v1/settlements?from=` reads: `amazon-v2`
/// (Amazon `GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`, the TSV file as the
/// body), `shopify-payout` (a Shopify Payments payout: the body is
/// `{"payout": …, "transactions": …}`, the two documents as Shopify answers
/// them), `walmart-recon` (Walmart's reconciliation report v1, the CSV as
/// the body). The variants carry no doc comments of their own: documented
/// variants become a `oneOf` of strings, which a query parameter's schema
/// cannot be generated from.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub enum SettlementFormatName {
    #[serde(rename = "amazon-v2")]
    AmazonV2,
    #[serde(rename = "shopify-payout")]
    ShopifyPayout,
    #[serde(rename = "walmart-recon")]
    WalmartRecon,
}

/// `POST /v1/settlements?from=` query.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    pub from: SettlementFormatName,
    /// The channel the settlement belongs to (default: the format's
    /// marketplace: amazon, shopify, walmart).
    #[serde(default)]
    pub channel: Option<String>,
}

/// `POST /v1/settlement-residuals/{id}/resolve` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// `mapped`, `matched` or `written_off`.
    pub resolution: crossdock_model::ResolutionKind,
    /// Why (kept with the resolution); not blank.
    #[schemars(pattern(r"\S"))]
    pub note: String,
}
