//! The rehearsal's run: the real hub (engine, store, HTTP router, the
//! channel connector's wire reading, governors, routing, availability) on
//! a manual clock, against the estate's models.
//!
//! Time moves only here. At each moment the run hands the hub what the
//! estate does then (webhooks through the HTTP router, shipment messages,
//! polls), then runs every step of the hub due by then, one at a time,
//! then moves to the next moment anything is due: an estate event or a
//! job's retry. With one step at a time and every random draw seeded, the
//! same scenario and seed give the same day.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use crossdock_availability::{AvailabilityConfig, ChannelPolicy, LocationPolicy};
use crossdock_connectors::channel::WebstoreChannel;
use crossdock_connectors::signature::{self, WebhookSecret, WebhookVerifier};
use crossdock_connectors::{Channel, HttpClient, HttpClientOptions, Warehouse};
use crossdock_engine::availability::{AvailabilityPlan, InventoryOptions};
use crossdock_engine::routing::{Router, RoutingOptions};
use crossdock_engine::{
    ChannelConnection, ChannelPacing, Clock, Connections, Engine, EngineOptions, GovernedErp,
    Governor, GovernorOptions, SplitPolicy,
};
use crossdock_model::{ErpAcceptance, OrderStatus, order_id_for};
use crossdock_store::events::TimelineEvent;
use crossdock_store::{OrderFilter, Store};
use tower::ServiceExt;

use crate::estate::{Estate, Event, SimChannel, SimErp, SimWarehouse};
use crate::report::{
    ChannelReport, ErpReport, Invariants, OversoldLine, Quantiles, Report, Sample, SlaRow, Totals,
    WarehouseReport,
};
use crate::scenario::{Ingest, Scenario};

/// The key the rehearsal's channels sign their webhooks with, as the
/// webstore signs them (Standard Webhooks): the hub checks every one, at the
/// virtual time it arrives. A fixed key: a rehearsal is one process and
/// protects nothing, but it must take the same door as a real delivery.
const CHANNEL_SIGNING_KEY: &str = "whsec_cmVoZWFyc2FsIGNoYW5uZWwgc2lnbmluZyBrZXk=";

fn channel_signing_key() -> WebhookSecret {
    WebhookSecret::parse(CHANNEL_SIGNING_KEY).expect("a valid constant key")
}

/// Virtual time before the day starts: stock is loaded and every channel
/// shown what it may sell before the first buyer arrives.
const WARM_UP_MS: i64 = 3_600_000;

/// How far a run has got, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Virtual time since the start of the day, and the day's length.
    pub at_ms: i64,
    pub day_ms: i64,
    pub orders_placed: u64,
}

/// The ERP steps whose waiting jobs are the ERP backlog.
const ERP_STEPS: [&str; 2] = ["accept_in_erp", "invoice"];

struct Hub {
    engine: Engine,
    http: axum::Router,
    _dir: tempfile::TempDir,
}

