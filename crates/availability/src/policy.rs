//! Policies as configured (TOML, through serde) and as validated.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// The availability section of a configuration file: `[[locations]]` and
/// `[[channels]]`. Validate it with [`Policies::new`] before use.
///
/// ```toml
/// [[locations]]
/// name = "dc-east"
/// network = "own"
/// safety_stock = 2
///
/// [[channels]]
/// channel = "webstore"
/// eligible_networks = ["own", "3pl"]
/// allocation_percent = 100
/// buffer = 1
/// min_quantity = 2
/// max_quantity = 500
/// low_stock_at = 5
/// hot_velocity_per_hour = 10.0
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityConfig {
    #[serde(default)]
    pub locations: Vec<LocationPolicy>,
    #[serde(default)]
    pub channels: Vec<ChannelPolicy>,
}

/// A stock-holding location and what it keeps back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationPolicy {
    /// The location's name as inventory positions report it.
    pub name: String,
    /// The fulfilment network the location belongs to ("own", "3pl",
    /// "amazon_fba", …); channels choose stock by network.
    pub network: String,
    /// Units kept back at this location for every SKU (damaged-in-bin,
    /// count errors): never offered to any channel.
    #[serde(default)]
    pub safety_stock: i64,
}

/// How one channel is offered stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPolicy {
    /// The channel's name, as the hub's channels are named.
    pub channel: String,
    /// Locations of these networks count for this channel. Exactly one of
    /// `eligible_networks` and `eligible_locations` must be set: there is
    /// no default, because "everything" would offer marketplace-fulfilled
    /// stock on channels that cannot ship it.
    #[serde(default)]
    pub eligible_networks: Option<Vec<String>>,
    /// These locations (by name) count for this channel.
    #[serde(default)]
    pub eligible_locations: Option<Vec<String>>,
    /// Share of the channel's pool it is offered, 0–100, rounded down.
    #[serde(default = "full_allocation")]
    pub allocation_percent: u8,
    /// Units subtracted from the allocation (after the percentage).
    #[serde(default)]
    pub buffer: i64,
    /// Below this many units the channel is offered 0: selling the last
    /// few units on a channel with slow updates is how overselling happens.
    #[serde(default)]
    pub min_quantity: i64,
    /// Never offer more than this (listing limits, or to avoid showing
    /// the real depth of stock).
    #[serde(default)]
    pub max_quantity: Option<i64>,
    /// A published quantity at or below this is low stock: its changes are
    /// pushed at once rather than in the next batch.
    #[serde(default)]
    pub low_stock_at: i64,
    /// A SKU selling faster than this (units per hour, all channels) is hot:
    /// its changes are pushed at once. Unset: velocity never makes a SKU hot.
    #[serde(default)]
    pub hot_velocity_per_hour: Option<f64>,
    /// Minutes of sales held back on top of `buffer`: the SKU's velocity
    /// (units per hour, all channels) × this, rounded up. A channel whose
    /// listing takes minutes to change keeps selling what it shows for
    /// that long; what sells elsewhere meanwhile must not be shown to it.
    #[serde(default)]
    pub cover_minutes: u32,
}

fn full_allocation() -> u8 {
    100
}

impl ChannelPolicy {
    /// Everything free at the locations of `networks`, with every other
    /// setting as a configuration that leaves it out would have it: the
    /// whole pool, no buffer, minimum, maximum or hot thresholds.
    pub fn for_networks(channel: impl Into<String>, networks: &[&str]) -> Self {
        ChannelPolicy {
            channel: channel.into(),
            eligible_networks: Some(networks.iter().map(|n| (*n).to_owned()).collect()),
            eligible_locations: None,
            allocation_percent: full_allocation(),
            buffer: 0,
            min_quantity: 0,
            max_quantity: None,
            low_stock_at: 0,
            hot_velocity_per_hour: None,
            cover_minutes: 0,
        }
    }
}

/// A configuration that does not validate. `key` names the offending key
/// (`channels[1].allocation_percent`); the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PolicyError {
    pub key: String,
    pub message: String,
}

