//! The hub's configuration file (TOML) with environment overrides.
//!
//! Layering: defaults → the file → `CROSSDOCK__SECTION__KEY=value`
//! variables → command-line flags. Then `validate()`. Errors name the file,
//! the line and the key.

use std::path::{Path, PathBuf};

use crossdock_engine::{EngineOptions, GovernorOptions, ShortShipPolicy, SplitPolicy};
use crossdock_model::ErpAcceptance;
use crossdock_sim::SimConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub hub: HubConfig,
    #[serde(default)]
    pub engine: EngineOptions,
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    pub erp: ErpConfig,
    #[serde(default)]
    pub warehouses: Vec<WarehouseConfig>,
    /// Fulfilment routing: CEL rules and warehouse profiles.
    #[serde(default)]
    pub routing: crossdock_engine::routing::RoutingOptions,
    /// Stock authority per location and the availability sync's cadence.
    #[serde(default)]
    pub inventory: crossdock_engine::availability::InventoryOptions,
    /// Availability policies (`[[availability.locations]]`,
    /// `[[availability.channels]]`); absent = channels are not sent stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<crossdock_availability::AvailabilityConfig>,
    /// The simulated estate, for `crossdock sim` and `crossdock demo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// Address of the HTTP server (webhooks, API, metrics).
    pub listen: String,
    /// Directory of the embedded SQLite store.
    pub data_dir: PathBuf,
    /// PostgreSQL URL; when set, used instead of the embedded store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Largest webhook body accepted.
    pub max_body_bytes: usize,
    /// Timeout of one outbound HTTP call, in ms.
    pub http_timeout_ms: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from(".crossdock"),
            database_url: None,
            max_body_bytes: 1024 * 1024,
            http_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// The simulated webstore's own API.
    Webstore,
    /// A Shopify shop: signed webhooks as triggers, the Admin REST API for
    /// orders and fulfilments; `[channels.shopify]` holds the credentials.
    Shopify,
    /// Walmart Marketplace (v3 API, client-credentials token);
    /// `[channels.walmart]`.
    Walmart,
    /// Amazon Selling Partner API (LWA refresh token); `[channels.amazon]`.
    Amazon,
    /// Any JSON channel described by `[channels.mapping]` (inline, or
    /// `file = "…"` relative to this file): JSON pointers and jq programs
    /// from its payloads to the canonical order, and back for ship
    /// confirmations. No code per channel.
    Mapped,
}

/// Credentials of a Walmart Marketplace seller account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalmartConfig {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// The `Authorization` header value webhook deliveries must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_authorization: Option<String>,
}

impl WalmartConfig {
    pub fn client_secret(&self) -> Result<String, String> {
        secret(
            "client_secret",
            &self.client_secret,
            &self.client_secret_env,
        )
    }
}

/// An Amazon selling partner's LWA credentials and marketplace.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmazonConfig {
    /// LWA token endpoint (`https://api.amazon.com/auth/o2/token`).
    pub lwa_url: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_env: Option<String>,
    pub marketplace_id: String,
    /// Selling partner id (Listings API and listings-feed `sellerId`);
    /// needed to push availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
    /// How often a submitted listings feed is checked (`getFeed`); Amazon
    /// takes minutes, its simulator seconds.
    #[serde(default = "default_feed_poll_ms")]
    pub feed_poll_ms: u64,
}

fn default_feed_poll_ms() -> u64 {
    crossdock_connectors::channel::amazon::FEED_POLL_INTERVAL.as_millis() as u64
}

impl AmazonConfig {
    pub fn client_secret(&self) -> Result<String, String> {
        secret(
            "client_secret",
            &self.client_secret,
            &self.client_secret_env,
        )
    }

    pub fn refresh_token(&self) -> Result<String, String> {
        secret(
            "refresh_token",
            &self.refresh_token,
            &self.refresh_token_env,
        )
    }
}

/// Credentials of a Shopify shop connection. Each secret comes from the
/// named environment variable when one is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_env: Option<String>,
    #[serde(default = "default_shopify_api_version")]
    pub api_version: String,
}

fn default_shopify_api_version() -> String {
    crossdock_connectors::channel::shopify::DEFAULT_API_VERSION.to_owned()
}

