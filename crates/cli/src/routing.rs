//! `crossdock routing`: explain the routing decisions recorded on an order's
//! timeline, and replay recorded decisions under other rules (what-if).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Subcommand;
use crossdock_engine::routing::{Router, RoutingDecision, RoutingInput, RoutingOptions};
use crossdock_store::{AuditEvent, OrderFilter, Store};
use serde::Serialize;
use serde_json::json;

use crate::store_args::StoreArgs;

/// The timeline event kind the engine records for every routing.
pub use crossdock_engine::routing::ROUTING_EVENT;

#[derive(Subcommand)]
pub enum RoutingCommand {
    /// Print every routing decision of an order, in time order: the ranking
    /// with its reasons, the warehouse chosen and why.
    Explain {
        order_id: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Re-decide the recorded routing inputs of the orders first routed at or
    /// after --since with the rules of FILE, and print what would change.
    WhatIf {
        /// TOML with `[[rules]]` and `[[warehouses]]` (the `[routing]` shape).
        #[arg(long)]
        rules: PathBuf,
        /// RFC 3339 time, or a duration back from now (`24h`, `7days`).
        #[arg(long)]
        since: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: RoutingCommand) -> anyhow::Result<()> {
    match command {
        RoutingCommand::Explain {
            order_id,
            store,
            json,
        } => {
            let store = store.open().await?;
            print!("{}", explain(&store, &order_id, json).await?);
            Ok(())
        }
        RoutingCommand::WhatIf {
            rules,
            since,
            store,
            json,
        } => {
            // The rules first: a bad file needs no store.
            let router = load_rules(&rules)?;
            let since_ms = parse_since(&since, SystemTime::now())?;
            let store = store.open().await?;
            print!("{}", what_if(&store, &router, since_ms, json).await?);
            Ok(())
        }
    }
}

/// One recorded routing: when, from what, and the outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRouting {
    pub event_id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub input: RoutingInput,
    pub decision: RoutingDecision,
}

fn recorded(ev: &AuditEvent) -> anyhow::Result<RecordedRouting> {
    let parse = || -> anyhow::Result<(RoutingInput, RoutingDecision)> {
        let input = serde_json::from_value(
            ev.detail
                .get("input")
                .cloned()
                .context("detail has no `input`")?,
        )
        .context("`input`")?;
        let decision = serde_json::from_value(
            ev.detail
                .get("decision")
                .cloned()
                .context("detail has no `decision`")?,
        )
        .context("`decision`")?;
        Ok((input, decision))
    };
    let (input, decision) = parse().with_context(|| {
        format!(
            "event {} ({ROUTING_EVENT} of {}) is not a routing record",
            ev.id, ev.entity_key
        )
    })?;
    Ok(RecordedRouting {
        event_id: ev.id,
        at: ev.at,
        input,
        decision,
    })
}

/// The routing decisions recorded for `order_id`, in time order.
pub async fn routings(store: &Store, order_id: &str) -> anyhow::Result<Vec<RecordedRouting>> {
    let timeline = store
        .timeline(&crossdock_engine::order_entity_key(order_id))
        .await?;
    let mut out = timeline
        .iter()
        .filter(|e| e.kind == ROUTING_EVENT)
        .map(recorded)
        .collect::<anyhow::Result<Vec<_>>>()?;
    out.sort_by_key(|r| (r.at, r.event_id));
    Ok(out)
}

/// Milliseconds since the epoch as RFC 3339 with milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// The text (or JSON) `routing explain` prints.
pub async fn explain(store: &Store, order_id: &str, json: bool) -> anyhow::Result<String> {
    if store.order(order_id).await?.is_none() {
        anyhow::bail!("order {order_id} not found");
    }
    let all = routings(store, order_id).await?;
    if json {
        let decisions: Vec<_> = all
            .iter()
            .map(|r| {
                json!({ "event_id": r.event_id, "at": rfc3339(r.at), "input": r.input, "decision": r.decision })
            })
            .collect();
        let v = json!({ "order_id": order_id, "decisions": decisions });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    let mut s = String::new();
    if all.is_empty() {
        s.push_str(&format!("order {order_id}: no routing decision recorded\n"));
        return Ok(s);
    }
    s.push_str(&format!(
        "order {order_id}: {} routing decision(s)\n",
        all.len()
    ));
    for (i, r) in all.iter().enumerate() {
        let d = &r.decision;
        s.push_str(&format!(
            "\ndecision {} at {} (rules {})\n",
            i + 1,
            rfc3339(r.at),
            d.rules_digest
        ));
        let width = d
            .ranking
            .iter()
            .map(|c| c.warehouse.len())
            .max()
            .unwrap_or(0);
        for (rank, c) in d.ranking.iter().enumerate() {
            let reasons = if c.reasons.is_empty() {
                String::new()
            } else {
                format!("  {}", c.reasons.join("; "))
            };
            s.push_str(&format!(
                "  {}. {:<width$}  {:<10}  score {}{reasons}\n",
                rank + 1,
                c.warehouse,
                if c.eligible { "eligible" } else { "ineligible" },
                c.score,
            ));
        }
        s.push_str(&format!("  chosen: {}\n", d.chosen().unwrap_or("none")));
        s.push_str(&format!("  reason: {}\n", d.reason));
    }
    Ok(s)
}

/// Load and compile a rules file; errors name the file and line (TOML) or
/// the file, the rule's line and the rule's field (CEL).
pub fn load_rules(path: &Path) -> anyhow::Result<Router> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {origin}"))?;
    let options: RoutingOptions =
        toml::from_str(&text).map_err(|e| crate::config::located(&text, &origin, &e))?;
    Router::new(&options).map_err(|e| {
        use crossdock_engine::routing::RoutingError;
        let table = match &e {
            RoutingError::Expression { index, .. } => Some(("rules", *index)),
            RoutingError::Invalid { path, .. } => path
                .split_once('[')
                .and_then(|(t, rest)| Some((t, rest.split_once(']')?.0.parse().ok()?)))
                .and_then(|(t, i): (&str, usize)| match t {
                    "rules" => Some(("rules", i)),
                    "warehouses" => Some(("warehouses", i)),
                    _ => None,
                }),
        };
        // The line of the N-th `[[table]]` header, where the entry starts.
        let line = table.and_then(|(t, i)| {
            let header = format!("[[{t}]]");
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.trim() == header)
                .nth(i)
                .map(|(n, _)| n + 1)
        });
        match line {
            Some(l) => anyhow::anyhow!("{origin}:{l}: {e}"),
            None => anyhow::anyhow!("{origin}: {e}"),
        }
    })
}

