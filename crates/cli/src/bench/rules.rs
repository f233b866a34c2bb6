//! `crossdock bench rules`: what order rules add to an order's validation.
//! A rule set of `--rules` rules of every kind (validations, enrichments,
//! holds, tax rules, in the proportions a retailer's set has) judges a
//! seeded stream of synthetic orders; each order's `Rules::evaluate` is
//! timed on its own (facts to CEL values included, as in the validate
//! step). Reading the customer's history from the store is not in it: that
//! is one indexed query, measured with the lifecycle.

use std::time::{Duration, Instant};

use clap::Args;
use crossdock_engine::nearest_rank;
use crossdock_engine::rules::{
    EnrichRule, HoldRule, LineFacts, RuleFacts, Rules, RulesOptions, TaxRule, ValidateRule,
    sample_facts,
};
use crossdock_model::TaxTreatment;
use serde::Serialize;

use super::common::SplitMix;

#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// Rules in the set: 40% validations, 20% enrichments, 20% holds,
    /// 20% tax rules.
    #[arg(long, default_value_t = 50)]
    pub rules: usize,
    /// Orders judged (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 20_000)]
    pub orders: usize,
    /// Lines per order: 1 to this many.
    #[arg(long, default_value_t = 5)]
    pub max_lines: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Check the ZIP code without `matches`: the side-by-side cost of
    /// regular expressions (compiled once per thread and pattern).
    #[arg(long)]
    pub without_regex: bool,
    /// Make every rule's expressions differ from every other's (each gets
    /// a cheap `N == N && …` of its own): rules that share an expression
    /// run it once per order, and the default set shares many.
    #[arg(long)]
    pub distinct: bool,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct RulesReport {
    pub rules: usize,
    /// Distinct expression texts in the set: each runs at most once per
    /// order while enrichment leaves the order unchanged.
    pub expressions: usize,
    pub orders: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub orders_per_sec: f64,
    /// Outcomes, so the set is seen to do work: refused, enriched, held,
    /// tax decided.
    pub refused: usize,
    pub enriched: usize,
    pub held: usize,
    pub tax_decided: usize,
}

/// `n` rules in the proportions above, each reading different facts;
/// `distinct`: no two rules share an expression text.
pub fn rule_set(n: usize, without_regex: bool, distinct: bool) -> RulesOptions {
    let mut o = RulesOptions::default();
    let zip = if without_regex {
        "order.ship_to.country != 'US' || (size(order.ship_to.postal_code) == 5 || size(order.ship_to.postal_code) == 10)"
    } else {
        "order.ship_to.country != 'US' || order.ship_to.postal_code.matches('^[0-9]{5}(-[0-9]{4})?$')"
    };
    let validations = [
        (zip, "a US ZIP code"),
        (
            "order.lines.all(l, l.quantity <= 50)",
            "at most 50 units a line",
        ),
        ("order.lines.all(l, l.known)", "known SKUs"),
        ("order.total_minor < 1000000", "under 10,000.00"),
        (
            "order.currency in ['USD', 'CAD', 'EUR']",
            "an allowed currency",
        ),
        (
            "size(order.ship_to.line1) > 0 && size(order.ship_to.city) > 0",
            "a street and a city",
        ),
        ("order.lines.all(l, l.unit_price_minor > 0)", "priced lines"),
        ("order.email.contains('@')", "an e-mail address"),
    ];
    let enrichments = [
        (
            "order.shipping_method.lowerAscii().contains('next day')",
            "service_level",
            "'expedited'",
        ),
        ("customer.spent_minor > 50000", "customer_group", "'vip'"),
        (
            "order.lines.exists(l, l.title.lowerAscii().contains('gift'))",
            "gift",
            "true",
        ),
        ("order.total_minor > 20000", "priority", "5"),
    ];
    let holds = [
        "customer.orders == 0 && order.total_minor > 50000",
        "order.has_bill_to && order.bill_to.country != order.ship_to.country",
        "address.orders_last_hour >= 3",
        "'restricted' in order.categories",
        "customer.cancelled > 2",
    ];
    let own = |i: usize, source: &str| {
        if distinct {
            format!("{i} == {i} && ({source})")
        } else {
            source.to_owned()
        }
    };
    for i in 0..n {
        let name = format!("rule-{i:03}");
        match i % 5 {
            0 | 1 => {
                let (require, message) = validations[(i / 5 * 2 + i % 5) % validations.len()];
                o.validate.push(ValidateRule {
                    name,
                    when: (i % 3 == 0).then(|| own(i, "order.line_count > 0")),
                    require: own(i, require),
                    message: message.to_owned(),
                });
            }
            2 => {
                let (when, field, value) = enrichments[(i / 5) % enrichments.len()];
                o.enrich.push(EnrichRule {
                    name,
                    when: Some(own(i, when)),
                    set: [(field.to_owned(), value.to_owned())].into(),
                });
            }
            3 => o.hold.push(HoldRule {
                name,
                when: own(i, holds[(i / 5) % holds.len()]),
                reason: "review".to_owned(),
                expires: Some("24h".to_owned()),
            }),
            _ => o.tax.push(TaxRule {
                name,
                when: own(
                    i,
                    &format!(
                        "channel.facilitator && order.ship_to.region != '{}'",
                        ["CA", "NY", "TX", "WA"][i % 4]
                    ),
                ),
                treatment: TaxTreatment::MarketplaceFacilitator,
            }),
        }
    }
    o
}

