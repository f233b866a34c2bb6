//! `crossdock config plan CURRENT NEW`: what changing the configuration
//! would change, before it is changed. A readable diff of the two files
//! (components keyed by name, secrets never shown), and where a change
//! moves decisions, those decisions replayed on what the store holds:
//! routing rules and order rules judged again on recent orders' recorded
//! facts, and each channel's availability for the current stock. Exit
//! status 0: no change; 1: changes; 2: a file is invalid.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Args;
use crossdock_engine::availability::{AvailabilityPlan, describe_sku};
use crossdock_store::Store;
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::json_diff::{Arrays, differences};
use crate::routing::parse_since;
use crate::store_args::StoreArgs;

#[derive(Clone, Args)]
pub struct PlanArgs {
    /// The configuration running now.
    pub current: PathBuf,
    /// The configuration proposed.
    pub new: PathBuf,
    /// Recent orders replayed under changed routing or order rules: an RFC
    /// 3339 time or a duration back from now.
    #[arg(long, default_value = "24h")]
    pub since: String,
    #[arg(long)]
    pub json: bool,
    /// The store to replay on (default: CURRENT's).
    #[command(flatten)]
    pub store: StoreArgs,
}

/// One key that differs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeyChange {
    /// `channels[regional].base_url`, `routing.rules[cost].score`, …
    pub key: String,
    /// `null` when the key is added; a secret's value is never shown.
    pub before: Value,
    pub after: Value,
}

/// One channel's availability under both configurations, for the current stock.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChannelAvailability {
    pub channel: String,
    pub units_before: i64,
    pub units_after: i64,
    pub skus_changed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Top-level sections with a change (`channels`, `routing`, `rules`, …).
    pub sections: Vec<String>,
    pub changes: Vec<KeyChange>,
    /// `routing what-if` with the new routing, when routing changed.
    pub routing: Option<Value>,
    /// `rules what-if` with the new order rules, when they changed.
    pub rules: Option<Value>,
    /// Per channel, when availability policies or stock authority changed.
    pub availability: Vec<ChannelAvailability>,
    /// What could not be replayed, and why.
    pub notes: Vec<String>,
}

