//! Settlements end to end: `crossdock settlement import|show|residuals|
//! resolve` on a hand-written Amazon V2 file (orders the hub saw, a split
//! shipment, fees, a promotion, a refund of an order sold in an earlier
//! settlement, a marketplace-facilitator tax pair, reserve rows,
//! account-level fees, an FBA shipment id, an unknown fee type), the same
//! file in the 24-column layout (one settlement), a broken file (nothing
//! stored), and `/v1/settlements` behind its keys with the journal posted
//! once, balanced, to the simulated REST ERP.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crossdock_model::{OrderStatus, order_id_for};
use crossdock_store::{Changes, NewJob, Store};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::app::{keyed_client, spawn_app, wait_until};
use crate::support::crossdock;

const COLUMNS: [&str; 23] = [
    "settlement-id",
    "settlement-start-date",
    "settlement-end-date",
    "deposit-date",
    "total-amount",
    "currency",
    "transaction-type",
    "order-id",
    "merchant-order-id",
    "adjustment-id",
    "shipment-id",
    "marketplace-name",
    "amount-type",
    "amount-description",
    "amount",
    "fulfillment-id",
    "posted-date",
    "posted-date-time",
    "order-item-code",
    "merchant-order-item-id",
    "merchant-adjustment-item-id",
    "sku",
    "quantity-purchased",
];

/// An amount row: (transaction-type, order-id, shipment-id, amount-type,
/// amount-description, amount, sku, quantity, promotion-id).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

pub const ORDER_1: &str = "111-0000001-0000001";
pub const ORDER_2: &str = "111-0000002-0000002";
pub const EARLIER: &str = "111-0000009-0000009";

/// The earlier settlement: it sold `EARLIER`.
fn earlier_rows() -> Vec<Row> {
    vec![
        (
            "Order",
            EARLIER,
            "S9",
            "ItemPrice",
            "Principal",
            "12.00",
            "MUG-1",
            "1",
            "",
        ),
        (
            "Order",
            EARLIER,
            "S9",
            "ItemFees",
            "Commission",
            "-1.80",
            "MUG-1",
            "",
            "",
        ),
        (
            "other-transaction",
            "",
            "",
            "other-transaction",
            "Current Reserve Amount",
            "-50.00",
            "",
            "",
            "",
        ),
    ]
}

/// The settlement under test.
fn rows() -> Vec<Row> {
    vec![
        // An order with a marketplace-facilitator tax pair and two fees.
        (
            "Order",
            ORDER_1,
            "S1",
            "ItemPrice",
            "Principal",
            "120.00",
            "TEE-1",
            "1",
            "",
        ),
        (
            "Order",
            ORDER_1,
            "S1",
            "ItemPrice",
            "Tax",
            "9.60",
            "TEE-1",
            "",
            "",
        ),
        (
            "Order",
            ORDER_1,
            "S1",
            "ItemWithheldTax",
            "MarketplaceFacilitatorTax-Principal",
            "-9.60",
            "TEE-1",
            "",
            "",
        ),
        (
            "Order",
            ORDER_1,
            "S1",
            "ItemFees",
            "Commission",
            "-18.00",
            "TEE-1",
            "",
            "",
        ),
        (
            "Order",
            ORDER_1,
            "S1",
            "ItemFees",
            "FBAPerUnitFulfillmentFee",
            "-3.22",
            "TEE-1",
            "",
            "",
        ),
        // A split shipment (one order, two shipments) with a promotion.
        (
            "Order",
            ORDER_2,
            "S2a",
            "ItemPrice",
            "Principal",
            "10.00",
            "CAP-1",
            "1",
            "",
        ),
        (
            "Order",
            ORDER_2,
            "S2a",
            "ItemFees",
            "Commission",
            "-1.50",
            "CAP-1",
            "",
            "",
        ),
        (
            "Order",
            ORDER_2,
            "S2b",
            "ItemPrice",
            "Principal",
            "15.00",
            "SOCK-1",
            "1",
            "",
        ),
        (
            "Order",
            ORDER_2,
            "S2b",
            "ItemFees",
            "Commission",
            "-2.25",
            "SOCK-1",
            "",
            "",
        ),
        (
            "Order",
            ORDER_2,
            "S2b",
            "Promotion",
            "Principal",
            "-2.00",
            "SOCK-1",
            "",
            "PROMO-10",
        ),
        // A refund of an order sold in the earlier settlement.
        (
            "Refund",
            EARLIER,
            "",
            "ItemPrice",
            "Principal",
            "-12.00",
            "MUG-1",
            "",
            "",
        ),
        (
            "Refund",
            EARLIER,
            "",
            "ItemFees",
            "Commission",
            "1.80",
            "MUG-1",
            "",
            "",
        ),
        (
            "Refund",
            EARLIER,
            "",
            "ItemFees",
            "RefundCommission",
            "-0.36",
            "MUG-1",
            "",
            "",
        ),
        // Reserve released and held.
        (
            "other-transaction",
            "",
            "",
            "other-transaction",
            "Previous Reserve Amount Balance",
            "50.00",
            "",
            "",
            "",
        ),
        (
            "other-transaction",
            "",
            "",
            "other-transaction",
            "Current Reserve Amount",
            "-60.00",
            "",
            "",
            "",
        ),
        // Account-level fees, an FBA shipment id (not an order) and a key nobody mapped.
        (
            "other-transaction",
            "",
            "",
            "other-transaction",
            "Subscription Fee",
            "-39.99",
            "",
            "",
            "",
        ),
        (
            "other-transaction",
            "",
            "",
            "other-transaction",
            "Storage Fee",
            "-4.10",
            "",
            "",
            "",
        ),
        (
            "FBAFees",
            "FBA19CD9HGQ8",
            "",
            "Inbound Defect Fee",
            "Base fee",
            "-0.27",
            "",
            "",
            "",
        ),
        (
            "other-transaction",
            "",
            "",
            "Mystery Charge",
            "Quantum Fee",
            "-1.00",
            "",
            "",
            "",
        ),
    ]
}

