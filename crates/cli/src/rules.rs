//! `crossdock rules`: explain what the order rules decided for an order,
//! from the facts and outcome recorded on its timeline, and replay the
//! recorded facts of recent orders under other rules (what-if).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use clap::Subcommand;
use crossdock_engine::rules::{
    RULES_EVENT, RuleFacts, Rules, RulesOptions, RulesOutcome, tax_name,
};
use crossdock_store::{AuditEvent, Store};
use serde::Serialize;
use serde_json::json;

use crate::routing::{parse_since, rfc3339};
use crate::store_args::StoreArgs;

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Print every rules evaluation of an order: each rule, what it saw
    /// and what it decided.
    Explain {
        order_id: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Judge again, with the rules of FILE, the recorded facts of the
    /// orders evaluated at or after --since, and print the orders whose
    /// validation, enrichment, hold or tax treatment would change.
    WhatIf {
        /// TOML in the `[rules]` shape (`[[validate]]`, `[[enrich]]`,
        /// `[[hold]]`, `[[tax]]`, …), or a whole configuration file with a
        /// `[rules]` table.
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

pub async fn run(command: RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::Explain {
            order_id,
            store,
            json,
        } => {
            let store = store.open().await?;
            print!("{}", explain(&store, &order_id, json).await?);
            Ok(())
        }
        RulesCommand::WhatIf {
            rules,
            since,
            store,
            json,
        } => {
            // The rules first: a bad file needs no store.
            let rules = load_rules(&rules)?;
            let since_ms = parse_since(&since, SystemTime::now())?;
            let store = store.open().await?;
            print!("{}", what_if(&store, &rules, since_ms, json).await?);
            Ok(())
        }
    }
}

/// One recorded evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedEvaluation {
    pub event_id: i64,
    pub order_id: String,
    pub at: i64,
    pub facts: RuleFacts,
    pub outcome: RulesOutcome,
}

fn recorded(ev: &AuditEvent) -> anyhow::Result<RecordedEvaluation> {
    let field = |name: &str| {
        ev.detail
            .get(name)
            .cloned()
            .with_context(|| format!("event {} ({RULES_EVENT}) has no `{name}`", ev.id))
    };
    Ok(RecordedEvaluation {
        event_id: ev.id,
        order_id: ev
            .entity_key
            .strip_prefix("order:")
            .unwrap_or(&ev.entity_key)
            .to_owned(),
        at: ev.at,
        facts: serde_json::from_value(field("facts")?)
            .with_context(|| format!("event {}: `facts`", ev.id))?,
        outcome: serde_json::from_value(field("outcome")?)
            .with_context(|| format!("event {}: `outcome`", ev.id))?,
    })
}

/// The text (or JSON) `rules explain` prints.
pub async fn explain(store: &Store, order_id: &str, json: bool) -> anyhow::Result<String> {
    if store.order(order_id).await?.is_none() {
        anyhow::bail!("order {order_id} not found");
    }
    let all = store
        .timeline(&crossdock_engine::order_entity_key(order_id))
        .await?
        .iter()
        .filter(|e| e.kind == RULES_EVENT)
        .map(recorded)
        .collect::<anyhow::Result<Vec<_>>>()?;
    if json {
        let v = json!({ "order_id": order_id, "evaluations": all });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    if all.is_empty() {
        return Ok(format!(
            "order {order_id}: no rules evaluation recorded (no [rules] configured when it was validated)\n"
        ));
    }
    let mut s = format!("order {order_id}: {} rules evaluation(s)\n", all.len());
    for (i, r) in all.iter().enumerate() {
        let o = &r.outcome;
        s.push_str(&format!(
            "\nevaluation {} at {} (rules {})\n",
            i + 1,
            rfc3339(r.at),
            o.digest
        ));
        let f = &r.facts;
        s.push_str(&format!(
            "  facts: order total {} minor {} · {} line(s) · ship to {} {} · customer {} earlier order(s), {} in the last hour · {} order(s) to the address in the last hour · channel {} ({}){}\n",
            f.order.total_minor,
            f.order.currency,
            f.order.line_count,
            f.order.ship_to.country,
            f.order.ship_to.region,
            f.customer.orders,
            f.customer.orders_last_hour,
            f.address.orders_last_hour,
            f.channel.name,
            f.channel.kind,
            if f.channel.facilitator { ", marketplace collects tax" } else { "" },
        ));
        let width = o.rules.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for rule in &o.rules {
            s.push_str(&format!(
                "  {:<8}  {:<width$}  {}\n",
                rule.kind.as_str(),
                rule.name,
                rule.outcome
            ));
        }
        for c in &o.changes {
            s.push_str(&format!(
                "  enriched {}: {} → {} (rule {})\n",
                c.field, c.before, c.after, c.rule
            ));
        }
        s.push_str(&format!("  verdict: {}\n", verdict(o)));
    }
    Ok(s)
}

/// One line: passes or not, held or not, tax treatment.
fn verdict(o: &RulesOutcome) -> String {
    let refusals = o.refusals();
    let pass = if refusals.is_empty() {
        "passes".to_owned()
    } else {
        format!("refused ({})", refusals.join("; "))
    };
    let hold = o.hold.as_ref().map_or("not held".to_owned(), |h| {
        format!("held by {} ({})", h.rule, h.reason)
    });
    let tax = o
        .tax
        .as_ref()
        .map_or("tax as the channel says".to_owned(), |t| {
            format!("tax {} (rule {})", tax_name(t.treatment), t.rule)
        });
    format!("{pass}; {hold}; {tax}")
}

/// Load and compile a rules file; errors name the file and the line (TOML)
/// or the file, the rule's line and its field (CEL).
pub fn load_rules(path: &Path) -> anyhow::Result<Rules> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {origin}"))?;
    let located = |e: toml::de::Error| crate::config::located(&text, &origin, &e);
    let table: toml::Table = toml::from_str(&text).map_err(located)?;
    // A whole configuration file: its [rules] table.
    let options: RulesOptions = match table.get("rules") {
        Some(toml::Value::Table(rules)) => {
            rules.clone().try_into().map_err(|e: toml::de::Error| {
                anyhow::anyhow!("{origin} [rules]: {}", e.message().trim())
            })?
        }
        _ => toml::from_str(&text).map_err(located)?,
    };
    Rules::new(&options).map_err(|e| match crate::config::rule_line(&text, e.rule()) {
        Some(line) => anyhow::anyhow!("{origin}:{line}: {e}"),
        None => anyhow::anyhow!("{origin}: {e}"),
    })
}