/// A secret from an environment variable if one is named, else the value.
fn secret(name: &str, value: &Option<String>, env: &Option<String>) -> Result<String, String> {
    match (env, value) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| format!("environment variable {var} ({name}_env) is not set")),
        (None, Some(v)) => Ok(v.clone()),
        (None, None) => Err(format!("set {name}_env or {name}")),
    }
}

impl ShopifyConfig {
    pub fn access_token(&self) -> Result<String, String> {
        secret("access_token", &self.access_token, &self.access_token_env)
    }

    pub fn webhook_secret(&self) -> Result<String, String> {
        secret(
            "webhook_secret",
            &self.webhook_secret,
            &self.webhook_secret_env,
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
    pub base_url: String,
    #[serde(default)]
    pub erp_acceptance: ErpAcceptance,
    /// Reconciliation polling (catches webhooks the channel lost).
    #[serde(default = "yes")]
    pub poll: bool,
    /// Units a warehouse says it will not ship: `reroute` (to another
    /// warehouse that has them, else cancel) or `cancel`.
    #[serde(default)]
    pub short_ship: ShortShipPolicy,
    /// `{ allowed, max_shipments }`: may an order no single warehouse can
    /// serve ship from several? Default: no.
    #[serde(default)]
    pub split: SplitPolicy,
    /// Required when `kind = "shopify"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shopify: Option<ShopifyConfig>,
    /// Required when `kind = "walmart"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walmart: Option<WalmartConfig>,
    /// Required when `kind = "amazon"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amazon: Option<AmazonConfig>,
    /// Required when `kind = "mapped"`: a `ChannelMapping` table, or
    /// `{ file = "…" }` (read when the configuration is loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<toml::Table>,
}

impl ChannelConfig {
    /// The mapping of a `kind = "mapped"` channel, errors naming the key.
    pub fn channel_mapping(
        &self,
    ) -> Result<crossdock_connectors::channel::mapped::ChannelMapping, String> {
        let table = self
            .mapping
            .clone()
            .ok_or_else(|| "required when kind = \"mapped\"".to_owned())?;
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| e.message().trim().to_owned())
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErpKind {
    /// A JSON REST ERP (the simulated one, or one shaped like it).
    Rest,
    /// A Tryton server over JSON-RPC; `base_url` is the server's root and
    /// `[erp.tryton]` says which database and user.
    Tryton,
    /// Any JSON REST ERP (NetSuite-, Business-Central-shaped) described by
    /// `[erp.mapping]`: paths, jq programs for bodies and answers, lookups
    /// by our reference.
    MappedRest,
}

/// How the hub logs in to Tryton and where the stock it reads lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrytonConfig {
    pub database: String,
    pub username: String,
    /// Read from this environment variable when set, so no secret needs to
    /// be in the file; otherwise `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Code of the Tryton warehouse sales ship from and stock is read at.
    #[serde(default = "default_tryton_warehouse")]
    pub warehouse_code: String,
    /// The hub's name for that warehouse's stock (a warehouse in `[[warehouses]]`).
    pub location: String,
    /// The Tryton web shop whose unique web id makes a duplicate sale impossible.
    #[serde(default = "default_tryton_web_shop")]
    pub web_shop: String,
}

fn default_tryton_warehouse() -> String {
    "WH".to_owned()
}

fn default_tryton_web_shop() -> String {
    "crossdock".to_owned()
}

impl TrytonConfig {
    /// The password, from the environment variable if one is named.
    pub fn password(&self) -> Result<String, String> {
        secret("password", &self.password, &self.password_env)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpConfig {
    pub kind: ErpKind,
    pub base_url: String,
    /// The pace this ERP account can take: rate, concurrency, breaker.
    #[serde(default)]
    pub governor: GovernorOptions,
    /// Required when `kind = "tryton"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tryton: Option<TrytonConfig>,
    /// How a REST ERP is authenticated (none, bearer, OAuth2 client credentials).
    #[serde(default)]
    pub auth: crossdock_connectors::auth::AuthConfig,
    /// Required when `kind = "mapped_rest"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<crossdock_connectors::erp::ErpMapping>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarehouseKind {
    /// JSON over HTTP, shipments by webhook.
    Rest,
    /// A 3PL on EDI X12 over a folder exchange (940 out, 945/846/997 in).
    X12Files,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    pub name: String,
    pub kind: WarehouseKind,
    /// For `kind = "rest"`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    /// For `kind = "x12_files"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x12: Option<X12WarehouseConfig>,
}

/// The folder exchange with one EDI trading partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X12WarehouseConfig {
    /// Holds outbound/, inbound/, archive/, quarantine/ (created if missing).
    pub root: PathBuf,
    /// ISA08/GS03 of the partner; default: the warehouse name in upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// ISA06/GS02 of the hub.
    #[serde(default = "default_x12_sender")]
    pub sender_id: String,
    /// How often queued 940s go out as one interchange.
    #[serde(default = "default_x12_batch_ms")]
    pub batch_interval_ms: u64,
    /// How often inbound/ is read.
    #[serde(default = "default_x12_poll_ms")]
    pub poll_interval_ms: u64,
    /// ISA15: `P` or `T`.
    #[serde(default = "default_x12_usage")]
    pub usage: char,
}

fn default_x12_sender() -> String {
    "CROSSDOCK".to_owned()
}

fn default_x12_batch_ms() -> u64 {
    3_600_000
}

fn default_x12_poll_ms() -> u64 {
    5_000
}

fn default_x12_usage() -> char {
    'T'
}

/// A configuration problem, located as precisely as the input allows.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    pub location: String,
    pub message: String,
}

const ENV_PREFIX: &str = "CROSSDOCK__";

impl Config {
    /// Read, override from the environment, and validate.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            location: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &path.display().to_string(), std::env::vars())
    }

    /// Parse `text` (named `origin` in errors) with `env` overrides.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        // First pass on the text itself, so errors carry line numbers.
        let config: Config = toml::from_str(text).map_err(|e| located(text, origin, &e))?;
        let overrides: Vec<(String, String)> =
            env.filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        let config = if overrides.is_empty() {
            config
        } else {
            let mut value: toml::Table =
                toml::from_str(text).map_err(|e| located(text, origin, &e))?;
            for (key, raw) in &overrides {
                apply_override(&mut value, key, raw)?;
            }
            let names = overrides
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            toml::Value::Table(value)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError {
                    location: format!("{origin} with environment overrides {names}"),
                    message: e.message().to_owned(),
                })?
        };
        let config = config.with_channel_mapping_files(origin)?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            location: format!("{origin}: key {key}"),
            message,
        };
        self.engine.validate().map_err(|m| err("engine", m))?;
        if self.hub.max_body_bytes < 1024 {
            return Err(err("hub.max_body_bytes", "must be at least 1024".into()));
        }
        if self.warehouses.is_empty() {
            return Err(err(
                "warehouses",
                "at least one warehouse is needed to fulfil orders".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.channels.iter().enumerate() {
            if !valid_name(&c.name) {
                return Err(err(
                    &format!("channels[{i}].name"),
                    format!("{:?} must be 1-64 of [a-z0-9_-]", c.name),
                ));
            }
            if !names.insert(c.name.clone()) {
                return Err(err(
                    &format!("channels[{i}].name"),
                    format!("duplicate channel {:?}", c.name),
                ));
            }
            check_url(&c.base_url).map_err(|m| err(&format!("channels[{i}].base_url"), m))?;
            let key = |t: &str| format!("channels[{i}].{t}");
            let present = [
                ("shopify", c.shopify.is_some()),
                ("walmart", c.walmart.is_some()),
                ("amazon", c.amazon.is_some()),
            ];
            let wanted = match c.kind {
                ChannelKind::Webstore => None,
                ChannelKind::Shopify => Some("shopify"),
                ChannelKind::Walmart => Some("walmart"),
                ChannelKind::Amazon => Some("amazon"),
                ChannelKind::Mapped => None,
            };
            match (c.kind, &c.mapping) {
                (ChannelKind::Mapped, _) => {
                    let mapping = c.channel_mapping().map_err(|m| err(&key("mapping"), m))?;
                    mapping.validate().map_err(|m| err(&key("mapping"), m))?;
                }
                (_, Some(_)) => {
                    return Err(err(&key("mapping"), "only for kind = \"mapped\"".into()));
                }
                (_, None) => {}
            }
            for (table, set) in present {
                if set && wanted != Some(table) {
                    return Err(err(&key(table), format!("only for kind = \"{table}\"")));
                }
                if !set && wanted == Some(table) {
                    return Err(err(
                        &key(table),
                        format!("required when kind = \"{table}\""),
                    ));
                }
            }
            if let Some(s) = &c.shopify {
                s.access_token().map_err(|m| err(&key("shopify"), m))?;
                s.webhook_secret().map_err(|m| err(&key("shopify"), m))?;
            }
            if let Some(w) = &c.walmart {
                w.client_secret().map_err(|m| err(&key("walmart"), m))?;
            }
            if let Some(a) = &c.amazon {
                a.client_secret().map_err(|m| err(&key("amazon"), m))?;
                a.refresh_token().map_err(|m| err(&key("amazon"), m))?;
                check_url(&a.lwa_url).map_err(|m| err(&key("amazon.lwa_url"), m))?;
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, w) in self.warehouses.iter().enumerate() {
            if !valid_name(&w.name) {
                return Err(err(
                    &format!("warehouses[{i}].name"),
                    format!("{:?} must be 1-64 of [a-z0-9_-]", w.name),
                ));
            }
            if !names.insert(w.name.clone()) {
                return Err(err(
                    &format!("warehouses[{i}].name"),
                    format!("duplicate warehouse {:?}", w.name),
                ));
            }
            match (w.kind, &w.x12) {
                (WarehouseKind::Rest, None) => check_url(&w.base_url)
                    .map_err(|m| err(&format!("warehouses[{i}].base_url"), m))?,
                (WarehouseKind::X12Files, Some(x)) => {
                    if x.batch_interval_ms == 0 || x.poll_interval_ms == 0 {
                        return Err(err(
                            &format!("warehouses[{i}].x12"),
                            "batch_interval_ms and poll_interval_ms must be at least 1".into(),
                        ));
                    }
                    if !matches!(x.usage, 'P' | 'T') {
                        return Err(err(
                            &format!("warehouses[{i}].x12.usage"),
                            format!("{:?} must be 'P' or 'T'", x.usage),
                        ));
                    }
                }
                (WarehouseKind::X12Files, None) => {
                    return Err(err(
                        &format!("warehouses[{i}].x12"),
                        "required when kind = \"x12_files\"".into(),
                    ));
                }
                (WarehouseKind::Rest, Some(_)) => {
                    return Err(err(
                        &format!("warehouses[{i}].x12"),
                        "only for kind = \"x12_files\"".into(),
                    ));
                }
            }
        }
        check_url(&self.erp.base_url).map_err(|m| err("erp.base_url", m))?;
        crossdock_engine::routing::Router::new(&self.routing)
            .map_err(|e| err("routing", e.to_string()))?;
        for (i, p) in self.routing.warehouses.iter().enumerate() {
            if !self.warehouses.iter().any(|w| w.name == p.name) {
                return Err(err(
                    &format!("routing.warehouses[{i}].name"),
                    format!("{:?} is not one of the [[warehouses]]", p.name),
                ));
            }
        }
        if let Some(a) = &self.availability {
            let plan = crossdock_engine::availability::AvailabilityPlan::new(
                a.clone(),
                self.inventory.clone(),
            )
            .map_err(|m| match m.split_once(": ") {
                Some((key, message)) => err(key, message.to_owned()),
                None => err("availability", m),
            })?;
            for (i, c) in plan.policies.channels().iter().enumerate() {
                if !self.channels.iter().any(|ch| ch.name == c.channel) {
                    return Err(err(
                        &format!("availability.channels[{i}].channel"),
                        format!("{:?} is not one of the [[channels]]", c.channel),
                    ));
                }
            }
        }
        for (location, source) in &self.inventory.authority {
            let known = source == "erp"
                || source
                    .strip_prefix("warehouse:")
                    .is_some_and(|w| self.warehouses.iter().any(|x| x.name == w));
            if !known {
                return Err(err(
                    &format!("inventory.authority.{location}"),
                    format!(
                        "{source:?} is neither \"erp\" nor \"warehouse:<one of the [[warehouses]]>\""
                    ),
                ));
            }
        }
        self.erp
            .governor
            .validate()
            .map_err(|m| err("erp.governor", m))?;
        self.erp.auth.validate().map_err(|m| err("erp.auth", m))?;
        match (self.erp.kind, &self.erp.tryton) {
            (ErpKind::Tryton, None) => {
                return Err(err(
                    "erp.tryton",
                    "required when erp.kind = \"tryton\"".into(),
                ));
            }
            (ErpKind::Tryton, Some(t)) => {
                t.password().map_err(|m| err("erp.tryton", m))?;
                if !self.warehouses.iter().any(|w| w.name == t.location) {
                    return Err(err(
                        "erp.tryton.location",
                        format!("{:?} is not one of the [[warehouses]]", t.location),
                    ));
                }
            }
            (_, Some(_)) => {
                return Err(err("erp.tryton", "only for erp.kind = \"tryton\"".into()));
            }
            (_, None) => {}
        }
        match (self.erp.kind, &self.erp.mapping) {
            (ErpKind::MappedRest, None) => {
                return Err(err(
                    "erp.mapping",
                    "required when erp.kind = \"mapped_rest\"".into(),
                ));
            }
            (ErpKind::MappedRest, Some(m)) => {
                m.validate().map_err(|e| err("erp.mapping", e))?;
            }
            (_, Some(_)) => {
                return Err(err(
                    "erp.mapping",
                    "only for erp.kind = \"mapped_rest\"".into(),
                ));
            }
            (_, None) => {}
        }
        Ok(())
    }

    /// The store URL: PostgreSQL if configured, else SQLite in `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.hub.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}",
                self.hub.data_dir.join("crossdock.db").display()
            ),
        }
    }

    /// The demo: the hub and the simulated estate on fixed loopback ports.
    pub fn demo() -> Config {
        let hub = HubConfig::default();
        let mut sim = SimConfig::demo(&format!("http://{}", hub.listen));
        sim.channel.listen = "127.0.0.1:7101".into();
        sim.erp.listen = "127.0.0.1:7102".into();
        for (i, w) in sim.warehouses.iter_mut().enumerate() {
            w.listen = format!("127.0.0.1:{}", 7103 + i);
        }
        let url = |listen: &str| format!("http://{listen}");
        Config {
            channels: vec![ChannelConfig {
                name: sim.channel.name.clone(),
                kind: ChannelKind::Webstore,
                base_url: url(&sim.channel.listen),
                erp_acceptance: ErpAcceptance::Async,
                poll: true,
                short_ship: ShortShipPolicy::default(),
                split: SplitPolicy::default(),
                shopify: None,
                walmart: None,
                amazon: None,
                mapping: None,
            }],
            erp: ErpConfig {
                kind: ErpKind::Rest,
                base_url: url(&sim.erp.listen),
                governor: GovernorOptions::default(),
                tryton: None,
                auth: Default::default(),
                mapping: None,
            },
            warehouses: sim
                .warehouses
                .iter()
                .map(|w| WarehouseConfig {
                    name: w.name.clone(),
                    kind: WarehouseKind::Rest,
                    base_url: url(&w.listen),
                    x12: None,
                })
                .collect(),
            routing: Default::default(),
            inventory: Default::default(),
            availability: None,
            hub,
            engine: EngineOptions {
                reconcile_interval_ms: 10_000,
                ..EngineOptions::default()
            },
            sim: Some(sim),
        }
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_url(s: &str) -> Result<(), String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("{s:?} is not an http(s) URL"))
    }
}

