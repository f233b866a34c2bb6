//! Every refund, fulfilment and inventory payload in the shared reference
//! examples through the marketplace mappings, read from
//! `/work/shared/reference` at test time (the examples are not copied into
//! this repository). The folders are walked and payloads found by their
//! shape, so a new example file is covered without touching this file; a
//! folder that should hold payloads and yields none fails. The raw JSON is
//! the oracle for money and ids wherever it can be; a few spot cases check
//! literal values. Skipped when the reference folder is absent.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use crossdock_connectors::channel::{
    ShopifyFulfillment, WALMART_DEFAULT_NODE, amazon_listings_feed_quantities,
    amazon_shipment_confirmation, amazon_shipment_confirmation_bundle, shopify_fulfillment,
    shopify_inventory_levels, shopify_refund, walmart_inventory,
};
use crossdock_model::order_id_for;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const REFERENCE: &str = "/work/shared/reference";

type Mutation = Box<dyn Fn(&mut Value)>;

/// The JSON files directly in `rel`, sorted; `None` when the reference
/// folder is not mounted here.
fn reference_files(rel: &str) -> Option<Vec<(String, Value)>> {
    if !Path::new(REFERENCE).exists() {
        // Not mounted on this machine: skipped, as in marketplace_mapping.rs
        // (the workspace lints forbid printing from tests).
        return None;
    }
    let dir = PathBuf::from(REFERENCE).join(rel);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    Some(
        paths
            .into_iter()
            .map(|p| {
                let text =
                    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let name = format!("{rel}/{}", p.file_name().unwrap().to_string_lossy());
                let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                (name, value)
            })
            .collect(),
    )
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// An id's raw JSON text: a string's content or a number's digits.
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not an id: {other}"),
    }
}

/// A raw amount (string or number) as a decimal, read from its text.
fn raw_dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => dec(s),
        Value::Number(n) => dec(&n.to_string()),
        other => panic!("not an amount: {other}"),
    }
}

fn as_of() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

// ---- Shopify -----------------------------------------------------------------

const SHOPIFY_FOLDERS: [&str; 2] = [
    "shopify-admin-rest-examples-2025-07",
    "shopify-python-api-fixtures",
];

/// Every response document of a Shopify folder: the REST examples are
/// arrays of `{test, response_body}` cases (request bodies are what we would
/// send, not what we receive, and are not read); the python fixtures are
/// the documents themselves.
fn shopify_documents(folder: &str) -> Option<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (name, value) in reference_files(folder)? {
        match value {
            Value::Array(cases) if cases.iter().all(|c| c.get("response_body").is_some()) => {
                for c in cases {
                    let test = c["test"].as_str().unwrap_or_default();
                    out.push((format!("{name} {test}"), c["response_body"].clone()));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.into_iter().enumerate() {
                    out.push((format!("{name}[{i}]"), v));
                }
            }
            v => out.push((name, v)),
        }
    }
    Some(out)
}

/// The single payloads under `one` and every element of `many` in each
/// document, wrapped as `{one: payload}` (the REST response shape).
fn shopify_payloads(one: &str, many: &str) -> Option<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for folder in SHOPIFY_FOLDERS {
        let mut found = 0;
        for (name, doc) in shopify_documents(folder)? {
            if let Some(p) = doc.get(one) {
                out.push((name.clone(), json!({ one: p })));
                found += 1;
            }
            if let Some(list) = doc.get(many).and_then(Value::as_array) {
                for (i, p) in list.iter().enumerate() {
                    out.push((format!("{name} {many}[{i}]"), json!({ one: p })));
                    found += 1;
                }
            }
        }
        assert!(found > 0, "{folder}: no {one} payload found");
    }
    Some(out)
}

