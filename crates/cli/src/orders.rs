//! `crossdock orders list|show|held|release`: orders read straight from the
//! store, as a table or as JSON (the same JSON as the API's), and the
//! release of an order an order rule holds.

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use crossdock_store::OrderFilter;

use crate::store_args::StoreArgs;

#[derive(Subcommand)]
pub enum OrdersCommand {
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Orders an order rule holds (fraud, review), the longest held first.
    Held {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Release an order an order rule holds: audited on its timeline, and
    /// a running hub takes it on to the ERP within its poll interval.
    Release {
        id: String,
        /// Why (kept on the order's timeline).
        #[arg(long)]
        reason: String,
        /// Who releases it (kept on the timeline).
        #[arg(long, default_value = "cli")]
        actor: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(cmd: OrdersCommand) -> anyhow::Result<()> {
    match cmd {
        OrdersCommand::List {
            store,
            status,
            channel,
            limit,
            json,
        } => {
            let s = store.open().await?;
            let orders = s
                .orders(&OrderFilter {
                    status,
                    channel,
                    limit: Some(limit),
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&orders)?);
            } else {
                println!(
                    "{:<36}  {:<10}  {:<14}  {:<22}  {:>12}",
                    "ID", "CHANNEL", "EXTERNAL", "STATUS", "TOTAL"
                );
                for o in orders {
                    println!(
                        "{:<36}  {:<10}  {:<14}  {:<22}  {:>12}",
                        o.id,
                        o.channel,
                        o.external_id,
                        o.status.as_str(),
                        o.total.to_string()
                    );
                }
            }
            Ok(())
        }
        OrdersCommand::Held { store, limit, json } => {
            let s = store.open().await?;
            let held = crossdock_engine::holds::held_orders(&s, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&held)?);
                return Ok(());
            }
            println!(
                "{:<36}  {:<10}  {:<24}  {:<24}  REASON",
                "ID", "CHANNEL", "RULE", "UNTIL"
            );
            for o in held {
                let Some(h) = &o.hold else { continue };
                println!(
                    "{:<36}  {:<10}  {:<24}  {:<24}  {}",
                    o.id,
                    o.channel,
                    h.rule,
                    h.until
                        .map_or("released by hand".to_owned(), |u| u.to_rfc3339()),
                    h.reason
                );
            }
            Ok(())
        }
        OrdersCommand::Release {
            id,
            reason,
            actor,
            store,
        } => {
            let s = store.open().await?;
            let now = crossdock_engine::Clock::now_ms(&crossdock_engine::SystemClock);
            let rule = crossdock_engine::holds::release_hold(&s, &id, &actor, &reason, now).await?;
            println!("released order {id} from hold rule {rule}");
            Ok(())
        }
        OrdersCommand::Show { id, store, json } => {
            let s = store.open().await?;
            let order = s
                .order(&id)
                .await?
                .with_context(|| format!("order {id} not found"))?;
            let key = crossdock_engine::order_entity_key(&id);
            let timeline = s.timeline(&key).await?;
            let effects = s.effects_for(&key).await?;
            let shipments = s.shipments_for(&id).await?;
            if json {
                let v = serde_json::json!({ "order": order, "timeline": timeline, "effects": effects, "shipments": shipments });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "order {} ({} {}) — {}  total {}",
                    order.id, order.channel, order.external_id, order.status, order.total
                );
                for l in &order.lines {
                    println!(
                        "  line {:<6} {:<10} qty {:>3} shipped {:>3} cancelled {:>3}  {}",
                        l.line_id,
                        l.sku,
                        l.quantity,
                        l.shipped_quantity,
                        l.cancelled_quantity,
                        l.unit_price
                    );
                }
                println!("effects:");
                for e in effects {
                    println!(
                        "  {:<44} {:<9} attempts {}",
                        e.key,
                        e.status.as_str(),
                        e.attempts
                    );
                }
                println!("timeline:");
                for ev in timeline {
                    let at = chrono_fmt(ev.at);
                    println!("  {at}  {:<24} {}", ev.kind, ev.detail);
                }
            }
            Ok(())
        }
    }
}

fn chrono_fmt(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}
