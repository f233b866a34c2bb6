//! `crossdock settlement import|list|show|residuals|resolve`: marketplace
//! settlements read, reconciled and stored straight on the store (the same
//! code as `/v1/settlements`); a running hub posts their journals to the ERP.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use crossdock_engine::settlements::{
    ImportOutcome, ImportRequest, SettlementListItem, SettlementView, import_settlement,
    residual_views, resolve_residual, settlement_view,
};
use crossdock_model::{ResolutionKind, SettlementFormat};

use crate::store_args::StoreArgs;

/// The report formats `--from` reads.
#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Amazon `GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2` (tab-separated).
    AmazonV2,
    /// A Shopify Payments payout (FILE) and its balance transactions (`--transactions`).
    ShopifyPayout,
    /// Walmart's reconciliation report v1 (CSV).
    WalmartRecon,
}

impl FormatArg {
    fn format(self) -> SettlementFormat {
        match self {
            FormatArg::AmazonV2 => SettlementFormat::AmazonV2,
            FormatArg::ShopifyPayout => SettlementFormat::ShopifyPayout,
            FormatArg::WalmartRecon => SettlementFormat::WalmartRecon,
        }
    }
}

/// How a residual was resolved.
#[derive(Clone, Copy, ValueEnum)]
pub enum HowArg {
    /// Its type now has an account.
    Mapped,
    /// Matched by hand to its order or invoice.
    Matched,
    /// Accepted as a loss or gain.
    #[value(name = "written_off")]
    WrittenOff,
}

impl HowArg {
    fn kind(self) -> ResolutionKind {
        match self {
            HowArg::Mapped => ResolutionKind::Mapped,
            HowArg::Matched => ResolutionKind::Matched,
            HowArg::WrittenOff => ResolutionKind::WrittenOff,
        }
    }
}

#[derive(Args)]
pub struct ShowFormat {
    /// The settlement as JSON (the `/v1/settlements/{id}` body).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// `section,name,amount` rows: categories, orders' nets, residuals.
    #[arg(long)]
    csv: bool,
}

