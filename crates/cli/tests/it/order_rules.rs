//! Order rules end to end, through the hub's HTTP surface: validation
//! failures go to the exception queue with every failed rule's message,
//! enrichment and tax decisions land on the order (and the tax treatment
//! on the ERP's sales order), a hold reads the history of earlier orders,
//! keeps the reservation and waits before the ERP until an operator
//! releases it or it expires on the hub's clock; `rules explain` and
//! `rules what-if` read what was recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::support::app::{
    CHANNEL, TestApp, event_id, order_doc, order_id, spawn_app_on_clock, spawn_app_with, wait_until,
};
use crossdock_engine::{Clock, ManualClock};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

const RULES: &str = r#"
[categories]
"SKU-00" = "general"

[facilitator]
webstore = ["US-WA"]

[[validate]]
name = "us-zip"
when = "order.ship_to.country == 'US'"
require = "order.ship_to.postal_code.matches('^[0-9]{5}(-[0-9]{4})?$')"
message = "a US address needs a 5-digit ZIP code"

[[validate]]
name = "max-units"
require = "order.units <= 20"
message = "at most 20 units an order"

[[enrich]]
name = "gift"
when = "order.lines.exists(l, l.title.lowerAscii().contains('gift'))"
set = { gift = "true", priority = "5" }

[[enrich]]
name = "returning-buyer"
when = "customer.orders >= 1"
set = { customer_group = "'returning'" }

[[hold]]
name = "address-velocity"
when = "address.orders_last_hour >= 2"
reason = "a third order to one address within an hour"

[[hold]]
name = "high-value-new-customer"
when = "customer.orders == 0 && order.total_minor > 50000"
reason = "high value from a new customer"
expires = "2h"

[[tax]]
name = "facilitator"
when = "channel.facilitator"
treatment = "marketplace_facilitator"

[[tax]]
name = "merchant"
when = "true"
treatment = "merchant_collected"
"#;

fn with_rules(config: &mut crossdock::config::Config) {
    config.rules = toml::from_str(RULES).expect("rules parse");
}

/// A webstore order placed `minute` minutes after the base time, by
/// `email`, to 1 Main St unless `tweak` says otherwise.
fn doc(external_id: &str, minute: u32, email: &str, tweak: impl FnOnce(&mut Value)) -> Value {
    let mut d = order_doc(external_id, 1);
    let at = format!("2026-11-26T20:{minute:02}:00Z");
    d["created_at"] = json!(at);
    d["updated_at"] = json!(at);
    d["buyer"]["email"] = json!(email);
    tweak(&mut d);
    d
}

async fn post(app: &TestApp, d: &Value) {
    let r = app.post_order(d, &event_id()).await;
    assert!(r.status == 200 || r.status == 202, "{r:?}");
}

async fn kinds(app: &TestApp, id: &str) -> Vec<String> {
    app.timeline(id)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test]
