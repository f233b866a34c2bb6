//! Wiring: configuration → connectors → store → engine → HTTP server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossdock_connectors::channel::WebstoreChannel;
use crossdock_connectors::erp::{RestErp, TrytonErp, TrytonErpOptions};
use crossdock_connectors::warehouse::RestWarehouse;
use crossdock_connectors::{Erp, HttpClient, HttpClientOptions, Warehouse};
use crossdock_engine::{
    ChannelConnection, Connections, Engine, EngineHandle, ErpGovernor, GovernedErp, SystemClock,
};
use crossdock_server::ServerOptions;
use crossdock_store::Store;
use tokio_util::sync::CancellationToken;

use crate::config::{ChannelKind, Config, ErpKind, WarehouseKind};

/// Build the connectors named in the configuration.
pub fn connections(config: &Config) -> anyhow::Result<Connections> {
    let http = HttpClient::new(HttpClientOptions {
        timeout: Duration::from_millis(config.hub.http_timeout_ms),
        ..HttpClientOptions::default()
    })?;
    let mut channels = HashMap::new();
    for c in &config.channels {
        let connector = match c.kind {
            ChannelKind::Webstore => {
                Arc::new(WebstoreChannel::new(&c.name, &c.base_url, http.clone())?)
            }
        };
        channels.insert(
            c.name.clone(),
            ChannelConnection {
                connector,
                acceptance: c.erp_acceptance,
                poll: c.poll,
            },
        );
    }
    let erp: Arc<dyn Erp> = match config.erp.kind {
        ErpKind::Rest => Arc::new(RestErp::with_auth(
            &config.erp.base_url,
            config.erp.auth.clone(),
            http.clone(),
        )?),
        ErpKind::Tryton => {
            let t = config
                .erp
                .tryton
                .as_ref()
                .context("erp.tryton is required for erp.kind = \"tryton\"")?;
            let mut options = TrytonErpOptions::new(
                &config.erp.base_url,
                &t.database,
                &t.username,
                t.password().map_err(anyhow::Error::msg)?,
                &t.location,
            );
            options.warehouse_code = t.warehouse_code.clone();
            options.web_shop_name = t.web_shop.clone();
            Arc::new(TrytonErp::new(options, http.clone())?)
        }
    };
    // Every ERP call goes through the account's governor.
    let governor =
        Arc::new(ErpGovernor::new("erp", &config.erp.governor).map_err(anyhow::Error::msg)?);
    let erp: Arc<dyn Erp> = Arc::new(GovernedErp::new(erp, governor.clone()));
    let warehouses = config
        .warehouses
        .iter()
        .map(|w| -> anyhow::Result<Arc<dyn Warehouse>> {
            Ok(match w.kind {
                WarehouseKind::Rest => {
                    Arc::new(RestWarehouse::new(&w.name, &w.base_url, http.clone())?)
                }
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Connections {
        channels,
        erp,
        erp_governor: Some(governor),
        warehouses,
    })
}

/// A running hub: engine, HTTP server, and how to stop them.
pub struct RunningHub {
    pub engine: Engine,
    pub url: String,
    engine_handle: EngineHandle,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningHub {
    /// Stop accepting requests, finish running steps, close the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.server.await.context("server task")??;
        self.engine_handle.shutdown().await;
        self.engine.store().close().await;
        Ok(())
    }
}

/// Start a hub on an already bound listener.
pub async fn start(
    config: &Config,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<RunningHub> {
    let url = format!("http://{}", listener.local_addr()?);
    let store = Store::open(&config.database_url())
        .await
        .with_context(|| format!("opening the store at {}", config.database_url()))?;
    let engine = Engine::new(
        store,
        connections(config)?,
        Arc::new(SystemClock),
        config.engine.clone(),
    );
    // The engine reads stock from the ERP before anything else; if the ERP
    // is down it keeps trying, and orders held meanwhile for unknown SKUs
    // are validated again once stock is known.
    let engine_handle = engine.start();
    let shutdown = CancellationToken::new();
    let ready = CancellationToken::new();
    let router = crossdock_server::router(
        engine.clone(),
        ServerOptions {
            max_body_bytes: config.hub.max_body_bytes,
        },
        ready.clone(),
    );
    let server = tokio::spawn(crossdock_server::serve(listener, router, shutdown.clone()));
    ready.cancel();
    Ok(RunningHub {
        engine,
        url,
        engine_handle,
        shutdown,
        server,
    })
}
