//! The system-of-record registry (`[authority]`): for each kind of data,
//! the one system whose word applies, and the one decision every place that
//! takes data from another system asks — [`Authority::decide`]: may this
//! source update this kind of data for this entity?
//!
//! Pure data and one function: the engine asks it at ingest and at each
//! step where another system reports something (stock reports, a channel's
//! cancellation, a warehouse's shipment), and keeps what it refuses.
//!
//! Written shape: each kind is either one owner for everything
//! (`order_status = "hub"`) or a table with a `default` and owners per
//! scope (`stock = { default = "erp", west = "warehouse:west" }`). The scope
//! is the location for `stock` and the order's channel for every other kind.
//! Owners are `hub`, `erp`, `channel` (the order's own channel),
//! `channel:<name>`, `warehouse:<name>` and `warehouse-of-record` (for an
//! order: the warehouses it was released to; for stock: the warehouse the
//! location is).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::order::OrderStatus;

/// A kind of data the registry names a system of record for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataKind {
    /// An order's status: who may move it (cancel it, for a channel).
    OrderStatus,
    /// The buyer and the addresses of an order.
    Customer,
    /// Prices of an order's lines.
    Prices,
    /// Stock on hand per location.
    Stock,
    /// Shipment milestones of an order (shipped, with what, tracking).
    Shipments,
    /// Returns of an order.
    Returns,
    /// Settlements (what a marketplace paid out for an order).
    Settlements,
}

impl DataKind {
    pub const ALL: [DataKind; 7] = [
        DataKind::OrderStatus,
        DataKind::Customer,
        DataKind::Prices,
        DataKind::Stock,
        DataKind::Shipments,
        DataKind::Returns,
        DataKind::Settlements,
    ];

    /// The key in `[authority]`, the metric label and the API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::OrderStatus => "order_status",
            DataKind::Customer => "customer",
            DataKind::Prices => "prices",
            DataKind::Stock => "stock",
            DataKind::Shipments => "shipments",
            DataKind::Returns => "returns",
            DataKind::Settlements => "settlements",
        }
    }

    pub fn parse(s: &str) -> Option<DataKind> {
        DataKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What a scope key means for this kind.
    pub fn scope_noun(self) -> &'static str {
        match self {
            DataKind::Stock => "location",
            _ => "channel",
        }
    }
}

/// Read by its name ([`DataKind::as_str`]), as the API's `kind` takes it.
impl<'de> Deserialize<'de> for DataKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DataKind::parse(&s).ok_or_else(|| {
            let names: Vec<&str> = DataKind::ALL.iter().map(|k| k.as_str()).collect();
            serde::de::Error::custom(format!(
                "{s:?} is not a kind of data the registry names ({})",
                names.join(", ")
            ))
        })
    }
}

/// In the API's schemas a kind is one of its names.
impl schemars::JsonSchema for DataKind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DataKind".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = DataKind::ALL.iter().map(|k| k.as_str()).collect();
        schemars::json_schema!({ "type": "string", "enum": names })
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A system that reports data: where an update comes from. Written as the
/// inbox writes sources: `hub`, `erp`, `channel:<name>`, `warehouse:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    Hub,
    Erp,
    Channel(String),
    Warehouse(String),
}

impl Source {
    /// `None` for a string that names no kind of system.
    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "hub" => Some(Source::Hub),
            "erp" => Some(Source::Erp),
            _ => match s.split_once(':') {
                Some(("channel", n)) if !n.is_empty() => Some(Source::Channel(n.to_owned())),
                Some(("warehouse", n)) if !n.is_empty() => Some(Source::Warehouse(n.to_owned())),
                _ => None,
            },
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Hub => f.write_str("hub"),
            Source::Erp => f.write_str("erp"),
            Source::Channel(n) => write!(f, "channel:{n}"),
            Source::Warehouse(n) => write!(f, "warehouse:{n}"),
        }
    }
}

/// The system a registry entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A system named outright.
    System(Source),
    /// The channel the order came from (`channel`).
    OrdersChannel,
    /// The warehouses the order was released to; for stock, the warehouse
    /// the location is (`warehouse-of-record`).
    WarehouseOfRecord,
}

