//! Reconciliation: a settlement's rows, fed one at a time to a
//! `Reconciler` (which keeps per order only a few sums, never the rows),
//! matched at `finish` against the orders the hub knows, give the
//! `SettlementSummary` and its balanced journals.
//!
//! What is explained and what is a residual:
//! - an order's receivable money (price, shipping, promotions, collected
//!   tax, refunds, disputes) is explained when the hub knows the order;
//!   else it is a residual `order_not_found`, per category, at the order's
//!   first line. Refunds are matched to their order whichever settlement
//!   sold it;
//! - a matched order whose sale in this settlement differs from its
//!   invoice leaves the difference as `amount_differs`; a
//!   marketplace-facilitator order whose collected and withheld tax do not
//!   net to zero leaves the gap as `tax_not_netted`;
//! - fees (by type), withheld tax, reserve and known account-level keys are
//!   explained; unknown keys are residuals `unmapped_type`;
//! - released reserve that is not minus the last settlement's held reserve
//!   leaves the gap as `reserve_gap`; a payout whose rows do not sum to it
//!   leaves the difference as `payout_sum_mismatch`.
//!
//! `categories` are the explained money by category, so Σcategories +
//! Σresiduals = deposit for every settlement, and each journal balances.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use crossdock_model::{
    Category, Journal, JournalAccount, ReserveSummary, Residual, ResidualReason, ResidualStatus,
    Settlement, SettlementFormat, SettlementHeader, SettlementRow, SettlementStatus,
    SettlementSummary, TaxSummary, TaxTreatment,
};
use rust_decimal::Decimal;

use crate::classify::{Role, classify, is_sale};
use crate::journal::{Month, Postings, journals};

/// What the hub knows of an order a settlement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownOrder {
    /// The hub's order id.
    pub order_id: String,
    /// What the buyer was invoiced (price, shipping, discounts and tax),
    /// when the invoice exists; the settlement's sale of the order is
    /// compared with it.
    pub invoice_total: Option<Decimal>,
    pub tax_treatment: TaxTreatment,
}

/// The hub's orders, by the channel's order id.
pub trait KnownOrders {
    fn order(&self, channel_order_id: &str) -> Option<KnownOrder>;
}

impl<S: BuildHasher> KnownOrders for HashMap<String, KnownOrder, S> {
    fn order(&self, channel_order_id: &str) -> Option<KnownOrder> {
        self.get(channel_order_id).cloned()
    }
}

impl<F: Fn(&str) -> Option<KnownOrder>> KnownOrders for F {
    fn order(&self, channel_order_id: &str) -> Option<KnownOrder> {
        self(channel_order_id)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReconcileOptions {
    /// The last settlement's `reserve.current` (held, negative), when there
    /// was one: this settlement's released reserve should be minus it.
    pub previous_reserve_current: Option<Decimal>,
    /// The tax treatment of orders the hub does not know and whose rows
    /// show no withholding (the connector's default).
    pub default_tax_treatment: TaxTreatment,
}

/// A settlement explained and its journals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub summary: SettlementSummary,
    pub journals: Vec<Journal>,
}

const CATEGORIES: usize = Category::ALL.len();

fn index(category: Category) -> usize {
    Category::ALL
        .iter()
        .position(|c| *c == category)
        .unwrap_or(CATEGORIES - 1)
}

/// The categories a format's summary always shows.
fn shown(format: SettlementFormat) -> &'static [Category] {
    use Category as C;
    match format {
        SettlementFormat::AmazonV2 => &[
            C::Principal,
            C::Shipping,
            C::Tax,
            C::Fees,
            C::Promotions,
            C::Refunds,
            C::Reserve,
            C::Other,
        ],
        SettlementFormat::ShopifyPayout | SettlementFormat::WalmartRecon => &[
            C::Charges,
            C::Fees,
            C::Refunds,
            C::Adjustments,
            C::Disputes,
            C::Reserve,
            C::Other,
        ],
    }
}

#[derive(Debug, Default)]
struct OrderSums {
    first_line: u64,
    sold: bool,
    net: Decimal,
    refunds: Decimal,
    collected: Decimal,
    withheld: Decimal,
    /// Receivable money on sale rows (compared with the invoice).
    sale: Decimal,
    /// Receivable money by category.
    receivable_by_category: [Decimal; CATEGORIES],
    /// Receivable money by month.
    receivable_by_month: Vec<(Option<Month>, Decimal)>,
}