#[test]
fn every_shopify_reference_refund_maps_with_exact_money_and_ids() {
    let Some(refunds) = shopify_payloads("refund", "refunds") else {
        return;
    };
    let (mut mapped, mut calculations) = (0, 0);
    for (name, body) in &refunds {
        let raw = &body["refund"];
        // refunds/calculate.json answers carry no id: proposals, refused by name.
        if raw.get("id").is_none() {
            let err = shopify_refund("shopify", &bytes(body)).unwrap_err();
            assert_eq!(err.path, "refund.id", "{name}");
            assert!(
                err.message.contains("a proposal, not a refund"),
                "{name}: {err}"
            );
            calculations += 1;
            continue;
        }
        let refund =
            shopify_refund("shopify", &bytes(body)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(refund.external_id, id_text(&raw["id"]), "{name}");
        assert_eq!(
            refund.id,
            format!("shopify:{}", id_text(&raw["id"])),
            "{name}"
        );
        assert_eq!(
            refund.order_id,
            order_id_for("shopify", &id_text(&raw["order_id"])),
            "{name}"
        );
        // The money that went back: the successful refund transactions.
        let paid: Decimal = raw["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "refund" && t["status"] == "success")
            .map(|t| raw_dec(&t["amount"]))
            .sum();
        assert_eq!(refund.amount.amount, paid, "{name}");
        let raw_lines = raw["refund_line_items"].as_array().unwrap();
        assert_eq!(refund.lines.len(), raw_lines.len(), "{name}");
        let mut raw_subtotal = Decimal::ZERO;
        for (line, rl) in refund.lines.iter().zip(raw_lines) {
            assert_eq!(line.line_id, id_text(&rl["line_item_id"]), "{name}");
            assert_eq!(i64::from(line.quantity), rl["quantity"].as_i64().unwrap());
            assert_eq!(
                line.sku,
                rl["line_item"]["sku"].as_str().unwrap_or_default(),
                "{name}"
            );
            // Shop money when sent, else the plain field (a number or a string).
            let expected = rl
                .get("subtotal_set")
                .map(|s| raw_dec(&s["shop_money"]["amount"]))
                .or_else(|| rl.get("subtotal").map(raw_dec));
            assert_eq!(line.amount.map(|m| m.amount), expected, "{name}");
            raw_subtotal += expected.unwrap_or_default();
            let tax = rl
                .get("total_tax_set")
                .map(|s| raw_dec(&s["shop_money"]["amount"]))
                .or_else(|| rl.get("total_tax").map(raw_dec));
            assert_eq!(line.tax.map(|m| m.amount), tax, "{name}");
            assert_eq!(
                line.restock,
                match rl["restock_type"].as_str() {
                    Some(t) => t != "no_restock",
                    None => raw["restock"] == true,
                },
                "{name}"
            );
        }
        let line_total: Decimal = refund
            .lines
            .iter()
            .filter_map(|l| l.amount.map(|m| m.amount))
            .sum();
        assert_eq!(line_total, raw_subtotal, "{name}");
        let shipping: Decimal = raw["refund_shipping_lines"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|s| raw_dec(&s["subtotal_amount_set"]["shop_money"]["amount"]))
                    .sum()
            })
            .unwrap_or_default();
        assert_eq!(
            refund.shipping.map(|m| m.amount).unwrap_or_default(),
            shipping,
            "{name}"
        );
        mapped += 1;
    }
    assert!(
        mapped >= 5 && calculations >= 4,
        "mapped {mapped}, calculations {calculations}"
    );
}

/// A refund response of the REST examples by its test name.
fn shopify_case(file: &str, test: &str) -> Option<Value> {
    let (_, cases) = reference_files("shopify-admin-rest-examples-2025-07")?
        .into_iter()
        .find(|(n, _)| n.ends_with(file))?;
    cases
        .as_array()?
        .iter()
        .find(|c| c["test"] == test)
        .map(|c| c["response_body"].clone())
}