impl PolicyError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        PolicyError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A channel policy reduced to the integers the hot loop needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ChannelRule {
    /// Index into [`Policies::pools`].
    pub pool: usize,
    pub percent: i64,
    pub buffer: i64,
    pub min_quantity: i64,
    /// `i64::MAX` when uncapped.
    pub max_quantity: i64,
    pub low_stock_at: i64,
    /// `f32::INFINITY` when velocity never makes a SKU hot.
    pub hot_velocity: f32,
    /// Hours of velocity held back (`cover_minutes / 60`).
    pub cover_hours: f32,
}

/// Validated policies: location and channel order is the configuration's,
/// and indexes into it are the location and channel indexes used by
/// [`crate::AvailabilityTable`] and [`crate::explain_sku`].
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    locations: Vec<LocationPolicy>,
    channels: Vec<ChannelPolicy>,
    pub(crate) rules: Vec<ChannelRule>,
    /// Distinct sets of eligible location indexes (ascending). Channels
    /// with the same eligibility share a pool, summed once per SKU.
    pub(crate) pools: Vec<Vec<usize>>,
    pub(crate) safety_stock: Vec<i64>,
}

impl Policies {
    /// Validate a configuration. Errors name the key at fault.
    pub fn new(config: AvailabilityConfig) -> Result<Self, PolicyError> {
        let AvailabilityConfig {
            locations,
            channels,
        } = config;
        if locations.len() > usize::from(u16::MAX) {
            return Err(PolicyError::new("locations", "at most 65535 locations"));
        }
        if channels.len() > usize::from(u16::MAX) {
            return Err(PolicyError::new("channels", "at most 65535 channels"));
        }

        let mut names = HashSet::new();
        for (i, location) in locations.iter().enumerate() {
            let key = |field: &str| format!("locations[{i}].{field}");
            if location.name.trim().is_empty() {
                return Err(PolicyError::new(key("name"), "must not be empty"));
            }
            if !names.insert(location.name.as_str()) {
                return Err(PolicyError::new(
                    key("name"),
                    format!("location {:?} is listed twice", location.name),
                ));
            }
            if location.network.trim().is_empty() {
                return Err(PolicyError::new(
                    key("network"),
                    format!("location {:?}: must not be empty", location.name),
                ));
            }
            if location.safety_stock < 0 {
                return Err(PolicyError::new(
                    key("safety_stock"),
                    format!(
                        "location {:?}: must not be negative, got {}",
                        location.name, location.safety_stock
                    ),
                ));
            }
        }

        let mut channel_names = HashSet::new();
        let mut pools: Vec<Vec<usize>> = Vec::new();
        let mut rules = Vec::with_capacity(channels.len());
        for (i, channel) in channels.iter().enumerate() {
            let key = |field: &str| format!("channels[{i}].{field}");
            let bad = |field: &str, what: String| {
                PolicyError::new(key(field), format!("channel {:?}: {what}", channel.channel))
            };
            if channel.channel.trim().is_empty() {
                return Err(PolicyError::new(key("channel"), "must not be empty"));
            }
            if !channel_names.insert(channel.channel.as_str()) {
                return Err(bad("channel", "is listed twice".into()));
            }
            let eligible = eligible_locations(&locations, channel, &bad)?;
            if channel.allocation_percent > 100 {
                return Err(bad(
                    "allocation_percent",
                    format!("must be 0 to 100, got {}", channel.allocation_percent),
                ));
            }
            for (field, value) in [
                ("buffer", channel.buffer),
                ("min_quantity", channel.min_quantity),
                ("low_stock_at", channel.low_stock_at),
            ] {
                if value < 0 {
                    return Err(bad(field, format!("must not be negative, got {value}")));
                }
            }
            if let Some(max) = channel.max_quantity {
                if max < 0 {
                    return Err(bad(
                        "max_quantity",
                        format!("must not be negative, got {max}"),
                    ));
                }
                if max < channel.min_quantity {
                    return Err(bad(
                        "max_quantity",
                        format!(
                            "{max} is below min_quantity {}: the channel could never be offered stock",
                            channel.min_quantity
                        ),
                    ));
                }
            }
            let hot_velocity = match channel.hot_velocity_per_hour {
                None => f32::INFINITY,
                Some(v) if v.is_finite() && v >= 0.0 => v as f32,
                Some(v) => {
                    return Err(bad(
                        "hot_velocity_per_hour",
                        format!("must be a finite number of units per hour ≥ 0, got {v}"),
                    ));
                }
            };
            let pool = match pools.iter().position(|p| *p == eligible) {
                Some(p) => p,
                None => {
                    pools.push(eligible);
                    pools.len() - 1
                }
            };
            rules.push(ChannelRule {
                pool,
                percent: i64::from(channel.allocation_percent),
                buffer: channel.buffer,
                min_quantity: channel.min_quantity,
                max_quantity: channel.max_quantity.unwrap_or(i64::MAX),
                low_stock_at: channel.low_stock_at,
                hot_velocity,
                cover_hours: channel.cover_minutes as f32 / 60.0,
            });
        }

        let safety_stock = locations.iter().map(|l| l.safety_stock).collect();
        Ok(Policies {
            locations,
            channels,
            rules,
            pools,
            safety_stock,
        })
    }

