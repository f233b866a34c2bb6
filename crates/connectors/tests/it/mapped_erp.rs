//! The mapped REST ERP: against the simulated ERP with `ErpMapping::simulated()`
//! (same results as `RestErp`), against a NetSuite-shaped stand-in with a
//! mapping written as TOML, and the errors of a broken mapping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use chrono::Utc;
use crossdock_connectors::erp::{ErpMapping, MappedRestErp, RestErp};
use crossdock_connectors::{ConnectorError, Erp, ErpDocument, HttpClient, HttpClientOptions};
use crossdock_model::{Currency, Customer, Money, Order, OrderLine, OrderStatus, TaxTreatment};
use crossdock_sim::{Estate, SimConfig};
use rust_decimal::Decimal;

fn http() -> HttpClient {
    HttpClient::new(HttpClientOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
    })
    .unwrap()
}

fn usd(amount: Decimal) -> Money {
    Money::new(amount, Currency::USD)
}

fn line(
    id: &str,
    sku: &str,
    quantity: u32,
    unit: Decimal,
    discount: Decimal,
    tax: Decimal,
) -> OrderLine {
    OrderLine {
        line_id: id.into(),
        sku: sku.into(),
        title: sku.into(),
        quantity,
        unit_price: usd(unit),
        discount: usd(discount),
        tax: usd(tax),
        shipped_quantity: 0,
        cancelled_quantity: 0,
    }
}