/// Accumulates a settlement's rows; see the module documentation.
#[derive(Debug)]
pub struct Reconciler {
    format: SettlementFormat,
    rows: u64,
    total: Decimal,
    by_category: [Decimal; CATEGORIES],
    orders: HashMap<String, OrderSums>,
    postings: Postings,
    fees_by_type: BTreeMap<String, Decimal>,
    other_items: BTreeMap<String, Decimal>,
    residuals: Vec<(Option<Month>, Residual)>,
    units: i64,
    tax: TaxSummary,
    reserve_previous: Decimal,
    reserve_previous_at: Option<(u64, Option<Month>)>,
    reserve_current: Decimal,
    last_month: Option<Month>,
}

fn residual(
    line: Option<u64>,
    key: String,
    order_id: Option<&str>,
    category: Category,
    amount: Decimal,
    reason: ResidualReason,
    detail: String,
) -> Residual {
    Residual {
        line,
        key,
        order_id: order_id.map(str::to_owned),
        category,
        amount,
        reason,
        detail,
        status: ResidualStatus::Open,
        resolution: None,
    }
}

impl Reconciler {
    pub fn new(format: SettlementFormat) -> Reconciler {
        Reconciler {
            format,
            rows: 0,
            total: Decimal::ZERO,
            by_category: [Decimal::ZERO; CATEGORIES],
            orders: HashMap::new(),
            postings: Postings::default(),
            fees_by_type: BTreeMap::new(),
            other_items: BTreeMap::new(),
            residuals: Vec::new(),
            units: 0,
            tax: TaxSummary::default(),
            reserve_previous: Decimal::ZERO,
            reserve_previous_at: None,
            reserve_current: Decimal::ZERO,
            last_month: None,
        }
    }

    /// The channel order ids seen so far (to load the hub's orders in one
    /// query before `finish`).
    pub fn order_ids(&self) -> impl Iterator<Item = &str> {
        self.orders.keys().map(String::as_str)
    }

    pub fn push(&mut self, row: &SettlementRow) {
        let class = classify(
            self.format,
            &row.transaction_type,
            &row.amount_type,
            &row.description,
        );
        let month = row.posted_on.map(Month::of);
        if month > self.last_month {
            self.last_month = month;
        }
        let amount = row.amount;
        self.rows += 1;
        self.total += amount;
        self.by_category[index(class.category)] += amount;

        if !class.mapped {
            let reason = if class.role == Role::NetDifference {
                ResidualReason::PayoutSumMismatch
            } else {
                ResidualReason::UnmappedType
            };
            let detail = match reason {
                ResidualReason::PayoutSumMismatch => "net is not amount − fee".to_owned(),
                _ => "key not in the settlement taxonomy".to_owned(),
            };
            let r = residual(
                Some(row.line),
                row.key(),
                row.order_id.as_deref(),
                class.category,
                amount,
                reason,
                detail,
            );
            self.residuals.push((month, r));
            self.postings
                .add(month, JournalAccount::Suspense, None, amount);
            if let Some(id) = &row.order_id {
                self.order(id, row.line).net += amount;
            }
            return;
        }

        if class.category == Category::Principal
            && let Some(q) = row.quantity
        {
            self.units += q;
        }
        match class.role {
            Role::TaxCollected => self.tax.collected += amount,
            Role::TaxWithheld => self.tax.withheld += amount,
            _ => {}
        }
        let sale = is_sale(self.format, &row.transaction_type);
        match (class.role, row.order_id.as_deref()) {
            (Role::OrderMoney | Role::TaxCollected, Some(id)) => {
                let refund = class.category == Category::Refunds;
                let sums = self.order(id, row.line);
                sums.sold |= sale;
                sums.net += amount;
                if refund {
                    sums.refunds += amount;
                }
                if class.role == Role::TaxCollected {
                    sums.collected += amount;
                }
                if sale {
                    sums.sale += amount;
                }
                sums.receivable_by_category[index(class.category)] += amount;
                match sums
                    .receivable_by_month
                    .iter_mut()
                    .find(|(m, _)| *m == month)
                {
                    Some((_, sum)) => *sum += amount,
                    None => sums.receivable_by_month.push((month, amount)),
                }
            }
            (Role::TaxWithheld, order) => {
                if let Some(id) = order {
                    let sums = self.order(id, row.line);
                    sums.sold |= sale;
                    sums.net += amount;
                    sums.withheld += amount;
                    if class.category == Category::Refunds {
                        sums.refunds += amount;
                    }
                }
                let clearing = JournalAccount::MarketplaceFacilitatorClearing;
                self.postings.add(month, clearing, None, amount);
            }
            (Role::Fee, order) => {
                if let Some(id) = order {
                    let sums = self.order(id, row.line);
                    sums.sold |= sale;
                    sums.net += amount;
                    if class.category == Category::Refunds {
                        sums.refunds += amount;
                    }
                }
                let kind = match self.format {
                    SettlementFormat::AmazonV2 => row.description.clone(),
                    SettlementFormat::ShopifyPayout => format!("{} fee", row.transaction_type),
                    SettlementFormat::WalmartRecon => row.amount_type.clone(),
                };
                self.postings
                    .add(month, JournalAccount::Fees, Some(&kind), amount);
                *self.fees_by_type.entry(kind).or_default() += amount;
            }
            (Role::ReservePrevious, _) => {
                self.reserve_previous += amount;
                self.reserve_previous_at.get_or_insert((row.line, month));
                self.postings
                    .add(month, JournalAccount::Reserve, None, amount);
            }
            (Role::ReserveCurrent, _) => {
                self.reserve_current += amount;
                self.postings
                    .add(month, JournalAccount::Reserve, None, amount);
            }
            (Role::Other | Role::NetDifference | Role::OrderMoney | Role::TaxCollected, order) => {
                if let Some(id) = order {
                    self.order(id, row.line).net += amount;
                }
                let key = row.key();
                self.postings
                    .add(month, JournalAccount::Other, Some(&key), amount);
                *self.other_items.entry(key).or_default() += amount;
            }
        }
    }