impl Owner {
    pub fn parse(s: &str) -> Result<Owner, String> {
        match s {
            "channel" => Ok(Owner::OrdersChannel),
            "warehouse-of-record" => Ok(Owner::WarehouseOfRecord),
            _ => Source::parse(s).map(Owner::System).ok_or_else(|| {
                format!(
                    "{s:?} names no system: expected \"hub\", \"erp\", \"channel\", \"channel:<name>\", \
                     \"warehouse:<name>\" or \"warehouse-of-record\""
                )
            }),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::System(s) => s.fmt(f),
            Owner::OrdersChannel => f.write_str("channel"),
            Owner::WarehouseOfRecord => f.write_str("warehouse-of-record"),
        }
    }
}

impl Serialize for Owner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Owner {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Owner::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One kind's entry: the owner when no scope names one (`None`: no system
/// of record, every source applies), and owners per scope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    pub default: Option<Owner>,
    pub scoped: BTreeMap<String, Owner>,
}

impl Rule {
    fn one(owner: Owner) -> Rule {
        Rule {
            default: Some(owner),
            scoped: BTreeMap::new(),
        }
    }

    /// The owner for `scope` (a location, a channel).
    pub fn owner(&self, scope: &str) -> Option<&Owner> {
        self.scoped.get(scope).or(self.default.as_ref())
    }
}

/// The written shape: `"owner"` or `{ default = "owner", scope = "owner" }`.
#[derive(Serialize)]
#[serde(untagged)]
enum RuleShape {
    One(Owner),
    Scoped(BTreeMap<String, Owner>),
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (&self.default, self.scoped.is_empty()) {
            (Some(owner), true) => RuleShape::One(owner.clone()).serialize(s),
            _ => {
                let mut table = self.scoped.clone();
                if let Some(owner) = &self.default {
                    table.insert("default".to_owned(), owner.clone());
                }
                RuleShape::Scoped(table).serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Untagged errors say only "did not match"; a string is read on its
        // own so a misspelt owner gets its precise message.
        let value = serde_json::Value::deserialize(d)?;
        if let serde_json::Value::String(s) = &value {
            return Owner::parse(s)
                .map(Rule::one)
                .map_err(serde::de::Error::custom);
        }
        let mut scoped: BTreeMap<String, Owner> =
            serde_json::from_value(value).map_err(|e| serde::de::Error::custom(e.to_string()))?;
        let default = scoped.remove("default");
        Ok(Rule { default, scoped })
    }
}

/// In the API's schemas a rule is written as in the configuration: one
/// owner, or a table of owners per scope with an optional `default`.
impl schemars::JsonSchema for Rule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AuthorityRule".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let owner = serde_json::json!({
            "type": "string",
            "description": "`hub`, `erp`, `channel` (the order's own), `channel:<name>`, `warehouse:<name>` or `warehouse-of-record`"
        });
        schemars::json_schema!({
            "oneOf": [
                owner,
                { "type": "object", "additionalProperties": owner,
                  "description": "Owners per scope (a location for stock, a channel otherwise); `default` for the rest" }
            ]
        })
    }
}

/// `[authority]`: the system of record for each kind of data. A kind left
/// out keeps the hub's built-in owner ([`Authority::default`]); a scoped
/// table without `default` falls back to it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Authority {
    pub order_status: Rule,
    pub customer: Rule,
    pub prices: Rule,
    pub stock: Rule,
    pub shipments: Rule,
    pub returns: Rule,
    pub settlements: Rule,
}

impl Default for Authority {
    /// What the hub did before it had a registry: a channel's word on its
    /// own orders applies (a cancellation is honoured while the warehouse
    /// can stop), a shipment only from a warehouse the order was released
    /// to, and stock from any source.
    fn default() -> Self {
        Authority {
            order_status: Rule::one(Owner::OrdersChannel),
            customer: Rule::one(Owner::OrdersChannel),
            prices: Rule::one(Owner::OrdersChannel),
            stock: Rule::default(),
            shipments: Rule::one(Owner::WarehouseOfRecord),
            returns: Rule::one(Owner::OrdersChannel),
            settlements: Rule::one(Owner::OrdersChannel),
        }
    }
}

/// What an update is about: the facts the decision needs.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// Stock at a location.
    Location(&'a str),
    /// An order: its channel, its status now, and the warehouses it was
    /// released to.
    Order {
        channel: &'a str,
        status: OrderStatus,
        released_to: &'a [String],
    },
}

impl Subject<'_> {
    fn scope(&self) -> &str {
        match self {
            Subject::Location(l) => l,
            Subject::Order { channel, .. } => channel,
        }
    }
}