#[test]
fn shopify_refund_spot_cases() {
    let Some(body) = shopify_case("refund.json", "test_4") else {
        return;
    };
    let r = shopify_refund("shopify", &bytes(&body)).unwrap();
    assert_eq!(r.external_id, "509562969");
    assert_eq!(r.amount.amount, dec("209.00"));
    assert_eq!(r.amount.currency.as_str(), "USD");
    assert_eq!(r.reason, "it broke during shipping");
    assert_eq!(
        r.refunded_at,
        "2025-07-02T16:38:15Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(r.lines[0].line_id, "703073504");
    assert_eq!(r.lines[0].sku, "IPOD2008BLACK");
    assert_eq!(r.lines[0].amount.unwrap().amount, dec("195.66"));
    assert_eq!(r.lines[1].amount.unwrap().amount, dec("195.67"));
    assert_eq!(r.lines[1].tax.unwrap().amount, dec("3.98"));
    assert!(r.lines[0].restock, "legacy_restock restocks");
    assert_eq!(r.shipping, None);
    // The canonical JSON keeps the amounts as strings, exactly.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["amount"], json!({"amount": "209.00", "currency": "USD"}));
    assert_eq!(v["lines"][0]["amount"]["amount"], "195.66");

    // A shipping-only refund: refund_shipping_lines, with the legacy
    // shipping_refund order adjustment not counted a second time.
    let body = shopify_case("refund.json", "test_3").unwrap();
    let r = shopify_refund("shopify", &bytes(&body)).unwrap();
    assert_eq!(r.shipping.unwrap().amount, dec("5.00"));
    assert_eq!(r.amount.amount, dec("5.00"));
    assert!(r.lines.is_empty());

    // `subtotal: 0.0` (a JSON number) next to "0.00" shop money; no restock.
    let body = shopify_case("refund.json", "test_2").unwrap();
    let r = shopify_refund("shopify", &bytes(&body)).unwrap();
    assert_eq!(r.lines[0].amount.unwrap().amount.to_string(), "0.00");
    assert!(!r.lines[0].restock);
    assert_eq!(r.amount.amount, dec("41.94"));
}

/// Amounts as bare JSON numbers (no `*_set`) and ids beyond 2^53 survive
/// exactly, bare or wrapped.
#[test]
fn shopify_refund_numeric_amounts_and_19_digit_ids_are_exact() {
    let Some(body) = shopify_case("refund.json", "test_4") else {
        return;
    };
    let mut raw = body["refund"].clone();
    for line in raw["refund_line_items"].as_array_mut().unwrap() {
        let line = line.as_object_mut().unwrap();
        line.remove("subtotal_set");
        line.remove("total_tax_set");
    }
    let text = serde_json::to_string(&raw)
        .unwrap()
        .replace("\"id\":509562969", "\"id\":9007199254740993123")
        .replace(
            "\"line_item_id\":703073504",
            "\"line_item_id\":8209829119461545083",
        )
        .replace("\"subtotal\":195.66", "\"subtotal\":195.660");
    let r = shopify_refund("shopify", text.as_bytes()).unwrap();
    assert_eq!(r.external_id, "9007199254740993123");
    assert_eq!(r.lines[0].line_id, "8209829119461545083");
    assert_eq!(r.lines[0].amount.unwrap().amount.to_string(), "195.660");
    assert_eq!(r.lines[1].amount.unwrap().amount.to_string(), "195.67");
    assert_eq!(r.lines[1].tax.unwrap().amount.to_string(), "3.98");
}

#[test]
fn shopify_refund_bad_input_names_the_field() {
    let Some(body) = shopify_case("refund.json", "test_4") else {
        return;
    };
    let good = body["refund"].clone();
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "refund_line_items[1].subtotal",
            Box::new(|r| r["refund_line_items"][1]["subtotal"] = json!("abc")),
            "expected decimal",
        ),
        (
            "refund_line_items[0].subtotal_set.shop_money.currency_code",
            Box::new(|r| {
                r["refund_line_items"][0]["subtotal_set"]["shop_money"]["currency_code"] =
                    json!("EUR")
            }),
            "shop money in EUR",
        ),
        (
            "refund_line_items[0].quantity",
            Box::new(|r| r["refund_line_items"][0]["quantity"] = json!(-1)),
            "must not be negative",
        ),
        (
            "transactions[0].currency",
            Box::new(|r| r["transactions"][0]["currency"] = json!("usd")),
            "ISO 4217",
        ),
        (
            "transactions[0].amount",
            Box::new(|r| r["transactions"][0]["amount"] = json!("-209.00")),
            "must not be negative",
        ),
        (
            "order_id",
            Box::new(|r| r["order_id"] = json!(4.5)),
            "expected an id",
        ),
        (
            "processed_at",
            Box::new(|r| r["processed_at"] = json!("yesterday")),
            "RFC 3339",
        ),
    ];
    for (path, mutate, message) in cases {
        let mut bad = good.clone();
        mutate(&mut bad);
        let err = shopify_refund("shopify", &bytes(&bad)).unwrap_err();
        assert_eq!(err.path, path, "{err}");
        assert!(err.message.contains(message), "{path}: {err}");
        let err = shopify_refund("shopify", &bytes(&json!({ "refund": bad }))).unwrap_err();
        assert_eq!(err.path, format!("refund.{path}"), "{err}");
    }
    // A transaction in another currency than the refund's.
    let mut bad = good;
    let mut second = bad["transactions"][0].clone();
    second["currency"] = json!("CAD");
    bad["transactions"].as_array_mut().unwrap().push(second);
    let err = shopify_refund("shopify", &bytes(&bad)).unwrap_err();
    assert_eq!(err.path, "transactions[1].currency", "{err}");
}