    fn order(&mut self, id: &str, line: u64) -> &mut OrderSums {
        if !self.orders.contains_key(id) {
            let sums = OrderSums {
                first_line: line,
                ..OrderSums::default()
            };
            self.orders.insert(id.to_owned(), sums);
        }
        self.orders
            .get_mut(id)
            .expect("the order's sums were inserted above")
    }

    /// Match the accumulated settlement against the hub's orders and give
    /// its summary and journals.
    pub fn finish(
        mut self,
        header: &SettlementHeader,
        known: &impl KnownOrders,
        options: &ReconcileOptions,
    ) -> Reconciliation {
        let deposit_month = header
            .deposit_date
            .or(header.period_end.map(|t| t.date_naive()))
            .map(Month::of)
            .or(self.last_month)
            .unwrap_or(Month {
                year: 1970,
                month: 1,
            });

        let mut ids: Vec<String> = self.orders.keys().cloned().collect();
        ids.sort();
        let mut net_per_order = BTreeMap::new();
        let mut refunds_by_order = BTreeMap::new();
        let mut order_ids = Vec::new();
        for id in ids {
            let Some(sums) = self.orders.remove(&id) else {
                continue;
            };
            self.match_order(
                &id,
                sums,
                known,
                options,
                &mut order_ids,
                &mut refunds_by_order,
                &mut net_per_order,
            );
        }

        let expected_previous = options.previous_reserve_current.map(|c| -c);
        if let Some(expected) = expected_previous
            && self.reserve_previous != expected
        {
            let gap = self.reserve_previous - expected;
            let (line, month) = match self.reserve_previous_at {
                Some((line, month)) => (Some(line), month),
                None => (None, None),
            };
            let detail = format!(
                "released reserve {} is not minus the last settlement's held reserve ({expected})",
                self.reserve_previous
            );
            let r = residual(
                line,
                "reserve".into(),
                None,
                Category::Reserve,
                gap,
                ResidualReason::ReserveGap,
                detail,
            );
            self.residuals.push((month, r));
            self.postings
                .add(month, JournalAccount::Reserve, None, -gap);
            self.postings
                .add(month, JournalAccount::Suspense, None, gap);
        }

        let mut categories_explained = self.by_category;
        for (_, r) in &self.residuals {
            categories_explained[index(r.category)] -= r.amount;
        }
        let mismatch = header.deposit_total - self.total;
        if !mismatch.is_zero() {
            let detail = format!(
                "declared payout {}, sum of its transactions {}",
                header.deposit_total, self.total
            );
            let r = residual(
                None,
                "payout".into(),
                None,
                Category::Other,
                mismatch,
                ResidualReason::PayoutSumMismatch,
                detail,
            );
            self.residuals.push((None, r));
            self.postings
                .add(None, JournalAccount::Suspense, None, mismatch);
        }

        let mut categories = BTreeMap::new();
        for category in shown(self.format) {
            categories.insert(category.as_str().to_owned(), Decimal::ZERO);
        }
        for (i, amount) in categories_explained.iter().enumerate() {
            if !amount.is_zero() {
                categories.insert(Category::ALL[i].as_str().to_owned(), *amount);
            }
        }

        let summary = SettlementSummary {
            settlement_id: header.settlement_id.clone(),
            channel: header.channel.clone(),
            format: header.format,
            currency: header.currency,
            period_start: header.period_start,
            period_end: header.period_end,
            deposit_date: header.deposit_date,
            deposit_total: header.deposit_total,
            categories,
            other_items: self.other_items,
            fees_by_type: self.fees_by_type,
            orders_count: order_ids.len() as u64,
            order_ids,
            units: self.units,
            net_per_order,
            refunds_by_order,
            tax: self.tax,
            reserve: ReserveSummary {
                previous: self.reserve_previous,
                current: self.reserve_current,
                expected_previous,
            },
            residuals: self.residuals.into_iter().map(|(_, r)| r).collect(),
            rows: self.rows,
            status: SettlementStatus::Imported,
        };
        let journals = journals(header, self.postings, deposit_month);
        Reconciliation { summary, journals }
    }

