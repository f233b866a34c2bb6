//! A synthetic Amazon V2 settlement file of any size, the same bytes for
//! the same seed: orders of one or two items (some shipped in two
//! shipments), marketplace-facilitator and merchant-collected tax,
//! promotions, fees, refunds of orders sold earlier, account-level fees
//! and reserve rows; one order in a thousand unknown to the hub and one
//! unknown fee key, so reconciliation has residuals to find. For the
//! benchmark (`crossdock bench settlement`) and tests; it writes to any
//! `Write`, it opens nothing.

use std::collections::HashMap;
use std::io::{self, Write};

use crossdock_model::TaxTreatment;
use rust_decimal::Decimal;

use crate::reconcile::KnownOrder;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateSpec {
    pub seed: u64,
    /// Stop adding orders once this many amount rows are written.
    pub rows: u64,
    /// Write the 24th column, `promotion-id`.
    pub promotion_id_column: bool,
    pub settlement_id: String,
}

/// What was generated: the counts, and the orders as the hub would know them.
#[derive(Debug, Clone)]
pub struct Generated {
    pub rows: u64,
    pub bytes: u64,
    pub total: Decimal,
    /// Orders sold (by channel order id), the ones the hub knows.
    pub known: HashMap<String, KnownOrder>,
    /// Orders sold that the hub does not know (planted residuals).
    pub unknown_orders: u64,
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// One amount row's varying part.
struct Line<'a> {
    tt: &'a str,
    order_id: &'a str,
    shipment_id: &'a str,
    amount_type: &'a str,
    description: &'a str,
    amount: i64,
    day: u32,
    item: &'a str,
    sku: &'a str,
    quantity: &'a str,
    promotion: &'a str,
}

struct Writer<'s, W> {
    out: W,
    spec: &'s GenerateSpec,
    rows: u64,
    bytes: u64,
    total: i64,
}

impl<W: Write> Writer<'_, W> {
    fn row(&mut self, l: &Line<'_>) -> io::Result<()> {
        let fulfillment = if l.order_id.is_empty() { "" } else { "AFN" };
        let market = if l.order_id.is_empty() {
            ""
        } else {
            "Amazon.com"
        };
        let text = format!(
            "{id}\t\t\t\t\t\t{tt}\t{o}\t{o}\t\t{s}\t{market}\t{at}\t{d}\t{amount}\t{fulfillment}\t2026-11-{day:02}\t2026-11-{day:02} 10:00:00 UTC\t{item}\t\t\t{sku}\t{q}",
            id = self.spec.settlement_id,
            tt = l.tt,
            o = l.order_id,
            s = l.shipment_id,
            at = l.amount_type,
            d = l.description,
            amount = cents(l.amount),
            day = l.day,
            item = l.item,
            sku = l.sku,
            q = l.quantity,
        );
        let promotion = if self.spec.promotion_id_column {
            format!("\t{}", l.promotion)
        } else {
            String::new()
        };
        writeln!(self.out, "{text}{promotion}")?;
        self.rows += 1;
        self.bytes += (text.len() + promotion.len() + 1) as u64;
        self.total += l.amount;
        Ok(())
    }
}

const HEADER: &str = "settlement-id\tsettlement-start-date\tsettlement-end-date\tdeposit-date\ttotal-amount\tcurrency\ttransaction-type\torder-id\tmerchant-order-id\tadjustment-id\tshipment-id\tmarketplace-name\tamount-type\tamount-description\tamount\tfulfillment-id\tposted-date\tposted-date-time\torder-item-code\tmerchant-order-item-id\tmerchant-adjustment-item-id\tsku\tquantity-purchased";

/// Write the settlement to `out`. The summary row comes first and carries
/// the total, so the rows are drawn twice from the same seed: once to sum
/// them, once to write them.
pub fn generate_amazon_v2(out: impl Write, spec: &GenerateSpec) -> io::Result<Generated> {
    let dry = body(io::sink(), spec)?;
    let mut out = out;
    let promotion_header = if spec.promotion_id_column {
        "\tpromotion-id"
    } else {
        ""
    };
    let header = format!("{HEADER}{promotion_header}\n");
    let summary = format!(
        "{}\t2026-11-01 00:00:00 UTC\t2026-11-15 00:00:00 UTC\t2026-11-17\t{}\tUSD{}\n",
        spec.settlement_id,
        cents(dry.0.total),
        "\t".repeat(if spec.promotion_id_column { 18 } else { 17 })
    );
    out.write_all(header.as_bytes())?;
    out.write_all(summary.as_bytes())?;
    let (w, known, unknown_orders) = body(out, spec)?;
    Ok(Generated {
        rows: w.rows,
        bytes: (header.len() + summary.len()) as u64 + w.bytes,
        total: cents(w.total),
        known,
        unknown_orders,
    })
}