impl Config {
    /// Replaces each `[channels.mapping]` that is `{ file = "…" }` by the
    /// file's table. A relative path is relative to the configuration
    /// file's directory; errors in the file carry its own line and column.
    fn with_channel_mapping_files(mut self, origin: &str) -> Result<Config, ConfigError> {
        let dir = Path::new(origin).parent().unwrap_or(Path::new(""));
        for (i, c) in self.channels.iter_mut().enumerate() {
            let Some(table) = &c.mapping else { continue };
            let Some(file) = table.get("file") else {
                continue;
            };
            let key = format!("channels[{i}].mapping.file");
            let bad = |message: String| ConfigError {
                location: format!("{origin}: key {key}"),
                message,
            };
            if table.len() != 1 {
                return Err(bad(
                    "a mapping is either `file = \"…\"` or inline, not both".into(),
                ));
            }
            let file = file
                .as_str()
                .ok_or_else(|| bad("expected a path string".into()))?;
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
            let mapping_origin = path.display().to_string();
            // Typed first, so a wrong key or type is located in the file.
            let _: crossdock_connectors::channel::mapped::ChannelMapping =
                toml::from_str(&text).map_err(|e| located(&text, &mapping_origin, &e))?;
            c.mapping =
                Some(toml::from_str(&text).map_err(|e| located(&text, &mapping_origin, &e))?);
        }
        Ok(self)
    }
}

