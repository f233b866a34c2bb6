use std::sync::Arc;

use crossdock_connectors::{Channel, ChannelEvent, ConnectorError, Erp, Warehouse};
use crossdock_model::{FulfillmentRequest, Order};

use super::*;
use crate::scenario::Scenario;
use crossdock_connectors::{HttpClient, HttpClientOptions};
use crossdock_engine::Clock;
use crossdock_model::FulfillmentLine;

fn estate() -> Arc<Estate> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/peak-season.toml");
    let scenario = Scenario::from_file(&path).expect("scenario");
    Estate::new(scenario, 5)
}

fn order(estate: &Arc<Estate>) -> Order {
    // Fill the shelves so the buyer finds something, and place orders
    // until one is taken.
    for listed in &mut estate.world().channels[2].listed {
        *listed = 10;
    }
    while estate.world().channels[2].orders.is_empty() {
        estate.arrive(2);
    }
    let body = {
        let w = estate.world();
        serde_json::to_vec(&w.channels[2].orders.values().next().expect("one").body).expect("json")
    };
    let wire = crossdock_connectors::channel::WebstoreChannel::new(
        "shopify",
        "http://channel.invalid/",
        HttpClient::new(HttpClientOptions::default()).expect("client"),
        crossdock_connectors::signature::WebhookVerifier::new(
            crossdock_connectors::signature::WebhookSecret::parse(
                "whsec_cmVoZWFyc2FsIHRlc3QgbWFwcGluZyBrZXkhIQ==",
            )
            .expect("key"),
        ),
    )
    .expect("connector");
    match wire
        .map_message(&body)
        .expect("the hub reads what the channel sends")
    {
        ChannelEvent::Order(order) => *order,
        other => panic!("not an order: {other:?}"),
    }
}

#[tokio::test]
async fn a_second_sales_order_for_one_reference_is_a_duplicate() {
    let estate = estate();
    let erp = SimErp {
        estate: estate.clone(),
    };
    let order = order(&estate);
    erp.create_sales_order("REF-1", "C1", &order)
        .await
        .expect("created");
    estate.clock.advance(10_000);
    erp.create_sales_order("REF-1", "C1", &order)
        .await
        .expect("created again");
    let w = estate.world();
    assert_eq!(
        w.erp.sales_orders.duplicates(),
        1,
        "the ERP does not deduplicate: a second sales order for REF-1"
    );
    assert!(w.erp.sales_orders.first("REF-1").is_some());
    assert!(w.erp.accepted_at.contains_key(&order.id));
}

#[tokio::test]
async fn the_erp_refuses_over_its_limit_and_fails_while_down() {
    let estate = estate();
    let erp = SimErp {
        estate: estate.clone(),
    };
    // The limit is counted per minute, as a cloud ERP counts it: that
    // many calls within a minute pass, the next is refused.
    let per_minute = (estate.scenario.erp.requests_per_sec * 60.0).floor() as i64;
    for _ in 0..per_minute {
        erp.find_invoice("X").await.expect("within the limit");
        estate.clock.advance(50_000 / per_minute);
    }
    let refused = erp.find_invoice("X").await.expect_err("over the limit");
    assert!(
        matches!(refused, ConnectorError::Throttled { .. }),
        "{refused:?}"
    );
    // 13:10 is the scenario's outage.
    estate
        .clock
        .set(estate.scenario.start_ms() + (13 * 60 + 15) * 60_000);
    let down = erp.find_invoice("X").await.expect_err("down");
    assert!(
        matches!(down, ConnectorError::Unreachable { .. }) && !down.is_in_doubt(),
        "{down:?}"
    );
    let w = estate.world();
    assert_eq!((w.erp.throttled, w.erp.failed_in_outage), (1, 1));
}

#[tokio::test]
async fn a_release_for_units_not_on_the_floor_is_an_oversell() {
    let estate = estate();
    let wh = SimWarehouse {
        estate: estate.clone(),
        index: 0,
        name: "dc-east".into(),
    };
    let sku = estate.world().skus[0].code.clone();
    let on_floor = estate.world().floor[0][0];
    let request = FulfillmentRequest {
        id: "FR-1".into(),
        order_id: "O-1".into(),
        channel: "shopify".into(),
        channel_order_id: "S-1".into(),
        warehouse: "dc-east".into(),
        service_level: "standard".into(),
        ship_to: None,
        lines: vec![FulfillmentLine {
            line_id: "1".into(),
            sku,
            quantity: u32::try_from(on_floor + 3).expect("units"),
        }],
    };
    wh.release(&request).await.expect("released");
    wh.release(&request).await.expect("a resend is answered");
    let picked_at = estate.world().agenda.next_at().expect("a pick is due");
    estate.clock.set(picked_at);
    estate.picked(0, "FR-1");
    let w = estate.world();
    assert_eq!(w.warehouses[0].duplicate_releases, 1);
    assert_eq!(w.oversold_units, 3);
    assert!(w.oversold_orders.contains("O-1"));
    assert_eq!(w.floor[0][0], 0, "what was there shipped");
}

#[test]
fn the_erp_reports_the_floor_as_it_was_its_lag_ago() {
    let estate = estate();
    let start = estate.clock.now_ms();
    let before = estate.world().floor[0][0];
    estate.clock.set(start + 60_000);
    estate.world().set_floor(0, 0, before - 5, start + 60_000);
    let code = estate.world().skus[0].code.clone();
    let seen = |at: i64| {
        estate
            .erp_view(at)
            .into_iter()
            .find(|p| p.sku == code && p.location == "dc-east")
            .expect("position")
            .on_hand
    };
    assert_eq!(seen(start + 10 * 60_000), before, "20 minutes late");
    assert_eq!(seen(start + 21 * 60_000), before - 5);
}