#[test]
fn every_shopify_reference_fulfillment_maps() {
    let Some(fulfillments) = shopify_payloads("fulfillment", "fulfillments") else {
        return;
    };
    let (mut shipped, mut not_shipped) = (0, 0);
    for (name, body) in &fulfillments {
        let raw = &body["fulfillment"];
        match shopify_fulfillment("shopify", &bytes(body)).unwrap_or_else(|e| panic!("{name}: {e}"))
        {
            ShopifyFulfillment::Shipped(s) => {
                assert_eq!(raw["status"], "success", "{name}");
                assert_eq!(s.external_id, id_text(&raw["id"]), "{name}");
                assert_eq!(s.id, format!("shopify:{}", id_text(&raw["id"])), "{name}");
                assert_eq!(
                    s.order_id,
                    order_id_for("shopify", &id_text(&raw["order_id"]))
                );
                assert_eq!(
                    s.warehouse,
                    raw.get("location_id").map(id_text).unwrap_or_default(),
                    "{name}"
                );
                let raw_lines = raw["line_items"].as_array().unwrap();
                assert_eq!(s.lines.len(), raw_lines.len(), "{name}");
                for (l, rl) in s.lines.iter().zip(raw_lines) {
                    assert_eq!(l.line_id, id_text(&rl["id"]), "{name}");
                    assert_eq!(i64::from(l.quantity), rl["quantity"].as_i64().unwrap());
                    assert_eq!(l.sku, rl["sku"].as_str().unwrap_or_default(), "{name}");
                }
                assert_eq!(
                    s.tracking.number,
                    raw["tracking_number"].as_str().unwrap_or_default(),
                    "{name}"
                );
                assert_eq!(
                    s.tracking.carrier,
                    raw["tracking_company"].as_str().unwrap_or_default(),
                    "{name}"
                );
                assert_eq!(
                    s.tracking.url.as_deref(),
                    raw["tracking_url"].as_str(),
                    "{name}"
                );
                shipped += 1;
            }
            ShopifyFulfillment::NotShipped {
                external_id,
                external_order_id,
                status,
            } => {
                assert_ne!(raw["status"], "success", "{name}");
                assert_eq!(status, raw["status"].as_str().unwrap(), "{name}");
                assert_eq!(external_id, id_text(&raw["id"]), "{name}");
                assert_eq!(external_order_id, id_text(&raw["order_id"]), "{name}");
                not_shipped += 1;
            }
        }
    }
    assert!(
        shipped >= 8 && not_shipped >= 3,
        "shipped {shipped}, not {not_shipped}"
    );
}

#[test]
fn shopify_fulfillment_spot_cases_and_bad_input() {
    let Some(body) = shopify_case("fulfillment.json", "test_7") else {
        return;
    };
    let ShopifyFulfillment::Shipped(s) = shopify_fulfillment("shopify", &bytes(&body)).unwrap()
    else {
        panic!("not shipped")
    };
    assert_eq!(s.external_id, "1069019871");
    assert_eq!(s.warehouse, "24826418");
    assert_eq!(s.tracking.carrier, "UPS");
    assert_eq!(s.tracking.number, "1Z001985YW99744790");
    assert_eq!(s.lines[0].line_id, "1071823210");
    assert_eq!(s.lines[0].sku, "crafty_shoes_red");
    assert_eq!(
        s.shipped_at,
        "2025-07-02T16:38:40Z".parse::<DateTime<Utc>>().unwrap()
    );

    let cancelled = shopify_case("fulfillment.json", "test_13").unwrap();
    assert_eq!(
        shopify_fulfillment("shopify", &bytes(&cancelled)).unwrap(),
        ShopifyFulfillment::NotShipped {
            external_id: "1069019879".into(),
            external_order_id: "450789469".into(),
            status: "cancelled".into(),
        }
    );

    let mut bad = body.clone();
    bad["fulfillment"]["line_items"][0]["quantity"] = json!("one");
    let err = shopify_fulfillment("shopify", &bytes(&bad)).unwrap_err();
    assert_eq!(err.path, "fulfillment.line_items[0].quantity", "{err}");
    let mut bad = body["fulfillment"].clone();
    bad["id"] = json!(-3);
    let err = shopify_fulfillment("shopify", &bytes(&bad)).unwrap_err();
    assert_eq!(err.path, "id", "{err}");
    let mut bad = body["fulfillment"].clone();
    bad["line_items"] = json!([]);
    let err = shopify_fulfillment("shopify", &bytes(&bad)).unwrap_err();
    assert_eq!(err.path, "line_items", "{err}");
}

