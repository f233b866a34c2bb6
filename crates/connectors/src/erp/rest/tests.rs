use crossdock_model::{Clock, SystemClock};
use crossdock_model::{Customer, Order};

use super::mapping::{invoice_body, sales_order_body};
use crate::ConnectorError;

use crossdock_model::{Currency, Money, OrderLine, OrderStatus, TaxTreatment};
use rust_decimal::Decimal;
use serde_json::json;

fn order() -> Order {
    let usd = |cents: i64| Money::new(Decimal::new(cents, 2), Currency::USD);
    Order {
        id: "o-1".into(),
        channel: "webstore".into(),
        external_id: "WS-000001".into(),
        source_version: 1,
        placed_at: SystemClock.now(),
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
            OrderLine {
                line_id: "1".into(),
                sku: "SKU-001".into(),
                title: "Widget".into(),
                quantity: 2,
                unit_price: usd(1999),
                discount: usd(0),
                tax: usd(320),
                shipped_quantity: 0,
                cancelled_quantity: 0,
            },
            OrderLine {
                line_id: "2".into(),
                sku: "SKU-002".into(),
                title: "Gadget".into(),
                quantity: 1,
                unit_price: usd(500),
                discount: usd(50),
                tax: usd(37),
                shipped_quantity: 0,
                cancelled_quantity: 0,
            },
        ],
        shipping: usd(499),
        total: usd(5304),
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

#[test]
fn sales_order_carries_amounts_as_decimal_strings() {
    let order = order();
    let body = serde_json::to_value(sales_order_body("ref-1", "C-000001", &order)).unwrap();
    assert_eq!(
        body,
        json!({
            "reference": "ref-1", "customer_id": "C-000001", "currency": "USD",
            "lines": [
                { "sku": "SKU-001", "quantity": 2, "unit_price": "19.99", "discount": "0.00", "tax": "3.20" },
                { "sku": "SKU-002", "quantity": 1, "unit_price": "5.00", "discount": "0.50", "tax": "0.37" }
            ],
            "shipping": "4.99", "total": "53.04", "tax_treatment": "merchant_collected"
        })
    );
}

#[test]
fn invoice_needs_a_sales_order_and_shipped_units() {
    let mut order = order();
    assert!(matches!(
        invoice_body("inv-1", &order),
        Err(ConnectorError::Rejected { .. })
    ));
    order.erp_ref = Some("SO-000001".into());
    assert!(matches!(
        invoice_body("inv-1", &order),
        Err(ConnectorError::Rejected { .. })
    ));
    order.lines[1].shipped_quantity = 1;
    let body = serde_json::to_value(invoice_body("inv-1", &order).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({ "reference": "inv-1", "sales_order_id": "SO-000001", "lines": [{ "sku": "SKU-002", "quantity": 1 }] })
    );
}