/// The registry's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The source's word applies.
    Applies,
    /// Another system owns this data: keep the update, do not apply it.
    NotAuthoritative {
        /// Who owns it, as written (`warehouse-of-record` resolved to the
        /// warehouses, `channel` to the order's channel).
        authority: String,
    },
}

impl Decision {
    pub fn applies(&self) -> bool {
        matches!(self, Decision::Applies)
    }
}

impl Authority {
    pub fn rule(&self, kind: DataKind) -> &Rule {
        match kind {
            DataKind::OrderStatus => &self.order_status,
            DataKind::Customer => &self.customer,
            DataKind::Prices => &self.prices,
            DataKind::Stock => &self.stock,
            DataKind::Shipments => &self.shipments,
            DataKind::Returns => &self.returns,
            DataKind::Settlements => &self.settlements,
        }
    }

    pub fn rule_mut(&mut self, kind: DataKind) -> &mut Rule {
        match kind {
            DataKind::OrderStatus => &mut self.order_status,
            DataKind::Customer => &mut self.customer,
            DataKind::Prices => &mut self.prices,
            DataKind::Stock => &mut self.stock,
            DataKind::Shipments => &mut self.shipments,
            DataKind::Returns => &mut self.returns,
            DataKind::Settlements => &mut self.settlements,
        }
    }

    /// The registry as it applies: each kind's missing `default` filled
    /// from the built-in one.
    pub fn effective(mut self) -> Authority {
        let builtin = Authority::default();
        for kind in DataKind::ALL {
            let rule = self.rule_mut(kind);
            if rule.default.is_none() {
                rule.default = builtin.rule(kind).default.clone();
            }
        }
        self
    }