/// A seeded synthetic order's facts.
fn facts(rng: &mut SplitMix, max_lines: usize) -> RuleFacts {
    let mut f = sample_facts();
    let lines = 1 + rng.below(max_lines.max(1) as u64) as usize;
    let template = f.order.lines[0].clone();
    f.order.lines = (0..lines)
        .map(|i| LineFacts {
            line_id: (i + 1).to_string(),
            sku: format!("SKU-{:05}", rng.below(20_000)),
            title: if rng.below(10) == 0 {
                "Gift set".into()
            } else {
                "Widget".into()
            },
            quantity: 1 + rng.below(4) as i64,
            unit_price_minor: 100 + rng.below(20_000) as i64,
            ..template.clone()
        })
        .collect();
    f.order.line_count = lines as i64;
    f.order.units = f.order.lines.iter().map(|l| l.quantity).sum();
    f.order.total_minor = f
        .order
        .lines
        .iter()
        .map(|l| l.quantity * l.unit_price_minor)
        .sum();
    f.order.ship_to.region = ["CA", "NY", "TX", "WA", "IL"][rng.below(5) as usize].into();
    f.customer.orders = rng.below(4) as i64;
    f.customer.spent_minor = rng.below(100_000) as i64;
    f.channel.facilitator = rng.below(2) == 0;
    f
}

pub fn run(args: &RulesArgs) -> anyhow::Result<()> {
    let report = measure(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "bench rules: {} rules ({} distinct expressions), {} orders: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs per order ({:.0} orders/s on one core)\n  outcomes: {} refused, {} enriched, {} held, {} with a tax decision",
            report.rules,
            report.expressions,
            report.orders,
            report.p50_us,
            report.p99_us,
            report.max_us,
            report.orders_per_sec,
            report.refused,
            report.enriched,
            report.held,
            report.tax_decided
        );
    }
    Ok(())
}

pub fn measure(args: &RulesArgs) -> anyhow::Result<RulesReport> {
    let rules = Rules::new(&rule_set(args.rules, args.without_regex, args.distinct))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rng = SplitMix(args.seed);
    let orders: Vec<RuleFacts> = (0..args.orders + args.orders / 10)
        .map(|_| facts(&mut rng, args.max_lines))
        .collect();
    let (warm, timed) = orders.split_at(args.orders / 10);
    for f in warm {
        std::hint::black_box(rules.evaluate(f));
    }
    let mut times = Vec::with_capacity(timed.len());
    let (mut refused, mut enriched, mut held, mut tax_decided) = (0, 0, 0, 0);
    let started = Instant::now();
    for f in timed {
        let t = Instant::now();
        let out = rules.evaluate(f);
        times.push(t.elapsed());
        refused += usize::from(!out.refusals().is_empty());
        enriched += usize::from(!out.changes.is_empty());
        held += usize::from(out.hold.is_some());
        tax_decided += usize::from(out.tax.is_some());
    }
    let total = started.elapsed();
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Ok(RulesReport {
        rules: rules.len(),
        expressions: rules.expressions(),
        orders: timed.len(),
        p50_us: us(nearest_rank(&times, 0.50).unwrap_or_default()),
        p99_us: us(nearest_rank(&times, 0.99).unwrap_or_default()),
        max_us: us(times.last().copied().unwrap_or_default()),
        orders_per_sec: timed.len() as f64 / total.as_secs_f64().max(1e-9),
        refused,
        enriched,
        held,
        tax_decided,
    })
}
