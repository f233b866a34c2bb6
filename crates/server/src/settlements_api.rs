//! `/v1/settlements`: marketplace settlements imported, explained and
//! resolved — the same code as `crossdock settlement` (the engine's
//! `settlements` module). Reads need `read`; importing a file and
//! resolving a residual need `operate`. Nothing here calls the ERP: an
//! import or a resolution queues the job that posts the journal.

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use crossdock_engine::settlements::{
    ImportError, ImportOutcome, ImportReport, ImportRequest, ResidualView, ResolveError,
    SettlementListItem, SettlementView, import_settlement, residual_views, resolve_residual,
    settlement_view,
};
use crossdock_model::{ErrorCode, SettlementFormat};
use crossdock_store::StoreError;
use serde_json::value::RawValue;

use crate::auth::Caller;
use crate::bodies::{
    ImportQuery, ResidualList, ResidualQuery, ResolveRequest, SettlementFormatName, SettlementList,
    SettlementQuery,
};
use crate::extract::{ApiPath, ApiQuery};
use crate::schema::QueryOf;
use crate::{Answer, ApiError, AppState, actor, ok};

/// The largest settlement file the API takes (a 100 MB Amazon V2 file fits).
const MAX_FILE_BYTES: usize = 256 * 1024 * 1024;

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(m) => ApiError::bad_request(ErrorCode::ApiBadRequest, m),
        other => ApiError::unavailable(other),
    }
}

