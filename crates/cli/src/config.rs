//! The hub's configuration file (TOML) with environment overrides.
//!
//! Layering: defaults → the file → `CROSSDOCK__SECTION__KEY=value`
//! variables → command-line flags. Then the checks. Errors name the file,
//! the line and the key.
//!
//! This file holds the hub-level keys and the cross-references between
//! components (names, warehouse references, stock authority). What each
//! channel, ERP and warehouse needs lives with its connector, in
//! `crossdock_connectors::{channel,erp,warehouse}::<system>::config`, and is
//! held here as a kind-tagged spec ([`ChannelSpec`], [`ErpSpec`],
//! [`WarehouseSpec`]), so a kind with another kind's table cannot be
//! represented. The file is read through [`RawConfig`], its written shape
//! (`kind = "…"` plus a table per kind); [`RawConfig::check`] turns it into a
//! [`Config`] or names the first problem, in the order the file is read.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crossdock_connectors::channel::ChannelTables;
use crossdock_connectors::config::{KeyError, check_url};
use crossdock_connectors::erp::ErpTables;
use crossdock_connectors::signature::WebhookSigningConfig;
use crossdock_connectors::warehouse::WarehouseTables;
use crossdock_engine::{EngineOptions, GovernorOptions, ShortShipPolicy, SplitPolicy};
use crossdock_model::ErpAcceptance;
use crossdock_sim::{SigningSimConfig, SimConfig};
use serde::{Deserialize, Serialize};

pub use crossdock_connectors::channel::{
    AmazonConfig, ChannelKind, ChannelSpec, MappedChannelConfig, ShopifyConfig, WalmartConfig,
    WebstoreConfig,
};
pub use crossdock_connectors::erp::{ErpKind, ErpSpec, RestErpConfig, TrytonConfig};
pub use crossdock_connectors::warehouse::{
    RestWarehouseConfig, WarehouseKind, WarehouseSpec, X12WarehouseConfig,
};

#[derive(Clone, Serialize)]
#[serde(into = "RawConfig")]
pub struct Config {
    pub hub: HubConfig,
    /// The `/v1` API's keys: what is keyed beyond `/v1`.
    pub api: ApiConfig,
    pub engine: EngineOptions,
    pub channels: Vec<ChannelConfig>,
    pub erp: ErpConfig,
    pub warehouses: Vec<WarehouseConfig>,
    /// Fulfilment routing: CEL rules and warehouse profiles.
    pub routing: crossdock_engine::routing::RoutingOptions,
    /// Order rules: validation, enrichment, holds and tax treatment.
    pub rules: crossdock_engine::rules::RulesOptions,
    /// The availability sync's cadence (its old `authority` table is read
    /// into `authority.stock`).
    pub inventory: crossdock_engine::availability::InventoryOptions,
    /// `[authority]`: the system of record for each kind of data, effective
    /// (built-in owners filled in).
    pub authority: crossdock_model::Authority,
    /// What the file said in a way that is read but going away, one line
    /// each, for `config check` and the hub's log.
    pub deprecations: Vec<String>,
    /// Availability policies (`[[availability.locations]]`,
    /// `[[availability.channels]]`); absent = channels are not sent stock.
    pub availability: Option<crossdock_availability::AvailabilityConfig>,
    /// The simulated estate, for `crossdock sim` and `crossdock demo`.
    pub sim: Option<SimConfig>,
}

/// The configuration as written: [`Config`] with each component's kind and
/// per-kind tables side by side, as the TOML has them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub hub: HubConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub engine: EngineOptions,
    #[serde(default)]
    pub channels: Vec<RawChannelConfig>,
    pub erp: RawErpConfig,
    #[serde(default)]
    pub warehouses: Vec<RawWarehouseConfig>,
    #[serde(default)]
    pub routing: crossdock_engine::routing::RoutingOptions,
    #[serde(default)]
    pub rules: crossdock_engine::rules::RulesOptions,
    #[serde(default)]
    pub inventory: crossdock_engine::availability::InventoryOptions,
    #[serde(default)]
    pub authority: crossdock_model::Authority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<crossdock_availability::AvailabilityConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimConfig>,
}