async fn build_hub(estate: &Arc<Estate>, seed: u64) -> anyhow::Result<Hub> {
    let scenario = &estate.scenario;
    let dir = tempfile::Builder::new()
        .prefix("crossdock-rehearsal-")
        .tempdir()
        .context("cannot create the rehearsal's store directory")?;
    let store = Store::open_dir(dir.path()).await?;
    let clock: Arc<dyn Clock> = Arc::new(estate.clock.clone());
    let http = HttpClient::new(HttpClientOptions::default())?;
    let mut channels = std::collections::HashMap::new();
    for (index, spec) in scenario.channels.iter().enumerate() {
        let connector: Arc<dyn Channel> = Arc::new(SimChannel {
            estate: estate.clone(),
            index,
            name: spec.name.clone(),
            wire: WebstoreChannel::new(
                &spec.name,
                "http://channel.invalid/",
                http.clone(),
                WebhookVerifier::new(channel_signing_key()),
            )?
            .with_clock(clock.clone()),
        });
        // The engine paces the channel, as it would in `serve`.
        let pacing = (spec.api_requests_per_sec > 0.0)
            .then(|| {
                ChannelPacing::new(GovernorOptions {
                    requests_per_sec: spec.api_requests_per_sec,
                    ..GovernorOptions::default()
                })
            })
            .transpose()
            .map_err(anyhow::Error::msg)?;
        channels.insert(
            spec.name.clone(),
            ChannelConnection {
                connector,
                acceptance: ErpAcceptance::Async,
                poll: true,
                short_ship: crossdock_engine::ShortShipPolicy::Reroute,
                split: SplitPolicy {
                    allowed: true,
                    max_shipments: 2,
                },
                pacing,
            },
        );
    }
    let erp_options = GovernorOptions {
        requests_per_sec: scenario.erp.requests_per_sec,
        max_concurrency: scenario.erp.max_concurrency as usize,
        ..GovernorOptions::default()
    };
    let governor = Arc::new(
        Governor::with_clock("erp", &erp_options, clock.clone()).map_err(anyhow::Error::msg)?,
    );
    let erp = Arc::new(GovernedErp::new(
        Arc::new(SimErp {
            estate: estate.clone(),
        }),
        governor.clone(),
    ));
    let warehouses: Vec<Arc<dyn Warehouse>> = scenario
        .warehouses
        .iter()
        .enumerate()
        .map(|(index, w)| {
            Arc::new(SimWarehouse {
                estate: estate.clone(),
                index,
                name: w.name.clone(),
            }) as Arc<dyn Warehouse>
        })
        .collect();
    let policies = AvailabilityConfig {
        locations: scenario
            .warehouses
            .iter()
            .map(|w| LocationPolicy {
                name: w.name.clone(),
                network: "own".into(),
                safety_stock: scenario.hub.safety_stock,
            })
            .collect(),
        channels: scenario
            .channels
            .iter()
            .map(|c| ChannelPolicy {
                buffer: c.buffer,
                cover_minutes: c.cover_minutes,
                min_quantity: c.min_quantity,
                low_stock_at: scenario.hub.low_stock_at,
                hot_velocity_per_hour: scenario.hub.hot_velocity_per_hour,
                ..ChannelPolicy::for_networks(&c.name, &["own"])
            })
            .collect(),
    };
    let plan = AvailabilityPlan::new(
        policies,
        InventoryOptions {
            batch_interval_ms: u64::try_from(scenario.hub.availability_batch_ms)?,
            full_recompute_interval_ms: 0,
            erp_refresh_interval_ms: 0,
            ..InventoryOptions::default()
        },
    )
    .map_err(anyhow::Error::msg)?;
    let connections = Connections {
        channels,
        erp,
        erp_governor: Some(governor),
        warehouses,
        router: crossdock_engine::live(Router::new(&RoutingOptions::default())?),
        rules: Default::default(),
        availability: Some(plan),
        authority: Default::default(),
    };
    let options = EngineOptions {
        seed,
        max_attempts: scenario.hub.max_attempts,
        backoff_max_ms: scenario.hub.backoff_max_ms,
        ..EngineOptions::default()
    };
    options.validate().map_err(anyhow::Error::msg)?;
    // The rehearsal calls only webhooks, which are not keyed; the router
    // still gets the store's (empty) keys, as a hub's has.
    let keys = crossdock_server::ApiKeys::load(store.clone(), clock.clone()).await?;
    let engine = Engine::new(store, connections, clock, options);
    let http = crossdock_server::router(
        engine.clone(),
        keys,
        crossdock_server::ServerOptions::default(),
        tokio_util::sync::CancellationToken::new(),
    );
    Ok(Hub {
        engine,
        http,
        _dir: dir,
    })
}

