//! Starting and stopping the simulated estate: every configured simulator
//! on its own loopback port, its order generator spawned, and one handle to
//! read their counters and stop them. Marketplaces are kept behind
//! [`Marketplace`], so the estate loops over them instead of naming each.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::channel::ChannelSim;
use crate::config::SimConfig;
use crate::delivery::Deliverer;
use crate::erp::ErpSim;
use crate::marketplace::{self, AmazonSim, Marketplace, ShopifySim, WalmartSim};
use crate::tpl::TplSim;
use crate::warehouse::WarehouseSim;

/// Starts simulated estates.
pub struct Estate;

/// A running estate. Dropping it leaves the servers running until the runtime
/// ends; call [`EstateHandle::shutdown`] to stop them.
pub struct EstateHandle {
    channel: Arc<ChannelSim>,
    erp: Arc<ErpSim>,
    warehouses: Vec<Arc<WarehouseSim>>,
    channel_url: String,
    erp_url: String,
    warehouse_urls: Vec<(String, String)>,
    tpl: Option<Arc<TplSim>>,
    /// The configured marketplaces with their base URLs, in the order
    /// `shopify`, `amazon`, `walmart`.
    marketplaces: Vec<(Arc<dyn Marketplace>, String)>,
    pending: Arc<AtomicUsize>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Estate {
    pub async fn start(config: SimConfig) -> anyhow::Result<EstateHandle> {
        config.validate()?;
        let started = Instant::now();
        let cancel = CancellationToken::new();
        let pending = Arc::new(AtomicUsize::new(0));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .context("building the simulators' HTTP client")?;
        let deliverer = Deliverer::new(client, pending.clone(), cancel.clone());
        let seed = config.seed;
        let rng =
            |salt: u64| SmallRng::seed_from_u64(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));

        let mut tasks = Vec::new();
        let signer = |signing: &Option<crate::SigningSimConfig>, at: &str| {
            signing.as_ref().map(|s| s.signer(at)).transpose()
        };
        let channel = ChannelSim::new(
            config.channel.clone(),
            &config.hub_url,
            rng(1),
            started,
            deliverer.clone(),
            signer(&config.channel.signing, "sim.channel")?,
        );
        let channel_url = serve(
            &config.channel.listen,
            channel.router(),
            &cancel,
            &mut tasks,
        )
        .await
        .context("starting the channel simulator")?;
        let erp = ErpSim::new(config.erp.clone(), rng(2), started);
        let erp_url = serve(&config.erp.listen, erp.router(), &cancel, &mut tasks)
            .await
            .context("starting the ERP simulator")?;
        let mut warehouses = Vec::new();
        let mut warehouse_urls = Vec::new();
        for (i, w) in config.warehouses.iter().enumerate() {
            let sim = WarehouseSim::new(
                w.clone(),
                &config.hub_url,
                rng(100 + i as u64),
                started,
                deliverer.clone(),
                signer(&w.signing, &format!("sim.warehouses.{}", w.name))?,
            );
            let url = serve(&w.listen, sim.router(), &cancel, &mut tasks)
                .await
                .with_context(|| format!("starting warehouse simulator {}", w.name))?;
            warehouse_urls.push((w.name.clone(), url));
            warehouses.push(sim);
        }
        let tpl = config.tpl.clone().map(|c| TplSim::new(c, rng(200)));
        if let Some(tpl) = &tpl {
            tasks.push(tokio::spawn(tpl.clone().run(cancel.clone())));
        }
        tasks.push(tokio::spawn(channel.clone().generate()));
        let mut configured: Vec<Arc<dyn Marketplace>> = Vec::new();
        let hub = &config.hub_url;
        if let Some(c) = config.shopify.clone() {
            configured.push(ShopifySim::new(
                c,
                hub,
                rng(301),
                started,
                deliverer.clone(),
            ));
        }
        if let Some(c) = config.amazon.clone() {
            configured.push(AmazonSim::new(c, hub, rng(302), started, deliverer.clone()));
        }
        if let Some(c) = config.walmart.clone() {
            configured.push(WalmartSim::new(
                c,
                hub,
                rng(303),
                started,
                deliverer.clone(),
            ));
        }
        let mut marketplaces = Vec::new();
        for sim in configured {
            let url = serve(
                sim.listen(),
                marketplace::router(sim.clone()),
                &cancel,
                &mut tasks,
            )
            .await
            .with_context(|| format!("starting the {} simulator", sim.title()))?;
            tasks.push(tokio::spawn(sim.clone().generate()));
            marketplaces.push((sim, url));
        }
        tracing::info!(%channel_url, %erp_url, warehouses = ?warehouse_urls, "simulated estate started");
        Ok(EstateHandle {
            channel,
            erp,
            warehouses,
            channel_url,
            erp_url,
            warehouse_urls,
            tpl,
            marketplaces,
            pending,
            cancel,
            tasks,
        })
    }
}

async fn serve(
    listen: &str,
    router: Router,
    cancel: &CancellationToken,
    tasks: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let shutdown = cancel.clone().cancelled_owned();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%addr, error = %e, "simulator server failed");
        }
    }));
    Ok(format!("http://{addr}"))
}

impl EstateHandle {
    pub fn channel_url(&self) -> String {
        self.channel_url.clone()
    }

    pub fn erp_url(&self) -> String {
        self.erp_url.clone()
    }

    /// `(name, base URL)` of each warehouse, in configuration order.
    pub fn warehouse_urls(&self) -> Vec<(String, String)> {
        self.warehouse_urls.clone()
    }