/// The rows as a V2 flat file: header, summary row, data rows; with the
/// 24th `promotion-id` column when `promotion_column`.
pub fn amazon_v2(id: &str, start: &str, end: &str, rows: &[Row], promotion_column: bool) -> String {
    let total: Decimal = rows
        .iter()
        .map(|r| Decimal::from_str(r.5).expect("a test amount"))
        .sum();
    let width = if promotion_column { 24 } else { 23 };
    let mut header: Vec<&str> = COLUMNS.to_vec();
    if promotion_column {
        header.push("promotion-id");
    }
    let mut out = header.join("\t") + "\n";
    let mut summary = vec![String::new(); width];
    summary[0] = id.to_owned();
    summary[1] = format!("{start} 00:00:00 UTC");
    summary[2] = format!("{end} 00:00:00 UTC");
    summary[3] = format!("{end} 06:00:00 UTC");
    summary[4] = total.to_string();
    summary[5] = "USD".to_owned();
    out += &(summary.join("\t") + "\n");
    for (tt, order, shipment, at, ad, amount, sku, qty, promo) in rows {
        let mut f = vec![String::new(); width];
        f[0] = id.to_owned();
        f[6] = (*tt).to_owned();
        f[7] = (*order).to_owned();
        f[8] = (*order).to_owned();
        f[10] = (*shipment).to_owned();
        f[11] = "Amazon.com".to_owned();
        f[12] = (*at).to_owned();
        f[13] = (*ad).to_owned();
        f[14] = (*amount).to_owned();
        f[15] = if order.is_empty() {
            String::new()
        } else {
            "AFN".to_owned()
        };
        f[16] = end.to_owned();
        f[17] = format!("{end} 01:00:00 UTC");
        f[21] = (*sku).to_owned();
        f[22] = (*qty).to_owned();
        if promotion_column {
            f[23] = (*promo).to_owned();
        }
        out += &(f.join("\t") + "\n");
    }
    out
}

