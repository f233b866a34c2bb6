//! The product's one HTTP client, and the single place where an HTTP outcome
//! becomes a [`ConnectorError`].

use std::time::Duration;

use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ConnectorError;

/// Used when a 429/503 carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Refused bodies are quoted in errors; a runaway HTML page is not useful there.
const MAX_QUOTED_BODY: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpClientOptions {
    /// Whole request, from connect to the last byte of the response.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for HttpClientOptions {
    fn default() -> Self {
        HttpClientOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// Sent with every request (see `with_authorization`, `with_header`).
    authorization: Option<(HeaderName, HeaderValue)>,
}

impl HttpClient {
    pub fn new(options: HttpClientOptions) -> Result<Self, ConnectorError> {
        // The one place that builds a client (the house rule in clippy.toml).
        #[allow(clippy::disallowed_methods)]
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| ConnectorError::rejected(format!("cannot build HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            authorization: None,
        })
    }

    /// A client on the same connection pool that sends `value` as the
    /// `Authorization` header of every request. The value is marked
    /// sensitive: `Debug` does not print it.
    pub(crate) fn with_authorization(&self, value: HeaderValue) -> HttpClient {
        self.with_header(AUTHORIZATION, value)
    }

    /// Like [`with_authorization`](Self::with_authorization), for a credential
    /// sent in another header (Shopify's `X-Shopify-Access-Token`). It
    /// replaces any credential header the client had.
    pub(crate) fn with_header(&self, name: HeaderName, mut value: HeaderValue) -> HttpClient {
        value.set_sensitive(true);
        HttpClient {
            client: self.client.clone(),
            authorization: Some((name, value)),
        }
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body (already
    /// encoded) and HTTP Basic credentials: an OAuth2 token request. Every
    /// answer comes back as is; only a missing one is an error.
    pub(crate) async fn post_form_basic(
        &self,
        url: &Url,
        (user, password): (&str, &str),
        form: String,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ConnectorError> {
        let request = self
            .client
            .post(url.clone())
            .basic_auth(user, Some(password))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form);
        answer(request).await
    }

    /// `GET url` with query pairs, decoding a JSON answer.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &Url,
        query: &[(&str, &str)],
    ) -> Result<T, ConnectorError> {
        let body = self
            .send(Method::GET, with_query(url, query), None::<&()>)
            .await?;
        decode(url, &body)
    }

    /// Like [`get_json`](Self::get_json), but a 404 is `Ok(None)`.
    pub async fn get_json_opt<T: DeserializeOwned>(
        &self,
        url: &Url,
        query: &[(&str, &str)],
    ) -> Result<Option<T>, ConnectorError> {
        let (status, headers, body) = self
            .exchange(Method::GET, with_query(url, query), None::<&()>)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        decode(url, &check(status, Some(&headers), body)?).map(Some)
    }

    /// `POST url` with a JSON body, decoding a JSON answer.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        url: &Url,
        body: &B,
    ) -> Result<T, ConnectorError> {
        let answer = self.send(Method::POST, url.clone(), Some(body)).await?;
        decode(url, &answer)
    }

    /// `POST url` without a body. A 2xx or one of `expected` comes back as
    /// `(status, body)`; any other status is the usual error.
    pub(crate) async fn post_expecting(
        &self,
        url: &Url,
        expected: &[StatusCode],
    ) -> Result<(StatusCode, Vec<u8>), ConnectorError> {
        let (status, headers, body) = self
            .exchange(Method::POST, url.clone(), None::<&()>)
            .await?;
        if expected.contains(&status) {
            return Ok((status, body));
        }
        check(status, Some(&headers), body).map(|body| (status, body))
    }

    /// Sends a request and returns the body of a 2xx answer; anything else is an error.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<Vec<u8>, ConnectorError> {
        let (status, headers, body) = self.exchange(method, url, body).await?;
        check(status, Some(&headers), body)
    }

    /// Like [`send`](Self::send), but also returns the answer's headers
    /// (a created document's id may be in `Location`).
    pub(crate) async fn send_with_headers<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<(HeaderMap, Vec<u8>), ConnectorError> {
        let (status, headers, body) = self.exchange(method, url, body).await?;
        check(status, Some(&headers), body).map(|body| (headers, body))
    }

    /// A request with extra headers (Walmart's per-call `WM_*` headers,
    /// which change on every call) and an optional raw body with its
    /// content type. Every answer comes back as is; only a missing one is
    /// an error. The client's own credential header is not sent.
    pub(crate) async fn exchange_raw(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ConnectorError> {
        let mut request = self.client.request(method, url).headers(headers);
        if let Some((content_type, body)) = body {
            request = request.header(CONTENT_TYPE, content_type).body(body);
        }
        answer(request).await
    }

    async fn exchange<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ConnectorError> {
        let mut request = self.client.request(method, url);
        if let Some((name, value)) = &self.authorization {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(request).await
    }
}

async fn answer(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), ConnectorError> {
    let response = request.send().await.map_err(|e| in_doubt(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| in_doubt(&e))?;
    Ok((status, headers, body.to_vec()))
}

/// A request that failed without an answer may still have been applied,
/// unless no connection was ever made.
fn in_doubt(e: &reqwest::Error) -> ConnectorError {
    if e.is_connect() && !e.is_timeout() {
        return ConnectorError::Unreachable {
            reason: format!("connection failed: {e}"),
        };
    }
    let what = if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    ConnectorError::Transient {
        reason: format!("{what}: {e}"),
        retry_after: None,
    }
}

/// Maps an answer's status to success or the error class the engine acts on.
pub(crate) fn check(
    status: StatusCode,
    headers: Option<&HeaderMap>,
    body: Vec<u8>,
) -> Result<Vec<u8>, ConnectorError> {
    if status.is_success() {
        return Ok(body);
    }
    let text = quote(&body);
    let reason = format!("HTTP {}: {text}", status.as_u16());
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS => ConnectorError::Throttled {
            reason,
            retry_after: headers.and_then(retry_after).unwrap_or(DEFAULT_RETRY_AFTER),
        },
        StatusCode::SERVICE_UNAVAILABLE => ConnectorError::Transient {
            reason,
            retry_after: Some(headers.and_then(retry_after).unwrap_or(DEFAULT_RETRY_AFTER)),
        },
        s if s.is_server_error() => ConnectorError::Transient {
            reason,
            retry_after: None,
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ConnectorError::Unauthorized { reason },
        _ => ConnectorError::Rejected { reason },
    })
}

/// `Retry-After` as delay-seconds or as an HTTP date. Fractional seconds
/// (Shopify sends `2.0`) are rounded up to whole seconds, so a client never
/// comes back early.
/// A 2xx whose body cannot be read: in doubt, as [`HttpClient`] treats it
/// (the call may have been applied).
pub(crate) fn unreadable(url: &Url, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::transient(format!("unreadable answer from {url}: {e}"))
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if value.starts_with(|c: char| c.is_ascii_digit())
        && let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
    {
        // `as` saturates: an absurd delay stays absurd rather than wrapping.
        return Some(Duration::from_secs(secs.ceil() as u64));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    // An HTTP date is the server's wall-clock time, so it is compared with
    // ours, not with a clock a test or a rehearsal may have moved.
    #[allow(clippy::disallowed_methods)]
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs.unsigned_abs()))
}

fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_QUOTED_BODY) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn with_query(url: &Url, query: &[(&str, &str)]) -> Url {
    let mut url = url.clone();
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url
}

