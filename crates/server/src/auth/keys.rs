//! The hub's copy of its API keys, in memory, so that authenticating a
//! request never waits for the store: a lookup is a SHA-256, a hash-map
//! probe and a constant-time comparison.
//!
//! The copy is reloaded when a key is created or revoked through this
//! handle (at once) or by anyone else on the store, such as `crossdock
//! keys` or another hub (within `REFRESH`: the refresher polls the store's
//! key fingerprint, one small query a second). Each key with a rate has
//! its own GCRA limiter (the `governor` crate); each key with a daily quota
//! counts its requests here and adds them to the store every `REFRESH`,
//! reading back the day's total from every hub. So a quota may be overrun
//! by what other hubs served in the last second, and a rate is per hub.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crossdock_engine::Clock;
use crossdock_store::{ApiKey, ApiScope, NewApiKey, Store, StoreError};
use governor::clock::MonotonicClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::secret::{self, ApiSecret};

/// How often the refresher looks for changed keys and shares quota counts.
pub const REFRESH: Duration = Duration::from_secs(1);

const DAY_MS: i64 = 86_400_000;

/// What a new key may do and how much. `expires_at` in ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub rate_per_sec: Option<u32>,
    pub daily_quota: Option<u64>,
    pub expires_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The request for a key is not acceptable (name, scopes, numbers).
    #[error("{0}")]
    Invalid(String),
    /// A live key already has the name.
    #[error("{0}")]
    Conflict(String),
    #[error("store: {0}")]
    Store(StoreError),
}

impl From<StoreError> for KeysError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => KeysError::Conflict(m),
            StoreError::Invalid(m) => KeysError::Invalid(m),
            e => KeysError::Store(e),
        }
    }
}

impl KeySpec {
    fn check(&self) -> Result<(), KeysError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(KeysError::Invalid(format!(
                "key name {:?}: 1 to 64 letters, digits, '-', '_' or '.'",
                self.name
            )));
        }
        if self.scopes.is_empty() {
            return Err(KeysError::Invalid(
                "a key needs at least one scope (read, operate, admin)".into(),
            ));
        }
        if self.rate_per_sec == Some(0) {
            return Err(KeysError::Invalid(
                "a rate of 0/s would refuse everything; revoke the key instead".into(),
            ));
        }
        if self.daily_quota == Some(0) {
            return Err(KeysError::Invalid(
                "a quota of 0/day would refuse everything; revoke the key instead".into(),
            ));
        }
        Ok(())
    }
}

/// Create a key in `store` at `now` and return it with its secret, which
/// is shown once and never stored. A running hub sees the key within
/// [`REFRESH`]; [`ApiKeys::create`] makes it usable at once.
pub async fn create_key(
    store: &Store,
    spec: &KeySpec,
    now: i64,
) -> Result<(ApiKey, ApiSecret), KeysError> {
    spec.check()?;
    if spec.expires_at.is_some_and(|e| e <= now) {
        return Err(KeysError::Invalid(
            "the key would be expired already".into(),
        ));
    }
    let secret = ApiSecret::generate().map_err(KeysError::Invalid)?;
    let key = store_key(store, spec, &secret, now).await?;
    Ok((key, secret))
}

/// Store `spec` with a secret the caller chose (the bootstrap key).
pub async fn store_key(
    store: &Store,
    spec: &KeySpec,
    secret: &ApiSecret,
    now: i64,
) -> Result<ApiKey, KeysError> {
    spec.check()?;
    Ok(store
        .create_api_key(&NewApiKey {
            name: spec.name.clone(),
            secret_sha256: secret.digest_hex(),
            scopes: spec.scopes.clone(),
            rate_per_sec: spec.rate_per_sec.map(i64::from),
            daily_quota: spec
                .daily_quota
                .map(|q| i64::try_from(q).unwrap_or(i64::MAX)),
            expires_at: spec.expires_at,
            created_at: now,
        })
        .await?)
}

/// A key's rate: GCRA on the monotonic clock (rates are real time).
type Limiter = RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<Instant>>;

/// One key as the door sees it.
pub(super) struct CachedKey {
    pub(super) key: ApiKey,
    digest: [u8; 32],
    limiter: Option<Limiter>,
    quota: Mutex<QuotaCount>,
}