#[test]
fn every_shopify_reference_inventory_level_maps() {
    let Some(levels) = shopify_payloads("inventory_level", "inventory_levels") else {
        return;
    };
    assert!(levels.len() >= 15, "{}", levels.len());
    for (name, body) in &levels {
        let raw = &body["inventory_level"];
        let positions = shopify_inventory_levels("shopify", &bytes(body))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let [p] = positions.as_slice() else {
            panic!("{name}: {positions:?}")
        };
        assert_eq!(p.sku, id_text(&raw["inventory_item_id"]), "{name}");
        assert_eq!(p.location, id_text(&raw["location_id"]), "{name}");
        assert_eq!(p.on_hand, raw["available"].as_i64().unwrap(), "{name}");
        assert_eq!(p.reserved, 0);
        assert_eq!(p.source, "shopify");
    }
    // The list shape maps every level, in order.
    let body = shopify_case("inventory_level.json", "test_3").unwrap();
    let positions = shopify_inventory_levels("shopify", &bytes(&body)).unwrap();
    let raw = body["inventory_levels"].as_array().unwrap();
    assert_eq!(positions.len(), raw.len());
    let set = shopify_case("inventory_level.json", "test_7").unwrap();
    let p = &shopify_inventory_levels("shopify", &bytes(&set)).unwrap()[0];
    assert_eq!(
        (p.sku.as_str(), p.location.as_str(), p.on_hand),
        ("808950810", "655441491", 42)
    );
    assert_eq!(
        p.as_of,
        "2025-07-02T16:30:13Z".parse::<DateTime<Utc>>().unwrap()
    );

    let mut bad = body;
    bad["inventory_levels"][2]["available"] = json!(null);
    let err = shopify_inventory_levels("shopify", &bytes(&bad)).unwrap_err();
    assert_eq!(err.path, "inventory_levels[2].available", "{err}");
    let mut bad = set;
    bad["inventory_level"]["available"] = json!(4.5);
    let err = shopify_inventory_levels("shopify", &bytes(&bad)).unwrap_err();
    assert_eq!(err.path, "inventory_level.available", "{err}");
}

// ---- Amazon ------------------------------------------------------------------