/// The orders the hub saw, written as its steps write them.
async fn seed_orders(store: &Store, channel: &str, orders: &[(&str, &str)]) {
    let docs: Vec<crossdock_model::Order> = orders
        .iter()
        .map(|(external_id, total)| {
            serde_json::from_value(json!({
                "id": order_id_for(channel, external_id),
                "channel": channel,
                "external_id": external_id,
                "source_version": 1,
                "placed_at": "2026-10-10T09:00:00Z",
                "currency": "USD",
                "customer": { "email": "ada@example.com", "name": "Ada" },
                "lines": [{
                    "line_id": "1", "sku": "SKU-1", "title": "Tee", "quantity": 1,
                    "unit_price": { "amount": total, "currency": "USD" },
                    "discount": { "amount": "0.00", "currency": "USD" },
                    "tax": { "amount": "0.00", "currency": "USD" }
                }],
                "shipping": { "amount": "0.00", "currency": "USD" },
                "total": { "amount": total, "currency": "USD" },
                "tax_treatment": "marketplace_facilitator",
                "status": OrderStatus::Invoiced
            }))
            .expect("an order")
        })
        .collect();
    let entity = "seed:settlement-orders";
    store
        .enqueue(
            &[NewJob {
                entity_key: entity.to_owned(),
                step: "close".to_owned(),
                payload: json!({ "order_id": "seed" }),
                run_at: 0,
            }],
            0,
        )
        .await
        .expect("enqueue");
    let jobs = store
        .claim_jobs("seed", 0, 600_000, 100)
        .await
        .expect("claim");
    let job = jobs
        .iter()
        .find(|j| j.entity_key == entity)
        .expect("the seed job");
    let changes = Changes {
        orders: docs,
        ..Changes::default()
    };
    store
        .complete_job(job, &changes, 0)
        .await
        .expect("write the orders");
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    crossdock()
        .arg("settlement")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("CROSSDOCK_DATABASE_URL")
        .output()
        .expect("run crossdock settlement")
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(
        v.as_str()
            .unwrap_or_else(|| panic!("{v} is not a decimal string")),
    )
    .expect("a decimal")
}

/// Σ categories + Σ residuals = deposit, read from the JSON.
fn assert_explained(s: &Value) {
    let categories: Decimal = s["categories"]
        .as_object()
        .expect("categories")
        .values()
        .map(dec)
        .sum();
    let residuals: Decimal = s["residuals"]
        .as_array()
        .expect("residuals")
        .iter()
        .map(|r| dec(&r["amount"]))
        .sum();
    assert_eq!(categories + residuals, dec(&s["deposit_total"]), "{s:#}");
}

