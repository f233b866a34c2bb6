//! Configuration of the simulated estate (the `[sim]` table).

use serde::{Deserialize, Serialize};

use crate::faults::{Faults, ensure_probabilities};
use crate::marketplace::{AmazonSimConfig, ShopifySimConfig, WalmartSimConfig};
use crate::signing::SigningSimConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Base URL of the hub that receives the webhooks (`http://127.0.0.1:8080`).
    pub hub_url: String,
    /// Seeds every simulator's random generator, so a scenario can be rerun.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub channel: ChannelSimConfig,
    #[serde(default)]
    pub erp: ErpSimConfig,
    pub warehouses: Vec<WarehouseSimConfig>,
    /// `[sim.tpl]`: a 3PL exchanging X12 files; absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpl: Option<crate::tpl::TplSimConfig>,
    /// `[sim.shopify]`: a simulated Shopify shop; absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shopify: Option<ShopifySimConfig>,
    /// `[sim.amazon]`: a simulated Amazon seller account; absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amazon: Option<AmazonSimConfig>,
    /// `[sim.walmart]`: a simulated Walmart Marketplace seller; absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walmart: Option<WalmartSimConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelSimConfig {
    pub name: String,
    pub listen: String,
    pub orders_per_sec: f64,
    /// Stop generating after this many seconds; 0 = no limit.
    pub duration_secs: u64,
    /// Stop generating after this many orders; 0 = no limit.
    pub max_orders: u64,
    /// Probability that an order event is delivered twice.
    pub duplicate_rate: f64,
    /// Probability that the buyer cancels an order 0.5–5 s after placing it
    /// (only while nothing of it has been confirmed shipped).
    pub cancel_rate: f64,
    pub skus: Vec<String>,
    pub max_lines: u32,
    pub max_quantity: u32,
    pub currency: String,
    pub faults: Faults,
    /// `[sim.channel.signing]`: the secret its webhooks are signed with;
    /// absent = unsigned (a hub configured to verify refuses them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningSimConfig>,
}

impl Default for ChannelSimConfig {
    fn default() -> Self {
        ChannelSimConfig {
            name: "webstore".to_owned(),
            listen: default_listen(),
            orders_per_sec: 1.0,
            duration_secs: 0,
            max_orders: 0,
            duplicate_rate: 0.0,
            cancel_rate: 0.0,
            skus: demo_skus(),
            max_lines: 3,
            max_quantity: 3,
            currency: "USD".to_owned(),
            faults: Faults::default(),
            signing: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErpSimConfig {
    pub listen: String,
    /// SKUs a sales order may carry; empty = any.
    pub skus: Vec<String>,
    pub stock: Vec<StockSeed>,
    pub faults: Faults,
    /// OAuth2 client credentials (`[sim.erp.auth]`); absent = no auth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<ErpAuthSimConfig>,
}

impl Default for ErpSimConfig {
    fn default() -> Self {
        ErpSimConfig {
            listen: default_listen(),
            skus: Vec::new(),
            stock: Vec::new(),
            faults: Faults::default(),
            auth: None,
        }
    }
}

/// The one client the simulated ERP's token endpoint knows. `Debug`
/// redacts the secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpAuthSimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of an issued access token (`expires_in`).
    #[serde(default = "default_token_ttl_secs")]
    pub token_ttl_secs: u64,
}

impl std::fmt::Debug for ErpAuthSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErpAuthSimConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("token_ttl_secs", &self.token_ttl_secs)
            .finish()
    }
}