    /// `{"channel":{..},"erp":{..},"warehouses":{"east":{..},..}}`, the same
    /// documents each simulator serves at `GET /sim/stats`.
    pub async fn stats(&self) -> Value {
        let warehouses: Map<String, Value> = self
            .warehouses
            .iter()
            .map(|w| (w.name().to_owned(), w.stats()))
            .collect();
        let mut stats = json!({ "channel": self.channel.stats(), "erp": self.erp.stats(), "warehouses": warehouses });
        if let Some(tpl) = &self.tpl {
            stats["tpl"] = tpl.stats();
        }
        for (sim, _) in &self.marketplaces {
            stats[sim.kind()] = sim.stats();
        }
        stats
    }

    /// Base URL of the simulated Shopify shop, when `[sim.shopify]` is set.
    pub fn shopify_url(&self) -> Option<String> {
        self.marketplace_url("shopify")
    }

    /// Base URL of the simulated Amazon SP-API (and LWA), when `[sim.amazon]` is set.
    pub fn amazon_url(&self) -> Option<String> {
        self.marketplace_url("amazon")
    }

    /// Base URL of the simulated Walmart Marketplace API, when `[sim.walmart]` is set.
    pub fn walmart_url(&self) -> Option<String> {
        self.marketplace_url("walmart")
    }

    fn marketplace_url(&self, kind: &str) -> Option<String> {
        self.marketplaces
            .iter()
            .find(|(sim, _)| sim.kind() == kind)
            .map(|(_, url)| url.clone())
    }

    /// The simulated 3PL, when `[sim.tpl]` is set (to make it send an 846).
    pub fn tpl(&self) -> Option<Arc<TplSim>> {
        self.tpl.clone()
    }

    /// The 3PL's counters (`orders_received`, `shipments_sent`,
    /// `short_shipped_lines`, `duplicate_requests`, ...), when `[sim.tpl]` is set.
    pub fn tpl_stats(&self) -> Option<Value> {
        self.tpl.as_ref().map(|t| t.stats())
    }

    /// Whether the channel has finished generating orders (limit reached or stopped).
    pub fn generation_done(&self) -> bool {
        self.channel.generation_done.load(Ordering::SeqCst)
            && self
                .marketplaces
                .iter()
                .all(|(sim, _)| sim.generation_done())
    }

    /// Stops placing new orders; deliveries already owed still go out.
    pub fn stop_generating(&self) {
        self.channel.stop.cancel();
        for (sim, _) in &self.marketplaces {
            sim.stop_generating();
        }
    }

    /// Webhook deliveries owed to the hub and not yet acknowledged (or
    /// refused): in flight, retrying, or scheduled (a pending cancellation,
    /// a parcel not yet shipped).
    pub fn pending_deliveries(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    pub async fn shutdown(self) {
        self.cancel.cancel();
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WarehouseSimConfig;

    #[test]
    fn demo_config_is_valid_and_round_trips() {
        let demo = SimConfig::demo("http://127.0.0.1:8080");
        demo.validate().unwrap();
        assert_eq!(
            demo.warehouses
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>(),
            ["east", "west"]
        );
        assert_eq!(demo.erp.stock.len(), 40);
        let json = serde_json::to_value(&demo).unwrap();
        let back: SimConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back.channel.skus, demo.channel.skus);
    }

    #[test]
    fn config_refuses_unknown_keys_and_bad_rates() {
        let err = serde_json::from_value::<SimConfig>(serde_json::json!({
            "hub_url": "http://h", "warehouses": [], "erp": { "latency_ms": 5 }
        }))
        .unwrap_err();
        assert!(err.to_string().contains("latency_ms"), "{err}");
        let ok: SimConfig = serde_json::from_value(serde_json::json!({
            "hub_url": "http://h",
            "erp": { "faults": { "latency_ms": 5, "outages": [{ "start_secs": 1, "end_secs": 2 }] } },
            "warehouses": [{ "name": "east" }]
        }))
        .unwrap();
        assert_eq!(ok.erp.faults.latency_ms, 5);
        ok.validate().unwrap();
        let mut bad = ok.clone();
        bad.channel.cancel_rate = 1.5;
        assert!(bad.validate().is_err());
        let mut bad = ok;
        bad.warehouses.push(WarehouseSimConfig {
            name: "east".into(),
            ..WarehouseSimConfig::default()
        });
        assert!(bad.validate().is_err());
    }

    #[tokio::test]
    async fn strict_endpoints_name_the_bad_field() {
        let estate = Estate::start(SimConfig::demo("http://127.0.0.1:9"))
            .await
            .unwrap();
        estate.stop_generating();
        let client = reqwest::Client::new();
        let post = |path: &str, body: serde_json::Value| {
            client
                .post(format!("{}{path}", estate.erp_url()))
                .json(&body)
                .send()
        };
        let r = post(
            "/customers",
            serde_json::json!({ "email": "a@b.c", "name": "A" }),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let customer: serde_json::Value = r.json().await.unwrap();
        let line = serde_json::json!({ "sku": "SKU-001", "quantity": 1, "unit_price": 1.5, "discount": "0", "tax": "0" });
        let r = post(
            "/sales-orders",
            serde_json::json!({
                "reference": "r", "customer_id": customer["id"], "currency": "USD",
                "lines": [line], "shipping": "0", "total": "1.5"
            }),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 422);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["field"], "lines[0].unit_price", "{body}");
        let r = post(
            "/invoices",
            serde_json::json!({ "reference": "i", "lines": [] }),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 422);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["field"], "sales_order_id", "{body}");
        let r = client
            .get(format!("{}/orders", estate.channel_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        estate.shutdown().await;
    }
}