#[tokio::test]
async fn import_show_reimport_and_resolve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    {
        let store = Store::open_dir(&data).await.expect("open the store");
        seed_orders(
            &store,
            "amazon",
            &[(ORDER_1, "129.60"), (ORDER_2, "23.00"), (EARLIER, "12.00")],
        )
        .await;
        store.close().await;
    }
    let earlier = dir.path().join("earlier.tsv");
    std::fs::write(
        &earlier,
        amazon_v2(
            "1000000001",
            "2026-10-01",
            "2026-10-15",
            &earlier_rows(),
            false,
        ),
    )
    .expect("write");
    let imported = json_of(&run(
        &data,
        &[
            "import",
            "--from",
            "amazon-v2",
            earlier.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(imported["outcome"], "imported");

    let v23 = dir.path().join("settlement-23.tsv");
    let v24 = dir.path().join("settlement-24.tsv");
    std::fs::write(
        &v23,
        amazon_v2(
            "12345678901234567890",
            "2026-10-15",
            "2026-10-29",
            &rows(),
            false,
        ),
    )
    .expect("write");
    std::fs::write(
        &v24,
        amazon_v2(
            "12345678901234567890",
            "2026-10-15",
            "2026-10-29",
            &rows(),
            true,
        ),
    )
    .expect("write");

    let s = json_of(&run(
        &data,
        &[
            "import",
            "--from",
            "amazon-v2",
            v24.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(s["outcome"], "imported");
    assert_eq!(
        s["settlement_id"], "12345678901234567890",
        "a 20-digit id stays exact"
    );
    assert_eq!(s["channel"], "amazon");
    assert_eq!(s["currency"], "USD");
    assert_eq!(s["status"], "imported");
    let deposit: Decimal = rows().iter().map(|r| Decimal::from_str(r.5).unwrap()).sum();
    assert_eq!(dec(&s["deposit_total"]), deposit);
    for name in [
        "principal",
        "shipping",
        "tax",
        "fees",
        "promotions",
        "refunds",
        "reserve",
        "other",
    ] {
        assert!(
            s["categories"].get(name).is_some(),
            "category {name}: {s:#}"
        );
    }
    assert_explained(&s);
    // Two orders (the split shipment is one; the FBA shipment id and the
    // refunded earlier order are not sold here), three units.
    assert_eq!(s["orders_count"], 2);
    assert_eq!(s["order_ids"], json!([ORDER_1, ORDER_2]));
    assert_eq!(s["units"], 3);
    assert!(
        s["net_per_order"].get(EARLIER).is_some(),
        "the refund's order has a net"
    );
    assert_eq!(
        dec(&s["tax"]["collected"]),
        Decimal::from_str("9.60").unwrap()
    );
    assert_eq!(
        dec(&s["tax"]["withheld"]),
        Decimal::from_str("-9.60").unwrap()
    );
    assert_eq!(
        dec(&s["reserve"]["previous"]),
        Decimal::from_str("50.00").unwrap()
    );
    assert_eq!(
        dec(&s["reserve"]["current"]),
        Decimal::from_str("-60.00").unwrap()
    );
    let residuals = s["residuals"].as_array().expect("residuals");
    let unmapped: Vec<&Value> = residuals
        .iter()
        .filter(|r| r["reason"] == "unmapped_type")
        .collect();
    assert_eq!(unmapped.len(), 1, "{residuals:#?}");
    assert_eq!(
        dec(&unmapped[0]["amount"]),
        Decimal::from_str("-1.00").unwrap()
    );
    assert_eq!(
        unmapped[0]["line"], 21,
        "header, summary, then the 19th row"
    );
    assert!(
        residuals.iter().all(|r| r["reason"] != "order_not_found"),
        "every order is one the hub saw: {residuals:#?}"
    );

    // The same settlement in the 23-column layout: nothing changes.
    let again = json_of(&run(
        &data,
        &[
            "import",
            "--from",
            "amazon-v2",
            v23.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(again["outcome"], "already_imported");
    assert_eq!(again["categories"], s["categories"]);
    assert_eq!(again["residuals"], s["residuals"]);
    let text = run(
        &data,
        &["import", "--from", "amazon-v2", v23.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains("already imported: nothing changed"));

    let shown = json_of(&run(&data, &["show", "12345678901234567890", "--json"]));
    assert_eq!(shown["key"], "amazon:12345678901234567890");
    assert_eq!(shown["categories"], s["categories"]);
    assert_eq!(shown["net_per_order"], s["net_per_order"]);
    let csv = run(&data, &["show", "amazon:12345678901234567890", "--csv"]);
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(csv.starts_with("section,name,amount\n"), "{csv}");
    assert!(csv.contains(&format!("order,{ORDER_1},")), "{csv}");

    let open = json_of(&run(&data, &["residuals", "--open", "--json"]));
    let open = open.as_array().expect("a list");
    assert_eq!(open.len(), residuals.len());
    let id = open[0]["id"].as_str().expect("an id").to_owned();

    let resolved = json_of(&run(
        &data,
        &[
            "resolve",
            &id,
            "--how",
            "written_off",
            "--why",
            "a one-off charge",
            "--by",
            "ada",
            "--json",
        ],
    ));
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolution"], "written_off");
    assert_eq!(resolved["resolved_by"], "ada");
    assert_eq!(resolved["note"], "a one-off charge");
    let twice = run(
        &data,
        &["resolve", &id, "--how", "matched", "--why", "again"],
    );
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already resolved"));
    let open_now = json_of(&run(&data, &["residuals", "--open", "--json"]));
    assert_eq!(open_now.as_array().map(Vec::len), Some(open.len() - 1));
}

#[tokio::test]
async fn broken_file_is_refused_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let good = amazon_v2("555", "2026-10-15", "2026-10-29", &rows(), false);
    // The 5th data row's amount (line 7) written with a decimal comma.
    let broken = good.replacen("\t-18.00\t", "\t-18,00\t", 1);
    assert_ne!(broken, good);
    let file = dir.path().join("broken.tsv");
    std::fs::write(&file, broken).expect("write");
    let out = run(
        &data,
        &["import", "--from", "amazon-v2", file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 6"), "{err}");
    assert!(err.contains("amount"), "{err}");
    assert!(err.contains("-18,00"), "{err}");
    assert!(err.contains("nothing stored"), "{err}");

    // A total that does not add up: declared and computed named.
    let wrong_total = good.replacen(&format!("\t{}\tUSD", total_of(&rows())), "\t1.00\tUSD", 1);
    std::fs::write(&file, wrong_total).expect("write");
    let out = run(
        &data,
        &["import", "--from", "amazon-v2", file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("total-amount") && err.contains("1.00"),
        "{err}"
    );

    let list = crossdock()
        .args(["settlement", "list", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run");
    assert_eq!(
        json_of(&list),
        json!([]),
        "nothing of either file is stored"
    );
    let store = Store::open_dir(&data).await.expect("open");
    assert!(
        store
            .residuals(None, false)
            .await
            .expect("residuals")
            .is_empty()
    );
    store.close().await;
}

fn total_of(rows: &[Row]) -> Decimal {
    rows.iter().map(|r| Decimal::from_str(r.5).unwrap()).sum()
}

#[tokio::test]
async fn api_imports_behind_keys_and_posts_one_balanced_journal() {
    let app = spawn_app().await;
    let file = amazon_v2("777000777", "2026-10-15", "2026-10-29", &rows(), true).into_bytes();
    let import = "/v1/settlements?from=amazon-v2";

    let bare = app
        .bare
        .post(format!("{}{import}", app.url))
        .body(file.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(bare.status().as_u16(), 401);
    let (_, reader) = app
        .keys
        .create(&crossdock_server::auth::KeySpec {
            name: "reader".to_owned(),
            scopes: vec![crossdock_store::ApiScope::Read],
            rate_per_sec: None,
            daily_quota: None,
            expires_at: None,
        })
        .await
        .expect("a read key");
    let reader = keyed_client(reader.expose());
    let refused = reader
        .post(format!("{}{import}", app.url))
        .body(file.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(
        reader
            .get(format!("{}/v1/settlements", app.url))
            .send()
            .await
            .expect("GET")
            .status()
            .as_u16(),
        200,
        "reading needs only read"
    );

    let created = app
        .post_raw(
            import,
            &[("content-type", "text/tab-separated-values")],
            file.clone(),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["outcome"], "imported");
    assert_explained(&created.body);
    let again = app.post_raw(import, &[], file).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["outcome"], "already_imported");

    // The journal reaches the simulated ERP once, balanced, and its bank
    // line is the deposit; the settlement is posted.
    let reference = "settlement:amazon:777000777:2026-10";
    let posted = wait_until(Duration::from_secs(20), || async {
        let s = app.get("/v1/settlements/amazon:777000777").await;
        (s.body["status"] == "posted").then_some(s.body)
    })
    .await
    .expect("the settlement is posted");
    let erp = app.erp_stats().await;
    assert_eq!(erp["journals_per_reference"][reference], 1, "{erp:#}");
    assert_eq!(erp["duplicate_journals"], 0);
    assert_eq!(erp["journals_refused"], 0);
    assert_eq!(
        dec(&erp["journal_bank_lines"][reference]),
        dec(&posted["deposit_total"])
    );
    assert_eq!(posted["journals"].as_array().map(Vec::len), Some(1));

    // Residuals through the API, and a resolution posts only its delta.
    let list = app.get("/v1/settlement-residuals?open=true").await;
    assert_eq!(list.status, 200);
    let first = list.body["residuals"][0]["id"]
        .as_str()
        .expect("a residual")
        .to_owned();
    let path = format!("/v1/settlement-residuals/{first}/resolve");
    let body = json!({ "resolution": "written_off", "note": "accepted" });
    let read_only = reader
        .post(format!("{}{path}", app.url))
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(read_only.status().as_u16(), 403);
    let resolved = app.post_json(&path, &[], &body).await;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(resolved.body["resolved_by"], "api:test-admin");
    let conflict = app.post_json(&path, &[], &body).await;
    assert_eq!(conflict.status, 409);
    let delta = wait_until(Duration::from_secs(20), || async {
        let erp = app.erp_stats().await;
        (erp["journals"] == 2).then_some(erp)
    })
    .await
    .expect("the delta journal is posted");
    assert_eq!(
        delta["journals_per_reference"][reference], 1,
        "the settlement's journal is not posted again"
    );
    assert_eq!(delta["duplicate_journals"], 0);
    app.stop().await;
}
