//! Drives each connector against the simulated estate over real HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use crossdock_connectors::channel::WebstoreChannel;
use crossdock_connectors::erp::RestErp;
use crossdock_connectors::warehouse::RestWarehouse;
use crossdock_connectors::{
    CancelOutcome, Channel, ChannelEvent, ConnectorError, Erp, HttpClient, HttpClientOptions,
    ShipConfirmation, Warehouse,
};
use crossdock_model::{
    Currency, Customer, FulfillmentLine, FulfillmentRequest, Money, Order, OrderLine, OrderStatus,
    TaxTreatment,
};
use crossdock_sim::{Estate, EstateHandle, Outage, SimConfig, StockSeed, WarehouseSimConfig};
use rust_decimal::Decimal;
use tokio::sync::mpsc;

use crate::support::signing::{sim_signing, verifier};

/// One webhook as the stand-in hub received it.
#[derive(Debug)]
struct Received {
    kind: String,
    name: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A stand-in for the hub's webhook endpoints that answers with `status`.
struct Hub {
    url: String,
    received: mpsc::UnboundedReceiver<Received>,
    status: Arc<AtomicU16>,
}

impl Hub {
    async fn start() -> Hub {
        let (tx, received) = mpsc::unbounded_channel();
        let status = Arc::new(AtomicU16::new(200));
        let app = Router::new()
            .route(
                "/webhooks/{kind}/{name}",
                post(
                    |State((tx, status)): State<(
                        mpsc::UnboundedSender<Received>,
                        Arc<AtomicU16>,
                    )>,
                     Path((kind, name)): Path<(String, String)>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        let _ = tx.send(Received {
                            kind,
                            name,
                            headers,
                            body: body.to_vec(),
                        });
                        StatusCode::from_u16(status.load(Ordering::SeqCst))
                            .unwrap_or(StatusCode::OK)
                    },
                ),
            )
            .with_state((tx, status.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hub {
            url,
            received,
            status,
        }
    }

    async fn next(&mut self) -> Received {
        self.next_within(Duration::from_secs(5)).await
    }

    async fn next_within(&mut self, wait: Duration) -> Received {
        tokio::time::timeout(wait, self.received.recv())
            .await
            .unwrap_or_else(|_| panic!("no webhook within {wait:?}"))
            .expect("hub closed")
    }
}

/// An estate that generates no orders unless a test asks for them.
fn quiet_config(hub_url: &str) -> SimConfig {
    let mut config = SimConfig::demo(hub_url);
    config.channel.orders_per_sec = 0.0;
    config.channel.duplicate_rate = 0.0;
    config.channel.cancel_rate = 0.0;
    for w in &mut config.warehouses {
        w.ship_delay_ms = 50;
        w.partial_ship_rate = 0.0;
    }
    config.sign_webhooks_with(&sim_signing());
    config
}

fn http() -> HttpClient {
    HttpClient::new(HttpClientOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
    })
    .unwrap()
}

async fn wait_until_idle(estate: &EstateHandle) {
    for _ in 0..100 {
        if estate.pending_deliveries() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("deliveries still pending: {}", estate.pending_deliveries());
}

fn usd(cents: i64) -> Money {
    Money::new(Decimal::new(cents, 2), Currency::USD)
}

fn order() -> Order {
    let line = |id: &str, sku: &str, quantity, unit, tax| OrderLine {
        line_id: id.into(),
        sku: sku.into(),
        title: sku.into(),
        quantity,
        unit_price: usd(unit),
        discount: usd(0),
        tax: usd(tax),
        shipped_quantity: 0,
        cancelled_quantity: 0,
    };
    Order {
        id: "order-1".into(),
        channel: "webstore".into(),
        external_id: "WS-000001".into(),
        source_version: 1,
        placed_at: Utc::now(),
        currency: Currency::USD,
        customer: Customer {
            external_id: Some("B-1".into()),
            email: "b1@example.com".into(),
            name: "Buyer 1".into(),
            phone: None,
        },
        shipping_address: None,
        billing_address: None,
        lines: vec![
            line("1", "SKU-001", 2, 1000, 165),
            line("2", "SKU-002", 1, 250, 21),
        ],
        shipping: usd(499),
        total: usd(2000 + 165 + 250 + 21 + 499),
        tax_treatment: TaxTreatment::MerchantCollected,
        service_level: "standard".into(),
        status: OrderStatus::Received,
        erp_ref: None,
        shipping_method: None,
        customer_group: None,
        gift: false,
        priority: 0,
        hold: None,
    }
}

#[tokio::test]
async fn erp_creates_sales_orders_without_deduplicating_and_finds_them() {
    let hub = Hub::start().await;
    let estate = Estate::start(quiet_config(&hub.url)).await.unwrap();
    let erp = RestErp::new(&estate.erp_url(), http()).unwrap();
    let mut order = order();

    let customer = erp.upsert_customer(&order.customer).await.unwrap();
    assert_eq!(
        erp.upsert_customer(&order.customer).await.unwrap(),
        customer,
        "upsert by email"
    );

    let first = erp
        .create_sales_order("ref-1", &customer, &order)
        .await
        .unwrap();
    let second = erp
        .create_sales_order("ref-1", &customer, &order)
        .await
        .unwrap();
    assert_ne!(
        first.id, second.id,
        "the ERP must not deduplicate sales orders"
    );
    assert_eq!(first.reference, "ref-1");

    let stats = estate.stats().await;
    assert_eq!(stats["erp"]["sales_orders"], 2);
    assert_eq!(stats["erp"]["duplicate_sales_orders"], 1);
    assert_eq!(stats["erp"]["sales_orders_per_reference"]["ref-1"], 2);

    assert_eq!(
        erp.find_sales_order("ref-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(erp.find_sales_order("ref-unknown").await.unwrap(), None);

    // The ERP checks what it is sent: an unknown customer, SKU or a wrong total is refused by field.
    let refused = |e: ConnectorError| match e {
        ConnectorError::Rejected { reason } => reason,
        other => panic!("expected Rejected, got {other:?}"),
    };
    let reason = refused(
        erp.create_sales_order("ref-2", "C-999999", &order)
            .await
            .unwrap_err(),
    );
    assert!(reason.contains("customer_id"), "{reason}");
    let mut bad = order.clone();
    bad.lines[0].sku = "SKU-404".into();
    let reason = refused(
        erp.create_sales_order("ref-2", &customer, &bad)
            .await
            .unwrap_err(),
    );
    assert!(reason.contains("lines[0].sku"), "{reason}");
    bad = order.clone();
    bad.total = usd(1);
    let reason = refused(
        erp.create_sales_order("ref-2", &customer, &bad)
            .await
            .unwrap_err(),
    );
    assert!(reason.contains("total"), "{reason}");

    order.erp_ref = Some(first.id.clone());
    order.lines[0].shipped_quantity = 2;
    let invoice = erp.post_invoice("inv-1", &order).await.unwrap();
    assert_eq!(erp.find_invoice("inv-1").await.unwrap(), Some(invoice));
    assert_eq!(erp.find_invoice("inv-2").await.unwrap(), None);

    let stock = erp.read_stock().await.unwrap();
    assert_eq!(stock.len(), 40, "20 SKUs at east and west");
    assert!(
        stock
            .iter()
            .all(|p| p.on_hand == 10_000 && p.source == "erp")
    );
    estate.shutdown().await;
}

#[tokio::test]
async fn rate_limit_is_transient_with_the_servers_retry_after() {
    let hub = Hub::start().await;
    let mut config = quiet_config(&hub.url);
    config.erp.faults.rate_limit_per_sec = 2;
    let estate = Estate::start(config).await.unwrap();
    let erp = RestErp::new(&estate.erp_url(), http()).unwrap();

    let mut limited = None;
    for _ in 0..10 {
        if let Err(e) = erp.read_stock().await {
            limited = Some(e);
            break;
        }
    }
    match limited.expect("no 429 within 10 calls at 2/s") {
        ConnectorError::Throttled {
            retry_after,
            reason,
        } => {
            assert_eq!(retry_after, Duration::from_secs(1));
            assert!(reason.contains("429"), "{reason}");
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert!(
        estate.stats().await["erp"]["rate_limited"]
            .as_u64()
            .unwrap()
            >= 1
    );
    estate.shutdown().await;
}

#[tokio::test]
async fn outage_is_transient_503_and_injected_errors_are_in_doubt() {
    let hub = Hub::start().await;
    let mut config = quiet_config(&hub.url);
    config.erp.faults.outages = vec![Outage {
        start_secs: 0.0,
        end_secs: 30.0,
    }];
    config.warehouses[0].faults.error_rate = 1.0;
    let estate = Estate::start(config).await.unwrap();
    let erp = RestErp::new(&estate.erp_url(), http()).unwrap();

    match erp.find_sales_order("ref-1").await.unwrap_err() {
        ConnectorError::Transient {
            retry_after: Some(wait),
            reason,
        } => {
            assert!(reason.contains("503"), "{reason}");
            assert!(
                wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
                "{wait:?}"
            );
        }
        other => panic!("expected Transient with retry_after, got {other:?}"),
    }
    // The simulator's own endpoints stay up during an outage.
    let health: serde_json::Value = reqwest::get(format!("{}/sim/health", estate.erp_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["ok"], true);
    assert_eq!(estate.stats().await["erp"]["outage_refusals"], 1);

    let (name, url) = estate.warehouse_urls()[0].clone();
    let warehouse = RestWarehouse::new(name, &url, http(), verifier()).unwrap();
    let err = warehouse.find_release("fr-1").await.unwrap_err();
    assert!(err.is_in_doubt(), "a 500 may have been applied: {err:?}");
    estate.shutdown().await;
}

fn request(id: &str, warehouse: &str) -> FulfillmentRequest {
    FulfillmentRequest {
        id: id.into(),
        order_id: "order-1".into(),
        channel: "webstore".into(),
        channel_order_id: "WS-000001".into(),
        warehouse: warehouse.into(),
        service_level: "standard".into(),
        ship_to: None,
        lines: vec![
            FulfillmentLine {
                line_id: "1".into(),
                sku: "SKU-001".into(),
                quantity: 2,
            },
            FulfillmentLine {
                line_id: "2".into(),
                sku: "SKU-002".into(),
                quantity: 1,
            },
        ],
    }
}

#[tokio::test]
async fn warehouse_release_ships_by_webhook() {
    let mut hub = Hub::start().await;
    let estate = Estate::start(quiet_config(&hub.url)).await.unwrap();
    let (name, url) = estate.warehouse_urls()[1].clone();
    assert_eq!(name, "west");
    let warehouse = RestWarehouse::new(name.clone(), &url, http(), verifier()).unwrap();

    assert_eq!(warehouse.find_release("fr-1").await.unwrap(), None);
    let id = warehouse.release(&request("fr-1", "west")).await.unwrap();
    assert_eq!(warehouse.find_release("fr-1").await.unwrap(), Some(id));

    let webhook = hub.next().await;
    assert_eq!(
        (webhook.kind.as_str(), webhook.name.as_str()),
        ("warehouses", "west")
    );
    let envelope = warehouse
        .read_webhook(&webhook.headers, &webhook.body)
        .unwrap();
    let shipment = warehouse.map_shipment(&webhook.body).unwrap();
    assert_eq!(envelope.message_key, shipment.id);
    assert_eq!(envelope.order_id, "order-1");
    assert_eq!(shipment.fulfillment_request_id, "fr-1");
    assert_eq!(shipment.warehouse, "west");
    let units: u32 = shipment.lines.iter().map(|l| l.quantity).sum();
    assert_eq!(units, 3, "no partial shipments configured");
    wait_until_idle(&estate).await;

    // A second release of the same request is a second shipment: the hub must not send one.
    warehouse.release(&request("fr-1", "west")).await.unwrap();
    let again = warehouse.map_shipment(&hub.next().await.body).unwrap();
    assert_ne!(again.id, shipment.id);
    let stats = estate.stats().await;
    assert_eq!(stats["warehouses"]["west"]["duplicate_requests"], 1);
    assert_eq!(
        stats["warehouses"]["west"]["requests_per_order"]["order-1"],
        2
    );

    // A request addressed to another warehouse is refused, naming the field.
    match warehouse
        .release(&request("fr-2", "east"))
        .await
        .unwrap_err()
    {
        ConnectorError::Rejected { reason } => assert!(reason.contains("warehouse"), "{reason}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    estate.shutdown().await;
}

#[tokio::test]
async fn partial_shipments_arrive_in_two_parcels() {
    let mut hub = Hub::start().await;
    let mut config = quiet_config(&hub.url);
    config.warehouses = vec![WarehouseSimConfig {
        name: "east".into(),
        ship_delay_ms: 20,
        partial_ship_rate: 1.0,
        ..WarehouseSimConfig::default()
    }];
    config.erp.stock = vec![StockSeed {
        sku: "SKU-001".into(),
        location: "east".into(),
        on_hand: 5,
    }];
    let estate = Estate::start(config).await.unwrap();
    let (name, url) = estate.warehouse_urls()[0].clone();
    let warehouse = RestWarehouse::new(name, &url, http(), verifier()).unwrap();
    warehouse.release(&request("fr-9", "east")).await.unwrap();
    let first = warehouse.map_shipment(&hub.next().await.body).unwrap();
    let second = warehouse.map_shipment(&hub.next().await.body).unwrap();
    let units = |s: &crossdock_model::Shipment| s.lines.iter().map(|l| l.quantity).sum::<u32>();
    assert_eq!((units(&first), units(&second)), (1, 2));
    assert_ne!(first.id, second.id);
    wait_until_idle(&estate).await;
    assert_eq!(
        estate.stats().await["warehouses"]["east"]["shipments_sent"],
        2
    );
    estate.shutdown().await;
}

#[tokio::test]
async fn channel_delivers_orders_and_takes_confirmations() {
    let mut hub = Hub::start().await;
    let mut config = quiet_config(&hub.url);
    config.channel.orders_per_sec = 50.0;
    config.channel.max_orders = 1;
    config.channel.duplicate_rate = 1.0;
    let estate = Estate::start(config).await.unwrap();
    let channel =
        WebstoreChannel::new("webstore", &estate.channel_url(), http(), verifier()).unwrap();

    let first = hub.next().await;
    let duplicate = hub.next().await;
    assert_eq!(
        (first.kind.as_str(), first.name.as_str()),
        ("channels", "webstore")
    );
    let envelope = channel.read_webhook(&first.headers, &first.body).unwrap();
    assert_eq!(
        channel
            .read_webhook(&duplicate.headers, &duplicate.body)
            .unwrap(),
        envelope,
        "same event twice"
    );
    assert_eq!(envelope.source_version, 1);
    let ChannelEvent::Order(order) = channel.map_message(&first.body).unwrap() else {
        panic!("expected an order")
    };
    assert_eq!(order.external_id, envelope.external_order_id);
    assert_eq!(
        order.computed_total().unwrap(),
        order.total,
        "generated totals are exact"
    );

    wait_until_idle(&estate).await;
    assert!(estate.generation_done());
    let stats = estate.stats().await;
    assert_eq!(stats["channel"]["orders_generated"], 1);
    assert_eq!(stats["channel"]["duplicates_sent"], 1);
    assert_eq!(stats["channel"]["webhooks_delivered"], 2);

    let polled = channel.poll_updated_since(0).await.unwrap();
    assert_eq!(polled.len(), 1);
    assert_eq!(polled[0].0.external_order_id, order.external_id);
    assert_eq!(
        channel.map_message(&polled[0].1).unwrap(),
        ChannelEvent::Order(order.clone())
    );
    let later = Utc::now().timestamp_millis() + 60_000;
    assert!(channel.poll_updated_since(later).await.unwrap().is_empty());

    let line = &order.lines[0];
    let shipment = crossdock_model::Shipment {
        id: "east:SH-1".into(),
        order_id: order.id.clone(),
        warehouse: "east".into(),
        external_id: "SH-1".into(),
        fulfillment_request_id: "fr-1".into(),
        lines: vec![crossdock_model::ShipmentLine {
            line_id: line.line_id.clone(),
            sku: line.sku.clone(),
            quantity: 1,
        }],
        tracking: crossdock_model::Tracking {
            carrier: "UPS".into(),
            number: "1Z1".into(),
            url: None,
        },
        shipped_at: Utc::now(),
        completes_request: false,
    };
    let confirmation = ShipConfirmation {
        package_id: "pkg-1".into(),
        external_order_id: order.external_id.clone(),
        shipment: shipment.clone(),
    };
    assert_eq!(
        channel
            .find_shipment_confirmation(&order.external_id, "pkg-1")
            .await
            .unwrap(),
        None
    );
    let id = channel.confirm_shipment(&confirmation).await.unwrap();
    assert_eq!(
        channel
            .find_shipment_confirmation(&order.external_id, "pkg-1")
            .await
            .unwrap(),
        Some(id.clone())
    );
    assert_eq!(
        channel
            .find_shipment_confirmation(&order.external_id, "pkg-2")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        channel
            .find_shipment_confirmation("WS-999999", "pkg-1")
            .await
            .unwrap(),
        None
    );

    // The channel takes a resend as a new confirmation (or refuses it only for
    // lack of units): only the hub can prevent it, and the counter shows it.
    match channel.confirm_shipment(&confirmation).await {
        Ok(again) => assert!(line.quantity > 1 && again != id),
        Err(ConnectorError::Rejected { .. }) => assert_eq!(line.quantity, 1),
        Err(other) => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        estate.stats().await["channel"]["duplicate_ship_confirmations"],
        1
    );
    let mut too_many = confirmation.clone();
    too_many.package_id = "pkg-3".into();
    too_many.shipment.lines[0].quantity = line.quantity + 1;
    match channel.confirm_shipment(&too_many).await.unwrap_err() {
        ConnectorError::Rejected { reason } => {
            assert!(reason.contains("lines[0].quantity"), "{reason}")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(
        estate.stats().await["channel"]["over_confirmed_lines"]
            .as_u64()
            .unwrap()
            >= 1
    );
    estate.shutdown().await;
}

#[tokio::test]
async fn refused_webhooks_are_counted_and_not_retried() {
    let mut hub = Hub::start().await;
    hub.status.store(422, Ordering::SeqCst);
    let mut config = quiet_config(&hub.url);
    config.channel.orders_per_sec = 100.0;
    config.channel.max_orders = 2;
    let estate = Estate::start(config).await.unwrap();
    hub.next().await;
    hub.next().await;
    wait_until_idle(&estate).await;
    let stats = estate.stats().await;
    assert_eq!(stats["channel"]["webhooks_refused"], 2);
    assert_eq!(stats["channel"]["webhook_attempts"], 2);
    assert!(
        hub.received.try_recv().is_err(),
        "a refused webhook is not sent again"
    );
    estate.shutdown().await;
}

#[tokio::test]
async fn failing_hub_gets_retries_with_the_same_event_id() {
    let mut hub = Hub::start().await;
    hub.status.store(500, Ordering::SeqCst);
    let mut config = quiet_config(&hub.url);
    config.channel.orders_per_sec = 100.0;
    config.channel.max_orders = 1;
    let estate = Estate::start(config).await.unwrap();
    let first = hub.next().await;
    hub.status.store(200, Ordering::SeqCst);
    let retry = hub.next().await;
    assert_eq!(
        first.headers.get("x-webstore-event-id"),
        retry.headers.get("x-webstore-event-id")
    );
    assert_eq!(first.body, retry.body);
    // The retry is the same message (`webhook-id`), signed afresh as its
    // own attempt: both verify, and they differ in timestamp.
    assert_eq!(
        first.headers.get("webhook-id"),
        retry.headers.get("webhook-id")
    );
    assert_ne!(
        first.headers.get("webhook-timestamp"),
        retry.headers.get("webhook-timestamp")
    );
    let channel =
        WebstoreChannel::new("webstore", "http://127.0.0.1:9", http(), verifier()).unwrap();
    channel.read_webhook(&first.headers, &first.body).unwrap();
    channel.read_webhook(&retry.headers, &retry.body).unwrap();
    wait_until_idle(&estate).await;
    assert_eq!(estate.stats().await["channel"]["webhook_attempts"], 2);
    estate.shutdown().await;
}

#[tokio::test]
async fn cancellations_follow_as_a_newer_version() {
    let mut hub = Hub::start().await;
    let mut config = quiet_config(&hub.url);
    config.channel.orders_per_sec = 100.0;
    config.channel.max_orders = 1;
    config.channel.cancel_rate = 1.0;
    let estate = Estate::start(config).await.unwrap();
    let channel =
        WebstoreChannel::new("webstore", &estate.channel_url(), http(), verifier()).unwrap();
    let placed = hub.next().await;
    assert!(
        estate.pending_deliveries() >= 1,
        "the cancellation is owed until sent"
    );
    // The buyer cancels 0.5–5 s after the order.
    let cancelled = hub.next_within(Duration::from_secs(8)).await;
    let placed_envelope = channel.read_webhook(&placed.headers, &placed.body).unwrap();
    let cancelled_envelope = channel
        .read_webhook(&cancelled.headers, &cancelled.body)
        .unwrap();
    assert_ne!(
        placed_envelope.message_key, cancelled_envelope.message_key,
        "a new event"
    );
    assert_eq!(
        cancelled_envelope.source_version,
        placed_envelope.source_version + 1
    );
    assert_eq!(
        channel.map_message(&cancelled.body).unwrap(),
        ChannelEvent::Cancelled {
            external_order_id: placed_envelope.external_order_id.clone(),
            source_version: 2,
            reason: "cancelled on the webstore".into()
        }
    );
    wait_until_idle(&estate).await;
    let stats = estate.stats().await;
    assert_eq!(stats["channel"]["cancellations_sent"], 1);
    assert_eq!(
        stats["channel"]["cancelled_order_ids"][0],
        placed_envelope.external_order_id.as_str()
    );
    estate.shutdown().await;
}

#[tokio::test]
async fn stop_generating_ends_an_unbounded_channel() {
    let hub = Hub::start().await;
    let mut config = quiet_config(&hub.url);
    config.channel.orders_per_sec = 20.0;
    let estate = Estate::start(config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!estate.generation_done());
    estate.stop_generating();
    for _ in 0..50 {
        if estate.generation_done() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(estate.generation_done());
    let generated = estate.stats().await["channel"]["orders_generated"]
        .as_u64()
        .unwrap();
    assert!(generated >= 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        estate.stats().await["channel"]["orders_generated"]
            .as_u64()
            .unwrap(),
        generated
    );
    estate.shutdown().await;
}

/// One warehouse, `east`, shipping after `ship_delay_ms`.
fn one_warehouse(hub_url: &str, ship_delay_ms: u64, partial_ship_rate: f64) -> SimConfig {
    let mut config = quiet_config(hub_url);
    config.warehouses = vec![WarehouseSimConfig {
        name: "east".into(),
        ship_delay_ms,
        partial_ship_rate,
        signing: Some(sim_signing()),
        ..WarehouseSimConfig::default()
    }];
    config
}

#[tokio::test]
async fn warehouse_cancel_before_ship_stops_every_parcel() {
    let mut hub = Hub::start().await;
    let estate = Estate::start(one_warehouse(&hub.url, 300, 1.0))
        .await
        .unwrap();
    let (name, url) = estate.warehouse_urls()[0].clone();
    let warehouse = RestWarehouse::new(name, &url, http(), verifier()).unwrap();

    // A duplicate release is held twice: a cancellation stops both.
    warehouse.release(&request("fr-1", "east")).await.unwrap();
    warehouse.release(&request("fr-1", "east")).await.unwrap();
    warehouse.release(&request("fr-2", "east")).await.unwrap();
    assert_eq!(
        warehouse.cancel_release("fr-1").await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        warehouse.cancel_release("fr-1").await.unwrap(),
        CancelOutcome::Cancelled,
        "cancelling is idempotent"
    );
    // The status is visible on the request.
    let raw: serde_json::Value = reqwest::get(format!("{url}/fulfillment-requests/fr-1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["status"], "cancelled");

    // fr-2 ships in two parcels; fr-1 never ships, well past both ship delays.
    let mut shipped = Vec::new();
    for _ in 0..2 {
        shipped.push(warehouse.map_shipment(&hub.next().await.body).unwrap());
    }
    assert!(shipped.iter().all(|s| s.fulfillment_request_id == "fr-2"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        hub.received.try_recv().is_err(),
        "a cancelled request must not ship"
    );
    wait_until_idle(&estate).await;
    let stats = &estate.stats().await["warehouses"]["east"];
    assert_eq!(stats["cancellations"], 2, "both copies of fr-1");
    assert_eq!(stats["cancellations_too_late"], 0);
    assert_eq!(stats["shipments_after_cancel"], 0);
    assert_eq!(stats["shipments_sent"], 2);
    estate.shutdown().await;
}

#[tokio::test]
async fn cancelled_request_is_not_owed_to_the_hub() {
    let hub = Hub::start().await;
    let estate = Estate::start(one_warehouse(&hub.url, 60_000, 0.0))
        .await
        .unwrap();
    let (name, url) = estate.warehouse_urls()[0].clone();
    let warehouse = RestWarehouse::new(name, &url, http(), verifier()).unwrap();
    warehouse.release(&request("fr-1", "east")).await.unwrap();
    assert_eq!(estate.pending_deliveries(), 1);
    assert_eq!(
        warehouse.cancel_release("fr-1").await.unwrap(),
        CancelOutcome::Cancelled
    );
    // The scheduled parcel is dropped at once, not when its time comes.
    wait_until_idle(&estate).await;
    estate.shutdown().await;
}

#[tokio::test]
async fn warehouse_cancel_after_ship_is_too_late() {
    let mut hub = Hub::start().await;
    let estate = Estate::start(one_warehouse(&hub.url, 200, 1.0))
        .await
        .unwrap();
    let (name, url) = estate.warehouse_urls()[0].clone();
    let warehouse = RestWarehouse::new(name, &url, http(), verifier()).unwrap();

    assert_eq!(
        warehouse.cancel_release("fr-unknown").await.unwrap(),
        CancelOutcome::NotFound
    );

    warehouse.release(&request("fr-1", "east")).await.unwrap();
    let first = warehouse.map_shipment(&hub.next().await.body).unwrap();
    assert_eq!(first.fulfillment_request_id, "fr-1");
    // First parcel gone: too late, and the second one still comes.
    assert_eq!(
        warehouse.cancel_release("fr-1").await.unwrap(),
        CancelOutcome::TooLate
    );
    let answer = reqwest::Client::new()
        .post(format!("{url}/fulfillment-requests/fr-1/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 409);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "already shipped");
    assert_eq!(body["status"], "partially_shipped");

    let second = warehouse.map_shipment(&hub.next().await.body).unwrap();
    assert_eq!(second.fulfillment_request_id, "fr-1");
    assert_eq!(
        warehouse.cancel_release("fr-1").await.unwrap(),
        CancelOutcome::TooLate
    );
    wait_until_idle(&estate).await;
    let stats = &estate.stats().await["warehouses"]["east"];
    assert_eq!(stats["cancellations"], 0);
    assert_eq!(stats["cancellations_too_late"], 3);
    assert_eq!(stats["shipments_after_cancel"], 0);
    assert_eq!(stats["shipments_sent"], 2);
    estate.shutdown().await;
}

#[tokio::test]
async fn warehouse_cancel_goes_through_fault_injection() {
    let hub = Hub::start().await;
    let mut config = one_warehouse(&hub.url, 60_000, 0.0);
    config.warehouses[0].faults.error_rate = 1.0;
    let estate = Estate::start(config).await.unwrap();
    let (name, url) = estate.warehouse_urls()[0].clone();
    let warehouse = RestWarehouse::new(name, &url, http(), verifier()).unwrap();
    match warehouse.cancel_release("fr-1").await.unwrap_err() {
        ConnectorError::Transient { reason, .. } => assert!(reason.contains("500"), "{reason}"),
        other => panic!("expected Transient, got {other:?}"),
    }
    estate.shutdown().await;
}

#[tokio::test]
async fn erp_cancels_sales_orders_idempotently_and_refuses_their_invoices() {
    let hub = Hub::start().await;
    let estate = Estate::start(quiet_config(&hub.url)).await.unwrap();
    let erp = RestErp::new(&estate.erp_url(), http()).unwrap();
    let mut order = order();
    let customer = erp.upsert_customer(&order.customer).await.unwrap();
    let so = erp
        .create_sales_order("ref-1", &customer, &order)
        .await
        .unwrap();

    erp.cancel_sales_order(&so.id).await.unwrap();
    erp.cancel_sales_order(&so.id)
        .await
        .expect("cancelling a cancelled sales order is fine");

    order.erp_ref = Some(so.id.clone());
    order.lines[0].shipped_quantity = 2;
    match erp.post_invoice("inv-1", &order).await.unwrap_err() {
        ConnectorError::Rejected { reason } => {
            assert!(reason.contains("422"), "{reason}");
            assert!(reason.contains("sales_order_id"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    match erp.cancel_sales_order("SO-999999").await.unwrap_err() {
        ConnectorError::Rejected { reason } => assert!(reason.contains("404"), "{reason}"),
        other => panic!("expected Rejected, got {other:?}"),
    }

    let stats = &estate.stats().await["erp"];
    assert_eq!(stats["sales_orders_cancelled"], 1);
    assert_eq!(stats["invoices"], 0);
    estate.shutdown().await;
}

// --- OAuth2 client credentials against the simulated ERP ---

use crossdock_connectors::auth::AuthConfig;

const CLIENT_ID: &str = "crossdock-hub";
/// Characters that RFC 6749 §2.3.1 form-encodes before HTTP Basic.
const CLIENT_SECRET: &str = "s3cret+/:é x";

/// A quiet estate whose ERP wants client credentials, tokens living `ttl` seconds.
async fn erp_with_auth(hub_url: &str, token_ttl_secs: u64) -> EstateHandle {
    let mut config = quiet_config(hub_url);
    config.erp.auth = serde_json::from_value(serde_json::json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_ttl_secs": token_ttl_secs,
    }))
    .unwrap();
    Estate::start(config).await.unwrap()
}

fn client_credentials(estate: &EstateHandle, secret: &str) -> AuthConfig {
    AuthConfig::ClientCredentials {
        token_url: format!("{}/oauth2/token", estate.erp_url()),
        client_id: CLIENT_ID.into(),
        client_secret: secret.into(),
        scope: Some("erp.write".into()),
    }
}

fn erp_stat(stats: &serde_json::Value, key: &str) -> u64 {
    stats["erp"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no erp.{key} in {stats}"))
}

#[tokio::test]
async fn erp_client_credentials_create_a_sales_order_with_one_token() {
    let hub = Hub::start().await;
    let estate = erp_with_auth(&hub.url, 3600).await;
    let erp = RestErp::with_auth(
        &estate.erp_url(),
        client_credentials(&estate, CLIENT_SECRET),
        http(),
    )
    .unwrap();
    let mut order = order();

    let customer = erp.upsert_customer(&order.customer).await.unwrap();
    let so = erp
        .create_sales_order("ref-1", &customer, &order)
        .await
        .unwrap();
    assert_eq!(
        erp.find_sales_order("ref-1").await.unwrap(),
        Some(so.clone())
    );
    order.erp_ref = Some(so.id.clone());
    order.lines[0].shipped_quantity = 2;
    let invoice = erp.post_invoice("inv-1", &order).await.unwrap();
    assert_eq!(erp.find_invoice("inv-1").await.unwrap(), Some(invoice));
    for _ in 0..20 {
        assert_eq!(erp.read_stock().await.unwrap().len(), 40);
    }
    erp.cancel_sales_order(&so.id).await.unwrap();

    let stats = estate.stats().await;
    assert_eq!(erp_stat(&stats, "sales_orders"), 1);
    assert_eq!(erp_stat(&stats, "invoices"), 1);
    assert_eq!(
        erp_stat(&stats, "tokens_issued"),
        1,
        "one token for 27 calls"
    );
    assert_eq!(erp_stat(&stats, "unauthorized"), 0);

    // Without credentials the same ERP refuses, and nothing is retried.
    let anonymous = RestErp::new(&estate.erp_url(), http()).unwrap();
    match anonymous.read_stock().await.unwrap_err() {
        ConnectorError::Unauthorized { reason } => {
            assert!(reason.contains("invalid_token"), "{reason}")
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(erp_stat(&estate.stats().await, "unauthorized"), 1);
    estate.shutdown().await;
}

#[tokio::test]
async fn erp_concurrent_first_calls_fetch_one_token() {
    let hub = Hub::start().await;
    let estate = erp_with_auth(&hub.url, 3600).await;
    let erp = Arc::new(
        RestErp::with_auth(
            &estate.erp_url(),
            client_credentials(&estate, CLIENT_SECRET),
            http(),
        )
        .unwrap(),
    );
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let erp = erp.clone();
        calls.spawn(async move { erp.read_stock().await.map(|p| p.len()) });
    }
    while let Some(done) = calls.join_next().await {
        assert_eq!(done.unwrap().unwrap(), 40);
    }
    assert_eq!(erp_stat(&estate.stats().await, "tokens_issued"), 1);
    estate.shutdown().await;
}

#[tokio::test]
async fn erp_expired_token_is_refreshed_before_a_call_fails() {
    let hub = Hub::start().await;
    let estate = erp_with_auth(&hub.url, 1).await;
    let erp = RestErp::with_auth(
        &estate.erp_url(),
        client_credentials(&estate, CLIENT_SECRET),
        http(),
    )
    .unwrap();
    let order = order();
    let customer = erp.upsert_customer(&order.customer).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let so = erp
        .create_sales_order("ref-1", &customer, &order)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(erp.find_sales_order("ref-1").await.unwrap(), Some(so));

    let stats = estate.stats().await;
    assert_eq!(
        erp_stat(&stats, "tokens_issued"),
        3,
        "one per token lifetime"
    );
    assert_eq!(
        erp_stat(&stats, "unauthorized"),
        0,
        "refreshed ahead of expiry, not after a refusal"
    );
    assert_eq!(erp_stat(&stats, "sales_orders"), 1);
    estate.shutdown().await;
}

#[tokio::test]
async fn erp_wrong_secret_is_unauthorized_and_creates_nothing() {
    let hub = Hub::start().await;
    let estate = erp_with_auth(&hub.url, 3600).await;
    let auth = client_credentials(&estate, "not-the-secret");
    assert!(!format!("{auth:?}").contains("not-the-secret"));
    let erp = RestErp::with_auth(&estate.erp_url(), auth, http()).unwrap();
    let order = order();

    for result in [
        erp.upsert_customer(&order.customer).await.map(drop),
        erp.create_sales_order("ref-1", "C-000001", &order)
            .await
            .map(drop),
    ] {
        match result.unwrap_err() {
            ConnectorError::Unauthorized { reason } => {
                assert!(reason.contains("invalid_client"), "{reason}");
                assert!(reason.contains("/oauth2/token"), "{reason}");
                assert!(!reason.contains("not-the-secret"), "{reason}");
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }
    let stats = estate.stats().await;
    assert_eq!(erp_stat(&stats, "customers"), 0);
    assert_eq!(erp_stat(&stats, "sales_orders"), 0);
    assert_eq!(erp_stat(&stats, "tokens_issued"), 0);
    assert_eq!(erp_stat(&stats, "token_refusals"), 2);
    assert_eq!(
        erp_stat(&stats, "unauthorized"),
        0,
        "the API was never called"
    );
    estate.shutdown().await;
}

#[tokio::test]
async fn erp_revoked_token_is_replaced_and_the_call_applied_once() {
    let hub = Hub::start().await;
    let estate = erp_with_auth(&hub.url, 3600).await;
    let erp = RestErp::with_auth(
        &estate.erp_url(),
        client_credentials(&estate, CLIENT_SECRET),
        http(),
    )
    .unwrap();
    let order = order();
    let customer = erp.upsert_customer(&order.customer).await.unwrap();

    let revoked: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/sim/revoke-tokens", estate.erp_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], 1);

    let so = erp
        .create_sales_order("ref-1", &customer, &order)
        .await
        .expect("refused once, then sent again with a new token");
    assert_eq!(erp.find_sales_order("ref-1").await.unwrap(), Some(so));

    let stats = estate.stats().await;
    assert_eq!(erp_stat(&stats, "unauthorized"), 1, "one 401");
    assert_eq!(erp_stat(&stats, "tokens_issued"), 2);
    assert_eq!(erp_stat(&stats, "sales_orders"), 1);
    assert_eq!(erp_stat(&stats, "duplicate_sales_orders"), 0);
    estate.shutdown().await;
}

#[tokio::test]
async fn erp_static_bearer_token_is_sent_and_never_refreshed() {
    let hub = Hub::start().await;
    let estate = erp_with_auth(&hub.url, 3600).await;
    let client = reqwest::Client::new();
    let answer: serde_json::Value = client
        .post(format!("{}/oauth2/token", estate.erp_url()))
        .basic_auth(CLIENT_ID, Some("s3cret%2B%2F%3A%C3%A9+x"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().expect("a token").to_owned();
    let erp = RestErp::with_auth(
        &estate.erp_url(),
        AuthConfig::Bearer {
            token: token.clone(),
        },
        http(),
    )
    .unwrap();
    assert_eq!(erp.read_stock().await.unwrap().len(), 40);

    client
        .post(format!("{}/sim/revoke-tokens", estate.erp_url()))
        .send()
        .await
        .unwrap();
    match erp.read_stock().await.unwrap_err() {
        ConnectorError::Unauthorized { reason } => {
            assert!(reason.contains("401"), "{reason}");
            assert!(!reason.contains(&token), "{reason}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    let stats = estate.stats().await;
    assert_eq!(erp_stat(&stats, "tokens_issued"), 1, "nothing to refresh");
    assert_eq!(erp_stat(&stats, "unauthorized"), 1);
    estate.shutdown().await;
}
