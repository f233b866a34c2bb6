//! Hub channels for the simulated marketplaces (the simulators' default
//! credentials), and availability policies, shared by the end-to-end tests.

use crossdock::config::{
    AmazonConfig, ChannelConfig, ChannelSpec, Config, ShopifyConfig, WalmartConfig,
};
use crossdock_availability::ChannelPolicy;
use crossdock_sim::{AmazonSimConfig, EstateHandle, ShopifySimConfig, WalmartSimConfig};

/// A polled channel of `spec`'s kind at `base_url`, otherwise as the demo's.
pub fn channel(name: &str, spec: ChannelSpec, base_url: String) -> ChannelConfig {
    let mut c = Config::demo().channels.remove(0);
    c.name = name.to_owned();
    c.spec = spec;
    c.base_url = base_url;
    c.poll = true;
    c
}

/// The hub's `shopify`, `walmart` and `amazon` channels for the simulated
/// marketplaces of `estate` (each one present only if simulated).
pub fn marketplace_channels(estate: &EstateHandle) -> Vec<ChannelConfig> {
    let mut out = Vec::new();
    if let Some(url) = estate.shopify_url() {
        let sim = ShopifySimConfig::default();
        let c = channel(
            "shopify",
            ChannelSpec::Shopify(ShopifyConfig {
                access_token: Some(sim.access_token),
                access_token_env: None,
                webhook_secret: Some(sim.webhook_secret),
                webhook_secret_env: None,
                webhook_secret_file: None,
                api_version: sim.api_version,
            }),
            url,
        );
        out.push(c);
    }
    if let Some(url) = estate.walmart_url() {
        let sim = WalmartSimConfig::default();
        let c = channel(
            "walmart",
            ChannelSpec::Walmart(WalmartConfig {
                client_id: sim.client_id,
                client_secret: Some(sim.client_secret),
                client_secret_env: None,
                webhook_authorization: None,
            }),
            url,
        );
        out.push(c);
    }
    if let Some(url) = estate.amazon_url() {
        let sim = AmazonSimConfig::default();
        let c = channel(
            "amazon",
            ChannelSpec::Amazon(AmazonConfig {
                lwa_url: format!("{url}/auth/o2/token"),
                client_id: sim.client_id,
                client_secret: Some(sim.client_secret),
                client_secret_env: None,
                refresh_token: Some(sim.refresh_token),
                refresh_token_env: None,
                marketplace_id: sim.marketplace_id,
                seller_id: Some(sim.seller_id),
                feed_poll_ms: 500,
            }),
            url,
        );
        out.push(c);
    }
    out
}

/// Everything free at the locations of `networks`, no allocation, buffer or
/// limits; changes at or below 5 units are urgent.
pub fn policy(channel: &str, networks: &[&str]) -> ChannelPolicy {
    ChannelPolicy {
        low_stock_at: 5,
        ..ChannelPolicy::for_networks(channel, networks)
    }
}

/// What each simulated marketplace shows for `sku`, by hub channel name.
pub fn shown(stats: &serde_json::Value, channel: &str, sku: &str) -> Option<i64> {
    match channel {
        "shopify" => stats["shopify"]["available"][sku].as_i64(),
        "walmart" => stats["walmart"]["inventory"][sku].as_i64(),
        "amazon" => stats["amazon"]["quantities"][sku].as_i64(),
        _ => None,
    }
}