/// Run `scenario` with `seed` and report what operations would see.
pub async fn rehearse(
    scenario: Scenario,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<Report> {
    let start = scenario.start_ms();
    let day_end = start + scenario.duration_ms;
    let hard_end = day_end + scenario.drain_limit_ms;
    let estate = Estate::new(scenario, seed);
    estate.clock.set(start - WARM_UP_MS);
    let hub = build_hub(&estate, seed).await?;
    let engine = &hub.engine;
    let s = &estate.scenario;
    {
        let mut world = estate.world();
        let agenda = &mut world.agenda;
        for (channel, spec) in s.channels.iter().enumerate() {
            agenda.schedule(start, Event::Arrival { channel });
            agenda.schedule(start + spec.poll_every_ms, Event::Poll { channel });
        }
        for (warehouse, spec) in s.warehouses.iter().enumerate() {
            if spec.batch_every_ms > 0 {
                agenda.schedule(start + spec.batch_every_ms, Event::Batch { warehouse });
            }
        }
        for (index, r) in s.stock.replenishments.iter().enumerate() {
            agenda.schedule(start + r.at_ms, Event::Replenish { index });
        }
        agenda.schedule(start + s.hub.erp_stock_refresh_ms, Event::ErpRefresh);
        agenda.schedule(start + s.hub.availability_batch_ms, Event::AvailabilityBulk);
        agenda.schedule(start, Event::Sample);
    }
    engine.load_stock_if_empty().await?;
    let mut push_retry_at = engine.availability().sync_once(true, true).await?;
    if let Some(at) = push_retry_at {
        estate.schedule(at, Event::AvailabilityRetry);
    }
    let mut backlog = Vec::new();
    let mut finished_at = hard_end;
    // When the next job falls due. Jobs change only through what the run
    // hands the hub, so it is read again only after that.
    let mut next_job = engine.store().next_job_at(estate.clock.now_ms()).await?;
    loop {
        let now = estate.clock.now_ms();
        let next_event = estate.world().agenda.next_at();
        let Some(next) = [next_event, next_job].into_iter().flatten().min() else {
            finished_at = now;
            break;
        };
        if next > hard_end {
            break;
        }
        estate.clock.set(next.max(now));
        let now = estate.clock.now_ms();
        let mut bulk = false;
        // Whether the hub may have work now: a job fell due, or something
        // was handed to it.
        let mut handed = next_job.is_some_and(|at| at <= now);
        loop {
            let Some(event) = estate.world().agenda.pop_due(now) else {
                break;
            };
            match event {
                Event::Arrival { channel } => estate.arrive(channel),
                Event::Webhook {
                    channel,
                    event_id,
                    body,
                } => {
                    let uri = format!("/webhooks/channels/{}", s.channels[channel].name);
                    let timestamp = now.div_euclid(1000);
                    let signed =
                        signature::sign(&channel_signing_key(), &event_id, timestamp, &body);
                    let headers = [
                        (signature::ID_HEADER, event_id),
                        (signature::TIMESTAMP_HEADER, timestamp.to_string()),
                        (signature::SIGNATURE_HEADER, signed),
                    ];
                    deliver(&hub.http, &uri, &headers, body).await?;
                    estate.delivered(channel);
                    handed = true;
                }
                Event::BuyerCancel { channel, order } => estate.buyer_cancel(channel, &order),
                Event::Picked { warehouse, request } => estate.picked(warehouse, &request),
                Event::Batch { warehouse } => estate.batch(warehouse),
                Event::ShipmentMessage { warehouse, body } => {
                    let uri = format!("/webhooks/warehouses/{}", s.warehouses[warehouse].name);
                    deliver(&hub.http, &uri, &[], body).await?;
                    estate.shipment_delivered();
                    handed = true;
                }
                Event::Listing {
                    channel,
                    sku,
                    quantity,
                } => estate.listing(channel, sku, quantity),
                Event::Replenish { index } => estate.replenish(index),
                Event::Poll { channel } => {
                    if let Err(e) = engine.reconcile_once(&s.channels[channel].name).await {
                        tracing::debug!(error = %e, "A rehearsal poll failed; the next one tries again.");
                    }
                    handed = true;
                    estate.schedule(
                        now + s.channels[channel].poll_every_ms,
                        Event::Poll { channel },
                    );
                }
                Event::ErpRefresh => {
                    engine.availability().refresh_stock_from_erp().await;
                    handed = true;
                    estate.schedule(now + s.hub.erp_stock_refresh_ms, Event::ErpRefresh);
                }
                Event::AvailabilityBulk => {
                    bulk = true;
                    estate.schedule(now + s.hub.availability_batch_ms, Event::AvailabilityBulk);
                }
                Event::AvailabilityRetry => {
                    if push_retry_at.is_some_and(|at| at <= now) {
                        push_retry_at = None;
                        bulk = true;
                    }
                }
                Event::Sample => {
                    let waiting: i64 = engine
                        .store()
                        .unfinished_jobs_by_step()
                        .await?
                        .iter()
                        .filter(|(step, _)| ERP_STEPS.contains(&step.as_str()))
                        .map(|(_, n)| n)
                        .sum();
                    backlog.push(Sample {
                        at_ms: now - start,
                        value: waiting as f64,
                    });
                    let placed = estate.world().channels.iter().map(|c| c.placed).sum();
                    progress(Progress {
                        at_ms: (now - start).min(s.duration_ms),
                        day_ms: s.duration_ms,
                        orders_placed: placed,
                    });
                    if now >= day_end && quiet(&estate, engine).await? {
                        finished_at = now;
                        break;
                    }
                    estate.schedule(now + s.sample_every_ms, Event::Sample);
                }
            }
        }
        if finished_at < hard_end {
            break;
        }
        if handed {
            engine.run_due_steps().await?;
            next_job = engine.store().next_job_at(now).await?;
        }
        if let Some(at) = engine.availability().sync_once(false, bulk).await?
            && push_retry_at.is_none_or(|pending| at < pending)
        {
            push_retry_at = Some(at);
            estate.schedule(at, Event::AvailabilityRetry);
        }
    }
    report(&estate, engine, seed, backlog, finished_at).await
}

/// Hand a message to the hub's HTTP surface. A refusal is not an error of
/// the run (the hub keeps what it refuses); it shows in the report.
async fn deliver(
    http: &axum::Router,
    uri: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> anyhow::Result<()> {
    let mut request = Request::post(uri).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = http
        .clone()
        .oneshot(request.body(Body::from(body))?)
        .await?;
    if !response.status().is_success() {
        tracing::warn!(%uri, status = %response.status(), "The hub refused a delivery.");
    }
    Ok(())
}

/// Nothing left to do: no message on its way, no pick unfinished, no job
/// waiting.
async fn quiet(estate: &Estate, engine: &Engine) -> anyhow::Result<bool> {
    if estate.world().in_flight > 0 {
        return Ok(false);
    }
    Ok(engine.store().unfinished_jobs_by_step().await?.is_empty())
}

fn quantiles(mut v: Vec<i64>) -> Quantiles {
    v.sort_unstable();
    let at = |p: f64| crossdock_engine::nearest_rank(&v, p).unwrap_or(0);
    Quantiles {
        count: v.len() as u64,
        p50_ms: at(0.50),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        max_ms: v.last().copied().unwrap_or(0),
    }
}

fn sla(flow: &str, scope: &str, name: &str, target_ms: i64, samples: &[i64]) -> SlaRow {
    SlaRow {
        flow: flow.into(),
        scope: scope.into(),
        name: name.into(),
        target_ms,
        samples: samples.len() as u64,
        breaches: samples.iter().filter(|v| **v > target_ms).count() as u64,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What the report needs from the hub's store, read before the estate's
/// books are locked.
struct HubFacts {
    /// Per order the channels took: when the hub first received it (`None`:
    /// it only ever saw the cancellation). Orders it never heard of are absent.
    received: HashMap<String, Option<i64>>,
    /// Orders held at reservation for want of stock.
    held_for_stock: BTreeMap<String, HeldOrder>,
    exceptions: BTreeMap<String, u64>,
    jobs_open: u64,
}

/// An order held at reservation for want of stock.
struct HeldOrder {
    channel: String,
    /// When it was held (the exception's time).
    at: i64,
    /// (SKU, units, units free per location when it was routed) per line.
    lines: Vec<(String, u64, String)>,
}

/// Units free per location and SKU as routing last saw them for `entity`
/// (the input of its last routing decision).
async fn free_when_routed(
    store: &Store,
    entity: &str,
) -> anyhow::Result<Vec<(String, BTreeMap<String, i64>)>> {
    let timeline = store.timeline(entity).await?;
    let Some(input) = timeline.iter().rev().find_map(|e| match e.event() {
        Ok(TimelineEvent::RoutingDecision(d)) => Some(d.input),
        _ => None,
    }) else {
        return Ok(Vec::new());
    };
    let candidates: Vec<crossdock_engine::routing::CandidateFacts> =
        serde_json::from_value(input["candidates"].clone()).unwrap_or_default();
    Ok(candidates
        .into_iter()
        .map(|c| (c.name, c.available))
        .collect())
}

impl HubFacts {
    async fn gather(estate: &Estate, store: &Store) -> anyhow::Result<HubFacts> {
        let placed: Vec<String> = {
            let w = estate.world();
            estate
                .scenario
                .channels
                .iter()
                .enumerate()
                .flat_map(|(i, spec)| {
                    w.channels[i]
                        .orders
                        .keys()
                        .map(|external| order_id_for(&spec.name, external))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let mut received = HashMap::new();
        for id in placed {
            let timeline = store
                .timeline(&crossdock_engine::order_entity_key(&id))
                .await?;
            if !timeline.is_empty() {
                let first = timeline
                    .iter()
                    .find(|e| matches!(e.event(), Ok(TimelineEvent::Received { .. })))
                    .map(|e| e.at);
                received.insert(id, first);
            }
        }
        let mut held_for_stock = BTreeMap::new();
        let held = store
            .exceptions(&crossdock_store::ExceptionFilter {
                status: Some("open".into()),
                step: Some("reserve".into()),
                limit: Some(i64::MAX),
                ..crossdock_store::ExceptionFilter::default()
            })
            .await?;
        for e in &held {
            if let Some(id) = e.entity_key.strip_prefix("order:")
                && let Some(order) = store.order(id).await?
            {
                let free = free_when_routed(store, &e.entity_key).await?;
                held_for_stock.insert(
                    id.to_owned(),
                    HeldOrder {
                        channel: order.channel.clone(),
                        at: e.created_at.timestamp_millis(),
                        lines: order
                            .lines
                            .iter()
                            .map(|l| {
                                let free = free
                                    .iter()
                                    .map(|(location, units)| {
                                        format!(
                                            "{location} {}",
                                            units.get(&l.sku).copied().unwrap_or(0)
                                        )
                                    })
                                    .collect::<Vec<_>>()
                                    .join(", ");
                                (l.sku.clone(), u64::from(l.quantity), free)
                            })
                            .collect(),
                    },
                );
            }
        }
        let mut exceptions = BTreeMap::new();
        for (class, state, n) in store.exception_counts().await? {
            if state == "open" {
                *exceptions.entry(class).or_insert(0) += u64::try_from(n).unwrap_or(0);
            }
        }
        let jobs_open = store
            .unfinished_jobs_by_step()
            .await?
            .iter()
            .map(|(_, n)| u64::try_from(*n).unwrap_or(0))
            .sum();
        Ok(HubFacts {
            received,
            held_for_stock,
            exceptions,
            jobs_open,
        })
    }
}

async fn report(
    estate: &Estate,
    engine: &Engine,
    seed: u64,
    backlog: Vec<Sample>,
    finished_at: i64,
) -> anyhow::Result<Report> {
    let s = &estate.scenario;
    let start = s.start_ms();
    let store = engine.store();
    let hub_orders = store
        .orders(&OrderFilter {
            limit: Some(i64::MAX),
            ..OrderFilter::default()
        })
        .await?;
    let status: BTreeMap<String, OrderStatus> = hub_orders
        .iter()
        .map(|o| (o.id.clone(), o.status))
        .collect();
    let hub = HubFacts::gather(estate, store).await?;
    let w = estate.world();
    let mut totals = Totals::default();
    let mut invariants = Invariants::default();
    let mut channels = Vec::new();
    let mut sla_rows = Vec::new();
    let mut per_warehouse_confirm: Vec<Vec<i64>> = vec![Vec::new(); s.warehouses.len()];
    let mut orders_per_hour = BTreeMap::new();
    for (i, spec) in s.channels.iter().enumerate() {
        let book = &w.channels[i];
        let mut ingest = Vec::new();
        let mut acceptance = Vec::new();
        let mut ingested = 0u64;
        for (external, placed) in &book.orders {
            let id = order_id_for(&spec.name, external);
            let received = match hub.received.get(&id) {
                None => {
                    invariants.lost_orders += 1;
                    continue;
                }
                // Cancelled before the hub took the order in: known, not lost.
                Some(None) => {
                    ingested += 1;
                    continue;
                }
                Some(Some(at)) => *at,
            };
            ingested += 1;
            ingest.push(received - placed.placed_at);
            if let Some(accepted) = w.erp.accepted_at.get(&id) {
                acceptance.push(accepted - received);
            }
        }
        let ship_confirm: Vec<i64> = book.ship_confirm.iter().map(|(_, ms)| *ms).collect();
        for (warehouse, ms) in &book.ship_confirm {
            per_warehouse_confirm[*warehouse].push(*ms);
        }
        sla_rows.push(sla(
            "order_ingest",
            "channel",
            &spec.name,
            s.sla.order_ingest_ms,
            &ingest,
        ));
        sla_rows.push(sla(
            "erp_acceptance",
            "channel",
            &spec.name,
            s.sla.erp_acceptance_ms,
            &acceptance,
        ));
        sla_rows.push(sla(
            "ship_confirm",
            "channel",
            &spec.name,
            s.sla.ship_confirm_ms,
            &ship_confirm,
        ));
        sla_rows.push(sla(
            "inventory_sync",
            "channel",
            &spec.name,
            s.sla.inventory_sync_ms,
            &book.sync_lags,
        ));
        invariants.duplicates.ship_confirmations += book.confirmations.duplicates();
        totals.orders_placed += book.placed;
        totals.orders_ingested += ingested;
        totals.buyer_cancellations += book.buyer_cancellations;
        totals.webhooks_delivered += book.webhooks_delivered;
        totals.availability_updates += book.availability_updates;
        totals.polls += book.polls;
        let hours = (s.duration_ms + 3_599_999) / 3_600_000;
        orders_per_hour.insert(
            spec.name.clone(),
            (0..hours)
                .map(|h| Sample {
                    at_ms: h * 3_600_000,
                    value: book.per_hour.get(&h).copied().unwrap_or(0) as f64,
                })
                .collect(),
        );
        channels.push(ChannelReport {
            name: spec.name.clone(),
            ingest: match spec.ingest {
                Ingest::Webhook => "webhook",
                Ingest::Poll => "poll",
            }
            .into(),
            orders_placed: book.placed,
            orders_ingested: ingested,
            ingest_latency: quantiles(ingest),
            erp_acceptance: quantiles(acceptance),
            ship_confirm: quantiles(ship_confirm),
            inventory_sync: quantiles(book.sync_lags.clone()),
            webhooks_duplicated: book.webhooks_duplicated,
            webhooks_reordered: book.webhooks_reordered,
            webhooks_lost: book.webhooks_lost,
            availability_updates: book.availability_updates,
            throttled: book.throttled,
        });
    }
    for st in status.values() {
        match st {
            OrderStatus::Cancelled => totals.orders_cancelled += 1,
            OrderStatus::Shipped
            | OrderStatus::ConfirmedToChannel
            | OrderStatus::Invoiced
            | OrderStatus::Closed => totals.orders_shipped += 1,
            _ => totals.orders_open_at_end += 1,
        }
    }
    let mut warehouses = Vec::new();
    for (i, spec) in s.warehouses.iter().enumerate() {
        let book = &w.warehouses[i];
        totals.units_shipped += book.units_shipped;
        invariants.duplicates.shipment_requests += book.duplicate_releases;
        let confirm = std::mem::take(&mut per_warehouse_confirm[i]);
        sla_rows.push(sla(
            "ship_confirm",
            "warehouse",
            &spec.name,
            s.sla.ship_confirm_ms,
            &confirm,
        ));
        warehouses.push(WarehouseReport {
            name: spec.name.clone(),
            kind: spec.kind.as_str().into(),
            releases: book.requests.len() as u64,
            shipments: book.shipments,
            units_shipped: book.units_shipped,
            short_shipped_units: book.short_units,
            refused_in_outage: book.refused_in_outage,
            release_to_ship: quantiles(book.release_to_ship.clone()),
            ship_confirm: quantiles(confirm),
        });
    }
    invariants.duplicates.sales_orders = w.erp.sales_orders.duplicates();
    invariants.duplicates.invoices = w.erp.invoices.duplicates();
    invariants.oversold_units = w.oversold_units;
    let interval = s.sample_every_ms;
    let limit_per_interval = s.erp.requests_per_sec * interval as f64 / 1000.0;
    let intervals = (finished_at - start).max(interval) / interval;
    let utilisation: Vec<Sample> = (0..intervals)
        .map(|k| Sample {
            at_ms: k * interval,
            value: round3(
                w.erp.calls_per_interval.get(&k).copied().unwrap_or(0) as f64 / limit_per_interval
                    * 100.0,
            ),
        })
        .collect();
    let day_intervals = utilisation
        .iter()
        .filter(|u| u.at_ms < s.duration_ms)
        .collect::<Vec<_>>();
    let mean = if day_intervals.is_empty() {
        0.0
    } else {
        day_intervals.iter().map(|u| u.value).sum::<f64>() / day_intervals.len() as f64
    };
    let peak = backlog
        .iter()
        .fold(None::<&Sample>, |best, x| match best {
            Some(b) if b.value >= x.value => Some(b),
            _ => Some(x),
        })
        .cloned();
    let (peak_backlog, peak_at) = peak.as_ref().map_or((0, 0), |p| (p.value as u64, p.at_ms));
    let drain_time_ms = backlog
        .iter()
        .find(|x| x.at_ms > peak_at && x.value == 0.0)
        .map(|x| x.at_ms - peak_at);
    totals.jobs_open_at_end = hub.jobs_open;
    // An order the channel took that no warehouse could be found for is
    // an oversell as much as one a floor ships short.
    let mut oversold = w.oversold_orders.clone();
    invariants.oversold = w.oversold_lines.clone();
    // What the channel listed of each SKU when the held order was placed.
    let mut listed_then: HashMap<String, &[(String, i64, i64)]> = HashMap::new();
    for (i, spec) in s.channels.iter().enumerate() {
        for (external, o) in &w.channels[i].orders {
            let id = order_id_for(&spec.name, external);
            if hub.held_for_stock.contains_key(&id) {
                listed_then.insert(id, &o.listed);
            }
        }
    }
    for (id, held) in &hub.held_for_stock {
        if oversold.insert(id.clone()) {
            for (sku, units, free) in &held.lines {
                invariants.oversold_units += units;
                invariants.oversold.push(OversoldLine {
                    order_id: id.clone(),
                    cause: "no_stock_at_reservation".into(),
                    sku: sku.clone(),
                    location: None,
                    units: *units,
                    at_ms: held.at - start,
                    detail: format!(
                        "taken on {}{}; free when routed: {free}",
                        held.channel,
                        listed_then
                            .get(id)
                            .and_then(|l| l.iter().find(|(s, _, _)| s == sku))
                            .map_or_else(String::new, |(_, listed, age)| format!(
                                ", which listed {listed} (set {} min before)",
                                age / 60_000
                            ))
                    ),
                });
            }
        }
    }
    invariants.oversold_orders = oversold.len() as u64;
    let exceptions = hub.exceptions;
    Ok(Report {
        scenario: s.name.clone(),
        seed,
        start: s.start.to_rfc3339(),
        duration_ms: s.duration_ms,
        drained_ms: (finished_at - start - s.duration_ms).max(0),
        totals,
        invariants,
        channels,
        erp: ErpReport {
            requests_per_sec: s.erp.requests_per_sec,
            max_concurrency: s.erp.max_concurrency,
            calls: w.erp.calls,
            calls_by_operation: w
                .erp
                .calls_by_operation
                .iter()
                .map(|(op, n)| ((*op).to_owned(), *n))
                .collect(),
            throttled: w.erp.throttled,
            failed_in_outage: w.erp.failed_in_outage,
            peak_backlog,
            peak_backlog_at_ms: peak_at,
            drain_time_ms,
            utilisation_mean_pct: round3(mean),
            utilisation_peak_pct: utilisation.iter().map(|u| u.value).fold(0.0, f64::max),
            backlog,
            utilisation,
        },
        warehouses,
        exceptions,
        sla: sla_rows,
        orders_per_hour,
    })
}
