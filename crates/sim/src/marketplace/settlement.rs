//! What every simulated marketplace settles the same way: its commission,
//! how a line's money is shared between the shipments of its units, and the
//! two entries each settlement plants on purpose so a reconciliation has
//! exactly those residuals to show: a fee type no taxonomy knows and an
//! order the hub never saw. A leaf: the marketplaces use it, it knows none.

use rust_decimal::{Decimal, RoundingStrategy, dec};

/// The marketplaces' referral fee on an item's principal.
pub(crate) const COMMISSION_RATE: Decimal = dec!(0.15);

/// The share of the held back reserve in a settlement's sales.
pub(crate) const RESERVE_RATE: Decimal = dec!(0.10);

/// A fee type planted in every settlement that no documented vocabulary has.
pub(crate) const PLANTED_FEE: &str = "SimPlantedUnknownFee";
pub(crate) const PLANTED_FEE_AMOUNT: Decimal = dec!(-1.23);

/// What the planted order (one the hub never saw) sold and was charged.
pub(crate) const PLANTED_ORDER_PRINCIPAL: Decimal = dec!(10.00);

/// Cents, half to even (the marketplaces' reports round so).
pub(crate) fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
}

/// The commission on `principal`, as the negative amount the seller sees.
pub(crate) fn commission(principal: Decimal) -> Decimal {
    -cents(principal * COMMISSION_RATE)
}

/// The part of a line's `amount` that `units` more units carry once
/// `before` of its `quantity` units were settled: cumulative rounding, so
/// the shares of all its shipments add up to `amount` exactly.
pub(crate) fn share(amount: Decimal, before: u32, units: u32, quantity: u32) -> Decimal {
    if quantity == 0 {
        return Decimal::ZERO;
    }
    let upto = |n: u32| cents(amount * Decimal::from(n) / Decimal::from(quantity));
    upto(before + units) - upto(before)
}

/// The planted order's id for settlement number `n`, in the marketplace's
/// own id shape given by `shape` (which gets the number).
pub(crate) fn planted_order_id<T>(shape: impl Fn(u64) -> T, n: u64) -> T {
    shape(900_000 + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_a_split_line_add_up_to_the_line() {
        let amount = dec!(10.00);
        let parts = [
            share(amount, 0, 1, 3),
            share(amount, 1, 1, 3),
            share(amount, 2, 1, 3),
        ];
        assert_eq!(parts, [dec!(3.33), dec!(3.34), dec!(3.33)]);
        assert_eq!(parts.iter().sum::<Decimal>(), amount);
        assert_eq!(share(amount, 0, 3, 3), amount);
    }

    #[test]
    fn commission_is_negative_and_in_cents() {
        assert_eq!(commission(dec!(19.99)), dec!(-3.00));
        assert_eq!(commission(dec!(10.10)), dec!(-1.52));
    }
}
