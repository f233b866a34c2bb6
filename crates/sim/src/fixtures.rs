//! Made-up data every simulated sales channel draws from: buyers' cities,
//! money rounded to cents, random UUIDs, and form-encoded pairs. A leaf:
//! the wire shape of an amount (a string, an object, a number) belongs to
//! each marketplace, the arithmetic under it is shared here.

use rand::RngCore;
use rand::rngs::SmallRng;
use rust_decimal::{Decimal, RoundingStrategy};

/// `(city, state, postal code)` a buyer ships to.
pub(crate) type City = (&'static str, &'static str, &'static str);

/// Where simulated buyers live.
pub(crate) const CITIES: [City; 8] = [
    ("Springfield", "IL", "62701"),
    ("Albany", "NY", "12207"),
    ("Boston", "MA", "02108"),
    ("Miami", "FL", "33101"),
    ("Seattle", "WA", "98101"),
    ("Portland", "OR", "97201"),
    ("Denver", "CO", "80202"),
    ("Austin", "TX", "73301"),
];

/// Rounded to cents, half away from zero, as a till does.
pub(crate) fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// An amount in cents written with exactly two decimals (`"12.30"`).
pub(crate) fn two_decimals(d: Decimal) -> String {
    let mut d = cents(d);
    d.rescale(2);
    d.to_string()
}

/// A random (v4) UUID from the simulator's own generator, so a seed
/// replays the same ids.
pub(crate) fn uuid(rng: &mut SmallRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// `a=1&b=2` as pairs in order, repeated keys kept, `+` read as a space;
/// `None` when the text cannot be a query string.
pub(crate) fn form_pairs(text: &str) -> Option<Vec<(String, String)>> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{text}").parse().ok()?)
        .ok()
        .map(|axum::extract::Query(pairs)| pairs)
}