#[derive(Subcommand)]
pub enum SettlementCommand {
    /// Read a settlement report, reconcile it against the orders the hub
    /// saw and store it with its residuals, all or nothing; importing one
    /// already held changes nothing. A running hub then posts its journal.
    Import {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum)]
        from: FormatArg,
        file: PathBuf,
        /// Shopify: the payout's balance transactions.
        #[arg(long)]
        transactions: Option<PathBuf>,
        /// The channel the settlement belongs to (default: the format's
        /// marketplace: amazon, shopify, walmart).
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Settlements, the latest import first.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One settlement explained (ID: `channel:settlement_id`, or the
    /// settlement id alone when one channel holds it).
    Show {
        #[command(flatten)]
        store: StoreArgs,
        id: String,
        #[command(flatten)]
        format: ShowFormat,
    },
    /// The residual ledger: amounts that did not match.
    Residuals {
        #[command(flatten)]
        store: StoreArgs,
        /// Only the open ones.
        #[arg(long)]
        open: bool,
        /// Of one settlement only.
        #[arg(long)]
        settlement: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Resolve a residual; its amount leaves suspense with a delta journal
    /// that a running hub posts.
    Resolve {
        #[command(flatten)]
        store: StoreArgs,
        /// The residual's id (`channel:settlement_id:n`).
        id: String,
        #[arg(long, value_enum)]
        how: HowArg,
        /// Why (kept with the resolution).
        #[arg(long)]
        why: String,
        /// Who resolves it (default: the OS user).
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: SettlementCommand) -> anyhow::Result<()> {
    match cmd {
        SettlementCommand::Import {
            store,
            from,
            file,
            transactions,
            channel,
            json,
        } => {
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let transactions = transactions
                .as_ref()
                .map(|t| std::fs::read(t).with_context(|| format!("reading {}", t.display())))
                .transpose()?;
            let s = store.open().await?;
            let report = import_settlement(
                &s,
                &ImportRequest {
                    format: from.format(),
                    file: &body,
                    transactions: transactions.as_deref(),
                    channel: channel.as_deref(),
                    now: now_ms(),
                },
            )
            .await
            .with_context(|| format!("{} refused, nothing stored", file.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                match report.outcome {
                    ImportOutcome::Imported => println!("imported {}", report.settlement.key),
                    ImportOutcome::AlreadyImported => println!(
                        "settlement {} was already imported: nothing changed",
                        report.settlement.key
                    ),
                }
                print_view(&report.settlement);
            }
            Ok(())
        }
        SettlementCommand::List { store, limit, json } => {
            let s = store.open().await?;
            let list: Vec<SettlementListItem> = s
                .settlements(limit)
                .await?
                .iter()
                .map(SettlementListItem::from)
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for i in list {
                    println!(
                        "{:<32} {:<9} {:>14} {}  {}",
                        i.key,
                        status(&i.status),
                        i.deposit_total,
                        i.currency,
                        i.imported_at
                    );
                }
            }
            Ok(())
        }
        SettlementCommand::Show { store, id, format } => {
            let s = store.open().await?;
            let settlement = s
                .settlement(&id)
                .await?
                .with_context(|| format!("no settlement {id:?}"))?;
            let view = settlement_view(&s, &settlement).await?;
            if format.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else if format.csv {
                print!("{}", csv(&view));
            } else {
                print_view(&view);
            }
            Ok(())
        }
        SettlementCommand::Residuals {
            store,
            open,
            settlement,
            json,
        } => {
            let s = store.open().await?;
            let key = match &settlement {
                Some(id) => Some(
                    s.settlement(id)
                        .await?
                        .with_context(|| format!("no settlement {id:?}"))?
                        .key,
                ),
                None => None,
            };
            let list = residual_views(&s.residuals(key.as_deref(), open).await?);
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for r in list {
                    println!(
                        "{:<36} {:<8} {:>12} {:<24} line {:<8} {}",
                        r.id,
                        residual_status(&r),
                        r.amount,
                        r.reason,
                        r.line.map_or("-".to_owned(), |l| l.to_string()),
                        r.detail
                    );
                }
            }
            Ok(())
        }
        SettlementCommand::Resolve {
            store,
            id,
            how,
            why,
            by,
            json,
        } => {
            anyhow::ensure!(!why.trim().is_empty(), "--why must say why");
            let s = store.open().await?;
            let by = by.unwrap_or_else(crate::reload::os_user);
            let resolved = resolve_residual(&s, &id, how.kind(), &by, &why, now_ms()).await?;
            let view = residual_views(std::slice::from_ref(&resolved)).remove(0);
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                println!(
                    "resolved {} ({}) by {}: its delta journal is queued for the ERP",
                    view.id,
                    crossdock_store::resolution_text(how.kind()),
                    by
                );
            }
            Ok(())
        }
    }
}

fn status(s: &crossdock_model::SettlementStatus) -> &'static str {
    crossdock_store::status_text(*s)
}

fn residual_status(r: &crossdock_engine::settlements::ResidualView) -> &'static str {
    match r.status {
        crossdock_model::ResidualStatus::Open => "open",
        crossdock_model::ResidualStatus::Resolved => "resolved",
    }
}

fn print_view(v: &SettlementView) {
    println!(
        "{}  {}  deposit {} {}  status {}",
        v.key,
        v.format,
        v.deposit_total,
        v.currency,
        status(&v.status)
    );
    for (name, amount) in &v.categories {
        println!("  {name:<12} {amount:>14}");
    }
    println!(
        "  orders {}  units {}  tax collected {} withheld {} merchant liability {}",
        v.orders_count, v.units, v.tax.collected, v.tax.withheld, v.tax.merchant_liability
    );
    println!(
        "  reserve released {} held {}",
        v.reserve.previous, v.reserve.current
    );
    let open = v
        .residuals
        .iter()
        .filter(|r| r.status == crossdock_model::ResidualStatus::Open)
        .count();
    println!(
        "  residuals {} ({} open, {} in suspense)",
        v.residuals.len(),
        open,
        v.open_residuals
    );
}

/// `section,name,amount`: the categories, each order's net, each residual.
fn csv(v: &SettlementView) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = String::from("section,name,amount\n");
    out.push_str(&format!("deposit,{},{}\n", field(&v.key), v.deposit_total));
    for (name, amount) in &v.categories {
        out.push_str(&format!("category,{},{amount}\n", field(name)));
    }
    for (order, net) in &v.net_per_order {
        out.push_str(&format!("order,{},{net}\n", field(order)));
    }
    for r in &v.residuals {
        out.push_str(&format!("residual,{},{}\n", field(&r.id), r.amount));
    }
    out
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
