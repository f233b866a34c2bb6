//! Wiring: configuration → connectors → store → engine → HTTP server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossdock_connectors::warehouse::x12_files::{InboundKind, X12FileWarehouse};
use crossdock_connectors::{Erp, HttpClient, HttpClientOptions, Warehouse};
use crossdock_engine::availability::AvailabilityPlan;
use crossdock_engine::{
    ChannelConnection, ChannelPacing, Connections, Engine, EngineHandle, GovernedErp, Governor,
    SystemClock,
};
use crossdock_server::{ApiKeys, ServerOptions};
use crossdock_store::Store;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The connectors named in the configuration, and the EDI partners among
/// the warehouses (their batches and inbound folders need tending, the
/// inbound folder every `Duration`).
pub struct Wiring {
    pub connections: Connections,
    pub file_partners: Vec<(Arc<X12FileWarehouse>, Duration)>,
}

/// Build the connectors named in the configuration: each component's spec
/// builds its own connector.
pub async fn connections(config: &Config) -> anyhow::Result<Wiring> {
    let http = HttpClient::new(HttpClientOptions {
        timeout: Duration::from_millis(config.hub.http_timeout_ms),
        ..HttpClientOptions::default()
    })?;
    let mut channels = HashMap::new();
    for c in &config.channels {
        channels.insert(
            c.name.clone(),
            ChannelConnection {
                connector: c.spec.build(&c.name, &c.base_url, &http)?,
                acceptance: c.erp_acceptance,
                poll: c.poll,
                short_ship: c.short_ship,
                split: c.split,
                // Absent `[channels.pacing]`: no pacing by the hub, the
                // connector keeps to its API's budget itself.
                pacing: c
                    .pacing
                    .clone()
                    .map(ChannelPacing::new)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("channel {}: pacing: {e}", c.name))?,
            },
        );
    }
    let erp = config
        .erp
        .spec
        .build(&config.erp.base_url, &config.erp.auth, &http)?;
    // Every ERP call goes through the account's governor.
    let governor =
        Arc::new(Governor::new("erp", &config.erp.governor).map_err(anyhow::Error::msg)?);
    let erp: Arc<dyn Erp> = Arc::new(GovernedErp::new(erp, governor.clone()));
    let mut warehouses: Vec<Arc<dyn Warehouse>> = Vec::new();
    let mut file_partners = Vec::new();
    for w in &config.warehouses {
        let built = w.spec.build(&w.name, &http).await?;
        warehouses.push(built.warehouse);
        file_partners.extend(built.file_partner);
    }
    Ok(Wiring {
        connections: Connections {
            channels,
            erp,
            erp_governor: Some(governor),
            warehouses,
            router: crossdock_engine::live(
                crossdock_engine::routing::Router::new(&config.routing)
                    .map_err(|e| anyhow::anyhow!("routing: {e}"))?,
            ),
            rules: crossdock_engine::live(
                config
                    .order_rules()
                    .map_err(|e| anyhow::anyhow!("rules: {e}"))?,
            ),
            availability: config
                .availability
                .clone()
                .map(|a| AvailabilityPlan::new(a, config.inventory.clone()))
                .transpose()
                .map_err(|e| anyhow::anyhow!(e))?,
            authority: Arc::new(config.authority.clone()),
        },
        file_partners,
    })
}

/// A running hub: engine, HTTP server, and how to stop them.
pub struct RunningHub {
    pub engine: Engine,
    /// The API keys `/v1` accepts; keys made through it work at once.
    pub keys: ApiKeys,
    pub url: String,
    /// This hub's name on its job leases and configuration versions.
    pub hub_id: String,
    /// The configuration running now (after the reloads applied).
    config: Config,
    /// Who started it (`--as NAME` or the OS user).
    who: String,
    engine_handle: EngineHandle,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// EDI partners' flushers and inbound readers.
    partners: Vec<tokio::task::JoinHandle<()>>,
    /// Reloads changed keys and shares quota counts.
    keys_refresher: tokio::task::JoinHandle<()>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The file is the running configuration.
    Unchanged,
    /// These sections (`rules`, `routing`) now decide new work.
    Applied { sections: Vec<String>, hash: String },
    /// Nothing changed in the hub; the reason is logged and recorded.
    Refused { reason: String },
}