#[derive(Clone, Serialize, Deserialize)]
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
    /// PEM certificate chain: with `tls_key`, the hub serves HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from(".crossdock"),
            database_url: None,
            max_body_bytes: 1024 * 1024,
            http_timeout_ms: 10_000,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[api]`: every `/v1` route needs a key; these keys say what else does.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// `/metrics` needs a key with the `read` scope (default: open, for a
    /// Prometheus that scrapes without credentials on a private network).
    pub metrics_require_key: bool,
}

/// A sales channel: the hub-level keys every kind has, and its kind's own
/// configuration.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub name: String,
    pub base_url: String,
    pub erp_acceptance: ErpAcceptance,
    /// Reconciliation polling (catches webhooks the channel lost).
    pub poll: bool,
    /// Units a warehouse says it will not ship: `reroute` (to another
    /// warehouse that has them, else cancel) or `cancel`.
    pub short_ship: ShortShipPolicy,
    /// `{ allowed, max_shipments }`: may an order no single warehouse can
    /// serve ship from several? Default: no.
    pub split: SplitPolicy,
    /// `[channels.pacing]`: the hub's own pacing of calls to this channel
    /// (a governor's limits, as `[erp.governor]`). Absent: calls go
    /// straight to the connector, which keeps to its API's budget itself.
    pub pacing: Option<GovernorOptions>,
    pub spec: ChannelSpec,
}

impl ChannelConfig {
    pub fn kind(&self) -> ChannelKind {
        self.spec.kind()
    }

    /// The mapping of a `kind = "mapped"` channel, errors naming the key.
    pub fn channel_mapping(
        &self,
    ) -> Result<crossdock_connectors::channel::mapped::ChannelMapping, String> {
        match &self.spec {
            ChannelSpec::Mapped(m) => m.mapping(),
            _ => Err("required when kind = \"mapped\"".to_owned()),
        }
    }
}

/// A `[[channels]]` entry as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
    pub base_url: String,
    #[serde(default)]
    pub erp_acceptance: ErpAcceptance,
    #[serde(default = "yes")]
    pub poll: bool,
    #[serde(default)]
    pub short_ship: ShortShipPolicy,
    #[serde(default)]
    pub split: SplitPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing: Option<GovernorOptions>,
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
    /// Required when `kind = "webstore"`: where its webhook secrets are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<WebhookSigningConfig>,
}

fn yes() -> bool {
    true
}

impl From<ChannelConfig> for RawChannelConfig {
    fn from(c: ChannelConfig) -> Self {
        let (kind, t) = c.spec.into_tables();
        RawChannelConfig {
            name: c.name,
            kind,
            base_url: c.base_url,
            erp_acceptance: c.erp_acceptance,
            poll: c.poll,
            short_ship: c.short_ship,
            split: c.split,
            pacing: c.pacing,
            shopify: t.shopify,
            walmart: t.walmart,
            amazon: t.amazon,
            mapping: t.mapping,
            signing: t.signing,
        }
    }
}

impl RawChannelConfig {
    fn into_parts(self) -> (ChannelConfig, ChannelKind, ChannelTables) {
        let tables = ChannelTables {
            shopify: self.shopify,
            walmart: self.walmart,
            amazon: self.amazon,
            mapping: self.mapping,
            signing: self.signing,
        };
        let config = ChannelConfig {
            name: self.name,
            base_url: self.base_url,
            erp_acceptance: self.erp_acceptance,
            poll: self.poll,
            short_ship: self.short_ship,
            split: self.split,
            pacing: self.pacing,
            spec: ChannelSpec::Webstore(WebstoreConfig::default()),
        };
        (config, self.kind, tables)
    }
}

/// The ERP: the hub-level keys every kind has, and its kind's own
/// configuration.
#[derive(Debug, Clone)]
pub struct ErpConfig {
    pub base_url: String,
    /// The pace this ERP account can take: rate, concurrency, breaker.
    pub governor: GovernorOptions,
    /// How a REST ERP is authenticated (none, bearer, OAuth2 client credentials).
    pub auth: crossdock_connectors::auth::AuthConfig,
    pub spec: ErpSpec,
}

impl ErpConfig {
    pub fn kind(&self) -> ErpKind {
        self.spec.kind()
    }
}

/// `[erp]` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawErpConfig {
    pub kind: ErpKind,
    pub base_url: String,
    #[serde(default)]
    pub governor: GovernorOptions,
    /// Required when `kind = "tryton"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tryton: Option<TrytonConfig>,
    #[serde(default)]
    pub auth: crossdock_connectors::auth::AuthConfig,
    /// Required when `kind = "mapped_rest"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<crossdock_connectors::erp::ErpMapping>,
}

