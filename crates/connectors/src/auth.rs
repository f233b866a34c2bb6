//! How a connector authenticates to its API: not at all, with a static
//! bearer token, or with OAuth2 client credentials (RFC 6749 §4.4), the way
//! NetSuite- and Business-Central-shaped APIs want it.
//!
//! For client credentials a [`TokenSource`] fetches an access token from the
//! token endpoint, keeps it until shortly before it expires, refreshes it
//! once for all callers that find it stale, and drops it when the API
//! refuses it. Secrets are never logged, and `Debug` redacts them.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::ConnectorError;
use crate::http::{HttpClient, check};

/// A token is refreshed when this much of its life is left at most…
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// …or this fraction of it, whichever is shorter (short-lived tokens).
const REFRESH_MARGIN_DIVISOR: u32 = 10;
/// OAuth error descriptions are quoted in errors; keep them short.
const MAX_QUOTED_DESCRIPTION: usize = 200;

const REDACTED: &str = "<redacted>";

/// How to authenticate, as configured (`[erp.auth]` and alike).
///
/// `Debug` redacts the bearer token and the client secret; serializing keeps
/// them (a configuration must round-trip).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Bearer <token>` with a token that never changes.
    Bearer { token: String },
    /// OAuth2 client credentials grant: `POST token_url` with
    /// `grant_type=client_credentials` (and `scope`), the client id and
    /// secret in HTTP Basic auth (RFC 6749 §2.3.1).
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
    },
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthConfig::None => f.write_str("None"),
            AuthConfig::Bearer { .. } => {
                f.debug_struct("Bearer").field("token", &REDACTED).finish()
            }
            AuthConfig::ClientCredentials {
                token_url,
                client_id,
                client_secret: _,
                scope,
            } => f
                .debug_struct("ClientCredentials")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("client_secret", &REDACTED)
                .field("scope", scope)
                .finish(),
        }
    }
}

impl AuthConfig {
    /// What can be checked without a network: the token URL and that no
    /// value is empty. The message names the key, never a secret.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            AuthConfig::None => Ok(()),
            AuthConfig::Bearer { token } => bearer_header(token).map(drop).map_err(|_| {
                "token must be non-empty visible ASCII (it goes into a header)".to_owned()
            }),
            AuthConfig::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => {
                token_endpoint(token_url)?;
                if client_id.is_empty() {
                    return Err("client_id must not be empty".into());
                }
                if client_secret.is_empty() {
                    return Err("client_secret must not be empty".into());
                }
                if scope.as_deref().is_some_and(|s| s.trim().is_empty()) {
                    return Err("scope must not be empty when given".into());
                }
                Ok(())
            }
        }
    }
}

fn token_endpoint(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("token_url {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("token_url {raw:?} must be an http(s) URL"));
    }
    Ok(url)
}

fn bearer_header(token: &str) -> Result<HeaderValue, ()> {
    if token.is_empty() {
        return Err(());
    }
    HeaderValue::from_str(&format!("Bearer {token}")).map_err(drop)
}

/// An access token as handed to one call. `Debug` shows only its generation.
#[derive(Clone)]
pub struct AccessToken {
    header: HeaderValue,
    /// Which fetch it came from: a refusal of an older token must not drop a
    /// newer one.
    generation: u64,
}