impl RunningHub {
    /// The configuration running now.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Record a configuration version of this hub.
    async fn record_version(
        &self,
        hash: &str,
        triggered_by: &str,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        let outcome = if reason.is_some() {
            "refused"
        } else {
            "applied"
        };
        self.engine
            .store()
            .record_config_version(&crossdock_store::NewConfigVersion {
                at: self.engine.clock().now_ms(),
                hub_id: self.hub_id.clone(),
                hash: hash.to_owned(),
                who: self.who.clone(),
                triggered_by: triggered_by.to_owned(),
                outcome: outcome.to_owned(),
                reason,
            })
            .await
            .context("recording the configuration version")?;
        Ok(())
    }

    /// Read the configuration file again (SIGHUP) and apply what a running
    /// hub can: order rules and routing. A file that is invalid, or that
    /// changes anything else, is refused whole and the running
    /// configuration stays; a refusal is logged and recorded with its
    /// reason, as an applied change is with its hash.
    pub async fn reload(&mut self, path: &std::path::Path) -> anyhow::Result<Reloaded> {
        let new = match Config::load(path) {
            Ok(c) => c,
            // No configuration, so no hash of one.
            Err(e) => return self.refuse("", format!("invalid: {e}")).await,
        };
        let hash = new.version_hash();
        let sections = match crate::reload::judge(&self.config, &new) {
            Ok(s) => s,
            Err(reason) => return self.refuse(&hash, reason).await,
        };
        if sections.is_empty() {
            tracing::info!("Configuration reload: the file is the running configuration.");
            return Ok(Reloaded::Unchanged);
        }
        // Build both before replacing either: all or nothing.
        let router = match crossdock_engine::routing::Router::new(&new.routing) {
            Ok(r) => r,
            Err(e) => return self.refuse(&hash, format!("routing: {e}")).await,
        };
        let rules = match new.order_rules() {
            Ok(r) => r,
            Err(e) => return self.refuse(&hash, format!("rules: {e}")).await,
        };
        self.engine.replace_router(router);
        self.engine.replace_rules(rules);
        self.config = new;
        tracing::info!(sections = ?sections, %hash, "Configuration reloaded.");
        self.record_version(&hash, "sighup", None).await?;
        Ok(Reloaded::Applied { sections, hash })
    }

    async fn refuse(&self, hash: &str, reason: String) -> anyhow::Result<Reloaded> {
        tracing::warn!(%reason, "Configuration reload refused; the running one stays.");
        self.record_version(hash, "sighup", Some(reason.clone()))
            .await?;
        Ok(Reloaded::Refused { reason })
    }

    /// Stop accepting requests, finish running steps, close the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for p in self.partners {
            p.abort();
        }
        self.server.await.context("server task")??;
        // Its last round records the quota counts of the last second.
        self.keys_refresher.await.context("keys refresher")?;
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
    start_with_clock(config, listener, Arc::new(SystemClock)).await
}

/// [`start`] with the engine on `clock` (tests move time on by hand to
/// reach holds' expiries and other long waits).
pub async fn start_with_clock(
    config: &Config,
    listener: tokio::net::TcpListener,
    clock: Arc<dyn crossdock_engine::Clock>,
) -> anyhow::Result<RunningHub> {
    start_as(config, listener, clock, None).await
}