fn default_token_ttl_secs() -> u64 {
    3600
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockSeed {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WarehouseSimConfig {
    pub name: String,
    pub listen: String,
    pub ship_delay_ms: u64,
    /// Probability that a request with more than one unit ships in two parcels.
    pub partial_ship_rate: f64,
    pub faults: Faults,
    /// `[sim.warehouses.signing]`: the secret its shipment webhooks are
    /// signed with; absent = unsigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningSimConfig>,
}

impl Default for WarehouseSimConfig {
    fn default() -> Self {
        WarehouseSimConfig {
            name: String::new(),
            listen: default_listen(),
            ship_delay_ms: 1000,
            partial_ship_rate: 0.0,
            faults: Faults::default(),
            signing: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:0".to_owned()
}

fn demo_skus() -> Vec<String> {
    (1..=20).map(|i| format!("SKU-{i:03}")).collect()
}

impl SimConfig {
    /// The zero-set-up demo: a webstore, an ERP holding ample stock of twenty
    /// SKUs at both warehouses, and warehouses `east` and `west`.
    pub fn demo(hub_url: &str) -> SimConfig {
        let skus = demo_skus();
        let warehouses: Vec<WarehouseSimConfig> = ["east", "west"]
            .into_iter()
            .map(|name| WarehouseSimConfig {
                name: name.to_owned(),
                ship_delay_ms: 2000,
                partial_ship_rate: 0.1,
                ..WarehouseSimConfig::default()
            })
            .collect();
        let stock = warehouses
            .iter()
            .flat_map(|w| {
                skus.iter().map(|sku| StockSeed {
                    sku: sku.clone(),
                    location: w.name.clone(),
                    on_hand: 10_000,
                })
            })
            .collect();
        SimConfig {
            hub_url: hub_url.to_owned(),
            seed: 42,
            channel: ChannelSimConfig {
                orders_per_sec: 2.0,
                duplicate_rate: 0.05,
                cancel_rate: 0.03,
                skus: skus.clone(),
                ..ChannelSimConfig::default()
            },
            erp: ErpSimConfig {
                skus,
                stock,
                ..ErpSimConfig::default()
            },
            warehouses,
            tpl: None,
            shopify: None,
            amazon: None,
            walmart: None,
        }
    }

    /// The webstore and every REST warehouse sign with `signing`.
    pub fn sign_webhooks_with(&mut self, signing: &SigningSimConfig) {
        self.channel.signing = Some(signing.clone());
        for w in &mut self.warehouses {
            w.signing = Some(signing.clone());
        }
    }

    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.hub_url.starts_with("http://") || self.hub_url.starts_with("https://"),
            "sim.hub_url must be an http(s) URL"
        );
        let c = &self.channel;
        anyhow::ensure!(!c.name.is_empty(), "sim.channel.name must not be empty");
        anyhow::ensure!(
            c.orders_per_sec >= 0.0,
            "sim.channel.orders_per_sec must not be negative"
        );
        ensure_probabilities(
            "sim.channel",
            &[
                ("duplicate_rate", c.duplicate_rate),
                ("cancel_rate", c.cancel_rate),
            ],
        )?;
        anyhow::ensure!(!c.skus.is_empty(), "sim.channel.skus must not be empty");
        anyhow::ensure!(
            c.max_lines >= 1 && c.max_quantity >= 1,
            "sim.channel.max_lines and max_quantity must be at least 1"
        );
        anyhow::ensure!(
            crate::wire::is_currency_code(&c.currency),
            "sim.channel.currency must be an ISO 4217 code"
        );
        c.faults.validate("sim.channel")?;
        self.erp.faults.validate("sim.erp")?;
        if let Some(shopify) = &self.shopify {
            shopify.validate()?;
        }
        if let Some(amazon) = &self.amazon {
            amazon.validate()?;
        }
        if let Some(walmart) = &self.walmart {
            walmart.validate()?;
        }
        if let Some(auth) = &self.erp.auth {
            anyhow::ensure!(
                !auth.client_id.is_empty() && !auth.client_secret.is_empty(),
                "sim.erp.auth: client_id and client_secret must not be empty"
            );
            anyhow::ensure!(
                auth.token_ttl_secs >= 1,
                "sim.erp.auth.token_ttl_secs must be at least 1"
            );
        }
        let mut names = std::collections::HashSet::new();
        for w in &self.warehouses {
            anyhow::ensure!(!w.name.is_empty(), "sim.warehouses: name must not be empty");
            anyhow::ensure!(
                names.insert(w.name.as_str()),
                "sim.warehouses: duplicate name {}",
                w.name
            );
            anyhow::ensure!(
                (0.0..=1.0).contains(&w.partial_ship_rate),
                "sim.warehouses.{}: partial_ship_rate must be within 0..1",
                w.name
            );
            w.faults.validate(&format!("sim.warehouses.{}", w.name))?;
        }
        if let Some(tpl) = &self.tpl {
            tpl.validate()?;
        }
        Ok(())
    }
}
