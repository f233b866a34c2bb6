//! Tryton's tagged values (`{"__class__": "Decimal", …}`, dates) and the pricing of an order line as Tryton stores it. Pure: no I/O. Money never passes through a float here; only quantities do, because Tryton's quantities are floats.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer};

use crossdock_model::OrderLine;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

use super::lookups::TaxRate;
use crate::ConnectorError;

/// Tryton's sale line `unit_price` has 4 decimals.
pub(super) const UNIT_PRICE_DP: u32 = 4;

/// A sale line's price and tax as Tryton holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PricedLine {
    /// Unit price net of the line's discount share, 4 decimals.
    pub(super) unit_price: Decimal,
    pub(super) tax: Option<i64>,
}

/// The unit price net of discount, and the customer tax whose rate gives the
/// line's tax: `tax == round((quantity × unit_price − discount) × rate, 2)`.
pub(super) fn price_line(
    line: &OrderLine,
    taxes: &[TaxRate],
) -> Result<PricedLine, ConnectorError> {
    let quantity = Decimal::from(line.quantity);
    let net = line.unit_price.amount * quantity - line.discount.amount;
    let unit_price = (net / quantity)
        .round_dp_with_strategy(UNIT_PRICE_DP, RoundingStrategy::MidpointNearestEven)
        .normalize();
    let tax_amount = line.tax.amount;
    if tax_amount.is_zero() {
        return Ok(PricedLine {
            unit_price,
            tax: None,
        });
    }
    let cents = |d: Decimal, strategy| d.round_dp_with_strategy(2, strategy);
    let reproduces = |rate: Decimal| {
        let exact = net * rate;
        cents(exact, RoundingStrategy::MidpointAwayFromZero) == tax_amount
            || cents(exact, RoundingStrategy::MidpointNearestEven) == tax_amount
    };
    let effective = (!net.is_zero()).then(|| tax_amount / net);
    // Several rates can round to the same cents on a small amount: the one
    // nearest the effective rate wins, then the older tax.
    let best = taxes
        .iter()
        .filter(|t| !t.rate.0.is_zero() && reproduces(t.rate.0))
        .min_by_key(|t| (effective.map(|e| (t.rate.0 - e).abs()), t.id));
    match best {
        Some(tax) => Ok(PricedLine {
            unit_price,
            tax: Some(tax.id),
        }),
        None => Err(ConnectorError::rejected(format!(
            "line {} ({}): no Tryton customer tax gives tax {} on {} (rate {})",
            line.line_id,
            line.sku,
            tax_amount,
            net,
            effective.map_or_else(
                || "undefined".to_owned(),
                |r| format!("{}%", (r * Decimal::ONE_HUNDRED).round_dp(4).normalize())
            ),
        ))),
    }
}

/// `{"__class__": "Decimal", "decimal": "12.50"}`.
pub(super) fn decimal(amount: Decimal) -> Value {
    json!({ "__class__": "Decimal", "decimal": amount.to_string() })
}

/// `{"__class__": "date", "year": 2026, "month": 11, "day": 26}`.
pub(super) fn date(day: NaiveDate) -> Value {
    json!({ "__class__": "date", "year": day.year(), "month": day.month(), "day": day.day() })
}

/// Python's `str(Decimal)`, which may use an exponent (`0E-10`, `1.5E+3`).
pub(super) fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        text.parse().ok()
    }
}

/// A Decimal field as Tryton sends it (the tagged object), also accepting a
/// plain string; `null` is an error (use `Option<Dec>` for nullable fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dec(pub Decimal);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let text = match &value {
            Value::Object(map)
                if map.get("__class__").and_then(Value::as_str) == Some("Decimal") =>
            {
                map.get("decimal").and_then(Value::as_str)
            }
            Value::String(s) => Some(s.as_str()),
            _ => None,
        };
        text.and_then(parse_decimal)
            .map(Dec)
            .ok_or_else(|| serde::de::Error::custom(format!("not a Tryton Decimal: {value}")))
    }
}

/// Decodes a result into `T`; a result of another shape is in doubt (the
/// call ran, we cannot read what it did).
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    method: &str,
    value: Value,
) -> Result<T, ConnectorError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| ConnectorError::transient(format!("unexpected answer to {method}: {e}")))
}