/// [`start_with_clock`], the configuration version recorded as `who`'s
/// (`--as NAME`; the OS user when `None`).
pub async fn start_as(
    config: &Config,
    listener: tokio::net::TcpListener,
    clock: Arc<dyn crossdock_engine::Clock>,
    who: Option<&str>,
) -> anyhow::Result<RunningHub> {
    let tls = config.tls()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr()?);
    let store = Store::open(&config.database_url())
        .await
        .with_context(|| format!("opening the store at {}", config.database_url_shown()))?;
    let wiring = connections(config).await?;
    let mut options = config.engine.clone();
    // The same name on every run at this address, so a restarted hub takes
    // back at once what its killed run held (two hubs cannot listen on one
    // address of one host, so two running hubs never share it).
    let listen = listener.local_addr()?;
    options.hub_id.get_or_insert_with(|| {
        let host = whoami::hostname().unwrap_or_else(|_| "localhost".to_owned());
        format!("{host}:{listen}")
    });
    let hub_id = options.hub_id.clone().unwrap_or_default();
    let keys = ApiKeys::load(store.clone(), clock.clone())
        .await
        .context("reading the API keys")?;
    let engine = Engine::new(store, wiring.connections, clock, options);
    // The engine reads stock from the ERP before anything else; if the ERP
    // is down it keeps trying, and orders held meanwhile for unknown SKUs
    // are validated again once stock is known.
    let engine_handle = engine.start();
    let shutdown = CancellationToken::new();
    let ready = CancellationToken::new();
    let router = crossdock_server::router(
        engine.clone(),
        keys.clone(),
        ServerOptions {
            max_body_bytes: config.hub.max_body_bytes,
            metrics_require_key: config.api.metrics_require_key,
        },
        ready.clone(),
    );
    let keys_refresher = keys.spawn_refresher(shutdown.clone());
    let server = tokio::spawn(crossdock_server::serve(
        listener,
        router,
        tls,
        shutdown.clone(),
    ));
    let mut partners = Vec::new();
    for (partner, poll) in &wiring.file_partners {
        partners.push(partner.spawn_flusher());
        partners.push(tokio::spawn(tend_inbound(
            engine.clone(),
            partner.clone(),
            *poll,
            shutdown.clone(),
        )));
    }
    ready.cancel();
    let hub = RunningHub {
        engine,
        keys,
        url,
        hub_id,
        config: config.clone(),
        who: who.map_or_else(crate::reload::os_user, str::to_owned),
        engine_handle,
        shutdown,
        server,
        partners,
        keys_refresher,
    };
    // The hub runs either way; a version it could not record is logged.
    if let Err(e) = hub
        .record_version(&config.version_hash(), "start", None)
        .await
    {
        tracing::warn!(error = %format!("{e:#}"), "Could not record the configuration version.");
    }
    Ok(hub)
}

/// Read an EDI partner's inbound folder on a schedule: every shipment set
/// into the inbox (keyed by partner, control numbers and content hash, so
/// a file read twice is committed once), stock advice onto the partner's
/// own positions, then archive the file (which also sends the 997). A file
/// is archived only after all its messages are committed: a crash in
/// between reads it again, and the inbox drops the repeats.
async fn tend_inbound(
    engine: Engine,
    partner: Arc<X12FileWarehouse>,
    every: Duration,
    stop: CancellationToken,
) {
    let name = partner.options().name.clone();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let files = match partner.poll_inbound().await {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(partner = %name, error = %e, "Reading the EDI inbound folder failed.");
                continue;
            }
        };
        'file: for file in files {
            for message in &file.messages {
                match &message.kind {
                    InboundKind::Shipment { .. } => {
                        let Some(envelope) = message.shipment_envelope() else {
                            continue;
                        };
                        if let Err(e) = engine
                            .receive_warehouse_message(&name, envelope, &message.body)
                            .await
                        {
                            tracing::warn!(partner = %name, file = %file.name, error = %e, "Could not commit an EDI shipment; the file is read again later.");
                            continue 'file;
                        }
                    }
                    InboundKind::Positions(positions) => {
                        // The partner reports its own stock; advice about
                        // other locations is not its to give.
                        let own: Vec<_> = positions
                            .iter()
                            .filter(|p| p.location == name)
                            .cloned()
                            .collect();
                        match engine
                            .availability()
                            .apply_stock_report(&format!("warehouse:{name}"), &own)
                            .await
                        {
                            Ok((applied, kept)) => {
                                tracing::info!(partner = %name, applied, kept, "Stock advice (846) received.")
                            }
                            Err(e) => {
                                tracing::warn!(partner = %name, file = %file.name, error = %e, "Could not apply stock advice; the file is read again later.");
                                continue 'file;
                            }
                        }
                    }
                    InboundKind::Ack(ack) => {
                        if crossdock_connectors::warehouse::x12_files::ack_accepted(ack) {
                            tracing::info!(partner = %name, file = %file.name, "Partner acknowledged an interchange (997).");
                        } else {
                            tracing::warn!(partner = %name, file = %file.name, ?ack, "Partner REJECTED an interchange (997).");
                        }
                    }
                }
            }
            if let Err(e) = partner.archive(&file).await {
                tracing::warn!(partner = %name, file = %file.name, error = %e, "Could not archive an EDI file; it is read again later.");
            }
        }
    }
}
