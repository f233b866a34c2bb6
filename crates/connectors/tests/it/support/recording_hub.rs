//! A stand-in hub for connector tests against the simulated estate: it
//! records every channel webhook (headers and the raw body, which a
//! signature covers) and answers 200; and a wait on a simulator's stats.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use crossdock_sim::EstateHandle;
use serde_json::Value;

/// One webhook as the stand-in hub received it.
#[derive(Clone)]
pub struct Delivery {
    pub channel: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub type Inbox = Arc<Mutex<Vec<Delivery>>>;

/// Starts the stand-in hub; returns its base URL and what it receives.
pub async fn start_hub() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let app = Router::new()
        .route(
            "/webhooks/channels/{name}",
            post(
                |State(inbox): State<Inbox>,
                 Path(name): Path<String>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    inbox
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Delivery {
                            channel: name,
                            headers,
                            body: body.to_vec(),
                        });
                    StatusCode::OK
                },
            ),
        )
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, inbox)
}

/// The deliveries for `channel`, in arrival order.
pub fn received(inbox: &Inbox, channel: &str) -> Vec<Delivery> {
    inbox
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|d| d.channel == channel)
        .cloned()
        .collect()
}

/// Waits until the stats of the simulator `section` (`"shopify"`, …)
/// satisfy `done`, polling every `every` up to 300 times; returns them.
pub async fn wait_for(
    estate: &EstateHandle,
    section: &str,
    every: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..300 {
        let stats = estate.stats().await[section].clone();
        if done(&stats) {
            return stats;
        }
        tokio::time::sleep(every).await;
    }
    panic!(
        "timed out waiting for {what}: {}",
        estate.stats().await[section]
    );
}