/// `--since`: an RFC 3339 time, or a duration back from `now`.
pub fn parse_since(s: &str, now: SystemTime) -> anyhow::Result<i64> {
    let t = match humantime::parse_rfc3339_weak(s) {
        Ok(t) => t,
        Err(_) => {
            let d = humantime::parse_duration(s).map_err(|_| {
                anyhow::anyhow!(
                    "--since {s:?} is neither an RFC 3339 time (2026-11-26T10:00:00Z) nor a duration (24h)"
                )
            })?;
            now.checked_sub(d)
                .with_context(|| format!("--since {s:?} reaches before 1970"))?
        }
    };
    Ok(i64::try_from(t.duration_since(UNIX_EPOCH)?.as_millis())?)
}

/// One recorded decision that the new rules decide otherwise.
#[derive(Debug, Clone, Serialize)]
pub struct RoutingChange {
    pub order_id: String,
    /// 1-based, in time order among the order's decisions.
    pub decision: usize,
    pub at: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: String,
    pub new_decision: RoutingDecision,
}

/// The text (or JSON) `routing what-if` prints.
pub async fn what_if(
    store: &Store,
    router: &Router,
    since_ms: i64,
    json: bool,
) -> anyhow::Result<String> {
    let orders = store
        .orders(&OrderFilter {
            status: None,
            channel: None,
            limit: Some(i64::MAX),
        })
        .await?;
    let mut selected = Vec::new();
    for o in &orders {
        let all = routings(store, &o.id).await?;
        if all.first().is_some_and(|r| r.at >= since_ms) {
            selected.push((o.id.clone(), all));
        }
    }
    selected.sort_by(|a, b| (a.1[0].at, &a.0).cmp(&(b.1[0].at, &b.0)));
    let mut changes = Vec::new();
    let mut changed_orders = 0;
    for (order_id, all) in &selected {
        let mut changed = false;
        for (i, r) in all.iter().enumerate() {
            let new = router.decide(&r.input);
            if new.chosen() != r.decision.chosen() {
                changed = true;
                changes.push(RoutingChange {
                    order_id: order_id.clone(),
                    decision: i + 1,
                    at: rfc3339(r.at),
                    before: r.decision.chosen().map(str::to_owned),
                    after: new.chosen().map(str::to_owned),
                    reason: new.reason.clone(),
                    new_decision: new,
                });
            }
        }
        if changed {
            changed_orders += 1;
        }
    }
    if json {
        let v = json!({
            "rules_digest": router.digest(),
            "since": rfc3339(since_ms),
            "orders": selected.len(),
            "changed": changed_orders,
            "changes": changes,
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    let mut s = format!(
        "orders: {}, changed: {changed_orders} (rules {}, since {})\n",
        selected.len(),
        router.digest(),
        rfc3339(since_ms)
    );
    for c in &changes {
        let several = selected
            .iter()
            .find(|(id, _)| *id == c.order_id)
            .is_some_and(|(_, all)| all.len() > 1);
        let which = if several {
            format!(" (decision {})", c.decision)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "order {}{which}: {} → {} ({})\n",
            c.order_id,
            c.before.as_deref().unwrap_or("none"),
            c.after.as_deref().unwrap_or("none"),
            c.reason
        ));
    }
    Ok(s)
}
