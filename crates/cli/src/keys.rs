//! `crossdock keys create|list|revoke`: the API keys, on the store like the
//! other operator commands (a running hub sees a change within a second),
//! and the first key of a new hub (`bootstrap`).
//!
//! A key's secret is printed once, alone on stdout, when it is created
//! (`KEY=$(crossdock keys create …)`); the store keeps only its SHA-256, and
//! nothing prints a secret or its hash again.

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use crossdock_server::ApiKeys;
use crossdock_server::auth::{ApiSecret, KeySpec, create_key, store_key};
use crossdock_store::{ApiKey, ApiScope};

use crate::store_args::StoreArgs;

/// The environment variable holding an operator-chosen admin key.
pub const BOOTSTRAP_ENV: &str = "CROSSDOCK_BOOTSTRAP_KEY";
/// The name of the key installed from [`BOOTSTRAP_ENV`].
pub const BOOTSTRAP_NAME: &str = "bootstrap";

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret (once, alone on stdout).
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// Unique among live keys: letters, digits, '-', '_', '.'.
        #[arg(long)]
        name: String,
        /// read, operate, admin (admin implies operate implies read).
        #[arg(long, value_parser = parse_scopes)]
        scopes: Scopes,
        /// Requests a second, e.g. 20/s.
        #[arg(long, value_parser = parse_rate)]
        rate: Option<u32>,
        /// Requests a UTC day, e.g. 100000/day.
        #[arg(long, value_parser = parse_quota)]
        quota: Option<u64>,
        /// Valid for this long, e.g. 90d.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
    },
    /// List the keys (never their secrets or hashes).
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Revoked keys too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it stops working within a second on every hub.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        name: String,
    },
}

/// `--scopes read,operate`: one flag, a comma-separated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<ApiScope>);

fn parse_scopes(s: &str) -> Result<Scopes, String> {
    ApiScope::parse_list(s).map(Scopes)
}

/// `N` or `N/<unit>`, the unit being `unit`.
fn per(s: &str, unit: &str) -> Result<u64, String> {
    let n = match s.split_once('/') {
        Some((n, u)) if u == unit => n,
        Some((_, u)) => return Err(format!("{s:?}: the unit is /{unit}, not /{u}")),
        None => s,
    };
    n.trim()
        .parse::<u64>()
        .map_err(|_| format!("{s:?} is not a number of requests per {unit} (e.g. 20/{unit})"))
}

fn parse_rate(s: &str) -> Result<u32, String> {
    u32::try_from(per(s, "s")?).map_err(|_| format!("{s:?} is too large a rate"))
}

fn parse_quota(s: &str) -> Result<u64, String> {
    per(s, "day")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// One line about a key, without its secret.
pub fn describe(key: &ApiKey) -> String {
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    let mut line = format!("{:<20} {:<20}", key.name, scopes.join(","));
    line.push_str(&match key.rate_per_sec {
        Some(r) => format!(" rate {r}/s"),
        None => " rate -".into(),
    });
    line.push_str(&match key.daily_quota {
        Some(q) => format!(" quota {q}/day"),
        None => " quota -".into(),
    });
    line.push_str(&format!(" created {}", time(key.created_at)));
    if let Some(e) = key.expires_at {
        line.push_str(&format!(" expires {}", time(e)));
    }
    if let Some(r) = key.revoked_at {
        line.push_str(&format!(" REVOKED {}", time(r)));
    }
    line
}

pub async fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create {
            store,
            name,
            scopes,
            rate,
            quota,
            expires,
        } => {
            let s = store.open().await?;
            let now = now_ms();
            let spec = KeySpec {
                name,
                scopes: scopes.0,
                rate_per_sec: rate,
                daily_quota: quota,
                expires_at: expires
                    .map(|d| now + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)),
            };
            let (key, secret) = create_key(&s, &spec, now).await?;
            eprintln!("created {}", describe(&key));
            eprintln!("the secret follows; it is shown only now:");
            println!("{}", secret.expose());
            Ok(())
        }
        KeysCommand::List { store, all, json } => {
            let s = store.open().await?;
            let keys = s.api_keys(all).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                for k in &keys {
                    println!("{}", describe(k));
                }
            }
            Ok(())
        }
        KeysCommand::Revoke { store, name } => {
            let s = store.open().await?;
            if !s.revoke_api_key(&name, now_ms()).await? {
                anyhow::bail!("no live key named {name:?}");
            }
            println!("revoked {name}");
            Ok(())
        }
    }
}

/// The first key of a hub, at `crossdock serve`. With
/// `CROSSDOCK_BOOTSTRAP_KEY` set, that secret becomes the admin key
/// `bootstrap` (replacing an earlier `bootstrap` key with another secret:
/// change the variable to rotate it). Otherwise, if the store has never had
/// a key, an admin key `admin` is created and its secret returned, to be
/// printed once. A store whose keys were all revoked gets none: the
/// operator locked the API on purpose (`crossdock keys create` reopens it).
pub async fn bootstrap(
    keys: &ApiKeys,
    from_env: Option<&str>,
) -> anyhow::Result<Option<ApiSecret>> {
    let admin = |name: &str| KeySpec {
        name: name.to_owned(),
        scopes: vec![ApiScope::Admin],
        rate_per_sec: None,
        daily_quota: None,
        expires_at: None,
    };
    if let Some(chosen) = from_env {
        let secret =
            ApiSecret::parse(chosen.trim()).map_err(|e| anyhow::anyhow!("{BOOTSTRAP_ENV}: {e}"))?;
        let store = keys.store();
        let live = store.api_keys(false).await?;
        let hex = secret.digest_hex();
        if live.iter().any(|k| k.secret_sha256 == hex) {
            return Ok(None);
        }
        if live.iter().any(|k| k.name == BOOTSTRAP_NAME) {
            store.revoke_api_key(BOOTSTRAP_NAME, keys.now_ms()).await?;
            tracing::info!("{BOOTSTRAP_ENV} changed: the previous bootstrap key is revoked.");
        }
        store_key(store, &admin(BOOTSTRAP_NAME), &secret, keys.now_ms())
            .await
            .with_context(|| format!("installing {BOOTSTRAP_ENV}"))?;
        keys.reload().await?;
        return Ok(None);
    }
    if !keys.is_empty() {
        return Ok(None);
    }
    let (_, secret) = keys.create(&admin("admin")).await?;
    Ok(Some(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_quotas_read_with_or_without_their_unit() {
        assert_eq!(parse_rate("20/s"), Ok(20));
        assert_eq!(parse_rate("20"), Ok(20));
        assert!(parse_rate("20/min").unwrap_err().contains("/s"));
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_quota("100000/day"), Ok(100_000));
        assert!(parse_quota("5/s").is_err());
    }

    #[test]
    fn scopes_are_named_or_refused() {
        assert_eq!(
            parse_scopes("operate,read").unwrap(),
            Scopes(vec![ApiScope::Read, ApiScope::Operate])
        );
        assert!(parse_scopes("read,write").unwrap_err().contains("write"));
    }
}