/// A key's requests on its current day: `stored` is the day's total the
/// store last reported (every hub's, this one's flushed counts included),
/// `unflushed` what this hub served since. Counts of a day that ended
/// before they were flushed wait in `leftover`.
#[derive(Default)]
struct QuotaCount {
    day: i64,
    stored: i64,
    unflushed: i64,
    leftover: Vec<(i64, i64)>,
}

/// Why a request is refused before its handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refused {
    Unknown,
    Revoked,
    Expired(i64),
    /// Over the key's rate: try again after this long.
    Rate(Duration),
    /// Over the key's daily quota: the day ends after this long.
    Quota(Duration),
}

/// The keys by the first 8 bytes of their digest; the whole digest is then
/// compared in constant time, so the comparison's time says nothing about
/// how close a guess came.
#[derive(Default)]
struct KeySet {
    by_prefix: HashMap<u64, Vec<Arc<CachedKey>>>,
    by_id: HashMap<String, Arc<CachedKey>>,
    fingerprint: (i64, i64),
}

fn prefix(digest: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(b)
}

/// The hub's keys: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct ApiKeys {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    set: RwLock<Arc<KeySet>>,
    /// One reload at a time, so two never race to install older keys.
    reloading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys").finish_non_exhaustive()
    }
}