impl From<ErpConfig> for RawErpConfig {
    fn from(e: ErpConfig) -> Self {
        let (kind, t) = e.spec.into_tables();
        RawErpConfig {
            kind,
            base_url: e.base_url,
            governor: e.governor,
            tryton: t.tryton,
            auth: e.auth,
            mapping: t.mapping,
        }
    }
}

/// A warehouse: its name and its kind's own configuration.
#[derive(Debug, Clone)]
pub struct WarehouseConfig {
    pub name: String,
    pub spec: WarehouseSpec,
}

impl WarehouseConfig {
    pub fn kind(&self) -> WarehouseKind {
        self.spec.kind()
    }

    /// Points a REST warehouse at `url`; other kinds have no URL, as the
    /// `base_url` key is ignored for them.
    pub fn set_base_url(&mut self, url: String) {
        if let WarehouseSpec::Rest(r) = &mut self.spec {
            r.base_url = url;
        }
    }
}

/// A `[[warehouses]]` entry as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWarehouseConfig {
    pub name: String,
    pub kind: WarehouseKind,
    /// For `kind = "rest"`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    /// For `kind = "x12_files"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x12: Option<X12WarehouseConfig>,
    /// For `kind = "rest"`: where its shipment webhooks' secrets are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<WebhookSigningConfig>,
}

impl From<WarehouseConfig> for RawWarehouseConfig {
    fn from(w: WarehouseConfig) -> Self {
        let (kind, t) = w.spec.into_tables();
        RawWarehouseConfig {
            name: w.name,
            kind,
            base_url: t.base_url,
            x12: t.x12,
            signing: t.signing,
        }
    }
}

impl From<Config> for RawConfig {
    fn from(c: Config) -> Self {
        RawConfig {
            hub: c.hub,
            api: c.api,
            engine: c.engine,
            channels: c.channels.into_iter().map(Into::into).collect(),
            erp: c.erp.into(),
            warehouses: c.warehouses.into_iter().map(Into::into).collect(),
            routing: c.routing,
            rules: c.rules,
            inventory: c.inventory,
            authority: c.authority,
            availability: c.availability,
            sim: c.sim,
        }
    }
}

/// `[authority]` made effective, with the deprecated
/// `[inventory.authority]` folded into its `stock` (and a deprecation
/// said), checked against the hub's channels, warehouses and locations.
fn check_authority(
    written: crossdock_model::Authority,
    inventory_authority: std::collections::BTreeMap<String, String>,
    channels: &[ChannelConfig],
    warehouses: &[WarehouseConfig],
    availability: Option<&crossdock_availability::AvailabilityConfig>,
) -> Result<(crossdock_model::Authority, Vec<String>), (String, String)> {
    let mut authority = written.effective();
    let mut deprecations = Vec::new();
    if !inventory_authority.is_empty() {
        authority.adopt_inventory_authority(&inventory_authority)?;
        deprecations.push(format!(
            "[inventory.authority] is deprecated and read as [authority].stock; move it there: stock = {{ {} }}",
            inventory_authority
                .iter()
                .map(|(l, s)| format!("{l} = {s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let channels: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
    let warehouses: Vec<&str> = warehouses.iter().map(|w| w.name.as_str()).collect();
    let mut locations = warehouses.clone();
    if let Some(a) = availability {
        locations.extend(a.locations.iter().map(|l| l.name.as_str()));
    }
    authority.check(&channels, &warehouses, &locations)?;
    Ok((authority, deprecations))
}

/// A configuration problem, located as precisely as the input allows.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    pub location: String,
    pub message: String,
}

const ENV_PREFIX: &str = "CROSSDOCK__";

/// The 1-based line of `name = "NAME"` in a TOML text: where an order
/// rule (whose names are unique) is defined.
pub fn rule_line(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.split_once('=').is_some_and(|(k, v)| {
                k.trim() == "name" && v.trim().trim_matches(|c| c == '"' || c == '\'') == name
            })
        })
        .map(|i| i + 1)
}

impl ConfigError {
    /// An error about an order rule (location `origin: rule "NAME"`) gets
    /// the file's line of that rule's `name = "NAME"` instead.
    fn at_rule_line(self, text: &str, origin: &str) -> ConfigError {
        let Some(name) = self
            .location
            .strip_prefix(&format!("{origin}: rule "))
            .and_then(|q| serde_json::from_str::<String>(q).ok())
        else {
            return self;
        };
        match rule_line(text, &name) {
            Some(line) => ConfigError {
                location: format!("{origin}:{line} (rule {name:?})"),
                message: self.message,
            },
            None => ConfigError {
                location: format!("{origin} (rule {name:?})"),
                message: self.message,
            },
        }
    }
}

impl Config {
    /// Read, override from the environment, and check.
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
        let config: RawConfig = toml::from_str(text).map_err(|e| located(text, origin, &e))?;
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
        config
            .with_channel_mapping_files(origin)?
            .with_secret_files_beside(origin)
            .check(origin)
            .map_err(|e| e.at_rule_line(text, origin))
    }

    /// The order rules, compiled, told each channel's kind.
    pub fn order_rules(&self) -> Result<crossdock_engine::rules::Rules, String> {
        let kinds = self
            .channels
            .iter()
            .map(|c| {
                let kind = serde_json::to_value(c.kind())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (c.name.clone(), kind)
            })
            .collect();
        crossdock_engine::rules::Rules::new(&self.rules)
            .map(|r| r.with_channel_kinds(kinds))
            .map_err(|e| e.to_string())
    }

    /// The same checks as loading does, for a configuration built in code.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        RawConfig::from(self.clone()).check(origin).map(|_| ())
    }
}