/// Settlements, the latest import first.
#[utoipa::path(get, path = "/v1/settlements", tag = "settlements",
    params(QueryOf<SettlementQuery>),
    responses(
        (status = 200, description = "Settlements", body = ref("#/components/schemas/SettlementList"), content_type = "application/json"),
        (status = 400, description = "A query parameter that does not parse (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
pub(crate) async fn list_settlements(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<SettlementQuery>,
) -> Answer<SettlementList> {
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
    let list = s.engine.store().settlements(limit).await?;
    ok(SettlementList {
        settlements: list.iter().map(SettlementListItem::from).collect(),
    })
}

/// One settlement explained: categories, orders, tax, reserve, residuals, status.
#[utoipa::path(get, path = "/v1/settlements/{id}", tag = "settlements",
    params(("id" = String, Path, description = "`channel:settlement_id`, or the settlement id alone when one channel holds it")),
    responses(
        (status = 200, description = "The settlement", body = ref("#/components/schemas/SettlementView"), content_type = "application/json"),
        (status = 400, description = "A settlement id several channels hold (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
        (status = 404, description = "No such settlement (CD-API-0404)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
pub(crate) async fn get_settlement(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Answer<SettlementView> {
    let store = s.engine.store();
    let settlement = store
        .settlement(&id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("no settlement {id:?}")))?;
    ok(settlement_view(store, &settlement).await?)
}

/// The residual ledger: amounts that did not match, open or resolved.
#[utoipa::path(get, path = "/v1/settlement-residuals", tag = "settlements",
    params(QueryOf<ResidualQuery>),
    responses(
        (status = 200, description = "Residuals", body = ref("#/components/schemas/ResidualList"), content_type = "application/json"),
        (status = 400, description = "A query parameter that does not parse (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
pub(crate) async fn list_residuals(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ResidualQuery>,
) -> Answer<ResidualList> {
    let store = s.engine.store();
    let residuals = store
        .residuals(q.settlement.as_deref(), q.open.unwrap_or(false))
        .await?;
    ok(ResidualList {
        residuals: residual_views(&residuals),
    })
}

/// The Shopify body `{"payout": …, "transactions": …}`, each document kept
/// as written (so amounts and ids are read from their text).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopifyBody<'a> {
    #[serde(borrow)]
    payout: &'a RawValue,
    #[serde(borrow)]
    transactions: &'a RawValue,
}

/// Import a settlement file (the body): read, reconciled against the orders
/// the hub saw, stored with its residuals, all or nothing; its journal is
/// queued for the ERP. The same settlement again changes nothing (200).
#[utoipa::path(post, path = "/v1/settlements", tag = "settlements",
    params(QueryOf<ImportQuery>),
    request_body(content = String, description = "The report file (Shopify: `{\"payout\": …, \"transactions\": …}`)", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Imported", body = ref("#/components/schemas/ImportReport"), content_type = "application/json"),
        (status = 200, description = "Already imported: nothing changed", body = ref("#/components/schemas/ImportReport"), content_type = "application/json"),
        (status = 400, description = "A file that does not read (line, column, raw value) or a bad query (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
        (status = 413, description = "A file over 256 MiB (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
pub(crate) async fn import(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: Body,
) -> Answer<ImportReport> {
    let bytes: Bytes = axum::body::to_bytes(body, MAX_FILE_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::ApiBadRequest,
                format!("settlement file exceeds {MAX_FILE_BYTES} bytes"),
            )
        })?;
    let bad = |m: String| ApiError::bad_request(ErrorCode::ApiBadRequest, m);
    let (format, file, transactions) = match q.from {
        SettlementFormatName::AmazonV2 => (SettlementFormat::AmazonV2, &bytes[..], None),
        SettlementFormatName::WalmartRecon => (SettlementFormat::WalmartRecon, &bytes[..], None),
        SettlementFormatName::ShopifyPayout => {
            let b: ShopifyBody<'_> = serde_json::from_slice(&bytes).map_err(|e| {
                bad(format!(
                    "body: expected {{\"payout\": …, \"transactions\": …}}: {e}"
                ))
            })?;
            (
                SettlementFormat::ShopifyPayout,
                b.payout.get().as_bytes(),
                Some(b.transactions.get().as_bytes()),
            )
        }
    };
    let req = ImportRequest {
        format,
        file,
        transactions,
        channel: q.channel.as_deref(),
        now: s.engine.clock().now_ms(),
    };
    match import_settlement(s.engine.store(), &req).await {
        Ok(report) => {
            let status = match report.outcome {
                ImportOutcome::Imported => StatusCode::CREATED,
                ImportOutcome::AlreadyImported => StatusCode::OK,
            };
            Ok((status, axum::Json(report)))
        }
        Err(ImportError::Store(e)) => Err(store_error(e)),
        Err(e) => Err(bad(format!("settlement refused, nothing stored: {e}"))),
    }
}

/// Resolve a residual (mapped, matched or written off); its amount leaves
/// suspense with a delta journal queued for the ERP.
#[utoipa::path(post, path = "/v1/settlement-residuals/{id}/resolve", tag = "settlements",
    params(
        ("id" = String, Path, description = "The residual's id (`channel:settlement_id:n`)"),
        ("X-Crossdock-Actor" = Option<String>, Header, description = "The person a shared key acts for (recorded, not verified)"),
    ),
    request_body(content = ref("#/components/schemas/ResolveRequest"), content_type = "application/json"),
    responses(
        (status = 200, description = "Resolved", body = ref("#/components/schemas/ResidualView"), content_type = "application/json"),
        (status = 400, description = "No body, a body of another shape, or an empty note (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
        (status = 404, description = "No such residual (CD-API-0404)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
        (status = 409, description = "Resolved already (CD-API-0409)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
pub(crate) async fn resolve(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<ResidualView> {
    let req: ResolveRequest = crate::extract::json_object(
        &body,
        "body: expected {\"resolution\": \"mapped|matched|written_off\", \"note\": \"…\"}",
    )?;
    if req.note.trim().is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::ApiBadRequest,
            "note: say why the residual is resolved",
        ));
    }
    let now = s.engine.clock().now_ms();
    let who = actor(&caller, &headers);
    match resolve_residual(s.engine.store(), &id, req.resolution, &who, &req.note, now).await {
        Ok(r) => ok(residual_views(std::slice::from_ref(&r)).remove(0)),
        Err(e @ ResolveError::NotFound(_)) => Err(ApiError::not_found(e.to_string())),
        Err(e @ ResolveError::AlreadyResolved(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::ApiConflict,
            e.to_string(),
        )),
        Err(ResolveError::Store(e)) => Err(store_error(e)),
    }
}
