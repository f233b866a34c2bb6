//! `/v1/keys` and `/v1/audit` (scope `admin`): the API keys without their
//! secrets, a new key (its secret in the answer, once), a revocation, and
//! the audit of writes. `crossdock keys` does the same on the store.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use crossdock_model::ErrorCode;
use crossdock_store::ApiScope;

use crate::auth::{KeySpec, KeysError};
use crate::bodies::{
    AuditList, AuditQuery, CreatedKey, KeyList, NewKeyRequest, RevokedKey, Scopes,
};
use crate::extract::{ApiPath, ApiQuery};
use crate::schema::QueryOf;
use crate::{Answer, ApiError, AppState, ok};

/// Live API keys, without their secrets.
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses(
        (status = 200, description = "The live keys", body = ref("#/components/schemas/KeyList"), content_type = "application/json"),
    ))]
pub(crate) async fn list_keys(State(s): State<AppState>) -> Answer<KeyList> {
    let keys = s.keys.store().api_keys(false).await?;
    ok(KeyList { keys })
}

/// `expires_in`: a whole number of seconds, minutes, hours, days or weeks
/// (`90d`), 1 to 999999 of them — the grammar the contract states.
fn expires_in(text: &str) -> Result<std::time::Duration, String> {
    let refuse = || format!("expires_in {text:?}: a number and s, m, h, d or w, such as \"90d\"");
    let split = text.char_indices().last().map_or(0, |(i, _)| i);
    let (digits, unit) = text.split_at(split);
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(refuse()),
    };
    let well_formed = (1..=6).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(refuse());
    }
    let n: u64 = digits.parse().map_err(|_| refuse())?;
    Ok(std::time::Duration::from_secs(n * unit_secs))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::ApiBadRequest, message)
}

/// Create a key; its secret is in this answer and nowhere else, ever.
#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    request_body(content = ref("#/components/schemas/NewKeyRequest"), content_type = "application/json"),
    responses(
        (status = 201, description = "The key and its secret", body = ref("#/components/schemas/CreatedKey"), content_type = "application/json"),
        (status = 400, description = "A body of another shape, or a bad name, scope, number or duration (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
        (status = 409, description = "A live key has the name (CD-API-0409)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
pub(crate) async fn create_key(State(s): State<AppState>, body: Bytes) -> Answer<CreatedKey> {
    let body: NewKeyRequest = crate::extract::json_object(&body, "new key")?;
    let scopes = match body.scopes {
        Scopes::List(mut l) => {
            l.sort();
            l.dedup();
            l
        }
        // The contract's grammar exactly: names and commas, no spaces.
        Scopes::Text(t) if t.chars().any(char::is_whitespace) => {
            return Err(bad(format!("scopes {t:?}: no spaces (\"read,operate\")")));
        }
        Scopes::Text(t) => ApiScope::parse_list(&t).map_err(bad)?,
    };
    let expires_at = body
        .expires_in
        .as_deref()
        .map(|d| {
            expires_in(d)
                .map_err(bad)
                .map(|d| s.keys.now_ms() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
        })
        .transpose()?;
    let spec = KeySpec {
        name: body.name,
        scopes,
        rate_per_sec: body.rate_per_sec,
        daily_quota: body.daily_quota,
        expires_at,
    };
    match s.keys.create(&spec).await {
        Ok((key, secret)) => Ok((
            StatusCode::CREATED,
            axum::Json(CreatedKey {
                key,
                secret: secret.expose().to_owned(),
            }),
        )),
        Err(KeysError::Invalid(m)) => Err(bad(m)),
        Err(KeysError::Conflict(m)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::ApiConflict,
            m,
        )),
        Err(KeysError::Store(e)) => Err(e.into()),
    }
}

/// Revoke a key: it is refused from the next request on, on every hub
/// within a second.
#[utoipa::path(post, path = "/v1/keys/{name}/revoke", tag = "keys",
    params(("name" = String, Path, description = "The key's name")),
    responses(
        (status = 200, description = "Revoked", body = ref("#/components/schemas/RevokedKey"), content_type = "application/json"),
        (status = 404, description = "No live key of that name (CD-API-0404)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
pub(crate) async fn revoke_key(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Answer<RevokedKey> {
    if s.keys.revoke(&name).await? {
        ok(RevokedKey { revoked: name })
    } else {
        Err(ApiError::not_found(format!("no live key named {name}")))
    }
}

/// Writes made through the API, newest first, with the key that made them.
#[utoipa::path(get, path = "/v1/audit", tag = "keys",
    params(QueryOf<AuditQuery>),
    responses(
        (status = 200, description = "The entries", body = ref("#/components/schemas/AuditList"), content_type = "application/json"),
        (status = 400, description = "A query parameter that does not parse (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
pub(crate) async fn audit(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Answer<AuditList> {
    let entries = s
        .keys
        .store()
        .api_audit(q.key.as_deref(), q.limit.unwrap_or(100))
        .await?;
    ok(AuditList { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_reads_exactly_the_documented_grammar() {
        assert_eq!(expires_in("90d").unwrap().as_secs(), 90 * 86_400);
        assert_eq!(expires_in("1s").unwrap().as_secs(), 1);
        assert_eq!(expires_in("999999w").unwrap().as_secs(), 999_999 * 604_800);
        for bad in [
            "", "d", "0d", "09d", "1000000d", "90 d", "90days", "1.5h", "90d\n", "-1d", "٣d", "1é",
        ] {
            assert!(expires_in(bad).is_err(), "{bad:?}");
        }
    }
}