async fn failed_rules_enrichment_and_tax_reach_the_exception_queue_the_order_and_the_erp() {
    let app = spawn_app_with(|_, c| with_rules(c)).await;

    // Two validation rules fail: both messages, one validation exception.
    let bad = doc("RV-1", 0, "v@example.com", |d| {
        d["ship_to"]["postal_code"] = json!("ABC");
        d["items"][0]["quantity"] = json!(25);
        d["total"] = json!("583.74");
    });
    post(&app, &bad).await;
    let id = order_id("RV-1");
    app.wait_for_status(&id, "on_hold", WAIT).await;
    let ex = app.exceptions("?status=open").await;
    let ex = ex
        .iter()
        .find(|e| e["order_id"] == id.as_str() || e["entity_key"] == format!("order:{id}"))
        .unwrap_or_else(|| panic!("no exception for {id}: {ex:?}"));
    assert_eq!(ex["class"], "validation", "{ex}");
    let reason = ex["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("us-zip: a US address needs a 5-digit ZIP code")
            && reason.contains("max-units: at most 20 units an order"),
        "{reason}"
    );
    assert_eq!(app.sales_orders_for("RV-1").await, 0);

    // A gift order is enriched; the fields and the events say so.
    let gift = doc("RG-1", 1, "g@example.com", |d| {
        d["items"][0]["title"] = json!("Gift box");
    });
    post(&app, &gift).await;
    let gid = order_id("RG-1");
    let view = app.wait_for_status(&gid, "closed", WAIT).await;
    assert_eq!(view["order"]["gift"], true, "{view}");
    assert_eq!(view["order"]["priority"], 5, "{view}");
    assert_eq!(view["order"]["tax_treatment"], "merchant_collected");
    let enriched: Vec<Value> = app
        .timeline(&gid)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "order_enriched")
        .map(|e| e["detail"].clone())
        .collect();
    assert_eq!(
        enriched,
        [
            json!({"rule": "gift", "field": "gift", "before": false, "after": true}),
            json!({"rule": "gift", "field": "priority", "before": 0, "after": 5}),
        ]
    );

    // Shipped to Washington, where the webstore is a facilitator: the
    // marketplace collects the tax, and the ERP's sales order says so.
    let wa = doc("RW-1", 2, "w@example.com", |d| {
        d["ship_to"]["region"] = json!("WA");
        d["ship_to"]["postal_code"] = json!("98101");
    });
    post(&app, &wa).await;
    let wid = order_id("RW-1");
    let view = app.wait_for_status(&wid, "closed", WAIT).await;
    assert_eq!(view["order"]["tax_treatment"], "marketplace_facilitator");
    let facilitated = app.erp_stats().await["marketplace_facilitator_sales_orders"].clone();
    assert_eq!(
        facilitated,
        json!([format!("{CHANNEL}:RW-1")]),
        "{facilitated}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_hold_reads_earlier_orders_keeps_the_reservation_and_waits_for_an_operator() {
    let app = spawn_app_with(|_, c| with_rules(c)).await;
    // Two orders by one buyer, then a third by another, all to 1 Main St.
    for (ext, minute, email) in [
        ("RH-1", 0, "same@example.com"),
        ("RH-2", 5, "same@example.com"),
    ] {
        post(&app, &doc(ext, minute, email, |_| {})).await;
        app.wait_for_status(&order_id(ext), "closed", WAIT).await;
    }
    // The second read the first: a returning buyer.
    let second = app.order_view(&order_id("RH-2")).await.expect("RH-2");
    assert_eq!(second["order"]["customer_group"], "returning", "{second}");
    let first = app.order_view(&order_id("RH-1")).await.expect("RH-1");
    assert!(first["order"].get("customer_group").is_none(), "{first}");

    post(&app, &doc("RH-3", 9, "other@example.com", |_| {})).await;
    let id = order_id("RH-3");
    let held = wait_until(WAIT, || async {
        let t = kinds(&app, &id).await;
        t.iter().any(|k| k == "waiting_for_target").then_some(t)
    })
    .await;
    let Some(held) = held else {
        panic!(
            "RH-3 never waited on its hold: {:?}",
            kinds(&app, &id).await
        )
    };
    assert!(held.iter().any(|k| k == "hold_placed"), "{held:?}");
    let view = app.order_view(&id).await.expect("RH-3");
    assert_eq!(view["order"]["status"], "reserved", "{view}");
    assert_eq!(view["order"]["hold"]["rule"], "address-velocity", "{view}");
    assert!(
        !view["reservations"]
            .as_array()
            .expect("reservations")
            .is_empty(),
        "a held order keeps its reservation: {view}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.sales_orders_for("RH-3").await,
        0,
        "held orders stay out of the ERP"
    );

    let listed = app.get("/v1/orders/held").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let ids: Vec<&str> = listed.body["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    let path = format!("/v1/orders/{id}/release");
    let no_reason = app.post_json(&path, &[], &json!({ "reason": " " })).await;
    assert_eq!(no_reason.status, 400, "{no_reason:?}");
    let released = app
        .post_json(
            &path,
            &[("x-crossdock-actor", "ana")],
            &json!({ "reason": "called the buyer" }),
        )
        .await;
    assert_eq!(released.status, 200, "{released:?}");
    assert_eq!(released.body["released"], "address-velocity");
    app.wait_for_status(&id, "closed", WAIT).await;
    assert_eq!(app.sales_orders_for("RH-3").await, 1);
    let release = app
        .timeline(&id)
        .await
        .into_iter()
        .find(|e| e["kind"] == "hold_released")
        .expect("release on the timeline");
    assert_eq!(
        release["detail"],
        json!({"rule": "address-velocity", "actor": "api:test-admin/ana", "reason": "called the buyer"})
    );
    let again = app
        .post_json(&path, &[], &json!({ "reason": "twice" }))
        .await;
    assert_eq!(again.status, 409, "{again:?}");
    assert_eq!(again.body["error"]["code"], "CD-API-0409");
    let never_held = app
        .post_json(
            &format!("/v1/orders/{}/release", order_id("RH-1")),
            &[],
            &json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(never_held.status, 409, "{never_held:?}");

    // What-if over what was recorded: tightening the velocity rule to two
    // orders holds exactly the second one as well.
    let dir = tempfile::tempdir().expect("tempdir");
    let tightened = RULES.replace(
        "when = \"address.orders_last_hour >= 2\"",
        "when = \"address.orders_last_hour >= 1\"",
    );
    let file = dir.path().join("rules.toml");
    std::fs::write(&file, &tightened).expect("write rules");
    let rules = crossdock::rules::load_rules(&file).expect("rules load");
    let out = crossdock::rules::what_if(&app.store, &rules, 0, true)
        .await
        .expect("what-if");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["orders"], 3, "{v}");
    let changed: Vec<(&str, &Value)> = v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (c["order_id"].as_str().unwrap_or("?"), &c["aspects"]))
        .collect();
    let rh2 = order_id("RH-2");
    assert_eq!(changed, [(rh2.as_str(), &json!(["hold"]))], "{v}");
    let text = crossdock::rules::explain(&app.store, &id, false)
        .await
        .expect("explain");
    assert!(
        text.contains("hold      address-velocity")
            && text.contains("held: a third order to one address within an hour"),
        "{text}"
    );
    app.stop().await;
}

