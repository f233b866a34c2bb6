//! Money: a `rust_decimal::Decimal` amount with an ISO 4217 currency,
//! serialized as a string so no JSON reader turns it into a float. Sums
//! refuse to mix currencies rather than convert.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An ISO 4217 alphabetic currency code, always three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("currency code {0:?} is not three upper-case letters (ISO 4217)")]
pub struct CurrencyError(pub String);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");

    pub fn as_str(&self) -> &str {
        // The constructor admits only ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of minor units (decimal places) the currency uses. ISO 4217
    /// lists a handful of exceptions to the usual two.
    pub fn minor_units(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(CurrencyError(s.to_owned()))
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "description": "ISO 4217 alphabetic currency code"
        })
    }
}

/// An exact amount in one currency. Serialized with the amount as a decimal
/// string so that no client reads it as a binary float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub currency: Currency,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflow")]
    Overflow,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Money { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Money {
            amount: Decimal::ZERO,
            currency,
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    pub fn checked_mul(self, quantity: u32) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(Decimal::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// The amount in integer minor units (cents), rounded half away from zero
    /// at the currency's precision. Rules engines that lack a decimal type
    /// compare money through this.
    pub fn minor_units(&self) -> Option<i64> {
        let scale = self.currency.minor_units();
        let rounded = self
            .amount
            .round_dp_with_strategy(scale, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        let factor = Decimal::from(10i64.pow(scale));
        let minor = rounded.checked_mul(factor)?;
        i64::try_from(minor.trunc()).ok()
    }

    /// Sum a sequence of amounts that must all share `currency`.
    pub fn sum<'a>(
        currency: Currency,
        items: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(*m))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros_shim::dec;

    mod rust_decimal_macros_shim {
        pub use rust_decimal::dec;
    }

    #[test]
    fn currency_rejects_lowercase_and_wrong_length() {
        assert!("usd".parse::<Currency>().is_err());
        assert!("US".parse::<Currency>().is_err());
        assert_eq!("JPY".parse::<Currency>().unwrap().minor_units(), 0);
        assert_eq!("KWD".parse::<Currency>().unwrap().minor_units(), 3);
    }

    #[test]
    fn money_serializes_amount_as_string() {
        let m = Money::new(dec!(19.990), Currency::USD);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"19.990","currency":"USD"}"#);
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn mixing_currencies_is_an_error() {
        let a = Money::new(dec!(1), Currency::USD);
        let b = Money::new(dec!(1), Currency::EUR);
        assert_eq!(
            a.checked_add(b),
            Err(MoneyError::CurrencyMismatch(Currency::USD, Currency::EUR))
        );
    }

    #[test]
    fn minor_units_round_half_away_from_zero() {
        assert_eq!(
            Money::new(dec!(0.125), Currency::USD).minor_units(),
            Some(13)
        );
        assert_eq!(
            Money::new(dec!(-0.125), Currency::USD).minor_units(),
            Some(-13)
        );
        assert_eq!(
            Money::new(dec!(1500), "JPY".parse().unwrap()).minor_units(),
            Some(1500)
        );
    }

    proptest! {
        #[test]
        fn addition_is_exact_and_reversible(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
            let x = Money::new(Decimal::new(a, 2), Currency::USD);
            let y = Money::new(Decimal::new(b, 2), Currency::USD);
            let s = x.checked_add(y).unwrap();
            prop_assert_eq!(s.checked_sub(y).unwrap(), x);
            prop_assert_eq!(s.minor_units(), Some(a + b));
        }
    }
}