/// Run the plan and exit with its status (0, 1 or 2).
pub async fn run(args: PlanArgs) -> i32 {
    let loaded = (Config::load(&args.current), Config::load(&args.new));
    let (current, new) = match loaded {
        (Ok(c), Ok(n)) => (c, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let since_ms = match parse_since(&args.since, SystemTime::now()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    let store = args.store.clone().with_config(&args.current).open().await;
    let plan = match plan(&current, &new, store.as_ref().ok(), since_ms).await {
        Ok(mut p) => {
            if let Err(e) = &store {
                p.notes.push(format!("no store to replay on: {e:#}"));
            }
            p
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    if let Ok(s) = store {
        s.close().await;
    }
    if args.json {
        match serde_json::to_string_pretty(&plan) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    } else {
        print!("{}", render(&plan, &args.current, &args.new));
    }
    i32::from(!plan.changes.is_empty())
}

/// Keys whose values are secrets: shown as changed, never as values.
fn is_secret(key: &str) -> bool {
    crate::secrets::is_secret_key(key)
}

/// The differences between two configurations, key by key.
pub fn key_changes(current: &Config, new: &Config) -> anyhow::Result<Vec<KeyChange>> {
    let before = serde_json::to_value(current)?;
    let after = serde_json::to_value(new)?;
    Ok(differences(&before, &after, Arrays::Whole)
        .into_iter()
        .map(|(key, [x, y])| {
            let shown = |v: Value| match v {
                Value::Null => Value::Null,
                _ if is_secret(&key) => Value::String("(hidden)".into()),
                Value::String(s) if key.ends_with("_url") => {
                    Value::String(crate::secrets::redact_url(&s))
                }
                v => v,
            };
            KeyChange {
                before: shown(x),
                after: shown(y),
                key,
            }
        })
        .collect())
}

/// The plan: key changes, and the decisions they move replayed on `store`.
pub async fn plan(
    current: &Config,
    new: &Config,
    store: Option<&Store>,
    since_ms: i64,
) -> anyhow::Result<Plan> {
    let changes = key_changes(current, new)?;
    let sections: Vec<String> = changes
        .iter()
        .map(|c| {
            c.key
                .split(['.', '['])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let changed = |s: &str| sections.iter().any(|x| x == s);
    let mut plan = Plan {
        sections: sections.clone(),
        changes,
        routing: None,
        rules: None,
        availability: Vec::new(),
        notes: Vec::new(),
    };
    let Some(store) = store else {
        return Ok(plan);
    };
    if changed("routing") {
        let router = crossdock_engine::routing::Router::new(&new.routing)?;
        let out = crate::routing::what_if(store, &router, since_ms, true).await?;
        plan.routing = Some(serde_json::from_str(&out)?);
    }
    if changed("rules") {
        let rules = new.order_rules().map_err(anyhow::Error::msg)?;
        let out = crate::rules::what_if(store, &rules, since_ms, true).await?;
        plan.rules = Some(serde_json::from_str(&out)?);
    }
    if changed("availability") || changed("inventory") {
        plan.availability = availability(store, current, new).await?;
    }
    Ok(plan)
}

/// Each channel's units shown for the current stock, under both configurations.
async fn availability(
    store: &Store,
    current: &Config,
    new: &Config,
) -> anyhow::Result<Vec<ChannelAvailability>> {
    let plan_of = |c: &Config| {
        c.availability
            .clone()
            .map(|a| AvailabilityPlan::new(a, c.inventory.clone()))
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let (before, after) = (plan_of(current)?, plan_of(new)?);
    let skus: BTreeSet<String> = store
        .positions(None)
        .await?
        .into_iter()
        .map(|p| p.sku)
        .collect();
    let mut by_channel: BTreeMap<String, ChannelAvailability> = BTreeMap::new();
    for sku in &skus {
        // Units per channel: `.0` under the current plan, `.1` under the new.
        let mut per: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (plan, after) in [(&before, false), (&after, true)] {
            let Some(plan) = plan else { continue };
            for c in describe_sku(store, plan, sku, 0.0)
                .await?
                .explanation
                .channels
            {
                let e = per.entry(c.channel).or_default();
                if after {
                    e.1 += c.quantity;
                } else {
                    e.0 += c.quantity;
                }
            }
        }
        for (channel, (b, a)) in per {
            let row = by_channel
                .entry(channel.clone())
                .or_insert(ChannelAvailability {
                    channel,
                    units_before: 0,
                    units_after: 0,
                    skus_changed: 0,
                });
            row.units_before += b;
            row.units_after += a;
            row.skus_changed += usize::from(a != b);
        }
    }
    Ok(by_channel.into_values().collect())
}

fn render(p: &Plan, current: &Path, new: &Path) -> String {
    if p.changes.is_empty() {
        return format!("{} → {}: no change\n", current.display(), new.display());
    }
    let mut s = format!(
        "{} → {}: {} key(s) change in {}\n",
        current.display(),
        new.display(),
        p.changes.len(),
        p.sections.join(", ")
    );
    for c in &p.changes {
        match (&c.before, &c.after) {
            (Value::Null, a) => s.push_str(&format!("  + {} = {a}\n", c.key)),
            (b, Value::Null) => s.push_str(&format!("  - {} (was {b})\n", c.key)),
            (b, a) => s.push_str(&format!("  ~ {}: {b} → {a}\n", c.key)),
        }
    }
    for (what, v) in [("routing", &p.routing), ("order rules", &p.rules)] {
        if let Some(v) = v {
            s.push_str(&format!(
                "{what}: of {} recent order(s), {} would be decided otherwise\n",
                v["orders"], v["changed"]
            ));
            for c in v["changes"].as_array().into_iter().flatten() {
                s.push_str(&format!(
                    "  order {}\n",
                    c["order_id"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    for a in &p.availability {
        s.push_str(&format!(
            "availability {}: {} → {} units shown for the current stock ({} SKU(s) change)\n",
            a.channel, a.units_before, a.units_after, a.skus_changed
        ));
    }
    for n in &p.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}