    #[allow(clippy::too_many_arguments)]
    fn match_order(
        &mut self,
        id: &str,
        sums: OrderSums,
        known: &impl KnownOrders,
        options: &ReconcileOptions,
        order_ids: &mut Vec<String>,
        refunds_by_order: &mut BTreeMap<String, Decimal>,
        net_per_order: &mut BTreeMap<String, Decimal>,
    ) {
        if sums.sold {
            order_ids.push(id.to_owned());
        }
        if !sums.refunds.is_zero() {
            refunds_by_order.insert(id.to_owned(), sums.refunds);
        }
        net_per_order.insert(id.to_owned(), sums.net);
        let first_month = sums.receivable_by_month.first().and_then(|(m, _)| *m);
        let line = Some(sums.first_line);
        let Some(order) = known.order(id) else {
            let treatment = if sums.withheld.is_zero() {
                options.default_tax_treatment
            } else {
                TaxTreatment::MarketplaceFacilitator
            };
            if treatment == TaxTreatment::MerchantCollected {
                self.tax.merchant_liability += sums.collected;
            }
            for (i, amount) in sums.receivable_by_category.iter().enumerate() {
                if amount.is_zero() {
                    continue;
                }
                let category = Category::ALL[i];
                let r = residual(
                    line,
                    format!("order/{}", category.as_str()),
                    Some(id),
                    category,
                    *amount,
                    ResidualReason::OrderNotFound,
                    format!("the hub knows no {} order {id}", self.format.marketplace()),
                );
                self.residuals.push((first_month, r));
            }
            for (month, amount) in sums.receivable_by_month {
                self.postings
                    .add(month, JournalAccount::Suspense, None, amount);
            }
            return;
        };
        if order.tax_treatment == TaxTreatment::MerchantCollected {
            self.tax.merchant_liability += sums.collected;
        }
        let mut carved = Decimal::ZERO;
        let not_netted = sums.collected + sums.withheld;
        if order.tax_treatment == TaxTreatment::MarketplaceFacilitator && !not_netted.is_zero() {
            let detail = format!(
                "marketplace-facilitator tax collected {} and withheld {} do not net to zero",
                sums.collected, sums.withheld
            );
            let r = residual(
                line,
                "order/tax".into(),
                Some(id),
                Category::Tax,
                not_netted,
                ResidualReason::TaxNotNetted,
                detail,
            );
            self.residuals.push((first_month, r));
            carved += not_netted;
        }
        if let Some(invoiced) = order.invoice_total
            && sums.sold
            && sums.sale != invoiced
        {
            let differs = sums.sale - invoiced;
            let detail = format!("settled {} for order {id}, invoiced {invoiced}", sums.sale);
            let category = match self.format {
                SettlementFormat::ShopifyPayout => Category::Charges,
                _ => Category::Principal,
            };
            let key = format!("order/{}", category.as_str());
            let r = residual(
                line,
                key,
                Some(id),
                category,
                differs,
                ResidualReason::AmountDiffers,
                detail,
            );
            self.residuals.push((first_month, r));
            carved += differs;
        }
        if !carved.is_zero() {
            self.postings
                .add(first_month, JournalAccount::Suspense, None, carved);
            self.postings
                .add(first_month, JournalAccount::Receivable, Some(id), -carved);
        }
        for (month, amount) in sums.receivable_by_month {
            self.postings
                .add(month, JournalAccount::Receivable, Some(id), amount);
        }
    }
}

/// Reconcile a settlement held in memory.
pub fn reconcile(
    settlement: &Settlement,
    known: &impl KnownOrders,
    options: &ReconcileOptions,
) -> Reconciliation {
    let mut reconciler = Reconciler::new(settlement.header.format);
    for row in &settlement.rows {
        reconciler.push(row);
    }
    reconciler.finish(&settlement.header, known, options)
}
