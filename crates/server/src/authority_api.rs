//! `GET /v1/authority` (scope `read`): the system-of-record registry the
//! hub enforces, and what it kept and did not apply — counts per kind and
//! source, the latest kept updates and the latest kept stock rows. `crossdock authority show` prints
//! the same registry from a configuration file.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use crossdock_model::ErrorCode;
use serde::Deserialize;
use serde_json::json;

use crate::{ApiError, AppState};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorityQuery {
    /// Only the latest kept updates of this kind (`order_status`, …).
    kind: Option<String>,
    /// How many of the latest kept updates to list (default 50, at most 1000).
    limit: Option<usize>,
}

pub(crate) async fn get_authority(
    State(s): State<AppState>,
    Query(q): Query<AuthorityQuery>,
) -> Result<Response, ApiError> {
    if let Some(kind) = &q.kind
        && crossdock_model::DataKind::parse(kind).is_none()
    {
        return Err(ApiError::bad_request(
            ErrorCode::ApiBadRequest,
            format!("kind: {kind:?} is not a kind of data the registry names"),
        ));
    }
    let store = s.engine.store();
    let mut unapplied: BTreeMap<String, serde_json::Value> = crossdock_model::DataKind::ALL
        .iter()
        .map(|k| {
            (
                k.as_str().to_owned(),
                json!({ "total": 0, "by_source": {} }),
            )
        })
        .collect();
    for (kind, source, n) in store.unapplied_update_counts().await? {
        let entry = unapplied
            .entry(kind)
            .or_insert_with(|| json!({ "total": 0, "by_source": {} }));
        entry["total"] = json!(entry["total"].as_i64().unwrap_or(0) + n);
        entry["by_source"][source] = json!(n);
    }
    let limit = q.limit.unwrap_or(50).min(1000);
    let recent = store.unapplied_updates(q.kind.as_deref(), limit).await?;
    let recent_stock = match q.kind.as_deref() {
        None | Some("stock") => store.latest_stock_reports(limit).await?,
        Some(_) => Vec::new(),
    };
    Ok(axum::Json(json!({
        "registry": s.engine.authority(),
        "unapplied": unapplied,
        "recent": recent,
        "recent_stock_reports": recent_stock,
    }))
    .into_response())
}