    /// May `source` update `kind` of `subject`?
    ///
    /// The hub as owner of an order's status still lets the order's own
    /// channel move an order the hub has not moved on yet (`received`): until
    /// then the order is only what the channel sent.
    pub fn decide(&self, source: &Source, kind: DataKind, subject: &Subject<'_>) -> Decision {
        let Some(owner) = self.rule(kind).owner(subject.scope()) else {
            return Decision::Applies;
        };
        let refused = |authority: String| Decision::NotAuthoritative { authority };
        match (owner, subject) {
            (
                Owner::System(Source::Hub),
                Subject::Order {
                    channel, status, ..
                },
            ) if kind == DataKind::OrderStatus
                && *status == OrderStatus::Received
                && *source == Source::Channel((*channel).to_owned()) =>
            {
                Decision::Applies
            }
            (Owner::System(s), _) if s == source => Decision::Applies,
            (Owner::System(s), _) => refused(s.to_string()),
            (Owner::OrdersChannel, Subject::Order { channel, .. }) => {
                if *source == Source::Channel((*channel).to_owned()) {
                    Decision::Applies
                } else {
                    refused(format!("channel:{channel}"))
                }
            }
            // Configuration check refuses `channel` for stock; if it gets
            // here anyway, no channel is a location's stock authority.
            (Owner::OrdersChannel, Subject::Location(_)) => {
                refused("channel (no channel holds stock)".to_owned())
            }
            (Owner::WarehouseOfRecord, Subject::Order { released_to, .. }) => match source {
                Source::Warehouse(w) if released_to.iter().any(|r| r == w) => Decision::Applies,
                _ if released_to.is_empty() => {
                    refused("warehouse-of-record (not released to any warehouse)".to_owned())
                }
                _ => refused(
                    released_to
                        .iter()
                        .map(|w| format!("warehouse:{w}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            },
            (Owner::WarehouseOfRecord, Subject::Location(location)) => match source {
                Source::Warehouse(w) if w == location => Decision::Applies,
                _ => refused(format!("warehouse:{location}")),
            },
        }
    }

    /// Takes the deprecated `[inventory.authority]` (location → source)
    /// into `stock`. An entry that `stock` already names differently is
    /// refused (key path, message): two places must not disagree.
    pub fn adopt_inventory_authority(
        &mut self,
        entries: &BTreeMap<String, String>,
    ) -> Result<(), (String, String)> {
        for (location, written) in entries {
            let key = format!("inventory.authority.{location}");
            let owner = Owner::parse(written).map_err(|m| (key.clone(), m))?;
            match self.stock.scoped.get(location) {
                Some(set) if *set != owner => {
                    return Err((
                        key,
                        format!(
                            "{written:?} disagrees with authority.stock.{location} = \"{set}\"; \
                             keep only [authority].stock"
                        ),
                    ));
                }
                _ => {
                    self.stock.scoped.insert(location.clone(), owner);
                }
            }
        }
        Ok(())
    }

    /// Every entry names a system the hub has and a scope it knows:
    /// channels by name, warehouses by name, stock's scopes among
    /// `locations`, every other kind's among `channels`. The first problem
    /// is returned as (key path, message).
    pub fn check(
        &self,
        channels: &[&str],
        warehouses: &[&str],
        locations: &[&str],
    ) -> Result<(), (String, String)> {
        for kind in DataKind::ALL {
            let rule = self.rule(kind);
            let scopes = if kind == DataKind::Stock {
                locations
            } else {
                channels
            };
            for scope in rule.scoped.keys() {
                if !scopes.contains(&scope.as_str()) {
                    return Err((
                        format!("authority.{kind}.{scope}"),
                        format!("{scope:?} is not a {} the hub knows", kind.scope_noun()),
                    ));
                }
            }
            let entries = rule
                .default
                .iter()
                .map(|o| ("default".to_owned(), o))
                .chain(rule.scoped.iter().map(|(s, o)| (s.clone(), o)));
            for (scope, owner) in entries {
                let key = format!("authority.{kind}.{scope}");
                match owner {
                    Owner::System(Source::Channel(n)) if !channels.contains(&n.as_str()) => {
                        return Err((key, format!("channel {n:?} is not one of the [[channels]]")));
                    }
                    Owner::System(Source::Warehouse(n)) if !warehouses.contains(&n.as_str()) => {
                        return Err((
                            key,
                            format!("warehouse {n:?} is not one of the [[warehouses]]"),
                        ));
                    }
                    Owner::OrdersChannel if kind == DataKind::Stock => {
                        return Err((
                            key,
                            "\"channel\" means an order's own channel; stock belongs to a \
                             location: name \"erp\", \"warehouse:<name>\" or \"warehouse-of-record\""
                                .to_owned(),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(toml_like: serde_json::Value) -> Authority {
        serde_json::from_value::<Authority>(toml_like)
            .expect("a registry")
            .effective()
    }

    fn order<'a>(channel: &'a str, status: OrderStatus, to: &'a [String]) -> Subject<'a> {
        Subject::Order {
            channel,
            status,
            released_to: to,
        }
    }

    #[test]
    fn stock_follows_its_location_and_the_default() {
        let a = registry(serde_json::json!({
            "stock": { "default": "erp", "west": "warehouse:west" }
        }));
        let erp = Source::Erp;
        let west = Source::Warehouse("west".into());
        assert!(
            a.decide(&erp, DataKind::Stock, &Subject::Location("east"))
                .applies()
        );
        assert_eq!(
            a.decide(&erp, DataKind::Stock, &Subject::Location("west")),
            Decision::NotAuthoritative {
                authority: "warehouse:west".into()
            }
        );
        assert!(
            a.decide(&west, DataKind::Stock, &Subject::Location("west"))
                .applies()
        );
        assert!(
            !a.decide(&west, DataKind::Stock, &Subject::Location("east"))
                .applies()
        );
    }

    #[test]
    fn stock_without_an_entry_takes_any_source() {
        let a = Authority::default().effective();
        for s in [Source::Erp, Source::Warehouse("tpl".into())] {
            assert!(
                a.decide(&s, DataKind::Stock, &Subject::Location("tpl"))
                    .applies()
            );
        }
    }

    #[test]
    fn a_hub_owned_order_is_its_channels_only_until_the_hub_moves_it() {
        let a = registry(serde_json::json!({ "order_status": "hub" }));
        let shop = Source::Channel("shop".into());
        let none: Vec<String> = Vec::new();
        let received = order("shop", OrderStatus::Received, &none);
        let released = order("shop", OrderStatus::ReleasedToWarehouse, &none);
        assert!(a.decide(&shop, DataKind::OrderStatus, &received).applies());
        assert_eq!(
            a.decide(&shop, DataKind::OrderStatus, &released),
            Decision::NotAuthoritative {
                authority: "hub".into()
            }
        );
        // Another channel never moves it, even before the hub did.
        let other = Source::Channel("other".into());
        assert!(!a.decide(&other, DataKind::OrderStatus, &received).applies());
    }

    #[test]
    fn by_default_an_orders_own_channel_moves_it() {
        let a = Authority::default().effective();
        let none: Vec<String> = Vec::new();
        let released = order("shop", OrderStatus::ReleasedToWarehouse, &none);
        let shop = Source::Channel("shop".into());
        assert!(a.decide(&shop, DataKind::OrderStatus, &released).applies());
        assert!(
            !a.decide(
                &Source::Channel("x".into()),
                DataKind::OrderStatus,
                &released
            )
            .applies()
        );
    }

    #[test]
    fn a_shipment_counts_only_from_a_warehouse_the_order_was_released_to() {
        let a = Authority::default().effective();
        let to = vec!["east".to_owned()];
        let subject = order("shop", OrderStatus::ReleasedToWarehouse, &to);
        let east = Source::Warehouse("east".into());
        let west = Source::Warehouse("west".into());
        assert!(a.decide(&east, DataKind::Shipments, &subject).applies());
        assert_eq!(
            a.decide(&west, DataKind::Shipments, &subject),
            Decision::NotAuthoritative {
                authority: "warehouse:east".into()
            }
        );
        let unreleased = order("shop", OrderStatus::Reserved, &[]);
        assert!(!a.decide(&east, DataKind::Shipments, &unreleased).applies());
    }

    #[test]
    fn a_scope_without_default_keeps_the_builtin_default() {
        let a = registry(serde_json::json!({
            "shipments": { "amazon": "warehouse:fba" }
        }));
        let to = vec!["east".to_owned()];
        let fba = Source::Warehouse("fba".into());
        let east = Source::Warehouse("east".into());
        assert!(
            a.decide(
                &fba,
                DataKind::Shipments,
                &order("amazon", OrderStatus::Reserved, &to)
            )
            .applies()
        );
        assert!(
            !a.decide(
                &east,
                DataKind::Shipments,
                &order("amazon", OrderStatus::Reserved, &to)
            )
            .applies()
        );
        assert!(
            a.decide(
                &east,
                DataKind::Shipments,
                &order("shop", OrderStatus::Reserved, &to)
            )
            .applies()
        );
    }

    #[test]
    fn check_names_the_key_of_an_unknown_system_or_scope() {
        let a = registry(serde_json::json!({
            "stock": { "west": "warehouse:tpl" }
        }));
        assert_eq!(
            a.check(&["shop"], &["east", "west"], &["east", "west"]),
            Err((
                "authority.stock.west".to_owned(),
                "warehouse \"tpl\" is not one of the [[warehouses]]".to_owned()
            ))
        );
        let a = registry(serde_json::json!({ "order_status": { "amazon": "hub" } }));
        let (key, _) = a.check(&["shop"], &["east"], &["east"]).unwrap_err();
        assert_eq!(key, "authority.order_status.amazon");
        let a = registry(serde_json::json!({ "customer": "channel:nosuch" }));
        let (key, message) = a.check(&["shop"], &["east"], &["east"]).unwrap_err();
        assert_eq!(key, "authority.customer.default");
        assert!(message.contains("\"nosuch\""), "{message}");
        let a = registry(serde_json::json!({ "stock": "channel" }));
        assert!(a.check(&["shop"], &["east"], &["east"]).is_err());
        assert_eq!(
            Authority::default().check(&["shop"], &["east"], &["east"]),
            Ok(())
        );
    }

    #[test]
    fn the_old_inventory_table_folds_into_stock_unless_it_disagrees() {
        let mut a = Authority::default();
        let old: BTreeMap<String, String> =
            [("west".to_owned(), "warehouse:west".to_owned())].into();
        a.adopt_inventory_authority(&old).unwrap();
        assert!(
            !a.decide(&Source::Erp, DataKind::Stock, &Subject::Location("west"))
                .applies()
        );
        let mut b = registry(serde_json::json!({ "stock": { "west": "erp" } }));
        let (key, _) = b.adopt_inventory_authority(&old).unwrap_err();
        assert_eq!(key, "inventory.authority.west");
    }

    #[test]
    fn written_shapes_round_trip_and_bad_owners_are_named() {
        let a: Authority = serde_json::from_value(serde_json::json!({
            "order_status": "hub",
            "stock": { "default": "erp", "west": "warehouse:west" }
        }))
        .unwrap();
        let back = serde_json::to_value(&a).unwrap();
        assert_eq!(back["order_status"], "hub");
        assert_eq!(back["stock"]["west"], "warehouse:west");
        assert_eq!(back["stock"]["default"], "erp");
        let e = serde_json::from_value::<Authority>(serde_json::json!({ "prices": "warehous:x" }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"warehous:x\" names no system"), "{e}");
        let e = serde_json::from_value::<Authority>(serde_json::json!({ "stok": "erp" }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field"), "{e}");
    }
}