impl ApiKeys {
    /// Read the keys from `store`.
    pub async fn load(store: Store, clock: Arc<dyn Clock>) -> Result<ApiKeys, StoreError> {
        let keys = ApiKeys {
            inner: Arc::new(Inner {
                store,
                clock,
                set: RwLock::default(),
                reloading: tokio::sync::Mutex::new(()),
            }),
        };
        keys.reload().await?;
        Ok(keys)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn current(&self) -> Arc<KeySet> {
        self.inner
            .set
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Read every key again, keeping the limiters and counts of the keys
    /// that did not change (a key never changes: it is created or revoked).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _one = self.inner.reloading.lock().await;
        let store = &self.inner.store;
        let fingerprint = store.api_keys_fingerprint().await?;
        let keys = store.api_keys(true).await?;
        let today = day_of(self.now_ms());
        let usage: HashMap<String, i64> = store.api_key_usage(today).await?.into_iter().collect();
        let old = self.current();
        let mut set = KeySet {
            fingerprint,
            ..KeySet::default()
        };
        for key in keys {
            let kept = old
                .by_id
                .get(&key.id)
                .filter(|c| c.key.revoked_at == key.revoked_at)
                .cloned();
            let cached = match kept {
                Some(c) => c,
                None => match cache_key(key, today, &usage) {
                    Some(c) => Arc::new(c),
                    None => continue,
                },
            };
            set.by_prefix
                .entry(prefix(&cached.digest))
                .or_default()
                .push(cached.clone());
            set.by_id.insert(cached.key.id.clone(), cached);
        }
        *self.inner.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// The key whose secret `presented` is, if it may be used now. Never
    /// touches the store.
    pub(super) fn authenticate(&self, presented: &str) -> Result<Arc<CachedKey>, Refused> {
        let digest = secret::digest(presented);
        let set = self.current();
        let found = set
            .by_prefix
            .get(&prefix(&digest))
            .and_then(|candidates| {
                candidates
                    .iter()
                    .find(|c| bool::from(c.digest.ct_eq(&digest)))
            })
            .cloned()
            .ok_or(Refused::Unknown)?;
        if found.key.revoked_at.is_some() {
            return Err(Refused::Revoked);
        }
        let now = self.now_ms();
        if found.key.expired(now) {
            return Err(Refused::Expired(found.key.expires_at.unwrap_or(now)));
        }
        Ok(found)
    }

    /// Spend one request of `key`'s rate and daily quota, or say when to
    /// come back. A refused request spends neither.
    pub(super) fn admit(&self, key: &CachedKey) -> Result<(), Refused> {
        if let Some(limiter) = &key.limiter
            && let Err(not_until) = limiter.check()
        {
            return Err(Refused::Rate(not_until.wait_time_from(Instant::now())));
        }
        let Some(quota) = key.key.daily_quota else {
            return Ok(());
        };
        let now = self.now_ms();
        let today = day_of(now);
        let mut count = key.quota.lock().unwrap_or_else(|p| p.into_inner());
        if count.day != today {
            let (day, n) = (count.day, count.unflushed);
            if n > 0 {
                count.leftover.push((day, n));
            }
            count.day = today;
            count.stored = 0;
            count.unflushed = 0;
        }
        if count.stored + count.unflushed >= quota {
            let until_midnight = (today + DAY_MS - now).max(1);
            return Err(Refused::Quota(Duration::from_millis(
                u64::try_from(until_midnight).unwrap_or(1),
            )));
        }
        count.unflushed += 1;
        Ok(())
    }

    /// Create a key (see [`create_key`]) and make it usable at once.
    pub async fn create(&self, spec: &KeySpec) -> Result<(ApiKey, ApiSecret), KeysError> {
        let created = create_key(&self.inner.store, spec, self.now_ms()).await?;
        self.reload().await?;
        Ok(created)
    }

    /// Revoke the live key named `name`; false when there is none. The
    /// key stops working at once on this hub, within [`REFRESH`] on others.
    pub async fn revoke(&self, name: &str) -> Result<bool, StoreError> {
        let revoked = self.inner.store.revoke_api_key(name, self.now_ms()).await?;
        self.reload().await?;
        Ok(revoked)
    }

    /// Add this hub's counts to the store and read back each day's totals.
    pub async fn share_usage(&self) -> Result<(), StoreError> {
        let set = self.current();
        let mut batch = Vec::new();
        let mut taken: Vec<(Arc<CachedKey>, i64, i64)> = Vec::new();
        for c in set.by_id.values().filter(|c| c.key.daily_quota.is_some()) {
            let mut count = c.quota.lock().unwrap_or_else(|p| p.into_inner());
            for (day, n) in std::mem::take(&mut count.leftover) {
                batch.push((c.key.id.clone(), day, n));
            }
            if count.unflushed > 0 {
                let n = std::mem::take(&mut count.unflushed);
                count.stored += n;
                batch.push((c.key.id.clone(), count.day, n));
                taken.push((c.clone(), count.day, n));
            }
        }
        if let Err(e) = self.inner.store.add_api_key_usage(&batch).await {
            // Not counted in the store: keep them for the next round.
            for (c, day, n) in taken {
                let mut count = c.quota.lock().unwrap_or_else(|p| p.into_inner());
                if count.day == day {
                    count.stored -= n;
                    count.unflushed += n;
                } else {
                    count.leftover.push((day, n));
                }
            }
            return Err(e);
        }
        let today = day_of(self.now_ms());
        let totals: HashMap<String, i64> = self
            .inner
            .store
            .api_key_usage(today)
            .await?
            .into_iter()
            .collect();
        for c in set.by_id.values().filter(|c| c.key.daily_quota.is_some()) {
            let mut count = c.quota.lock().unwrap_or_else(|p| p.into_inner());
            if count.day == today {
                let total = totals.get(&c.key.id).copied().unwrap_or(0);
                count.stored = count.stored.max(total);
            }
        }
        Ok(())
    }

    /// Keep the copy fresh and share quota counts every [`REFRESH`] until
    /// `stop`; a last share of the counts on the way out.
    pub fn spawn_refresher(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let keys = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => {
                        if let Err(e) = keys.share_usage().await {
                            tracing::warn!(error = %e, "Could not record API key usage at shutdown.");
                        }
                        return;
                    }
                    () = tokio::time::sleep(REFRESH) => {}
                }
                if let Err(e) = keys.refresh().await {
                    tracing::warn!(error = %e, "Could not refresh API keys; using the copy in memory.");
                }
            }
        })
    }

    /// Reload if a key was created or revoked since the last load.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        self.share_usage().await?;
        let now = self.inner.store.api_keys_fingerprint().await?;
        if now != self.current().fingerprint {
            self.reload().await?;
        }
        Ok(())
    }

    /// Whether the store holds any key at all, revoked ones included.
    pub fn is_empty(&self) -> bool {
        self.current().fingerprint.0 == 0
    }
}

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

fn cache_key(key: ApiKey, today: i64, usage: &HashMap<String, i64>) -> Option<CachedKey> {
    let Some(digest) = secret::from_hex(&key.secret_sha256) else {
        tracing::warn!(key = %key.name, "An API key's stored digest is unreadable; the key is ignored.");
        return None;
    };
    let limiter = key
        .rate_per_sec
        .and_then(|r| NonZeroU32::new(u32::try_from(r).unwrap_or(u32::MAX)))
        .map(|r| RateLimiter::direct_with_clock(Quota::per_second(r), MonotonicClock));
    let stored = usage.get(&key.id).copied().unwrap_or(0);
    Some(CachedKey {
        key,
        digest,
        limiter,
        quota: Mutex::new(QuotaCount {
            day: today,
            stored,
            ..QuotaCount::default()
        }),
    })
}
