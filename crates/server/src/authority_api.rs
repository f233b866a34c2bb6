//! `GET /v1/authority` (scope `read`): the system-of-record registry the
//! hub enforces, and what it kept and did not apply — counts per kind and
//! source, the latest kept updates and the latest kept stock rows. `crossdock authority show` prints
//! the same registry from a configuration file.

use axum::extract::State;

use crate::bodies::{AuthorityQuery, AuthorityView, UnappliedCount};
use crate::extract::ApiQuery;
use crate::schema::QueryOf;
use crate::{Answer, AppState, ok};

#[utoipa::path(get, path = "/v1/authority", tag = "hub",
    params(QueryOf<AuthorityQuery>),
    responses(
        (status = 200, description = "The registry and what was kept, not applied", body = ref("#/components/schemas/AuthorityView"), content_type = "application/json"),
        (status = 400, description = "A query parameter that does not parse, such as an unknown kind (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
pub(crate) async fn get_authority(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AuthorityQuery>,
) -> Answer<AuthorityView> {
    let store = s.engine.store();
    let mut unapplied: std::collections::BTreeMap<String, UnappliedCount> =
        crossdock_model::DataKind::ALL
            .iter()
            .map(|k| (k.as_str().to_owned(), UnappliedCount::default()))
            .collect();
    for (kind, source, n) in store.unapplied_update_counts().await? {
        let entry = unapplied.entry(kind).or_default();
        entry.total += n;
        *entry.by_source.entry(source).or_default() += n;
    }
    let limit = q.limit.map_or(50, |l| l as usize).min(1000);
    let kind = q.kind.map(|k| k.as_str());
    let recent = store.unapplied_updates(kind, limit).await?;
    let recent_stock_reports = match q.kind {
        None | Some(crossdock_model::DataKind::Stock) => store.latest_stock_reports(limit).await?,
        Some(_) => Vec::new(),
    };
    ok(AuthorityView {
        registry: s.engine.authority().clone(),
        unapplied,
        recent,
        recent_stock_reports,
    })
}