impl AccessToken {
    /// The header value to send (`Bearer …` for OAuth2), marked sensitive.
    pub fn header(&self) -> HeaderValue {
        self.header.clone()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// How long a token that lives `lifetime` is used: until a tenth of its
/// life, or one minute if that is shorter, is left.
pub(crate) fn usable_for(lifetime: Duration) -> Duration {
    let margin = (lifetime / REFRESH_MARGIN_DIVISOR).min(MAX_REFRESH_MARGIN);
    lifetime - margin
}

struct Cached {
    token: AccessToken,
    /// `None`: the endpoint gave no `expires_in`; kept until refused.
    refresh_at: Option<Instant>,
}

#[derive(Default)]
struct TokenState {
    current: Option<Cached>,
    generation: u64,
    /// The last fetch that failed, and when: callers that were waiting for
    /// it share its outcome instead of each trying again in turn.
    last_failure: Option<(Instant, ConnectorError)>,
}

/// One cached access token with a single fetch at a time: callers that
/// find it missing or stale while a fetch is under way wait for it and use
/// its result (or its failure). Every token source of the crate keeps its
/// token here; `label` names the source in the logs.
#[derive(Default)]
pub(crate) struct TokenCache {
    state: Mutex<TokenState>,
}

impl TokenCache {
    /// The cached token while fresh, else one from `fetch`, which answers
    /// `(header value, lifetime)`.
    // Read on the runtime's timer, not a channel's clock: a token expires
    // on the issuer's real time, and "a fetch that failed after I asked"
    // orders concurrent callers, which a clock standing still cannot do.
    #[allow(clippy::disallowed_methods)]
    pub(crate) async fn get<F, Fut>(
        &self,
        label: &str,
        fetch: F,
    ) -> Result<AccessToken, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(HeaderValue, Option<Duration>), ConnectorError>>,
    {
        let asked = Instant::now();
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(cached) = &state.current
            && cached.refresh_at.is_none_or(|at| now < at)
        {
            return Ok(cached.token.clone());
        }
        if let Some((failed_at, error)) = &state.last_failure
            && *failed_at >= asked
        {
            return Err(error.clone());
        }
        // Fetched with the lock held: whoever comes meanwhile waits for this.
        match fetch().await {
            Ok((header, lifetime)) => {
                state.generation += 1;
                let token = AccessToken {
                    header,
                    generation: state.generation,
                };
                let fetched = Instant::now();
                let refresh_at = lifetime.and_then(|l| fetched.checked_add(usable_for(l)));
                tracing::debug!(
                    source = label,
                    generation = token.generation,
                    expires_in = ?lifetime,
                    "fetched an access token"
                );
                state.current = Some(Cached {
                    token: token.clone(),
                    refresh_at,
                });
                state.last_failure = None;
                Ok(token)
            }
            Err(error) => {
                state.current = None;
                state.last_failure = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }

    /// The API refused `token` (401): forget it, unless a newer one has
    /// replaced it already, so the next `get` fetches anew.
    pub(crate) async fn refused(&self, label: &str, token: &AccessToken) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.token.generation == token.generation)
        {
            tracing::info!(
                source = label,
                generation = token.generation,
                "access token refused by the API; a new one will be fetched"
            );
            state.current = None;
        }
    }
}

/// OAuth2 client credentials: fetches, caches and refreshes access tokens.
///
/// One fetch at a time: callers that find the token missing or stale while a
/// fetch is under way wait for it and use its result.
pub struct TokenSource {
    http: HttpClient,
    token_url: Url,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    cache: TokenCache,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    /// Seconds; a number, or (some older endpoints) a string holding one.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TokenRefusal {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenSource {
    pub fn new(
        token_url: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        scope: Option<String>,
        http: HttpClient,
    ) -> Result<Self, ConnectorError> {
        Ok(TokenSource {
            http,
            token_url: token_endpoint(token_url).map_err(ConnectorError::rejected)?,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scope,
            cache: TokenCache::default(),
        })
    }

    /// A token fresh enough to send: the cached one, or a newly fetched one.
    pub async fn token(&self) -> Result<AccessToken, ConnectorError> {
        self.cache
            .get(self.token_url.as_str(), || self.fetch())
            .await
    }

    /// The API refused `token` (401): forget it, unless a newer one has
    /// replaced it already, so the next [`token`](Self::token) fetches anew.
    pub async fn refused(&self, token: &AccessToken) {
        self.cache.refused(self.token_url.as_str(), token).await;
    }

    /// One token request: `(Authorization header value, lifetime)`.
    async fn fetch(&self) -> Result<(HeaderValue, Option<Duration>), ConnectorError> {
        let mut form = format!("grant_type={}", form_encode("client_credentials"));
        if let Some(scope) = &self.scope {
            form.push_str("&scope=");
            form.push_str(&form_encode(scope));
        }
        // RFC 6749 §2.3.1: id and secret are form-encoded, then Basic.
        let (status, headers, body) = self
            .http
            .post_form_basic(
                &self.token_url,
                (
                    &form_encode(&self.client_id),
                    &form_encode(&self.client_secret),
                ),
                form,
            )
            .await
            .map_err(|e| self.about(e))?;
        if matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(ConnectorError::Unauthorized {
                reason: format!(
                    "token endpoint {} refused the client credentials: HTTP {}: {}",
                    self.token_url,
                    status.as_u16(),
                    describe_refusal(&body)
                ),
            });
        }
        let body = check(status, Some(&headers), body).map_err(|e| self.about(e))?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            ConnectorError::transient(format!(
                "unreadable answer from token endpoint {}: {e}",
                self.token_url
            ))
        })?;
        if let Some(kind) = &answer.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(ConnectorError::Unauthorized {
                reason: format!(
                    "token endpoint {} issued a {kind:?} token; only Bearer is supported",
                    self.token_url
                ),
            });
        }
        let header =
            bearer_header(&answer.access_token).map_err(|()| ConnectorError::Unauthorized {
                reason: format!(
                    "token endpoint {} issued an access token that cannot be sent in a header",
                    self.token_url
                ),
            })?;
        let lifetime = match &answer.expires_in {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        }
        .map(Duration::from_secs);
        if answer.expires_in.is_some() && lifetime.is_none() {
            return Err(ConnectorError::transient(format!(
                "token endpoint {} answered an unreadable expires_in",
                self.token_url
            )));
        }
        Ok((header, lifetime))
    }

    /// Says that an error came from the token endpoint, not the API itself.
    fn about(&self, error: ConnectorError) -> ConnectorError {
        let prefix = format!("token endpoint {}", self.token_url);
        match error {
            ConnectorError::Transient {
                reason,
                retry_after,
            } => ConnectorError::Transient {
                reason: format!("{prefix}: {reason}"),
                retry_after,
            },
            ConnectorError::Throttled {
                reason,
                retry_after,
            } => ConnectorError::Throttled {
                reason: format!("{prefix}: {reason}"),
                retry_after,
            },
            ConnectorError::Rejected { reason } => ConnectorError::Rejected {
                reason: format!("{prefix}: {reason}"),
            },
            other => other,
        }
    }
}