/// A clock that follows real time plus an offset the test moves on, so
/// the simulators (on real time) and the hub agree until the jump.
fn shifted_clock() -> (Arc<ManualClock>, Arc<AtomicI64>) {
    let now = || chrono::Utc::now().timestamp_millis();
    let clock = Arc::new(ManualClock::new(now()));
    let offset = Arc::new(AtomicI64::new(0));
    let (c, o) = (clock.clone(), offset.clone());
    tokio::spawn(async move {
        loop {
            c.set(now() + o.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    (clock, offset)
}

#[tokio::test]
async fn a_hold_with_an_expiry_lapses_on_the_hubs_clock() {
    let (clock, offset) = shifted_clock();
    let app = spawn_app_on_clock(|_, c| with_rules(c), clock.clone() as Arc<dyn Clock>).await;
    // 15 × 39.99 + tax 3.20 + shipping 4.99 = 608.04: high value, new buyer.
    let big = doc("RX-1", 0, "new@example.com", |d| {
        d["items"][0]["quantity"] = json!(15);
        d["items"][0]["unit_price"] = json!("39.99");
        d["total"] = json!("608.04");
    });
    post(&app, &big).await;
    let id = order_id("RX-1");
    let waited = wait_until(WAIT, || async {
        kinds(&app, &id)
            .await
            .iter()
            .any(|k| k == "waiting_for_target")
            .then_some(())
    })
    .await;
    if waited.is_none() {
        panic!("no wait: {:?}", kinds(&app, &id).await);
    }
    let view = app.order_view(&id).await.expect("order");
    let until = view["order"]["hold"]["until"]
        .as_str()
        .expect("until")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.sales_orders_for("RX-1").await, 0);

    // Two hours and a minute later by the hub's clock.
    offset.store(2 * 3_600_000 + 60_000, Ordering::SeqCst);
    let view = app.wait_for_status(&id, "closed", WAIT).await;
    assert!(view["order"].get("hold").is_none(), "{view}");
    let t = kinds(&app, &id).await;
    assert!(t.iter().any(|k| k == "hold_expired"), "{t:?}");
    assert!(!t.iter().any(|k| k == "hold_released"), "{t:?}");
    assert_eq!(app.sales_orders_for("RX-1").await, 1);
    assert!(!until.is_empty());
    app.stop().await;
}

const REFERENCE: &str = "/work/shared/reference";

fn reference(rel: &str) -> Value {
    let path = std::path::Path::new(REFERENCE).join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference JSON")
}

/// One real order per channel: the Shopify REST example order, Amazon's
/// sandbox `TEST_CASE_200` order with its items, Walmart's first order
/// example, a webstore order and the regional mapped channel's order.
fn real_orders() -> Vec<crossdock_model::Order> {
    use crossdock::translate::{Source, translate};
    let shopify = reference("shopify-admin-rest-examples-2025-07/order.json")
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["test"] == "test_1")
        .map(|c| json!({ "order": c["response_body"]["orders"][0] }))
        .expect("test_1");
    let amazon_all =
        reference("amazon-sp-api-models/examples-extracted/ordersV0-sandbox-static-examples.json");
    let amazon_ok = |op: &str| {
        amazon_all[op]
            .as_array()
            .expect("cases")
            .iter()
            .find(|c| {
                c["status"] == "200"
                    && c["request"]["parameters"]
                        .as_object()
                        .is_some_and(|p| p.values().any(|v| v["value"] == "TEST_CASE_200"))
            })
            .map(|c| c["response"].clone())
            .expect("TEST_CASE_200")
    };
    let amazon = json!({ "order": amazon_ok("getOrder"), "items": amazon_ok("getOrderItems") });
    let walmart_all =
        reference("walmart-marketplace-openapi-us/examples-extracted/orders-examples.json");
    let walmart = walmart_all
        .as_object()
        .expect("operations")
        .values()
        .flat_map(|spec| spec["response_examples"].as_object().into_iter().flatten())
        .map(|(_, body)| body)
        .find(|body| body.get("order").is_some())
        .cloned()
        .expect("a Walmart order example");
    let mut orders: Vec<crossdock_model::Order> = [
        (Source::ShopifyOrder, shopify),
        (Source::AmazonOrder, amazon),
        (Source::WalmartOrder, walmart),
    ]
    .into_iter()
    .map(|(source, body)| {
        serde_json::from_value(
            translate(source, &serde_json::to_vec(&body).unwrap()).expect("maps"),
        )
        .expect("an order")
    })
    .collect();
    let mut webstore: crossdock_model::Order = serde_json::from_value(
        crossdock::translate::translate_mapped(
            &regional_config(),
            "regional",
            &serde_json::to_vec(&order_doc("WS-1", 1)).unwrap(),
        )
        .map(|o| serde_json::to_value(o).unwrap())
        .expect("regional maps"),
    )
    .expect("order");
    orders.push(webstore.clone());
    webstore.channel = CHANNEL.into();
    webstore.id = crossdock_model::order_id_for(CHANNEL, &webstore.external_id);
    orders.push(webstore);
    orders
}

/// A configuration with the regional mapped channel of `config/channels`
/// (the one `translate_mapped` writes).
fn regional_config() -> crossdock::config::Config {
    let dir = tempfile::tempdir().expect("tempdir");
    crossdock::config::Config::load(&crate::translate_mapped::config(dir.path())).expect("config")
}

#[test]
fn real_orders_of_every_channel_are_judged_by_the_same_rules() {
    use crossdock_engine::rules::{RuleFacts, Rules, RulesOptions, SkuStock, facts};
    let options: RulesOptions = toml::from_str(
        r#"
[facilitator]
amazon = ["US"]
walmart = ["US"]

[[validate]]
name = "ship-to-complete"
require = "order.has_ship_to && order.ship_to.postal_code != '' && order.ship_to.country != ''"
message = "a complete shipping address is needed"

[[enrich]]
name = "economy-methods"
when = "['free shipping', 'value'].exists(m, order.shipping_method.lowerAscii() == m)"
set = { service_level = "'economy'" }

[[hold]]
name = "high-value-new-customer"
when = "customer.orders == 0 && order.total_minor > 50000"
reason = "high value from a new customer"

[[tax]]
name = "marketplace-collects"
when = "channel.facilitator"
treatment = "marketplace_facilitator"
"#,
    )
    .expect("options");
    let kinds = [
        ("shopify", "shopify"),
        ("amazon", "amazon"),
        ("walmart", "walmart"),
        ("regional", "mapped"),
        (CHANNEL, "webstore"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    let rules = Rules::new(&options)
        .expect("rules")
        .with_channel_kinds(kinds);
    let mut seen = Vec::new();
    for order in real_orders() {
        let stock: std::collections::BTreeMap<String, SkuStock> = order
            .lines
            .iter()
            .map(|l| (l.sku.clone(), SkuStock { on_hand: 5 }))
            .collect();
        let order_facts = rules.order_facts(&order, &stock);
        assert_eq!(
            Some(order_facts.total_minor),
            order.total.minor_units(),
            "{}",
            order.channel
        );
        assert_eq!(order_facts.line_count, order.lines.len() as i64);
        let channel = rules.channel_facts(&order.channel, &order_facts.ship_to);
        assert!(!channel.kind.is_empty(), "{}", order.channel);
        let facts = RuleFacts {
            customer: facts::customer_facts(&order, &[]),
            address: facts::address_facts(&order, &[]),
            channel,
            order: order_facts,
        };
        let out = rules.evaluate(&facts);
        assert!(out.errors.is_empty(), "{}: {:?}", order.channel, out.errors);
        seen.push((
            order.channel.clone(),
            out.failures.clone(),
            out.final_values()
                .get("service_level")
                .map(|v| v.as_str().unwrap_or("?").to_owned()),
            out.hold.as_ref().map(|h| h.rule.clone()),
            out.tax
                .as_ref()
                .map(|t| crossdock_engine::rules::tax_name(t.treatment)),
        ));
    }
    let none: Vec<String> = Vec::new();
    assert_eq!(
        seen,
        [
            // $598.94, "Free Shipping", ships to Louisville KY.
            (
                "shopify".to_owned(),
                none.clone(),
                Some("economy".to_owned()),
                Some("high-value-new-customer".to_owned()),
                None
            ),
            // Amazon withholds the address without a Restricted Data Token.
            (
                "amazon".to_owned(),
                vec!["ship-to-complete: a complete shipping address is needed".to_owned()],
                None,
                None,
                None
            ),
            // The acknowledgeOrders example: $10.80, method "Value", to NY.
            (
                "walmart".to_owned(),
                none.clone(),
                Some("economy".to_owned()),
                None,
                Some("marketplace_facilitator")
            ),
            ("regional".to_owned(), none.clone(), None, None, None),
            (CHANNEL.to_owned(), none, None, None, None),
        ]
    );
}

#[test]
fn bad_rules_are_refused_at_config_check_and_at_start_with_file_line_and_rule() {
    let crossdock = || std::process::Command::new(env!("CARGO_BIN_EXE_crossdock"));
    let dir = tempfile::tempdir().expect("tempdir");
    let base = crossdock()
        .args(["demo", "--print-config"])
        .output()
        .expect("print config");
    assert!(base.status.success());
    let base = String::from_utf8(base.stdout).expect("utf-8");
    let path = dir.path().join("hub.toml");
    for (rule, expression, says) in [
        ("syntax", "order.total_minor >", "rules.validate[0].require"),
        (
            "unknown-field",
            "order.ship_to.zip != ''",
            "unknown field `zip`",
        ),
        (
            "wrong-type",
            "order.units * 2",
            "must yield a bool, yields int",
        ),
    ] {
        let text = format!(
            "{base}\n[[rules.validate]]\nname = \"{rule}\"\nrequire = \"{expression}\"\nmessage = \"m\"\n"
        );
        let line = text
            .lines()
            .position(|l| l == format!("name = \"{rule}\""))
            .expect("rule line")
            + 1;
        std::fs::write(&path, &text).expect("write");
        let expected = format!("{}:{line} (rule \"{rule}\")", path.display());
        for args in [vec!["config", "check"], vec!["serve", "--config"]] {
            let out = crossdock().args(&args).arg(&path).output().expect("run");
            assert!(!out.status.success(), "{args:?} accepted rule {rule}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&expected), "{args:?}: {err}");
            assert!(err.contains(says), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

/// The example rule set in `config/` compiles and does what its comments say.
#[test]
fn the_example_rules_compile_and_judge_a_sample() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/rules.example.toml"
    );
    let rules = crossdock::rules::load_rules(std::path::Path::new(path)).expect("example rules");
    let mut facts = crossdock_engine::rules::sample_facts();
    facts.order.shipping_method = "UPS Next Day Air".into();
    facts.order.lines[0].sku = "BAT-9V".into();
    facts.order.categories = vec!["hazmat".into()];
    let out = rules.evaluate(&facts);
    assert!(out.refusals().is_empty(), "{:?}", out.refusals());
    assert_eq!(out.final_values()["service_level"], "expedited");
    assert_eq!(out.hold.map(|h| h.rule), Some("hazmat-review".to_owned()));
}