/// Names of one kind of component (channels, warehouses): each valid and
/// used once, checked entry by entry so the first bad one is named.
struct Names<'a> {
    section: &'a str,
    noun: &'a str,
    seen: HashSet<String>,
}

impl<'a> Names<'a> {
    fn new(section: &'a str, noun: &'a str) -> Self {
        Names {
            section,
            noun,
            seen: HashSet::new(),
        }
    }

    fn admit(&mut self, i: usize, name: &str) -> Result<(), (String, String)> {
        let key = format!("{}[{i}].name", self.section);
        if !valid_name(name) {
            return Err((key, format!("{name:?} must be 1-64 of [a-z0-9_-]")));
        }
        if !self.seen.insert(name.to_owned()) {
            return Err((key, format!("duplicate {} {name:?}", self.noun)));
        }
        Ok(())
    }
}

impl RawConfig {
    /// Turns the written shape into a [`Config`], or names the first
    /// problem: kind/table mismatches (each spec's `TryFrom`), what each
    /// component checks of itself (its `validate`), and the
    /// cross-references between components.
    pub fn check(self, origin: &str) -> Result<Config, ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            location: format!("{origin}: key {key}"),
            message,
        };
        let at = |prefix: &str, e: KeyError| err(&format!("{prefix}{}", e.key), e.message);
        self.engine.validate().map_err(|m| err("engine", m))?;
        if self.hub.max_body_bytes < 1024 {
            return Err(err("hub.max_body_bytes", "must be at least 1024".into()));
        }
        match (&self.hub.tls_cert, &self.hub.tls_key) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                crossdock_server::tls::server_config(cert, key)
                    .map_err(|e| err("hub.tls_cert", e.to_string()))?;
            }
            (Some(_), None) => {
                return Err(err("hub.tls_key", "required with hub.tls_cert".into()));
            }
            (None, Some(_)) => {
                return Err(err("hub.tls_cert", "required with hub.tls_key".into()));
            }
        }
        if self.warehouses.is_empty() {
            return Err(err(
                "warehouses",
                "at least one warehouse is needed to fulfil orders".into(),
            ));
        }
        let mut names = Names::new("channels", "channel");
        let mut channels = Vec::with_capacity(self.channels.len());
        for (i, raw) in self.channels.into_iter().enumerate() {
            names.admit(i, &raw.name).map_err(|(k, m)| err(&k, m))?;
            check_url(&raw.base_url).map_err(|m| err(&format!("channels[{i}].base_url"), m))?;
            let prefix = format!("channels[{i}].");
            let (mut channel, kind, tables) = raw.into_parts();
            channel.spec = ChannelSpec::try_from((kind, tables)).map_err(|e| at(&prefix, e))?;
            channel.spec.validate().map_err(|e| at(&prefix, e))?;
            if let Some(pacing) = &channel.pacing {
                pacing
                    .validate()
                    .map_err(|m| err(&format!("channels[{i}].pacing"), m))?;
            }
            channels.push(channel);
        }
        let mut names = Names::new("warehouses", "warehouse");
        let mut warehouses = Vec::with_capacity(self.warehouses.len());
        for (i, raw) in self.warehouses.into_iter().enumerate() {
            names.admit(i, &raw.name).map_err(|(k, m)| err(&k, m))?;
            let prefix = format!("warehouses[{i}].");
            let tables = WarehouseTables {
                base_url: raw.base_url,
                x12: raw.x12,
                signing: raw.signing,
            };
            let spec = WarehouseSpec::try_from((raw.kind, tables)).map_err(|e| at(&prefix, e))?;
            spec.validate().map_err(|e| at(&prefix, e))?;
            warehouses.push(WarehouseConfig {
                name: raw.name,
                spec,
            });
        }
        check_url(&self.erp.base_url).map_err(|m| err("erp.base_url", m))?;
        crossdock_engine::routing::Router::new(&self.routing)
            .map_err(|e| err("routing", e.to_string()))?;
        crossdock_engine::rules::Rules::new(&self.rules).map_err(|e| ConfigError {
            location: format!("{origin}: rule {:?}", e.rule()),
            message: e.to_string(),
        })?;
        for channel in self.rules.facilitator.keys() {
            if !channels.iter().any(|c| &c.name == channel) {
                return Err(err(
                    &format!("rules.facilitator.{channel}"),
                    format!("{channel:?} is not one of the [[channels]]"),
                ));
            }
        }
        for (i, p) in self.routing.warehouses.iter().enumerate() {
            if !warehouses.iter().any(|w| w.name == p.name) {
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
                if !channels.iter().any(|ch| ch.name == c.channel) {
                    return Err(err(
                        &format!("availability.channels[{i}].channel"),
                        format!("{:?} is not one of the [[channels]]", c.channel),
                    ));
                }
            }
        }
        let mut inventory = self.inventory;
        let (authority, deprecations) = check_authority(
            self.authority,
            std::mem::take(&mut inventory.authority),
            &channels,
            &warehouses,
            self.availability.as_ref(),
        )
        .map_err(|(k, m)| err(&k, m))?;
        let raw = self.erp;
        raw.governor
            .validate()
            .map_err(|m| err("erp.governor", m))?;
        raw.auth.validate().map_err(|m| err("erp.auth", m))?;
        let tables = ErpTables {
            tryton: raw.tryton,
            mapping: raw.mapping,
        };
        let spec = ErpSpec::try_from((raw.kind, tables)).map_err(|e| at("erp.", e))?;
        spec.validate().map_err(|e| at("erp.", e))?;
        if let ErpSpec::Tryton(t) = &spec
            && !warehouses.iter().any(|w| w.name == t.location)
        {
            return Err(err(
                "erp.tryton.location",
                format!("{:?} is not one of the [[warehouses]]", t.location),
            ));
        }
        Ok(Config {
            hub: self.hub,
            api: self.api,
            engine: self.engine,
            channels,
            erp: ErpConfig {
                base_url: raw.base_url,
                governor: raw.governor,
                auth: raw.auth,
                spec,
            },
            warehouses,
            routing: self.routing,
            rules: self.rules,
            inventory,
            authority,
            deprecations,
            availability: self.availability,
            sim: self.sim,
        })
    }

    /// Makes each relative `secret_file` of a `signing` table (the hub's
    /// and the `[sim]`'s) relative to the configuration file's directory,
    /// as mapping files are, so a configuration reads the same from any
    /// working directory.
    fn with_secret_files_beside(mut self, origin: &str) -> RawConfig {
        let dir = Path::new(origin).parent().unwrap_or(Path::new(""));
        let beside = |file: &mut Option<PathBuf>| {
            if let Some(path) = file.as_mut().filter(|p| p.is_relative()) {
                *path = dir.join(&*path);
            }
        };
        let hub_tables = self
            .channels
            .iter_mut()
            .filter_map(|c| c.signing.as_mut())
            .chain(
                self.warehouses
                    .iter_mut()
                    .filter_map(|w| w.signing.as_mut()),
            );
        for signing in hub_tables {
            beside(&mut signing.secret_file);
            beside(&mut signing.previous_secret_file);
        }
        beside(&mut self.hub.tls_cert);
        beside(&mut self.hub.tls_key);
        if let Some(sim) = &mut self.sim {
            let sim_tables = std::iter::once(&mut sim.channel.signing)
                .chain(sim.warehouses.iter_mut().map(|w| &mut w.signing))
                .flatten();
            for signing in sim_tables {
                beside(&mut signing.secret_file);
            }
        }
        self
    }

    /// Replaces each `[channels.mapping]` that is `{ file = "…" }` by the
    /// file's table. A relative path is relative to the configuration
    /// file's directory; errors in the file carry its own line and column.
    fn with_channel_mapping_files(mut self, origin: &str) -> Result<RawConfig, ConfigError> {
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

impl Config {
    /// The configuration as `--print-config` shows it: TOML, every secret
    /// `<redacted>` (where it lives, `*_env`/`*_file`, is kept).
    pub fn printable(&self) -> Result<String, toml::ser::Error> {
        let mut value = toml::Value::try_from(self)?;
        crate::secrets::redact_toml(&mut value);
        toml::to_string(&value)
    }

    /// SHA-256 (hex) of the effective configuration, secrets left out: the
    /// version `GET /v1/config/versions` records.
    pub fn version_hash(&self) -> String {
        crate::secrets::version_hash(serde_json::to_value(self).unwrap_or_default())
    }

    /// The TLS settings of the hub's listener, when `[hub]` names a
    /// certificate and key (read again at start: `config check` read them
    /// too, but they may have changed since).
    pub fn tls(&self) -> anyhow::Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
        match (&self.hub.tls_cert, &self.hub.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(crossdock_server::tls::server_config(cert, key)?)),
            _ => Ok(None),
        }
    }

    /// [`Config::database_url`] as messages show it (password redacted).
    pub fn database_url_shown(&self) -> String {
        crate::secrets::redact_url(&self.database_url())
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
    /// The webstore and the warehouses sign their webhooks with the key in
    /// [`Config::demo_signing_secret_path`], which
    /// [`Config::use_demo_signing_secret`] writes before anything starts.
    pub fn demo() -> Config {
        let hub = HubConfig::default();
        let mut sim = SimConfig::demo(&format!("http://{}", hub.listen));
        let secret = hub.data_dir.join(DEMO_SIGNING_SECRET);
        sim.sign_webhooks_with(&SigningSimConfig::from_file(&secret));
        sim.channel.listen = "127.0.0.1:7101".into();
        sim.erp.listen = "127.0.0.1:7102".into();
        for (i, w) in sim.warehouses.iter_mut().enumerate() {
            w.listen = format!("127.0.0.1:{}", 7103 + i);
        }
        let url = |listen: &str| format!("http://{listen}");
        Config {
            channels: vec![ChannelConfig {
                name: sim.channel.name.clone(),
                base_url: url(&sim.channel.listen),
                erp_acceptance: ErpAcceptance::Async,
                poll: true,
                short_ship: ShortShipPolicy::default(),
                split: SplitPolicy::default(),
                pacing: None,
                spec: ChannelSpec::Webstore(WebstoreConfig {
                    signing: WebhookSigningConfig::from_file(&secret),
                }),
            }],
            erp: ErpConfig {
                base_url: url(&sim.erp.listen),
                governor: GovernorOptions::default(),
                auth: Default::default(),
                spec: ErpSpec::Rest(RestErpConfig),
            },
            warehouses: sim
                .warehouses
                .iter()
                .map(|w| WarehouseConfig {
                    name: w.name.clone(),
                    spec: WarehouseSpec::Rest(RestWarehouseConfig {
                        base_url: url(&w.listen),
                        signing: WebhookSigningConfig::from_file(&secret),
                    }),
                })
                .collect(),
            routing: Default::default(),
            rules: Default::default(),
            inventory: Default::default(),
            authority: crossdock_model::Authority::default(),
            deprecations: Vec::new(),
            availability: None,
            hub,
            api: ApiConfig::default(),
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

/// Turn a TOML error into `file:line:column (key K): message`.
pub(crate) fn located(text: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
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

mod debug;
mod demo_signing;
use demo_signing::DEMO_SIGNING_SECRET;

#[cfg(test)]
mod tests;