/// `invalid_client (Client authentication failed)` from an RFC 6749 §5.2
/// error answer, or the quoted body when it is not one.
fn describe_refusal(body: &[u8]) -> String {
    match serde_json::from_slice::<TokenRefusal>(body) {
        Ok(refusal) => match refusal.error_description {
            Some(d) => format!(
                "{} ({})",
                refusal.error,
                d.chars().take(MAX_QUOTED_DESCRIPTION).collect::<String>()
            ),
            None => refusal.error,
        },
        Err(_) => String::from_utf8_lossy(body)
            .trim()
            .chars()
            .take(MAX_QUOTED_DESCRIPTION)
            .collect(),
    }
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
fn form_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// What a connector sends with its calls, resolved from an [`AuthConfig`].
pub(crate) enum Authorizer {
    /// The client as is (no auth), or with a fixed `Authorization` header.
    Fixed(HttpClient),
    Tokens(Box<TokenSource>),
}

impl Authorizer {
    pub(crate) fn new(config: &AuthConfig, http: HttpClient) -> Result<Self, ConnectorError> {
        Ok(match config {
            AuthConfig::None => Authorizer::Fixed(http),
            AuthConfig::Bearer { token } => {
                let header = bearer_header(token).map_err(|()| {
                    ConnectorError::rejected(
                        "bearer token must be non-empty visible ASCII (it goes into a header)",
                    )
                })?;
                Authorizer::Fixed(http.with_authorization(header))
            }
            AuthConfig::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => Authorizer::Tokens(Box::new(TokenSource::new(
                token_url,
                client_id.as_str(),
                client_secret.as_str(),
                scope.clone(),
                http,
            )?)),
        })
    }

    /// Runs `call` with an authorized client. When the API refuses an
    /// issued token (401), the token is dropped and the call runs once more
    /// with a new one: a 401 means the call was not applied.
    pub(crate) async fn run<T, F, Fut>(&self, call: F) -> Result<T, ConnectorError>
    where
        F: Fn(HttpClient) -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
    {
        let tokens = match self {
            Authorizer::Fixed(http) => return call(http.clone()).await,
            Authorizer::Tokens(tokens) => tokens,
        };
        let token = tokens.token().await?;
        match call(tokens.http.with_authorization(token.header())).await {
            Err(e) if is_refused_token(&e) => {
                tokens.refused(&token).await;
                let token = tokens.token().await?;
                call(tokens.http.with_authorization(token.header()))
                    .await
                    .map_err(|e| match e {
                        ConnectorError::Unauthorized { reason } => ConnectorError::Unauthorized {
                            reason: format!("{reason} (refused with a newly issued token too)"),
                        },
                        other => other,
                    })
            }
            other => other,
        }
    }
}

/// A 401, as `http::check` words it (a 403 is a refusal a new token does
/// not cure).
fn is_refused_token(error: &ConnectorError) -> bool {
    matches!(error, ConnectorError::Unauthorized { reason } if reason.starts_with("HTTP 401:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_a_tenth_of_their_life_or_a_minute_early() {
        let secs = Duration::from_secs;
        assert_eq!(usable_for(secs(3600)), secs(3540), "a minute early");
        assert_eq!(usable_for(secs(600)), secs(540), "a minute is a tenth");
        assert_eq!(usable_for(secs(300)), secs(270), "a tenth of 5 minutes");
        assert_eq!(usable_for(secs(1)), Duration::from_millis(900));
        assert_eq!(usable_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn debug_redacts_secrets() {
        let config = AuthConfig::ClientCredentials {
            token_url: "https://erp.example/oauth2/token".into(),
            client_id: "hub".into(),
            client_secret: "s3cr3t-value".into(),
            scope: Some("erp.write".into()),
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("client_secret: \"<redacted>\""), "{shown}");
        assert!(
            shown.contains("hub") && shown.contains("erp.write"),
            "{shown}"
        );

        let bearer = AuthConfig::Bearer {
            token: "tok-123456".into(),
        };
        assert_eq!(format!("{bearer:?}"), "Bearer { token: \"<redacted>\" }");

        let http = HttpClient::new(crate::HttpClientOptions::default()).unwrap();
        let source = TokenSource::new(
            "https://erp.example/oauth2/token",
            "hub",
            "s3cr3t-value",
            None,
            http.clone(),
        )
        .unwrap();
        let shown = format!("{source:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        let authorized = http.with_authorization(bearer_header("tok-123456").unwrap());
        let shown = format!("{authorized:?}");
        assert!(!shown.contains("tok-123456"), "{shown}");
    }

    #[test]
    fn config_reads_the_kind_tag_and_refuses_unknown_keys() {
        let config: AuthConfig = serde_json::from_value(serde_json::json!({
            "kind": "client_credentials",
            "token_url": "http://127.0.0.1:9/oauth2/token",
            "client_id": "hub",
            "client_secret": "s",
        }))
        .unwrap();
        assert!(matches!(
            &config,
            AuthConfig::ClientCredentials { scope: None, .. }
        ));
        config.validate().unwrap();
        let back: AuthConfig =
            serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
        assert_eq!(back, config);
        assert_eq!(
            serde_json::from_value::<AuthConfig>(serde_json::json!({ "kind": "none" })).unwrap(),
            AuthConfig::None
        );
        let err = serde_json::from_value::<AuthConfig>(serde_json::json!({
            "kind": "bearer", "token": "t", "secret": "x"
        }))
        .unwrap_err();
        assert!(err.to_string().contains("secret"), "{err}");

        let bad = AuthConfig::ClientCredentials {
            token_url: "ftp://x/token".into(),
            client_id: "hub".into(),
            client_secret: "s".into(),
            scope: None,
        };
        assert!(bad.validate().unwrap_err().contains("token_url"));
        let bad = AuthConfig::Bearer {
            token: "new\nline".into(),
        };
        let err = bad.validate().unwrap_err();
        assert!(!err.contains("new"), "the token is not quoted: {err}");
    }

    #[test]
    fn form_encoding_follows_the_html_rules() {
        assert_eq!(form_encode("client_credentials"), "client_credentials");
        assert_eq!(form_encode("a b+c/d:é"), "a+b%2Bc%2Fd%3A%C3%A9");
    }

    #[test]
    fn only_a_401_asks_for_a_new_token() {
        let refused = |status: u16| {
            check(
                StatusCode::from_u16(status).unwrap(),
                None,
                br#"{"error":"invalid_token"}"#.to_vec(),
            )
            .unwrap_err()
        };
        assert!(is_refused_token(&refused(401)));
        assert!(!is_refused_token(&refused(403)));
        assert!(!is_refused_token(&refused(422)));
    }

    #[test]
    fn refusals_name_the_oauth_error() {
        assert_eq!(
            describe_refusal(br#"{"error":"invalid_client","error_description":"bad secret"}"#),
            "invalid_client (bad secret)"
        );
        assert_eq!(
            describe_refusal(br#"{"error":"invalid_scope"}"#),
            "invalid_scope"
        );
        assert_eq!(describe_refusal(b" nope "), "nope");
    }
}