/// What one order's judgement would become.
#[derive(Debug, Clone, Serialize)]
pub struct RulesChange {
    pub order_id: String,
    pub at: String,
    /// `validation`, `enrichment`, `hold`, `tax`.
    pub aspects: Vec<String>,
    pub before: String,
    pub after: String,
    pub new_outcome: RulesOutcome,
}

/// Which aspects of two outcomes differ.
fn differences(a: &RulesOutcome, b: &RulesOutcome) -> Vec<String> {
    let mut out = Vec::new();
    let (mut ra, mut rb) = (a.refusals(), b.refusals());
    ra.sort();
    rb.sort();
    if ra != rb {
        out.push("validation".to_owned());
    }
    if a.final_values() != b.final_values() {
        out.push("enrichment".to_owned());
    }
    if a.hold != b.hold {
        out.push("hold".to_owned());
    }
    if a.tax.as_ref().map(|t| t.treatment) != b.tax.as_ref().map(|t| t.treatment) {
        out.push("tax".to_owned());
    }
    out
}

/// The text (or JSON) `rules what-if` prints: only an order's first
/// evaluation since `since_ms` counts (a replayed order is judged once).
pub async fn what_if(
    store: &Store,
    rules: &Rules,
    since_ms: i64,
    json: bool,
) -> anyhow::Result<String> {
    let mut seen = std::collections::HashSet::new();
    let mut evaluated = Vec::new();
    for ev in store.events_of_kind(RULES_EVENT, since_ms).await? {
        let r = recorded(&ev)?;
        if seen.insert(r.order_id.clone()) {
            evaluated.push(r);
        }
    }
    let mut changes = Vec::new();
    for r in &evaluated {
        let new = rules.evaluate(&r.facts);
        let aspects = differences(&r.outcome, &new);
        if !aspects.is_empty() {
            changes.push(RulesChange {
                order_id: r.order_id.clone(),
                at: rfc3339(r.at),
                aspects,
                before: verdict(&r.outcome),
                after: verdict(&new),
                new_outcome: new,
            });
        }
    }
    if json {
        let v = json!({
            "rules_digest": rules.digest(),
            "since": rfc3339(since_ms),
            "orders": evaluated.len(),
            "changed": changes.len(),
            "changes": changes,
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    let mut s = format!(
        "orders: {}, changed: {} (rules {}, since {})\n",
        evaluated.len(),
        changes.len(),
        rules.digest(),
        rfc3339(since_ms)
    );
    for c in &changes {
        s.push_str(&format!(
            "order {} [{}]\n  was: {}\n  now: {}\n",
            c.order_id,
            c.aspects.join(", "),
            c.before,
            c.after
        ));
    }
    Ok(s)
}