/// `confirmShipment` cases (any operation whose endpoint is
/// `shipmentConfirmation`) of every file in `examples-extracted`.
fn amazon_confirmations() -> Option<Vec<(String, String, String, Value)>> {
    let mut out = Vec::new();
    for (name, all) in reference_files("amazon-sp-api-models/examples-extracted")? {
        for (op, cases) in all.as_object().unwrap() {
            for c in cases.as_array().into_iter().flatten() {
                if !c["http"]
                    .as_str()
                    .unwrap_or_default()
                    .ends_with("/shipmentConfirmation")
                {
                    continue;
                }
                let params = &c["request"]["parameters"];
                out.push((
                    format!("{name} {op} {}", c["status"]),
                    c["status"].as_str().unwrap().to_owned(),
                    params["orderId"]["value"].as_str().unwrap().to_owned(),
                    params["body"]["value"].clone(),
                ));
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no confirmShipment example in examples-extracted"
    );
    Some(out)
}

#[test]
fn every_amazon_reference_shipment_confirmation_maps() {
    let Some(cases) = amazon_confirmations() else {
        return;
    };
    for (name, status, order_id, body) in &cases {
        let result = amazon_shipment_confirmation("amazon", order_id, &bytes(body));
        if status != "204" {
            // Amazon's 400 example sends `shipDate: "02/21/2022"`.
            let err = result.unwrap_err();
            assert_eq!(err.path, "packageDetail.shipDate", "{name}: {err}");
            continue;
        }
        let s = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = &body["packageDetail"];
        let package = p["packageReferenceId"].as_str().unwrap();
        assert_eq!(s.external_id, package);
        assert_eq!(s.id, format!("amazon:{order_id}:{package}"));
        assert_eq!(s.order_id, order_id_for("amazon", order_id));
        assert_eq!(s.tracking.number, p["trackingNumber"].as_str().unwrap());
        let items = p["orderItems"].as_array().unwrap();
        assert_eq!(s.lines.len(), items.len());
        for (l, i) in s.lines.iter().zip(items) {
            assert_eq!(l.line_id, i["orderItemId"].as_str().unwrap());
            assert_eq!(i64::from(l.quantity), i["quantity"].as_i64().unwrap());
        }
    }
    let (_, _, order_id, body) = cases.iter().find(|c| c.1 == "204").unwrap();
    let s = amazon_shipment_confirmation("amazon", order_id, &bytes(body)).unwrap();
    assert_eq!(s.id, "amazon:902-1106328-1059050:1");
    assert_eq!(s.tracking.carrier, "FedEx");
    assert_eq!(s.tracking.number, "112345678");
    assert_eq!(s.warehouse, "057d3fcc-b750-419f-bbcd-4d340c60c430");
    assert_eq!(s.lines[0].line_id, "79039765272157");
    assert_eq!(
        s.shipped_at,
        "2022-02-11T01:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    // The CLI's bundle maps the same, with paths under `body.`.
    let bundle = json!({ "orderId": order_id, "body": body });
    assert_eq!(
        amazon_shipment_confirmation_bundle("amazon", &bytes(&bundle)).unwrap(),
        s
    );
    let mut bad = bundle;
    bad["body"]["packageDetail"]["orderItems"][0]["quantity"] = json!(-1);
    let err = amazon_shipment_confirmation_bundle("amazon", &bytes(&bad)).unwrap_err();
    assert_eq!(
        err.path, "body.packageDetail.orderItems[0].quantity",
        "{err}"
    );
    let mut bad = body.clone();
    bad["packageDetail"]
        .as_object_mut()
        .unwrap()
        .remove("trackingNumber");
    let err = amazon_shipment_confirmation("amazon", order_id, &bytes(&bad)).unwrap_err();
    assert_eq!(
        (err.path.as_str(), err.message.as_str()),
        ("packageDetail.trackingNumber", "missing field")
    );
}

/// Listings feed examples (`schemas/feeds/*.example.json` holding `messages`):
/// Amazon's inventory quantities travel as `fulfillment_availability`.
#[test]
fn every_amazon_reference_listings_feed_quantity_maps() {
    let Some(files) = reference_files("amazon-sp-api-models/schemas/feeds") else {
        return;
    };
    let feeds: Vec<_> = files
        .into_iter()
        .filter(|(n, v)| {
            n.ends_with(".example.json") && v["messages"][0].get("operationType").is_some()
        })
        .collect();
    assert!(!feeds.is_empty(), "no listings feed example");
    for (name, feed) in &feeds {
        let positions = amazon_listings_feed_quantities("amazon", &bytes(feed), as_of())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The oracle: every fulfillment_availability entry with a quantity,
        // from attributes or from a replace/merge patch of that attribute.
        let mut expected = Vec::new();
        for m in feed["messages"].as_array().unwrap() {
            let mut lists = vec![&m["attributes"]["fulfillment_availability"]];
            for p in m["patches"].as_array().into_iter().flatten() {
                if p["path"] == "/attributes/fulfillment_availability" && p["op"] != "delete" {
                    lists.push(&p["value"]);
                }
            }
            for a in lists.into_iter().filter_map(Value::as_array).flatten() {
                if let Some(q) = a["quantity"].as_i64() {
                    let sku = m["sku"].as_str().unwrap().to_owned();
                    let code = a["fulfillment_channel_code"].as_str().unwrap().to_owned();
                    expected.push((sku, code, q));
                }
            }
        }
        let got: Vec<_> = positions
            .iter()
            .map(|p| (p.sku.clone(), p.location.clone(), p.on_hand))
            .collect();
        assert_eq!(got, expected, "{name}");
        assert!(!got.is_empty(), "{name}");
        assert!(
            positions
                .iter()
                .all(|p| p.as_of == as_of() && p.source == "amazon")
        );
    }
    let (_, feed) = &feeds[0];
    let got = amazon_listings_feed_quantities("amazon", &bytes(feed), as_of()).unwrap();
    assert_eq!(
        (
            got[0].sku.as_str(),
            got[0].location.as_str(),
            got[0].on_hand
        ),
        ("My-SKU-B", "DEFAULT", 10)
    );
    let mut bad = feed.clone();
    bad["messages"][1]["attributes"]["fulfillment_availability"][0]["quantity"] = json!("ten");
    let err = amazon_listings_feed_quantities("amazon", &bytes(&bad), as_of()).unwrap_err();
    assert_eq!(
        err.path, "messages[1].attributes.fulfillment_availability[0].quantity",
        "{err}"
    );
    let mut bad = feed.clone();
    bad["messages"][3]["patches"][0]["value"][0]["quantity"] = json!(-2);
    let err = amazon_listings_feed_quantities("amazon", &bytes(&bad), as_of()).unwrap_err();
    assert_eq!(
        err.path, "messages[3].patches[0].value[0].quantity",
        "{err}"
    );
}

// ---- Walmart -----------------------------------------------------------------

/// Every example body (request or response) of every operation in
/// `examples-extracted`, by name. XML examples (strings) are left out.
fn walmart_bodies() -> Option<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (name, all) in reference_files("walmart-marketplace-openapi-us/examples-extracted")? {
        for (op, spec) in all.as_object().unwrap() {
            if let Some(b) = spec.get("request_example") {
                out.push((format!("{name} {op} request"), b.clone()));
            }
            for (key, named) in [("request_examples", true), ("response_examples", false)] {
                for (label, ex) in spec
                    .get(key)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    // request_examples are {name: {value}}; response_examples
                    // {status: body} or {status: {name: {value}}}.
                    let bodies: Vec<(String, &Value)> = if named {
                        vec![(label.clone(), &ex["value"])]
                    } else if ex
                        .as_object()
                        .is_some_and(|o| o.values().all(|v| v.get("value").is_some()))
                        && !ex.as_object().unwrap().is_empty()
                    {
                        ex.as_object()
                            .unwrap()
                            .iter()
                            .map(|(n, v)| (format!("{label} {n}"), &v["value"]))
                            .collect()
                    } else {
                        vec![(label.clone(), ex)]
                    };
                    for (l, b) in bodies {
                        if b.is_object() {
                            out.push((format!("{name} {op} {l}"), b.clone()));
                        }
                    }
                }
            }
        }
    }
    Some(out)
}

/// The (sku, node, units) a raw Walmart inventory body states, or `None`
/// when the body is not one (orders, feed ids, per-node results without
/// quantities, a multi-node update whose SKU is in the URL).
fn walmart_expected(body: &Value) -> Option<Vec<(String, String, i64)>> {
    let each = |q: &Value| q["amount"].as_i64().unwrap();
    let multi = |item: &Value| -> Option<Vec<(String, String, i64)>> {
        let nodes = item["nodes"].as_array()?;
        if !nodes.iter().all(|n| n.get("inputQty").is_some()) {
            return None;
        }
        Some(
            nodes
                .iter()
                .map(|n| {
                    let sku = item["sku"].as_str().unwrap().to_owned();
                    (
                        sku,
                        n["shipNode"].as_str().unwrap().to_owned(),
                        each(&n["inputQty"]),
                    )
                })
                .collect(),
        )
    };
    let default = |item: &Value| {
        let sku = item["sku"].as_str().unwrap().to_owned();
        (
            sku,
            WALMART_DEFAULT_NODE.to_owned(),
            each(&item["quantity"]),
        )
    };
    if let Some(list) = body["Inventory"].as_array() {
        return Some(list.iter().map(default).collect());
    }
    if let Some(list) = body["inventory"].as_array() {
        let mut out = Vec::new();
        for item in list {
            for n in item["shipNodes"].as_array()? {
                let sku = item["sku"].as_str().unwrap().to_owned();
                out.push((
                    sku,
                    n["shipNode"].as_str().unwrap().to_owned(),
                    each(&n["quantity"]),
                ));
            }
        }
        return Some(out);
    }
    if let Some(list) = body["elements"]["inventories"].as_array() {
        let mut out = Vec::new();
        for item in list {
            out.extend(multi(item)?);
        }
        return Some(out);
    }
    if body.get("nodes").is_some() {
        return multi(body);
    }
    if body.get("sku").is_some() && body.get("quantity").is_some() {
        return Some(vec![default(body)]);
    }
    None
}

#[test]
fn every_walmart_reference_inventory_payload_maps() {
    let Some(bodies) = walmart_bodies() else {
        return;
    };
    let mut mapped = 0;
    for (name, body) in &bodies {
        let Some(expected) = walmart_expected(body) else {
            continue;
        };
        let positions = walmart_inventory("walmart", &bytes(body), as_of())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: Vec<_> = positions
            .iter()
            .map(|p| (p.sku.clone(), p.location.clone(), p.on_hand))
            .collect();
        assert_eq!(got, expected, "{name}");
        assert!(
            positions
                .iter()
                .all(|p| p.reserved == 0 && p.source == "walmart")
        );
        mapped += 1;
    }
    // getInventory, updateInventoryForAnItem (request and response), the
    // 1.4 and 1.5 feeds, one multi-node SKU and a page of them.
    assert!(mapped >= 7, "mapped {mapped}");
}

#[test]
fn walmart_inventory_spot_cases_and_bad_input() {
    let Some(bodies) = walmart_bodies() else {
        return;
    };
    let find = |suffix: &str| {
        bodies
            .iter()
            .find(|(n, _)| n.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix}"))
            .1
            .clone()
    };
    let page = find("getMultiNodeInventoryForAllSkuAndAllShipNodes 200 application/json");
    let got = walmart_inventory("walmart", &bytes(&page), as_of()).unwrap();
    assert_eq!(
        (
            got[1].sku.as_str(),
            got[1].location.as_str(),
            got[1].on_hand
        ),
        ("AI-IGH4-5509", "100009", 436)
    );
    let single = find("getInventory 200 application/json");
    let got = walmart_inventory("walmart", &bytes(&single), as_of()).unwrap();
    assert_eq!(
        (
            got[0].sku.as_str(),
            got[0].location.as_str(),
            got[0].on_hand
        ),
        ("97964_KFTest", "default", 10)
    );

    let feed = find("updateBulkInventory json1");
    let cases: Vec<(Value, Mutation, &str, &str)> = vec![
        (
            feed.clone(),
            Box::new(|b| b["Inventory"][1]["quantity"]["amount"] = json!("20")),
            "Inventory[1].quantity.amount",
            "invalid type",
        ),
        (
            feed,
            Box::new(|b| b["Inventory"][0]["quantity"]["unit"] = json!("CASE")),
            "Inventory[0].quantity.unit",
            "only EACH",
        ),
        (
            page.clone(),
            Box::new(|b| {
                b["elements"]["inventories"][0]["nodes"][1]["inputQty"]["amount"] = json!(-1)
            }),
            "elements.inventories[0].nodes[1].inputQty.amount",
            "must not be negative",
        ),
        (
            page,
            Box::new(|b| b["elements"]["inventories"][1]["sku"] = json!(" ")),
            "elements.inventories[1].sku",
            "must not be empty",
        ),
        (
            single.clone(),
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("quantity");
            }),
            "quantity",
            "missing field",
        ),
        (
            single,
            Box::new(|b| *b = json!({"feedId": "F"})),
            "body",
            "not a Walmart inventory payload",
        ),
    ];
    for (good, mutate, path, message) in cases {
        let mut bad = good;
        mutate(&mut bad);
        let err = walmart_inventory("walmart", &bytes(&bad), as_of()).unwrap_err();
        assert_eq!(err.path, path, "{err}");
        assert!(err.message.contains(message), "{path}: {err}");
    }
}

/// What the reference folders hold besides the payloads above, so nothing
/// is silently dropped: Shopify `fulfillment_order*`, `assigned_fulfillment_order`,
/// `fulfillment_request` (fulfilment *requests*, not shipments),
/// `fulfillment_event` (carrier events of a fulfillment, no units),
/// `inventory_item` (SKU and cost, no quantities), `transaction*`,
/// `tender_transaction*`, `payouts*` (settlement, not refunds); Amazon
/// `examples-extracted` has no refund (financial events are only in the
/// financesV0 model, without examples); Walmart `refundOrderLines` (the
/// request names no refund id or time; its response is the purchase order,
/// which `walmart_order` maps) and `shippingUpdates` (a request we send,
/// its purchase order id in the URL).
#[test]
fn listed_non_payload_files_exist() {
    let Some(files) = reference_files("shopify-admin-rest-examples-2025-07") else {
        return;
    };
    for expected in [
        "fulfillment_order.json",
        "fulfillment_event.json",
        "inventory_item.json",
    ] {
        assert!(
            files.iter().any(|(n, _)| n.ends_with(expected)),
            "{expected}"
        );
    }
}