    pub fn locations(&self) -> &[LocationPolicy] {
        &self.locations
    }

    pub fn channels(&self) -> &[ChannelPolicy] {
        &self.channels
    }

    pub fn location_index(&self, name: &str) -> Option<usize> {
        self.locations.iter().position(|l| l.name == name)
    }

    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels.iter().position(|c| c.channel == name)
    }

    /// Indexes of the locations whose stock counts for `channel`, ascending
    /// (empty for an unknown channel index).
    pub fn eligible_locations(&self, channel: usize) -> &[usize] {
        self.rules
            .get(channel)
            .and_then(|rule| self.pools.get(rule.pool))
            .map_or(&[], Vec::as_slice)
    }

    pub fn is_eligible(&self, channel: usize, location: usize) -> bool {
        self.eligible_locations(channel)
            .binary_search(&location)
            .is_ok()
    }
}

/// The ascending location indexes a channel may sell from.
fn eligible_locations(
    locations: &[LocationPolicy],
    channel: &ChannelPolicy,
    bad: &dyn Fn(&str, String) -> PolicyError,
) -> Result<Vec<usize>, PolicyError> {
    match (&channel.eligible_networks, &channel.eligible_locations) {
        (None, None) => Err(bad(
            "eligible_networks",
            "set eligible_networks or eligible_locations (which stock this channel may sell)"
                .into(),
        )),
        (Some(_), Some(_)) => Err(bad(
            "eligible_locations",
            "set either eligible_networks or eligible_locations, not both".into(),
        )),
        (Some(networks), None) => {
            if networks.is_empty() {
                return Err(bad("eligible_networks", "must not be empty".into()));
            }
            for network in networks {
                if !locations.iter().any(|l| &l.network == network) {
                    return Err(bad(
                        "eligible_networks",
                        format!("no location is in network {network:?}"),
                    ));
                }
            }
            Ok(locations
                .iter()
                .enumerate()
                .filter(|(_, l)| networks.contains(&l.network))
                .map(|(i, _)| i)
                .collect())
        }
        (None, Some(names)) => {
            if names.is_empty() {
                return Err(bad("eligible_locations", "must not be empty".into()));
            }
            let mut indexes = Vec::with_capacity(names.len());
            for name in names {
                match locations.iter().position(|l| &l.name == name) {
                    Some(i) => indexes.push(i),
                    None => {
                        return Err(bad(
                            "eligible_locations",
                            format!("unknown location {name:?}"),
                        ));
                    }
                }
            }
            indexes.sort_unstable();
            indexes.dedup();
            Ok(indexes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Policies, String> {
        let config: AvailabilityConfig = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        Policies::new(config).map_err(|e| e.to_string())
    }

    const LOCATIONS: &str = r#"
        [[locations]]
        name = "dc-east"
        network = "own"
        safety_stock = 2
        [[locations]]
        name = "fba-1"
        network = "amazon_fba"
    "#;

    #[test]
    fn parses_a_full_policy_and_groups_shared_pools() {
        let policies = parse(&format!(
            r#"{LOCATIONS}
            [[channels]]
            channel = "webstore"
            eligible_networks = ["own"]
            [[channels]]
            channel = "ebay"
            eligible_locations = ["dc-east"]
            allocation_percent = 30
            buffer = 1
            min_quantity = 2
            max_quantity = 50
            low_stock_at = 3
            hot_velocity_per_hour = 12.5
            [[channels]]
            channel = "amazon"
            eligible_networks = ["own", "amazon_fba"]
            "#
        ))
        .unwrap();
        assert_eq!(policies.eligible_locations(0), &[0]);
        assert_eq!(policies.eligible_locations(1), &[0]);
        assert_eq!(policies.eligible_locations(2), &[0, 1]);
        assert_eq!(policies.pools.len(), 2, "webstore and ebay share a pool");
        assert!(!policies.is_eligible(0, 1));
        assert_eq!(policies.channel_index("amazon"), Some(2));
        assert_eq!(policies.location_index("fba-1"), Some(1));
        assert_eq!(policies.rules[1].max_quantity, 50);
        assert_eq!(
            policies.rules[0].percent, 100,
            "allocation defaults to 100%"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse(
            r#"
            [[locations]]
            name = "dc"
            network = "own"
            safety = 2
            "#,
        )
        .unwrap_err();
        assert!(err.contains("unknown field `safety`"), "{err}");
    }

    #[test]
    fn validation_errors_name_the_key() {
        let cases = [
            (
                r#"channel = "web"
                eligible_networks = ["own"]
                allocation_percent = 120"#,
                "channels[0].allocation_percent: channel \"web\": must be 0 to 100, got 120",
            ),
            (
                r#"channel = "web""#,
                "channels[0].eligible_networks: channel \"web\": set eligible_networks or eligible_locations",
            ),
            (
                r#"channel = "web"
                eligible_networks = ["own"]
                eligible_locations = ["dc-east"]"#,
                "channels[0].eligible_locations: channel \"web\": set either",
            ),
            (
                r#"channel = "web"
                eligible_networks = ["amazon-fba"]"#,
                "channels[0].eligible_networks: channel \"web\": no location is in network \"amazon-fba\"",
            ),
            (
                r#"channel = "web"
                eligible_locations = ["dc-west"]"#,
                "channels[0].eligible_locations: channel \"web\": unknown location \"dc-west\"",
            ),
            (
                r#"channel = "web"
                eligible_networks = ["own"]
                buffer = -1"#,
                "channels[0].buffer: channel \"web\": must not be negative, got -1",
            ),
            (
                r#"channel = "web"
                eligible_networks = ["own"]
                min_quantity = 5
                max_quantity = 4"#,
                "channels[0].max_quantity: channel \"web\": 4 is below min_quantity 5",
            ),
            (
                r#"channel = "web"
                eligible_networks = ["own"]
                hot_velocity_per_hour = -1.0"#,
                "channels[0].hot_velocity_per_hour: channel \"web\": must be a finite",
            ),
        ];
        for (channel, expected) in cases {
            let err = parse(&format!("{LOCATIONS}\n[[channels]]\n{channel}")).unwrap_err();
            assert!(err.starts_with(expected), "{err}\nexpected: {expected}");
        }
    }

    #[test]
    fn location_errors_name_the_key() {
        let err = parse(
            r#"
            [[locations]]
            name = "dc"
            network = "own"
            [[locations]]
            name = "dc"
            network = "3pl"
            "#,
        )
        .unwrap_err();
        assert_eq!(err, "locations[1].name: location \"dc\" is listed twice");
        let err = parse(
            r#"
            [[locations]]
            name = "dc"
            network = "own"
            safety_stock = -3
            "#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "locations[0].safety_stock: location \"dc\": must not be negative, got -3"
        );
    }

    #[test]
    fn duplicate_channels_are_refused() {
        let err = parse(&format!(
            r#"{LOCATIONS}
            [[channels]]
            channel = "web"
            eligible_networks = ["own"]
            [[channels]]
            channel = "web"
            eligible_networks = ["own"]
            "#
        ))
        .unwrap_err();
        assert_eq!(err, "channels[1].channel: channel \"web\": is listed twice");
    }
}