type Body<'s, W> = (Writer<'s, W>, HashMap<String, KnownOrder>, u64);

fn body<W: Write>(out: W, spec: &GenerateSpec) -> io::Result<Body<'_, W>> {
    let mut rng = SplitMix(spec.seed);
    let mut w = Writer {
        out,
        spec,
        rows: 0,
        bytes: 0,
        total: 0,
    };
    let mut known = HashMap::new();
    let mut unknown_orders = 0;
    let other = |description: &'static str, amount: i64| Line {
        tt: "other-transaction",
        order_id: "",
        shipment_id: "",
        amount_type: "other-transaction",
        description,
        amount,
        day: 15,
        item: "",
        sku: "",
        quantity: "",
        promotion: "",
    };
    w.row(&other("Previous Reserve Amount Balance", 25_000))?;
    w.row(&other("Subscription Fee", -3_999))?;
    w.row(&other("Storage Fee", -12_345))?;
    w.row(&other("Quantum Storage Surcharge", -777))?;
    let mut n: u64 = 0;
    while w.rows < spec.rows {
        n += 1;
        let order_id = format!(
            "{:03}-{:07}-{:07}",
            100 + n % 900,
            n % 10_000_000,
            spec.seed % 10_000_000
        );
        let day = 1 + (n % 14) as u32;
        let mf = rng.below(2) == 0;
        let items = 1 + rng.below(2);
        let split = items == 2 && rng.below(10) == 0;
        let mut sale = 0;
        for item in 0..items {
            let shipment = if split && item == 1 { "S2" } else { "S1" };
            let sku = format!("SKU-{:05}", rng.below(50_000));
            let code = format!("{n}{item}");
            let qty = 1 + rng.below(3) as i64;
            let price = qty * (500 + rng.below(9_500) as i64);
            let ship = if rng.below(2) == 0 { 499 } else { 0 };
            let tax = price * 8 / 100;
            let q = qty.to_string();
            let mut money = |amount_type: &'static str,
                             description: &'static str,
                             amount: i64,
                             quantity: &str| {
                let line = Line {
                    tt: "Order",
                    order_id: &order_id,
                    shipment_id: shipment,
                    amount_type,
                    description,
                    amount,
                    day,
                    item: &code,
                    sku: &sku,
                    quantity,
                    promotion: "",
                };
                w.row(&line)
            };
            money("ItemPrice", "Principal", price, &q)?;
            if ship > 0 {
                money("ItemPrice", "Shipping", ship, "")?;
            }
            money("ItemPrice", "Tax", tax, "")?;
            if mf {
                money(
                    "ItemWithheldTax",
                    "MarketplaceFacilitatorTax-Principal",
                    -tax,
                    "",
                )?;
            }
            money("ItemFees", "Commission", -(price * 15 / 100), "")?;
            money("ItemFees", "FBAPerUnitFulfillmentFee", -(qty * 307), "")?;
            sale += price + ship + tax;
            if rng.below(10) == 0 {
                let promo = Line {
                    tt: "Order",
                    order_id: &order_id,
                    shipment_id: shipment,
                    amount_type: "Promotion",
                    description: "Principal",
                    amount: -200,
                    day,
                    item: &code,
                    sku: &sku,
                    quantity: "",
                    promotion: "PROMO-10OFF",
                };
                w.row(&promo)?;
                sale -= 200;
            }
        }
        let treatment = if mf {
            TaxTreatment::MarketplaceFacilitator
        } else {
            TaxTreatment::MerchantCollected
        };
        if n % 1000 == 999 {
            unknown_orders += 1;
        } else {
            let order = KnownOrder {
                order_id: format!("hub-{order_id}"),
                invoice_total: Some(cents(sale)),
                tax_treatment: treatment,
            };
            known.insert(order_id.clone(), order);
        }
        if rng.below(30) == 0 {
            // A refund of an order sold in an earlier settlement.
            let earlier = format!(
                "{:03}-{:07}-{:07}",
                100 + n % 900,
                n % 10_000_000,
                9_999_999
            );
            let refund = |amount_type: &'static str, description: &'static str, amount: i64| Line {
                tt: "Refund",
                order_id: &earlier,
                shipment_id: "",
                amount_type,
                description,
                amount,
                day,
                item: "",
                sku: "",
                quantity: "",
                promotion: "",
            };
            w.row(&refund("ItemPrice", "Principal", -1_500))?;
            w.row(&refund("ItemFees", "Commission", 225))?;
            w.row(&refund("ItemFees", "RefundCommission", -45))?;
            let order = KnownOrder {
                order_id: format!("hub-{earlier}"),
                invoice_total: Some(cents(1_500)),
                tax_treatment: TaxTreatment::MerchantCollected,
            };
            known.insert(earlier, order);
        }
    }
    w.row(&other("Current Reserve Amount", -30_000))?;
    Ok((w, known, unknown_orders))
}