/// A 2xx whose body we cannot read: the call took effect but we do not know
/// its result, so it is in doubt rather than refused.
fn decode<T: DeserializeOwned>(url: &Url, body: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(body).map_err(|e| ConnectorError::Transient {
        reason: format!("unreadable answer from {url}: {e}"),
        retry_after: None,
    })
}

/// Joins path segments onto a base URL, percent-encoding each one, so an id
/// holding `/` or `?` cannot address another resource.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Parses a connector's configured base URL.
pub(crate) fn base_url(raw: &str) -> Result<Url, ConnectorError> {
    let url = Url::parse(raw)
        .map_err(|e| ConnectorError::rejected(format!("bad base URL {raw:?}: {e}")))?;
    if url.cannot_be_a_base() {
        return Err(ConnectorError::rejected(format!("bad base URL {raw:?}")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        h
    }

    #[test]
    fn statuses_map_to_error_classes() {
        let err = |status: u16, h: Option<&HeaderMap>| {
            check(
                StatusCode::from_u16(status).unwrap(),
                h,
                b"{\"error\":\"x\"}".to_vec(),
            )
            .unwrap_err()
        };
        assert_eq!(
            err(429, Some(&headers("7"))),
            ConnectorError::Throttled {
                reason: "HTTP 429: {\"error\":\"x\"}".into(),
                retry_after: Duration::from_secs(7)
            }
        );
        assert!(!err(429, None).is_in_doubt());
        assert!(
            err(503, None).is_in_doubt(),
            "a 503 may come after the target acted"
        );
        assert!(
            matches!(err(503, None), ConnectorError::Transient { retry_after: Some(d), .. } if d == DEFAULT_RETRY_AFTER)
        );
        assert!(matches!(
            err(500, None),
            ConnectorError::Transient {
                retry_after: None,
                ..
            }
        ));
        assert!(err(500, None).is_in_doubt());
        assert!(matches!(
            err(401, None),
            ConnectorError::Unauthorized { .. }
        ));
        assert!(matches!(
            err(403, None),
            ConnectorError::Unauthorized { .. }
        ));
        match err(422, None) {
            ConnectorError::Rejected { reason } => {
                assert!(reason.contains("{\"error\":\"x\"}"), "{reason}")
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert_eq!(
            check(StatusCode::CREATED, None, b"ok".to_vec()).unwrap(),
            b"ok"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after(&headers(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon")), None);
    }

    #[test]
    fn retry_after_rounds_fractional_seconds_up() {
        assert_eq!(retry_after(&headers("2.0")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&headers("0.5")), Some(Duration::from_secs(1)));
        assert_eq!(
            retry_after(&headers(" 1.25 ")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(retry_after(&headers("0.0")), Some(Duration::ZERO));
        for bad in ["-1.5", "NaN", "inf", "1e400", "+2.0", "2.0s"] {
            assert_eq!(retry_after(&headers(bad)), None, "{bad}");
        }
        assert_eq!(
            check(
                StatusCode::TOO_MANY_REQUESTS,
                Some(&headers("2.0")),
                Vec::new()
            )
            .unwrap_err(),
            ConnectorError::Throttled {
                reason: "HTTP 429: ".into(),
                retry_after: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn endpoint_encodes_segments() {
        let base = base_url("http://127.0.0.1:9/api/").unwrap();
        assert_eq!(
            endpoint(&base, &["orders", "a/b?c", "shipments"]).as_str(),
            "http://127.0.0.1:9/api/orders/a%2Fb%3Fc/shipments"
        );
        let bare = base_url("http://127.0.0.1:9").unwrap();
        assert_eq!(
            endpoint(&bare, &["stock"]).as_str(),
            "http://127.0.0.1:9/stock"
        );
    }
}
