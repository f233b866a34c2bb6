use std::time::Instant;

use serde_json::{Value, json};

use super::WalmartSimConfig;
use super::feeds::multipart_file;
use super::inventory::read_quantity;
use super::routes::replenishment;
use super::token::base64;
use super::wire::now_ms;
use crate::marketplace::bucket::Bucket;

#[test]
fn base64_matches_the_standard_alphabet() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"id:s/e+c"), "aWQ6cy9lK2M=");
}

#[test]
fn multipart_finds_the_file_part() {
    let body = b"--b1\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.json\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--b1--\r\n";
    assert_eq!(
        multipart_file("multipart/form-data; boundary=b1", body).unwrap(),
        b"{\"a\":1}"
    );
    assert!(multipart_file("multipart/form-data", body).is_err());
    assert!(multipart_file("multipart/form-data; boundary=zz", body).is_err());
}

#[test]
fn quantities_name_the_bad_field() {
    let q = |v: Value| read_quantity("quantity", Some(&v));
    assert_eq!(q(json!({ "unit": "EACH", "amount": 4 })), Ok(4));
    assert_eq!(
        q(json!({ "unit": "EACH", "amount": -1 })).unwrap_err().0,
        "quantity.amount"
    );
    assert_eq!(
        q(json!({ "unit": "EACH", "amount": 1.5 })).unwrap_err().0,
        "quantity.amount"
    );
    assert_eq!(
        q(json!({ "unit": "EACH", "amount": "3" })).unwrap_err().0,
        "quantity.amount"
    );
    assert_eq!(
        q(json!({ "unit": "LB", "amount": 3 })).unwrap_err().0,
        "quantity.unit"
    );
}

#[test]
fn config_validation_refuses_bad_values() {
    WalmartSimConfig::default().validate().unwrap();
    let c = WalmartSimConfig {
        cancel_rate: 2.0,
        ..WalmartSimConfig::default()
    };
    assert!(c.validate().is_err());
    let mut c = WalmartSimConfig::default();
    c.rate_limits.feeds.per_sec = 0.0;
    assert!(c.validate().unwrap_err().to_string().contains("feeds"));
    let c = WalmartSimConfig {
        min_quantity: 4,
        ..WalmartSimConfig::default()
    };
    assert!(c.validate().is_err());
}

#[test]
fn a_bucket_reports_its_count_and_next_token() {
    let mut b = Bucket::full(2.0, 1.0, Instant::now());
    let now = Instant::now();
    assert!(b.take(1.0, now));
    assert!(b.take(1.0, now));
    assert!(!b.take(1.0, now));
    let (count, at) = replenishment(&mut b, now);
    assert_eq!(count, 0);
    assert!(at > now_ms() + 500, "{at}");
}

#[test]
fn a_recon_report_settles_shipped_units_once_and_its_total_payable_is_the_sum() {
    use super::state::{LineState, PoLine, ShippedUnits, WalmartOrder, WalmartSim};
    use rand::SeedableRng;
    use rust_decimal::{Decimal, dec};
    let deliverer = crate::delivery::Deliverer::new(
        reqwest::Client::new(),
        Default::default(),
        Default::default(),
    );
    let sim = WalmartSim::new(
        WalmartSimConfig::default(),
        "http://127.0.0.1:9",
        rand::rngs::SmallRng::seed_from_u64(1),
        Instant::now(),
        deliverer,
    );
    let shipped = |quantity| ShippedUnits {
        quantity,
        tracking: json!({}),
        tracking_number: "1Z".into(),
    };
    let order = WalmartOrder {
        purchase_order_id: "1000000000001".into(),
        customer_order_id: "2000000000001".into(),
        customer_email_id: "b@example.com".into(),
        order_date: now_ms(),
        visible_at: now_ms(),
        method_code: "Standard",
        name: "Buyer".into(),
        phone: "5555555555".into(),
        address1: "1 Main St".into(),
        city: "Austin",
        state: "TX",
        postal_code: "78701",
        lines: vec![PoLine {
            line_number: "1".into(),
            sku: "SKU-001".into(),
            quantity: 2,
            amount: dec!(20.00),
            tax: dec!(1.65),
            shipping: Some((dec!(4.99), dec!(0.41))),
            open_state: LineState::Acknowledged,
            shipped: vec![shipped(1)],
            cancelled: Vec::new(),
            status_date: now_ms(),
        }],
        acknowledge_by: None,
    };
    let mut state = crate::wire::lock(&sim.state);
    state.orders.insert(order.purchase_order_id.clone(), order);
    let first = sim.close_recon(&mut state);
    // The second unit ships after the first report.
    state.orders.get_mut("1000000000001").unwrap().lines[0]
        .shipped
        .push(shipped(1));
    let second = sim.close_recon(&mut state);
    let third = sim.close_recon(&mut state);

    let read = |csv: &str| -> (Decimal, Vec<Vec<String>>) {
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap().split(',').count(), 32);
        let summary: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(summary[6], "PaymentSummary");
        let rows: Vec<Vec<String>> = lines
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect();
        (summary[2].parse().unwrap(), rows)
    };
    let ours = |rows: &[Vec<String>], amount_type: &str| -> Decimal {
        rows.iter()
            .filter(|r| r[10] == "1000000000001" && r[13] == amount_type)
            .map(|r| r[12].parse::<Decimal>().unwrap())
            .sum()
    };
    let mut principal = Decimal::ZERO;
    for (i, index) in [first, second, third].into_iter().enumerate() {
        let (total, rows) = read(&state.recon_reports[index].csv);
        let sum: Decimal = rows.iter().map(|r| r[12].parse::<Decimal>().unwrap()).sum();
        assert_eq!(total, sum, "report {i}");
        assert_eq!(
            ours(&rows, "Product tax") + ours(&rows, "Product tax withheld"),
            Decimal::ZERO
        );
        assert!(
            rows.iter().any(|r| r[6] == "SimPlantedUnknownFee"),
            "report {i}"
        );
        assert!(
            rows.iter().any(|r| r[10].starts_with("0000000")),
            "report {i}"
        );
        principal += ours(&rows, "Product Price");
        if i == 2 {
            assert_eq!(
                ours(&rows, "Product Price"),
                Decimal::ZERO,
                "nothing new shipped"
            );
        }
    }
    // Each unit settled once: 10.00 + 10.00.
    assert_eq!(principal, dec!(20.00));
    let dates: Vec<_> = state.recon_reports.iter().map(|r| r.date).collect();
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");
}
