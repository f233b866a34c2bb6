//! What the job runner must never do forever: keep a sync-acceptance
//! waiter after its client went away, or reschedule a step whose result the
//! store refuses to record without ever counting it.

use std::time::Duration;

use crate::support::app::{
    CHANNEL, event_id, now_secs, order_doc, order_id, signed_headers, spawn_app_with, wait_until,
};
use crossdock_model::ErpAcceptance;
use reqwest::header::{HeaderMap, HeaderValue};
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_webhook_whose_client_went_away_leaves_no_waiter() {
    // An ERP that takes 3 s per call: every webhook below stops waiting
    // long before its order is accepted.
    let app = spawn_app_with(|s, c| {
        c.channels[0].erp_acceptance = ErpAcceptance::Sync;
        s.erp.faults.latency_ms = 3_000;
    })
    .await;

    // The request's future is dropped mid-wait, as the server drops it
    // when the client hangs up.
    for ext in ["WS-710001", "WS-710002", "WS-710003"] {
        let body = serde_json::to_vec(&order_doc(ext, 1)).expect("json");
        let mut headers = HeaderMap::new();
        for (name, value) in signed_headers(&app.signing, &event_id(), now_secs(), &body) {
            headers.insert(name, HeaderValue::from_str(&value).expect("header"));
        }
        let gone = tokio::time::timeout(
            Duration::from_millis(300),
            app.engine.receive_channel_webhook(CHANNEL, &headers, &body),
        )
        .await;
        assert!(gone.is_err(), "{ext}: answered within 300 ms: {gone:?}");
    }
    assert_eq!(
        app.engine.acceptance_waiters(),
        0,
        "waiters of webhooks whose clients went away are still held"
    );

    // Over HTTP: a client that gives up after 300 ms.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let body = serde_json::to_vec(&order_doc("WS-710004", 1)).expect("json");
    let mut request = impatient
        .post(format!("{}/webhooks/channels/{CHANNEL}", app.url))
        .header("content-type", "application/json");
    for (name, value) in signed_headers(&app.signing, &event_id(), now_secs(), &body) {
        request = request.header(name, value);
    }
    let sent = request.body(body).send().await;
    assert!(sent.is_err(), "answered within 300 ms: {sent:?}");
    let released = wait_until(Duration::from_millis(1_500), || async {
        (app.engine.acceptance_waiters() == 0).then_some(())
    })
    .await;
    assert!(
        released.is_some(),
        "{} waiter(s) held after the HTTP client hung up",
        app.engine.acceptance_waiters()
    );

    // The orders themselves go on: accepted by the ERP in the end.
    for ext in ["WS-710001", "WS-710004"] {
        let accepted = wait_until(Duration::from_secs(30), || async {
            app.order_view(&order_id(ext))
                .await
                .filter(|v| v["order"]["erp_ref"].is_string())
        })
        .await;
        assert!(accepted.is_some(), "{ext} never reached the ERP");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_whose_result_the_store_refuses_ends_in_the_exception_queue() {
    let app = spawn_app_with(|_, _| {}).await;
    // The store refuses to take this one order: its intake step runs, and
    // its completion commit fails, every time.
    let url = app.config.database_url();
    let mut db = sqlx::sqlite::SqliteConnection::connect(&url)
        .await
        .expect("open the hub's store");
    sqlx::raw_sql(
        "CREATE TRIGGER refuse_ws_720001 BEFORE INSERT ON orders \
         WHEN NEW.external_id = 'WS-720001' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .execute(&mut db)
    .await
    .expect("create the trigger");

    let refused = "WS-720001";
    let r = app.post_order(&order_doc(refused, 1), &event_id()).await;
    assert_eq!(r.status, 200, "{r:?}");
    // An order committed alongside it is not held back by its neighbour.
    let fine = "WS-720002";
    let r = app.post_order(&order_doc(fine, 1), &event_id()).await;
    assert_eq!(r.status, 200, "{r:?}");

    let key = format!("order:{}", order_id(refused));
    let parked = wait_until(Duration::from_secs(20), || async {
        app.exceptions("?status=open")
            .await
            .into_iter()
            .find(|e| e["entity_key"] == key.as_str())
    })
    .await;
    let Some(parked) = parked else {
        panic!(
            "the step is still being rescheduled; its jobs: {:?}",
            app.store.open_jobs(&key).await
        );
    };
    assert_eq!(parked["class"], "transient", "{parked}");
    let reason = parked["reason"].as_str().expect("reason");
    assert!(
        reason.contains("could not be recorded") && reason.contains("refused by the test"),
        "{reason}"
    );
    app.wait_for_status(&order_id(fine), "closed", Duration::from_secs(30))
        .await;
    db.close().await.expect("close");
    app.stop().await;
}