/// Turn a TOML error into `file:line:column (key K): message`.
fn located(text: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let Some(span) = e.span() else {
        return ConfigError {
            location: origin.to_owned(),
            message: e.message().to_owned(),
        };
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let section = text[..before.rfind('\n').map(|i| i + 1).unwrap_or(0)]
        .lines()
        .rev()
        .find_map(|l| {
            l.trim()
                .strip_prefix('[')
                .map(|s| s.trim_matches(|c| c == '[' || c == ']').to_owned())
        });
    let key = match (section, key) {
        (Some(s), Some(k)) => format!(" (key {s}.{k})"),
        (None, Some(k)) => format!(" (key {k})"),
        _ => String::new(),
    };
    ConfigError {
        location: format!("{origin}:{line}:{column}{key}"),
        message: e.message().trim().to_owned(),
    }
}

fn apply_override(root: &mut toml::Table, var: &str, raw: &str) -> Result<(), ConfigError> {
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(|p| p.to_ascii_lowercase())
        .collect();
    let bad = |m: &str| ConfigError {
        location: format!("environment variable {var}"),
        message: m.to_owned(),
    };
    let (last, parents) = path.split_last().ok_or_else(|| bad("names no key"))?;
    let mut table = root;
    for p in parents {
        let entry = table
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| bad(&format!("{p} is not a table")))?;
    }
    // A value that parses as TOML (number, bool, array) is taken as such;
    // anything else is a string.
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    table.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_text() -> String {
        toml::to_string(&Config::demo()).unwrap()
    }

    #[test]
    fn demo_config_round_trips_and_validates() {
        let text = demo_text();
        let c = Config::parse(&text, "demo.toml", std::iter::empty()).unwrap();
        assert_eq!(c.warehouses.len(), 2);
        assert_eq!(c.channels[0].name, "webstore");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = "[hub]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n";
        let e = Config::parse(text, "hub.toml", std::iter::empty()).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("hub.toml:3:1 (key hub.lisen)"), "{s}");
        assert!(s.contains("unknown field `lisen`"), "{s}");
    }

    #[test]
    fn wrong_type_names_the_line() {
        let mut text = demo_text();
        text = text.replace("concurrency = 64", "concurrency = \"many\"");
        let e = Config::parse(&text, "c.toml", std::iter::empty()).unwrap_err();
        let line = text.lines().position(|l| l.contains("\"many\"")).unwrap() + 1;
        assert!(e.to_string().starts_with(&format!("c.toml:{line}:")), "{e}");
        assert!(e.to_string().contains("key engine.concurrency"), "{e}");
    }

    #[test]
    fn environment_overrides_win_and_are_validated() {
        let text = demo_text();
        let env = vec![
            (
                "CROSSDOCK__HUB__LISTEN".to_owned(),
                "127.0.0.1:9999".to_owned(),
            ),
            ("CROSSDOCK__ENGINE__CONCURRENCY".to_owned(), "8".to_owned()),
        ];
        let c = Config::parse(&text, "d.toml", env.into_iter()).unwrap();
        assert_eq!(c.hub.listen, "127.0.0.1:9999");
        assert_eq!(c.engine.concurrency, 8);
        let env = vec![("CROSSDOCK__ENGINE__CONCURRENCY".to_owned(), "0".to_owned())];
        let e = Config::parse(&text, "d.toml", env.into_iter()).unwrap_err();
        assert!(
            e.to_string().contains("engine") && e.to_string().contains("concurrency"),
            "{e}"
        );
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let mut c = Config::demo();
        c.warehouses[1].name = c.warehouses[0].name.clone();
        let e = c.validate("x.toml").unwrap_err();
        assert_eq!(e.location, "x.toml: key warehouses[1].name");
    }
}