fn order(lines: Vec<OrderLine>, shipping: Decimal) -> Order {
    let total = lines
        .iter()
        .map(|l| l.unit_price.amount * Decimal::from(l.quantity) - l.discount.amount + l.tax.amount)
        .sum::<Decimal>()
        + shipping;
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
        lines,
        shipping: usd(shipping),
        total: usd(total),
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

fn quiet_config() -> SimConfig {
    let mut config = SimConfig::demo("http://127.0.0.1:9");
    config.channel.orders_per_sec = 0.0;
    config.channel.duplicate_rate = 0.0;
    config.channel.cancel_rate = 0.0;
    config
}

/// Drives one ERP through the whole cycle and returns what it saw.
async fn cycle(erp: &dyn Erp, prefix: &str) -> (String, ErpDocument, ErpDocument, usize) {
    let mut order = order(
        vec![
            line(
                "1",
                "SKU-001",
                2,
                Decimal::new(1000, 2),
                Decimal::ZERO,
                Decimal::new(165, 2),
            ),
            line(
                "2",
                "SKU-002",
                1,
                Decimal::new(250, 2),
                Decimal::new(10, 2),
                Decimal::new(21, 2),
            ),
        ],
        Decimal::new(499, 2),
    );
    let customer = erp.upsert_customer(&order.customer).await.unwrap();
    assert_eq!(
        erp.upsert_customer(&order.customer).await.unwrap(),
        customer
    );
    let reference = format!("{prefix}-ref");
    let sales_order = erp
        .create_sales_order(&reference, &customer, &order)
        .await
        .unwrap();
    assert_eq!(
        erp.find_sales_order(&reference).await.unwrap(),
        Some(sales_order.clone())
    );
    assert_eq!(erp.find_sales_order("ref-unknown").await.unwrap(), None);
    order.erp_ref = Some(sales_order.id.clone());
    order.lines[0].shipped_quantity = 2;
    let invoice_ref = format!("{prefix}-inv");
    let invoice = erp.post_invoice(&invoice_ref, &order).await.unwrap();
    assert_eq!(
        erp.find_invoice(&invoice_ref).await.unwrap(),
        Some(invoice.clone())
    );
    assert_eq!(erp.find_invoice("inv-unknown").await.unwrap(), None);
    let stock = erp.read_stock().await.unwrap();
    assert!(
        stock
            .iter()
            .all(|p| p.on_hand == 10_000 && p.source == "erp")
    );
    erp.cancel_sales_order(&sales_order.id).await.unwrap();
    erp.cancel_sales_order(&sales_order.id).await.unwrap();
    (customer, sales_order, invoice, stock.len())
}

#[tokio::test]
async fn the_simulated_mapping_drives_the_simulated_erp_like_rest_erp() {
    let estate = Estate::start(quiet_config()).await.unwrap();
    let rest = RestErp::new(&estate.erp_url(), http()).unwrap();
    let mapped = MappedRestErp::new(&estate.erp_url(), &ErpMapping::simulated(), http()).unwrap();

    let (rest_customer, rest_so, rest_inv, rest_stock) = cycle(&rest, "rest").await;
    let (customer, so, inv, stock) = cycle(&mapped, "mapped").await;
    // Same customer (the ERP upserts by email), documents of the same shape.
    assert_eq!(customer, rest_customer);
    assert!(
        so.id.starts_with("SO-") && rest_so.id.starts_with("SO-"),
        "{so:?}"
    );
    assert_ne!(so.id, rest_so.id);
    assert!(
        inv.id.starts_with("INV-") && rest_inv.id.starts_with("INV-"),
        "{inv:?}"
    );
    assert_eq!(stock, rest_stock);
    assert_eq!(stock, 40);
    assert_eq!(
        mapped
            .read_stock()
            .await
            .unwrap()
            .iter()
            .map(|p| (&p.sku, &p.location, p.on_hand))
            .collect::<Vec<_>>(),
        rest.read_stock()
            .await
            .unwrap()
            .iter()
            .map(|p| (&p.sku, &p.location, p.on_hand))
            .collect::<Vec<_>>(),
    );

    // The simulator validated the mapped body: the total matched to the cent.
    let stats = estate.stats().await;
    assert_eq!(stats["erp"]["sales_orders"], 2);
    assert_eq!(stats["erp"]["invoices"], 2);
    assert_eq!(stats["erp"]["duplicate_sales_orders"], 0);
    assert_eq!(stats["erp"]["sales_orders_cancelled"], 2);

    // A 422 from the ERP stays a rejection, as with RestErp.
    let bad = order(
        vec![line(
            "1",
            "SKU-001",
            1,
            Decimal::ONE,
            Decimal::ZERO,
            Decimal::ZERO,
        )],
        Decimal::ZERO,
    );
    assert!(matches!(
        mapped
            .create_sales_order("ref-x", "C-999999", &bad)
            .await
            .unwrap_err(),
        ConnectorError::Rejected { .. }
    ));
    estate.shutdown().await;
}

/// What the NetSuite-shaped stand-in received: `(method path?query, body)`.
type Log = Arc<Mutex<Vec<(String, String)>>>;

const SO_ID: &str = "1234567890123456789";
const INV_ID: &str = "9223372036854775807123";

/// A NetSuite REST stand-in: creates answer 204 with a `Location` (sales
/// orders, customers) or 200 with a numeric id (invoices); lookups answer
/// `{"items":[…]}` for `q=externalId IS "<ref>"`.
async fn netsuite() -> (String, Log) {
    let log: Log = Arc::default();
    async fn record(
        State(log): State<Log>,
        uri: axum::http::Uri,
        method: axum::http::Method,
        Query(query): Query<Vec<(String, String)>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        assert_eq!(headers[header::AUTHORIZATION], "Bearer ns-token");
        let body = String::from_utf8(body.to_vec()).unwrap();
        log.lock().unwrap().push((format!("{method} {uri}"), body));
        let path = uri.path();
        match (method.as_str(), path) {
            ("POST", "/record/v1/customer") => (
                StatusCode::NO_CONTENT,
                [(header::LOCATION, "https://ns.example/services/rest/record/v1/customer/4242")],
            )
                .into_response(),
            ("POST", "/record/v1/salesOrder") => (
                StatusCode::NO_CONTENT,
                [(header::LOCATION, format!("https://ns.example/services/rest/record/v1/salesOrder/{SO_ID}"))],
            )
                .into_response(),
            ("POST", "/record/v1/invoice") => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                format!(r#"{{"id": {INV_ID}}}"#),
            )
                .into_response(),
            ("GET", "/record/v1/salesOrder") => {
                let q = &query.iter().find(|(k, _)| k == "q").unwrap().1;
                let items = if q == r#"externalId IS "WS-1&2""# {
                    // The number form of the id, as NetSuite may answer.
                    format!(r#"[{{"id": {SO_ID}, "externalId": "WS-1&2"}}]"#)
                } else {
                    "[]".into()
                };
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    format!(r#"{{"count": 1, "items": {items}}}"#),
                )
                    .into_response()
            }
            ("GET", "/record/v1/invoice") => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                format!(r#"{{"items": [{{"id": "{INV_ID}", "externalId": "INV-WS-1&2"}}]}}"#),
            )
                .into_response(),
            ("GET", "/record/v1/inventory") => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"items": [{"item": {"refName": "SKU-001"}, "location": {"refName": "east"}, "quantityOnHand": 12}]}"#,
            )
                .into_response(),
            ("PATCH", p) if p == format!("/record/v1/salesOrder/{SO_ID}") => {
                StatusCode::NO_CONTENT.into_response()
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let app = Router::new()
        .route("/record/v1/{*rest}", post(record).get(record).patch(record))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

const NETSUITE_TOML: &str = r#"
version = 3

[customer]
method = "POST"
path = "record/v1/customer"
id_from = "location"
body = '''
{ externalId: (.customer.external_id // .customer.email),
  email: .customer.email,
  companyName: .customer.name }
'''

[sales_order]
method = "POST"
path = "record/v1/salesOrder"
id_from = "location"
body = '''
{ externalId: .reference,
  entity: { id: .customer_id },
  currency: { refName: .order.currency },
  item: { items: [ .order.lines[] | {
      item: { externalId: .sku },
      quantity,
      rate: { "$decimal": .unit_price.amount },
      custcol_discount: { "$decimal": .discount.amount },
      tax1Amt: { "$decimal": .tax.amount } } ] },
  shippingCost: { "$decimal": .order.shipping.amount },
  custbody_total: .order.total.amount }
'''

[invoice]
method = "POST"
path = "record/v1/invoice"
body = '''
{ externalId: .reference,
  createdFrom: { id: .sales_order_id },
  item: { items: [ .order.lines[] | select(.shipped_quantity > 0)
                   | { item: { externalId: .sku }, quantity: .shipped_quantity } ] } }
'''
id = ".id"

[find_sales_order]
path = "record/v1/salesOrder"
query = [["q", 'externalId IS "{reference}"']]
results = ".items | map({id, reference: .externalId})"

[find_invoice]
path = "record/v1/invoice"
query = [["q", 'externalId IS "{reference}"']]
results = ".items | map({id, reference: .externalId})"

[stock]
path = "record/v1/inventory"
results = ".items | map({sku: .item.refName, location: .location.refName, on_hand: .quantityOnHand})"

[cancel_sales_order]
method = "PATCH"
path = "record/v1/salesOrder/{id}"
body = '{ status: "closed" }'
"#;

#[tokio::test]
async fn a_netsuite_shaped_mapping_sends_exact_money_and_reads_exact_ids() {
    let (url, log) = netsuite().await;
    let mapping: ErpMapping = toml::from_str(NETSUITE_TOML).unwrap();
    mapping.validate().unwrap();
    let auth = crossdock_connectors::auth::AuthConfig::Bearer {
        token: "ns-token".into(),
    };
    let erp = MappedRestErp::with_auth(&url, &mapping, auth, http()).unwrap();

    // 1234567.89 and 0.10 + 0.20 style amounts: exact in, exact out.
    let mut order = order(
        vec![
            line(
                "1",
                "SKU-001",
                3,
                Decimal::new(123456789, 2),
                Decimal::new(10, 2),
                Decimal::new(20, 2),
            ),
            line(
                "2",
                "SKU-002",
                1,
                Decimal::new(10, 2),
                Decimal::ZERO,
                Decimal::new(20, 2),
            ),
        ],
        Decimal::new(30, 2),
    );
    assert_eq!(order.total.amount.to_string(), "3703704.37");

    assert_eq!(erp.upsert_customer(&order.customer).await.unwrap(), "4242");
    let so = erp
        .create_sales_order("WS-1&2", "4242", &order)
        .await
        .unwrap();
    assert_eq!(
        so,
        ErpDocument {
            id: SO_ID.into(),
            reference: "WS-1&2".into()
        }
    );
    assert_eq!(
        erp.find_sales_order("WS-1&2").await.unwrap(),
        Some(so.clone())
    );
    assert_eq!(erp.find_sales_order("WS-9").await.unwrap(), None);

    order.erp_ref = Some(so.id.clone());
    order.lines[1].shipped_quantity = 1;
    let inv = erp.post_invoice("INV-WS-1&2", &order).await.unwrap();
    assert_eq!(inv.id, INV_ID, "a 22-digit numeric id keeps every digit");
    assert_eq!(erp.find_invoice("INV-WS-1&2").await.unwrap(), Some(inv));

    let stock = erp.read_stock().await.unwrap();
    assert_eq!(stock.len(), 1);
    assert_eq!(
        (
            stock[0].sku.as_str(),
            stock[0].location.as_str(),
            stock[0].on_hand
        ),
        ("SKU-001", "east", 12)
    );
    erp.cancel_sales_order(SO_ID).await.unwrap();

    let log = log.lock().unwrap().clone();
    let calls: Vec<&str> = log.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        calls,
        [
            "POST /record/v1/customer",
            "POST /record/v1/salesOrder",
            "GET /record/v1/salesOrder?q=externalId+IS+%22WS-1%262%22",
            "GET /record/v1/salesOrder?q=externalId+IS+%22WS-9%22",
            "POST /record/v1/invoice",
            "GET /record/v1/invoice?q=externalId+IS+%22INV-WS-1%262%22",
            "GET /record/v1/inventory",
            &format!("PATCH /record/v1/salesOrder/{SO_ID}"),
        ]
    );
    assert_eq!(
        log[0].1,
        r#"{"externalId":"B-1","email":"b1@example.com","companyName":"Buyer 1"}"#
    );
    assert_eq!(
        log[1].1,
        concat!(
            r#"{"externalId":"WS-1&2","entity":{"id":"4242"},"currency":{"refName":"USD"},"#,
            r#""item":{"items":["#,
            r#"{"item":{"externalId":"SKU-001"},"quantity":3,"rate":1234567.89,"custcol_discount":0.10,"tax1Amt":0.20},"#,
            r#"{"item":{"externalId":"SKU-002"},"quantity":1,"rate":0.10,"custcol_discount":0,"tax1Amt":0.20}]},"#,
            r#""shippingCost":0.30,"custbody_total":"3703704.37"}"#
        )
    );
    assert_eq!(
        log[4].1,
        format!(
            r#"{{"externalId":"INV-WS-1&2","createdFrom":{{"id":"{SO_ID}"}},"item":{{"items":[{{"item":{{"externalId":"SKU-002"}},"quantity":1}}]}}}}"#
        )
    );
    assert_eq!(log[7].1, r#"{"status":"closed"}"#);
}

const BUSINESS_CENTRAL_TOML: &str = r#"
version = 1

[customer]
method = "POST"
path = "api/v2.0/companies(1)/customers"
body = '{ number: .customer.external_id, displayName: .customer.name, email: .customer.email }'
id = ".id"

[sales_order]
method = "POST"
path = "api/v2.0/companies(1)/salesOrders"
body = '''
{ externalDocumentNumber: .reference,
  customerId: .customer_id,
  currencyCode: .order.currency,
  salesOrderLines: [ .order.lines[] | {
      lineType: "Item", lineObjectNumber: .sku, quantity,
      unitPrice: { "$decimal": .unit_price.amount },
      discountAmount: { "$decimal": .discount.amount } } ] }
'''
id = ".id"

[invoice]
method = "POST"
path = "api/v2.0/companies(1)/salesOrders({sales_order_id})/Microsoft.NAV.shipAndInvoice"
body = ""
id = ".id"

[find_sales_order]
path = "api/v2.0/companies(1)/salesOrders"
query = [["$filter", "externalDocumentNumber eq '{reference}'"]]
results = ".value | map({id, reference: .externalDocumentNumber})"

[find_invoice]
path = "api/v2.0/companies(1)/salesInvoices"
query = [["$filter", "externalDocumentNumber eq '{reference}'"]]
results = ".value | map({id, reference: .externalDocumentNumber})"
"#;

#[test]
fn a_business_central_shaped_mapping_parses_and_compiles() {
    let mapping: ErpMapping = toml::from_str(BUSINESS_CENTRAL_TOML).unwrap();
    mapping.validate().unwrap();
    assert!(mapping.stock.is_none() && mapping.cancel_sales_order.is_none());
    // Round trip through TOML (what a stored config holds).
    let again: ErpMapping = toml::from_str(&toml::to_string(&mapping).unwrap()).unwrap();
    assert_eq!(again, mapping);
    let simulated = ErpMapping::simulated();
    let again: ErpMapping = toml::from_str(&toml::to_string(&simulated).unwrap()).unwrap();
    assert_eq!(again, simulated);
    // Unknown keys are refused.
    let typo = BUSINESS_CENTRAL_TOML.replace("version = 1", "version = 1\nverison = 2");
    assert!(
        toml::from_str::<ErpMapping>(&typo)
            .unwrap_err()
            .to_string()
            .contains("verison")
    );
}

fn rejected(error: ConnectorError) -> String {
    match error {
        ConnectorError::Rejected { reason } => reason,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn broken_mappings_name_their_field_and_version() {
    let compile = |mapping: &ErpMapping| {
        rejected(MappedRestErp::new("http://127.0.0.1:9", mapping, http()).unwrap_err())
    };
    let mut mapping: ErpMapping = toml::from_str(NETSUITE_TOML).unwrap();
    mapping.sales_order.body = "{ externalId: .reference".into();
    let err = compile(&mapping);
    assert!(
        err.starts_with("ERP mapping version 3: sales_order.body: jq syntax error: expected"),
        "{err}"
    );
    assert_eq!(
        mapping.validate().unwrap_err(),
        err.trim_start_matches("ERP mapping version 3: ")
    );

    let mut mapping: ErpMapping = toml::from_str(NETSUITE_TOML).unwrap();
    mapping.find_invoice.results = ".items | frobnicate".into();
    assert_eq!(
        compile(&mapping),
        r#"ERP mapping version 3: find_invoice.results: jq compile error: undefined filter "frobnicate" at 9"#
    );

    let mut mapping: ErpMapping = toml::from_str(NETSUITE_TOML).unwrap();
    mapping.invoice.id = String::new();
    assert!(compile(&mapping).starts_with("ERP mapping version 3: invoice.id: missing"));
    let mut mapping: ErpMapping = toml::from_str(NETSUITE_TOML).unwrap();
    mapping.find_sales_order.query = vec![("q".into(), "externalId IS \"{id}\"".into())];
    assert_eq!(
        compile(&mapping),
        "ERP mapping version 3: find_sales_order.query.q: unknown placeholder {id} (known: {reference})"
    );

    // Run time: wrong shapes and jq errors are rejections naming field and version.
    let (url, _log) = netsuite().await;
    let mut mapping: ErpMapping = toml::from_str(NETSUITE_TOML).unwrap();
    mapping.find_sales_order.results = ".items[0]".into();
    mapping.invoice.id = ".id | tostring | {id: .}".into();
    mapping.customer.body = ".customer.email | ascii_downcase | .[0]".into();
    mapping.sales_order.body =
        r#"{ rate: (.order.lines[0].unit_price.amount | tonumber) * 1 }"#.into();
    let auth = crossdock_connectors::auth::AuthConfig::Bearer {
        token: "ns-token".into(),
    };
    let erp = MappedRestErp::with_auth(&url, &mapping, auth, http()).unwrap();
    assert_eq!(
        rejected(erp.find_sales_order("WS-1&2").await.unwrap_err()),
        "find_sales_order.results: expected an array of {id, reference}, got an object (ERP mapping version 3)"
    );
    let mut order = order(
        vec![line(
            "1",
            "SKU-001",
            1,
            Decimal::new(1999, 2),
            Decimal::ZERO,
            Decimal::ZERO,
        )],
        Decimal::ZERO,
    );
    let err = rejected(erp.upsert_customer(&order.customer).await.unwrap_err());
    assert!(err.starts_with("customer.body: jq error: "), "{err}");
    assert!(err.ends_with(" (ERP mapping version 3)"), "{err}");
    let err = rejected(
        erp.create_sales_order("WS-1", "4242", &order)
            .await
            .unwrap_err(),
    );
    assert!(
        err.starts_with(
            "sales_order.body: floating-point number 19.99 (jq arithmetic or tonumber on money?"
        ),
        "{err}"
    );
    order.erp_ref = Some(SO_ID.into());
    order.lines[0].shipped_quantity = 1;
    assert_eq!(
        rejected(erp.post_invoice("INV-1", &order).await.unwrap_err()),
        "invoice.id: expected an id (string or number), got an object (ERP mapping version 3)"
    );
}
