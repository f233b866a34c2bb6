use rand::rngs::SmallRng;
use serde_json::{Value, json};

use super::AmazonSimConfig;
use super::feeds::read_feed_message;
use super::listings::{FULFILLMENT_AVAILABILITY, check_patch_path};
use super::wire::opaque_token;

#[test]
fn config_defaults_are_valid_and_bad_values_are_named() {
    AmazonSimConfig::default().validate().unwrap();
    let bad = AmazonSimConfig {
        drop_rate: 1.5,
        ..AmazonSimConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("drop_rate")
    );
    let bad = AmazonSimConfig {
        rate_multiplier: 0.0,
        ..AmazonSimConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("rate_multiplier")
    );
    let bad = AmazonSimConfig {
        orders_page_size: 101,
        ..AmazonSimConfig::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn feed_messages_are_checked_for_their_essentials() {
    let mut seen = std::collections::HashSet::new();
    let read = |m: Value, seen: &mut std::collections::HashSet<u64>| {
        let id = m.get("messageId").and_then(Value::as_u64);
        let sku = m.get("sku").and_then(Value::as_str).map(str::to_owned);
        read_feed_message(&m, 0, id, sku.as_deref(), seen)
            .map(|(_, changes)| changes.len())
            .map_err(|(_, message)| message)
    };
    let patch = json!({
        "messageId": 1, "sku": "SKU-001", "operationType": "PATCH", "productType": "PRODUCT",
        "patches": [{ "op": "replace", "path": FULFILLMENT_AVAILABILITY,
                      "value": [{ "fulfillment_channel_code": "DEFAULT", "quantity": 3 }] }]
    });
    assert_eq!(read(patch.clone(), &mut seen), Ok(1));
    let again = read(patch, &mut seen).unwrap_err();
    assert!(again.contains("not unique"), "{again}");
    let no_type = read(
        json!({ "messageId": 2, "sku": "S", "operationType": "PATCH", "patches": [] }),
        &mut seen,
    )
    .unwrap_err();
    assert!(no_type.contains("productType"), "{no_type}");
    let bad_op = read(
        json!({ "messageId": 3, "sku": "S", "operationType": "UPSERT" }),
        &mut seen,
    )
    .unwrap_err();
    assert!(bad_op.contains("operationType"), "{bad_op}");
    assert!(check_patch_path("/attributes/fulfillment_availability").is_ok());
    assert!(check_patch_path("/attributes/fulfillment_availability/0/quantity").is_err());
}

#[test]
fn next_tokens_hold_characters_that_need_encoding() {
    use rand::SeedableRng;
    let token = opaque_token(&mut SmallRng::seed_from_u64(7));
    assert!(token.contains('+') && token.contains('/') && token.ends_with('='));
}

/// A seller account with one order of two items, the first shipped in two
/// packages (1 + 2 of its 3 units), the second in one.
fn account_with_a_split_shipment() -> std::sync::Arc<super::state::AmazonSim> {
    use super::state::{AmazonOrder, OrderItem, Package, Status};
    use rand::SeedableRng;
    use rust_decimal::dec;
    use std::collections::BTreeMap;
    let deliverer = crate::delivery::Deliverer::new(
        reqwest::Client::new(),
        Default::default(),
        Default::default(),
    );
    let sim = super::state::AmazonSim::new(
        AmazonSimConfig::default(),
        "http://127.0.0.1:9",
        SmallRng::seed_from_u64(1),
        std::time::Instant::now(),
        deliverer,
    );
    let item = |id: &str, sku: &str, quantity, price, tax, discount| OrderItem {
        id: id.into(),
        sku: sku.into(),
        quantity,
        price,
        tax,
        shipping: dec!(0),
        discount,
    };
    let package = |items: &[(&str, u32)]| Package {
        items: items.iter().map(|(i, q)| ((*i).to_owned(), *q)).collect(),
    };
    let now = chrono::Utc::now();
    let order = AmazonOrder {
        id: "111-0000001-0000001".into(),
        status: Status::Shipped,
        purchased: now,
        updated: now,
        visible_at: std::time::Instant::now(),
        items: vec![
            item("10001", "SKU-001", 3, dec!(10.00), dec!(0.83), dec!(1.00)),
            item("10002", "SKU-002", 1, dec!(19.99), dec!(1.65), dec!(0)),
        ],
        buyer: "Buyer".into(),
        city: crate::fixtures::CITIES[0],
        street: 1,
        expedited: false,
        packages: BTreeMap::from([
            ("P1".to_owned(), package(&[("10001", 1), ("10002", 1)])),
            ("P2".to_owned(), package(&[("10001", 2)])),
        ]),
    };
    crate::wire::lock(&sim.state)
        .orders
        .insert(order.id.clone(), order);
    sim
}

/// The file's rows (after header and summary) as maps by column name, and the summary.
fn read_settlement(
    tsv: &str,
) -> (
    std::collections::HashMap<String, String>,
    Vec<std::collections::HashMap<String, String>>,
) {
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(header.len(), 24, "{header:?}");
    assert_eq!(header[23], "promotion-id");
    let row = |line: &str| {
        let cells: Vec<&str> = line.split('\t').collect();
        assert_eq!(cells.len(), 24, "{line}");
        header
            .iter()
            .zip(cells)
            .map(|(h, c)| ((*h).to_owned(), c.to_owned()))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let summary = row(lines.next().unwrap());
    (summary, lines.map(row).collect())
}

#[test]
fn a_settlement_is_what_shipped_once_adds_up_to_its_total_and_plants_two_residuals() {
    use rust_decimal::{Decimal, dec};
    let sim = account_with_a_split_shipment();
    let (first, second) = {
        let mut state = crate::wire::lock(&sim.state);
        let first = sim.close_settlement(&mut state);
        let second = sim.close_settlement(&mut state);
        (
            state.settlements[first].tsv.clone(),
            state.settlements[second].tsv.clone(),
        )
    };
    let (summary, rows) = read_settlement(&first);
    let amount =
        |r: &std::collections::HashMap<String, String>| r["amount"].parse::<Decimal>().unwrap();
    let total: Decimal = rows.iter().map(amount).sum();
    assert_eq!(summary["total-amount"].parse::<Decimal>().unwrap(), total);
    assert!(summary["transaction-type"].is_empty() && summary["amount"].is_empty());

    let order_rows = |kind: &str, desc: &str| -> Vec<Decimal> {
        rows.iter()
            .filter(|r| r["order-id"] == "111-0000001-0000001")
            .filter(|r| r["amount-type"] == kind && r["amount-description"] == desc)
            .map(amount)
            .collect()
    };
    // SKU-001's 10.00 over 1 + 2 units: 3.33 and 6.67; SKU-002 whole.
    let mut principal = order_rows("ItemPrice", "Principal");
    principal.sort();
    assert_eq!(principal, vec![dec!(3.33), dec!(6.67), dec!(19.99)]);
    let tax: Decimal = order_rows("ItemPrice", "Tax").iter().sum();
    let withheld: Decimal = order_rows("ItemWithheldTax", "MarketplaceFacilitatorTax-Principal")
        .iter()
        .sum();
    assert_eq!((tax, withheld), (dec!(2.48), dec!(-2.48)));
    let promotion: Decimal = order_rows("Promotion", "Principal").iter().sum();
    assert_eq!(promotion, dec!(-1.00));
    let commission: Decimal = order_rows("ItemFees", "Commission").iter().sum();
    // 15 % of each principal share, in cents: 0.50 + 1.00 + 3.00.
    assert_eq!(commission, dec!(-4.50));
    let units: u32 = rows
        .iter()
        .filter_map(|r| r["quantity-purchased"].parse::<u32>().ok())
        .sum();
    assert_eq!(units, 4 + 1, "four units sold and the planted order's one");

    // The planted order and fee type, and the reserve held.
    assert!(rows.iter().any(|r| r["order-id"].starts_with("999-")));
    assert!(
        rows.iter()
            .any(|r| r["amount-type"] == "SimPlantedUnknownFee")
    );
    let reserve = |rows: &[std::collections::HashMap<String, String>], desc: &str| {
        rows.iter()
            .filter(|r| r["amount-description"] == desc)
            .map(amount)
            .sum::<Decimal>()
    };
    let held = reserve(&rows, "Current Reserve Amount");
    // 10 % of the 29.99 principal sold (not of the planted order's).
    assert_eq!(held, dec!(-3.00));

    // Nothing shipped since: the next settlement has no order of the
    // account, releases the reserve and plants again.
    let (summary2, rows2) = read_settlement(&second);
    assert!(rows2.iter().all(|r| r["order-id"] != "111-0000001-0000001"));
    assert_eq!(reserve(&rows2, "Previous Reserve Amount Balance"), -held);
    let total2: Decimal = rows2.iter().map(amount).sum();
    assert_eq!(summary2["total-amount"].parse::<Decimal>().unwrap(), total2);
    assert_ne!(summary2["settlement-id"], summary["settlement-id"]);
}
