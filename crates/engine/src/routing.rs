//! Fulfilment routing: which warehouse serves an order, decided by rules
//! written in CEL (the Common Expression Language) over facts about the
//! order and each candidate warehouse. Pure: no I/O, no clock.
//!
//! A [`Router`] is built once from [`RoutingOptions`] (every expression is
//! compiled then, and a bad one is a [`RoutingError`] naming the rule and
//! the field) and decides any number of [`RoutingInput`]s. Each
//! [`RoutingDecision`] ranks every candidate with the reasons for its place,
//! so it can be stored on the order's timeline and explained later; the
//! input and the decision are both (de)serializable for that.
//!
//! On top of the rules, a warehouse is ineligible when it cannot serve every
//! open line, is down (breaker open), does not offer the order's service
//! level, or has shipped its daily capacity. Eligible warehouses are ranked
//! by the sum of the scores of the applicable rules (lower is better), ties
//! by the order of `warehouses` in the configuration, then by name.
//! Candidates without a profile come after the profiled ones, in the order
//! given; with no profiles at all the order given is kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use cel::{Context, Env, Program, Value};
use serde::{Deserialize, Serialize};

/// The `[routing]` configuration: rules and warehouse profiles.
/// Kind of the timeline event that records a routing decision, with
/// `{"input": RoutingInput, "decision": RoutingDecision}` as its detail.
pub const ROUTING_EVENT: &str = "routing_decision";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingOptions {
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
    #[serde(default)]
    pub warehouses: Vec<WarehouseProfile>,
}

/// What routing knows about a warehouse beyond its live facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseProfile {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Relative cost per shipment (minor units or points).
    #[serde(default)]
    pub cost: i64,
    /// Service levels offered; empty means all.
    #[serde(default)]
    pub service_levels: Vec<String>,
    /// Shipments per day; none means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_capacity: Option<u32>,
}

/// One routing rule. Expressions are CEL; `when` sees `order`, `require` and
/// `score` see `order` and `warehouse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    pub name: String,
    /// Bool over `order`: the rule applies only when true (always when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Bool over `order` and `warehouse`: false makes the warehouse ineligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<String>,
    /// Number over `order` and `warehouse`: lower is better; the scores of
    /// the applicable rules add up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
}

/// The order as routing rules see it (`order` in CEL). Money is in integer
/// minor units; unknown strings are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFacts {
    pub id: String,
    pub channel: String,
    pub service_level: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub postal_code: String,
    /// Open units over all lines.
    pub units: i64,
    /// Open lines.
    pub line_count: i64,
    /// Order total in minor units of its currency.
    pub total_minor: i64,
    /// SKUs of the open lines, in line order, without repeats.
    pub skus: Vec<String>,
    /// Open units per SKU (also used to explain a shortage).
    #[serde(default)]
    pub quantities: BTreeMap<String, i64>,
}

/// The live facts of one candidate warehouse, as the engine saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateFacts {
    pub name: String,
    /// Every open line has stock there.
    pub can_serve_all: bool,
    /// Available units (on hand − reserved) per SKU of the order.
    #[serde(default)]
    pub available: BTreeMap<String, i64>,
    /// Shipments released there today.
    #[serde(default)]
    pub shipped_today: i64,
    /// Its breaker is open.
    #[serde(default)]
    pub down: bool,
}

/// What a routing decision is made from; stored beside the decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingInput {
    pub order: OrderFacts,
    /// In the engine's configuration order.
    pub candidates: Vec<CandidateFacts>,
}

/// One candidate's place in a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedCandidate {
    pub warehouse: String,
    pub eligible: bool,
    /// Sum of the applicable rules' scores (weights, not money).
    pub score: f64,
    /// Why: every rule that applied and every built-in exclusion.
    pub reasons: Vec<String>,
}

/// The outcome of routing one order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// Every candidate, eligible ones first, best first.
    pub ranking: Vec<RankedCandidate>,
    /// Eligible warehouses, best first.
    pub order: Vec<String>,
    /// One readable sentence.
    pub reason: String,
    /// Short hash of the routing options (rules and profiles) used.
    pub rules_digest: String,
}

impl RoutingDecision {
    /// The warehouse chosen, if any is eligible.
    pub fn chosen(&self) -> Option<&str> {
        self.order.first().map(String::as_str)
    }
}

/// A routing configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// An expression does not compile, or refers to what it cannot see.
    #[error("rules[{index}].{field} (rule {rule:?}): {message}")]
    Expression {
        index: usize,
        rule: String,
        field: &'static str,
        message: String,
    },
    /// Anything else wrong with a rule or a profile.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

struct CompiledRule {
    name: String,
    when: Option<Program>,
    require: Option<Program>,
    score: Option<Program>,
}

/// Compiled routing rules and profiles. Cheap to share (`Send + Sync`).
pub struct Router {
    env: Arc<Env>,
    rules: Vec<CompiledRule>,
    profiles: Vec<WarehouseProfile>,
    digest: String,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("rules", &self.rules.len())
            .field("profiles", &self.profiles)
            .field("digest", &self.digest)
            .finish()
    }
}

/// The `warehouse` variable: the profile merged with the live facts.
#[derive(Serialize)]
struct WarehouseFacts<'a> {
    name: &'a str,
    region: &'a str,
    country: &'a str,
    cost: i64,
    service_levels: &'a [String],
    can_serve_all: bool,
    available: &'a BTreeMap<String, i64>,
    shipped_today: i64,
    daily_capacity: i64,
    down: bool,
}

fn parse_message(e: &cel::ParseErrors) -> String {
    let parts: Vec<String> = e
        .errors
        .iter()
        .map(|p| format!("{}:{}: {}", p.pos.0, p.pos.1, p.msg))
        .collect();
    if parts.is_empty() {
        "does not parse".to_owned()
    } else {
        parts.join("; ")
    }
}

fn value_type(v: &Value) -> String {
    format!("{:?}", v.type_of()).to_lowercase()
}

impl Router {
    /// Compile every expression of `options` once.
    pub fn new(options: &RoutingOptions) -> Result<Router, RoutingError> {
        let env = Arc::new(Env::stdlib());
        let mut rules = Vec::with_capacity(options.rules.len());
        let mut names = std::collections::HashSet::new();
        for (index, rule) in options.rules.iter().enumerate() {
            if rule.name.trim().is_empty() {
                return Err(RoutingError::Invalid {
                    path: format!("rules[{index}].name"),
                    message: "a rule needs a name".into(),
                });
            }
            if !names.insert(rule.name.as_str()) {
                return Err(RoutingError::Invalid {
                    path: format!("rules[{index}].name"),
                    message: format!("rule {:?} is defined twice", rule.name),
                });
            }
            if rule.require.is_none() && rule.score.is_none() {
                return Err(RoutingError::Invalid {
                    path: format!("rules[{index}]"),
                    message: format!(
                        "rule {:?} has neither `require` nor `score`: it would do nothing",
                        rule.name
                    ),
                });
            }
            let compile = |field: &'static str,
                           source: &Option<String>,
                           sees_warehouse: bool|
             -> Result<Option<Program>, RoutingError> {
                let Some(source) = source else {
                    return Ok(None);
                };
                let err = |message: String| RoutingError::Expression {
                    index,
                    rule: rule.name.clone(),
                    field,
                    message,
                };
                if source.trim().is_empty() {
                    return Err(err("empty expression".into()));
                }
                let program = env.compile(source).map_err(|e| err(parse_message(&e)))?;
                if !sees_warehouse && program.references().has_variable("warehouse") {
                    return Err(err(
                        "`when` sees only `order`; test `warehouse` in `require` or `score`".into(),
                    ));
                }
                Ok(Some(program))
            };
            rules.push(CompiledRule {
                name: rule.name.clone(),
                when: compile("when", &rule.when, false)?,
                require: compile("require", &rule.require, true)?,
                score: compile("score", &rule.score, true)?,
            });
        }
        let mut seen = std::collections::HashSet::new();
        for (index, w) in options.warehouses.iter().enumerate() {
            if w.name.trim().is_empty() {
                return Err(RoutingError::Invalid {
                    path: format!("warehouses[{index}].name"),
                    message: "a warehouse profile needs a name".into(),
                });
            }
            if !seen.insert(w.name.as_str()) {
                return Err(RoutingError::Invalid {
                    path: format!("warehouses[{index}].name"),
                    message: format!("warehouse {:?} is profiled twice", w.name),
                });
            }
        }
        Ok(Router {
            env,
            rules,
            profiles: options.warehouses.clone(),
            digest: digest(options),
        })
    }

    /// Whether any warehouse has a daily capacity, i.e. whether callers
    /// need to count what each released today.
    pub fn uses_capacity(&self) -> bool {
        self.profiles.iter().any(|p| p.daily_capacity.is_some())
    }

    /// Short hash of the options this router was built from.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Rank the candidates of `input`. Never fails: an expression that fails
    /// to evaluate makes the warehouse ineligible, with the error as a reason.
    pub fn decide(&self, input: &RoutingInput) -> RoutingDecision {
        let order = &input.order;
        // One context per order; each warehouse gets an inner scope.
        let mut root = Context::with_env(Arc::clone(&self.env));
        let order_value = cel::to_value(order);
        let order_error = match order_value {
            Ok(v) => {
                root.add_variable_from_value("order", v);
                None
            }
            Err(e) => Some(format!("order facts: {e}")),
        };
        // `when` depends on the order alone: evaluate it once.
        let applicable: Vec<Result<bool, String>> = self
            .rules
            .iter()
            .map(|r| match (&r.when, &order_error) {
                (_, Some(e)) => Err(e.clone()),
                (None, None) => Ok(true),
                (Some(p), None) => match p.execute(&root) {
                    Ok(Value::Bool(b)) => Ok(b),
                    Ok(other) => Err(format!(
                        "rule {}: when: expected a bool, got {}",
                        r.name,
                        value_type(&other)
                    )),
                    Err(e) => Err(format!("rule {}: when: {e}", r.name)),
                },
            })
            .collect();

        struct Row {
            ranked: RankedCandidate,
            position: usize,
        }
        let mut rows: Vec<Row> = Vec::with_capacity(input.candidates.len());
        for (index, cand) in input.candidates.iter().enumerate() {
            let profile_at = self.profiles.iter().position(|p| p.name == cand.name);
            let profile = profile_at.map(|i| &self.profiles[i]);
            let position = profile_at.unwrap_or(self.profiles.len() + index);
            let mut reasons = Vec::new();
            let mut eligible = true;
            let mut score = 0.0_f64;

            if cand.down {
                eligible = false;
                reasons.push("down (breaker open)".to_owned());
            }
            if !cand.can_serve_all {
                eligible = false;
                let mut specific = false;
                for sku in &order.skus {
                    let have = cand.available.get(sku).copied().unwrap_or(0);
                    let need = order.quantities.get(sku).copied().unwrap_or(1);
                    if have <= 0 {
                        reasons.push(format!("no stock for {sku}"));
                        specific = true;
                    } else if have < need {
                        reasons.push(format!("short of {sku} (needs {need}, has {have})"));
                        specific = true;
                    }
                }
                if !specific {
                    reasons.push("cannot serve every open line".to_owned());
                }
            }
            if let Some(p) = profile {
                if !p.service_levels.is_empty() && !p.service_levels.contains(&order.service_level)
                {
                    eligible = false;
                    reasons.push(format!(
                        "does not offer service level {:?} (offers {})",
                        order.service_level,
                        p.service_levels.join(", ")
                    ));
                }
                if let Some(cap) = p.daily_capacity
                    && cand.shipped_today >= i64::from(cap)
                {
                    eligible = false;
                    reasons.push(format!(
                        "at capacity ({} of {cap} shipped today)",
                        cand.shipped_today
                    ));
                }
            }

            if !self.rules.is_empty() {
                let facts = WarehouseFacts {
                    name: &cand.name,
                    region: profile.and_then(|p| p.region.as_deref()).unwrap_or(""),
                    country: profile.and_then(|p| p.country.as_deref()).unwrap_or(""),
                    cost: profile.map_or(0, |p| p.cost),
                    service_levels: profile.map_or(&[], |p| p.service_levels.as_slice()),
                    can_serve_all: cand.can_serve_all,
                    available: &cand.available,
                    shipped_today: cand.shipped_today,
                    daily_capacity: profile.and_then(|p| p.daily_capacity).map_or(-1, i64::from),
                    down: cand.down,
                };
                let mut scope = root.new_inner_scope();
                let facts_error = match cel::to_value(&facts) {
                    Ok(v) => {
                        scope.add_variable_from_value("warehouse", v);
                        None
                    }
                    Err(e) => Some(format!("warehouse facts: {e}")),
                };
                for (rule, applies) in self.rules.iter().zip(&applicable) {
                    match applies {
                        Ok(false) => continue,
                        Err(e) => {
                            eligible = false;
                            reasons.push(e.clone());
                            continue;
                        }
                        Ok(true) => {}
                    }
                    if let Some(e) = &facts_error {
                        eligible = false;
                        reasons.push(format!("rule {}: {e}", rule.name));
                        continue;
                    }
                    if let Some(p) = &rule.require {
                        match p.execute(&scope) {
                            Ok(Value::Bool(true)) => {}
                            Ok(Value::Bool(false)) => {
                                eligible = false;
                                reasons.push(format!("rule {}: require false", rule.name));
                            }
                            Ok(other) => {
                                eligible = false;
                                reasons.push(format!(
                                    "rule {}: require: expected a bool, got {}",
                                    rule.name,
                                    value_type(&other)
                                ));
                            }
                            Err(e) => {
                                eligible = false;
                                reasons.push(format!("rule {}: require: {e}", rule.name));
                            }
                        }
                    }
                    if let Some(p) = &rule.score {
                        let got = match p.execute(&scope) {
                            Ok(Value::Int(i)) => Ok(i as f64),
                            Ok(Value::UInt(u)) => Ok(u as f64),
                            Ok(Value::Float(f)) if f.is_finite() => Ok(f),
                            Ok(Value::Float(f)) => Err(format!("not a finite number ({f})")),
                            Ok(other) => {
                                Err(format!("expected a number, got {}", value_type(&other)))
                            }
                            Err(e) => Err(e.to_string()),
                        };
                        match got {
                            Ok(s) => {
                                score += s;
                                reasons.push(format!("rule {}: score {}", rule.name, signed(s)));
                            }
                            Err(e) => {
                                eligible = false;
                                reasons.push(format!("rule {}: score: {e}", rule.name));
                            }
                        }
                    }
                }
            }
            rows.push(Row {
                ranked: RankedCandidate {
                    warehouse: cand.name.clone(),
                    eligible,
                    score,
                    reasons,
                },
                position,
            });
        }

        rows.sort_by(|a, b| {
            b.ranked
                .eligible
                .cmp(&a.ranked.eligible)
                .then(a.ranked.score.total_cmp(&b.ranked.score))
                .then(a.position.cmp(&b.position))
                .then_with(|| a.ranked.warehouse.cmp(&b.ranked.warehouse))
        });
        let ranking: Vec<RankedCandidate> = rows.into_iter().map(|r| r.ranked).collect();
        let order_names: Vec<String> = ranking
            .iter()
            .filter(|r| r.eligible)
            .map(|r| r.warehouse.clone())
            .collect();
        let reason = sentence(&ranking, &order_names);
        RoutingDecision {
            ranking,
            order: order_names,
            reason,
            rules_digest: self.digest.clone(),
        }
    }
}

/// `+10`, `-2.5`, `+0`.
fn signed(s: f64) -> String {
    if s < 0.0 {
        format!("{s}")
    } else {
        format!("+{s}")
    }
}

fn sentence(ranking: &[RankedCandidate], eligible: &[String]) -> String {
    let ineligible: Vec<String> = ranking
        .iter()
        .filter(|r| !r.eligible)
        .map(|r| format!("{}: {}", r.warehouse, r.reasons.join(", ")))
        .collect();
    let Some(best) = ranking.iter().find(|r| r.eligible) else {
        if ranking.is_empty() {
            return "no candidate warehouse".to_owned();
        }
        return format!("no eligible warehouse; {}", ineligible.join("; "));
    };
    let all_tied = ranking
        .iter()
        .filter(|r| r.eligible)
        .all(|r| r.score == best.score);
    let mut s = if eligible.len() == 1 {
        format!(
            "{}: the only eligible (score {})",
            best.warehouse, best.score
        )
    } else if all_tied {
        format!(
            "{}: first in configuration order, all tied (score {}) of {}",
            best.warehouse,
            best.score,
            eligible.join(", ")
        )
    } else {
        format!(
            "{}: lowest score ({}) of {}",
            best.warehouse,
            best.score,
            eligible.join(", ")
        )
    };
    if !ineligible.is_empty() {
        s.push_str("; ineligible: ");
        s.push_str(&ineligible.join("; "));
    }
    s
}

/// FNV-1a (64 bits) of the options' canonical JSON, as 12 hex digits:
/// enough to tell rule-set versions apart (not a security hash).
fn digest(options: &RoutingOptions) -> String {
    let text = serde_json::to_string(options).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(service_level: &str) -> OrderFacts {
        OrderFacts {
            id: "o-1".into(),
            channel: "webstore".into(),
            service_level: service_level.into(),
            country: "US".into(),
            region: "east".into(),
            postal_code: "10001".into(),
            units: 3,
            line_count: 2,
            total_minor: 4_599,
            skus: vec!["SKU-001".into(), "SKU-003".into()],
            quantities: BTreeMap::from([("SKU-001".into(), 2), ("SKU-003".into(), 1)]),
        }
    }

    fn cand(name: &str) -> CandidateFacts {
        CandidateFacts {
            name: name.into(),
            can_serve_all: true,
            available: BTreeMap::from([("SKU-001".into(), 10), ("SKU-003".into(), 5)]),
            shipped_today: 0,
            down: false,
        }
    }

    fn profile(name: &str, region: &str, cost: i64) -> WarehouseProfile {
        WarehouseProfile {
            name: name.into(),
            region: Some(region.into()),
            country: Some("US".into()),
            cost,
            service_levels: vec![],
            daily_capacity: None,
        }
    }

    fn rule(
        name: &str,
        when: Option<&str>,
        require: Option<&str>,
        score: Option<&str>,
    ) -> RoutingRule {
        RoutingRule {
            name: name.into(),
            when: when.map(str::to_owned),
            require: require.map(str::to_owned),
            score: score.map(str::to_owned),
        }
    }

    fn input(service_level: &str, names: &[&str]) -> RoutingInput {
        RoutingInput {
            order: order(service_level),
            candidates: names.iter().map(|n| cand(n)).collect(),
        }
    }

    #[test]
    fn router_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Router>();
    }

    #[test]
    fn default_keeps_the_candidates_order() {
        let router = Router::new(&RoutingOptions::default()).unwrap();
        let d = router.decide(&input("standard", &["west", "east", "north"]));
        assert_eq!(d.order, ["west", "east", "north"]);
        assert_eq!(d.chosen(), Some("west"));
        assert!(
            d.ranking
                .iter()
                .all(|r| r.reasons.is_empty() && r.score == 0.0)
        );
        assert_eq!(
            d.reason,
            "west: first in configuration order, all tied (score 0) of west, east, north"
        );
        assert_eq!(d.rules_digest, router.digest());
        assert_eq!(d.rules_digest.len(), 12);
        // The first that can serve every line, as before rules existed.
        let mut i = input("standard", &["west", "east"]);
        i.candidates[0].can_serve_all = false;
        i.candidates[0].available.insert("SKU-003".into(), 0);
        let d = router.decide(&i);
        assert_eq!(d.order, ["east"]);
        assert_eq!(d.ranking[1].reasons, ["no stock for SKU-003"]);
        assert_eq!(
            d.reason,
            "east: the only eligible (score 0); ineligible: west: no stock for SKU-003"
        );
    }

    #[test]
    fn require_excludes() {
        let router = Router::new(&RoutingOptions {
            rules: vec![rule(
                "domestic",
                None,
                Some("warehouse.country == order.country"),
                None,
            )],
            warehouses: vec![
                WarehouseProfile {
                    country: Some("CA".into()),
                    ..profile("toronto", "east", 1)
                },
                profile("east", "east", 5),
            ],
        })
        .unwrap();
        let d = router.decide(&input("standard", &["toronto", "east"]));
        assert_eq!(d.order, ["east"]);
        assert_eq!(d.ranking[1].warehouse, "toronto");
        assert!(!d.ranking[1].eligible);
        assert_eq!(d.ranking[1].reasons, ["rule domestic: require false"]);
        assert_eq!(
            d.reason,
            "east: the only eligible (score 0); ineligible: toronto: rule domestic: require false"
        );
    }

    #[test]
    fn scores_rank_and_add_up() {
        let options = RoutingOptions {
            rules: vec![
                rule("cost", None, None, Some("warehouse.cost")),
                rule(
                    "express-near",
                    Some("order.service_level == 'expedited'"),
                    None,
                    Some("warehouse.region == order.region ? 0 : 100"),
                ),
            ],
            warehouses: vec![
                profile("west", "west", 3),
                profile("east", "east", 7),
                profile("central", "central", 3),
            ],
        };
        let router = Router::new(&options).unwrap();
        // Standard: cost alone; west and central tie on 3, configuration order.
        let d = router.decide(&input("standard", &["east", "central", "west"]));
        assert_eq!(d.order, ["west", "central", "east"]);
        assert_eq!(d.ranking[0].reasons, ["rule cost: score +3"]);
        assert_eq!(d.reason, "west: lowest score (3) of west, central, east");
        // Expedited: the rule for the order's region applies.
        let d = router.decide(&input("expedited", &["east", "central", "west"]));
        assert_eq!(d.order, ["east", "west", "central"]);
        assert_eq!(
            d.ranking[0].reasons,
            ["rule cost: score +7", "rule express-near: score +0"]
        );
        assert_eq!(d.ranking[1].score, 103.0);
        assert_eq!(
            d.ranking[1].reasons,
            ["rule cost: score +3", "rule express-near: score +100"]
        );
        // Floats are weights and may mix in.
        let router = Router::new(&RoutingOptions {
            rules: vec![rule(
                "half",
                None,
                None,
                Some("double(warehouse.cost) * 0.5"),
            )],
            ..options
        })
        .unwrap();
        let d = router.decide(&input("standard", &["east"]));
        assert_eq!(d.ranking[0].score, 3.5);
        assert_eq!(d.ranking[0].reasons, ["rule half: score +3.5"]);
    }

    #[test]
    fn down_capacity_and_service_level_exclude_with_reasons() {
        let router = Router::new(&RoutingOptions {
            rules: vec![],
            warehouses: vec![
                WarehouseProfile {
                    daily_capacity: Some(100),
                    ..profile("full", "east", 0)
                },
                WarehouseProfile {
                    service_levels: vec!["standard".into()],
                    ..profile("slow", "east", 0)
                },
                profile("broken", "east", 0),
                profile("ok", "east", 0),
            ],
        })
        .unwrap();
        let mut i = input("expedited", &["full", "slow", "broken", "ok"]);
        i.candidates[0].shipped_today = 100;
        i.candidates[2].down = true;
        let d = router.decide(&i);
        assert_eq!(d.order, ["ok"]);
        let reasons: Vec<(&str, &[String])> = d
            .ranking
            .iter()
            .map(|r| (r.warehouse.as_str(), r.reasons.as_slice()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("ok", &[][..]),
                (
                    "full",
                    &["at capacity (100 of 100 shipped today)".to_owned()][..]
                ),
                (
                    "slow",
                    &["does not offer service level \"expedited\" (offers standard)".to_owned()][..]
                ),
                ("broken", &["down (breaker open)".to_owned()][..]),
            ]
        );
        // Under capacity and a level it offers: eligible again.
        let mut i = input("standard", &["full", "slow"]);
        i.candidates[0].shipped_today = 99;
        assert_eq!(router.decide(&i).order, ["full", "slow"]);
        // A shortage names the SKU and the quantities.
        let mut i = input("standard", &["ok"]);
        i.candidates[0].can_serve_all = false;
        i.candidates[0].available.insert("SKU-001".into(), 1);
        let d = router.decide(&i);
        assert!(d.order.is_empty());
        assert_eq!(
            d.reason,
            "no eligible warehouse; ok: short of SKU-001 (needs 2, has 1)"
        );
    }

    #[test]
    fn evaluation_errors_make_the_warehouse_ineligible() {
        let router = Router::new(&RoutingOptions {
            rules: vec![
                rule(
                    "stock",
                    None,
                    Some("warehouse.available['SKU-404'] > 0"),
                    None,
                ),
                rule("typo", None, None, Some("warehouse.cost + 'x'")),
                rule("not-bool", None, Some("warehouse.cost"), None),
                rule("bad-when", Some("order.nope == 1"), None, Some("1")),
            ],
            warehouses: vec![],
        })
        .unwrap();
        let d = router.decide(&input("standard", &["east"]));
        assert!(d.order.is_empty());
        let r = &d.ranking[0];
        assert!(!r.eligible);
        assert_eq!(r.reasons.len(), 4, "{:?}", r.reasons);
        assert_eq!(r.reasons[0], "rule stock: require: No such key: SKU-404");
        assert!(
            r.reasons[1].starts_with("rule typo: score: "),
            "{}",
            r.reasons[1]
        );
        assert_eq!(
            r.reasons[2],
            "rule not-bool: require: expected a bool, got int"
        );
        assert!(
            r.reasons[3].starts_with("rule bad-when: when: "),
            "{}",
            r.reasons[3]
        );
        assert!(
            d.reason
                .starts_with("no eligible warehouse; east: rule stock")
        );
    }

    #[test]
    fn compile_errors_name_the_rule_and_field() {
        let e = Router::new(&RoutingOptions {
            rules: vec![
                rule("fine", None, None, Some("1")),
                rule("fine-too", None, Some("true"), None),
                rule("broken", None, None, Some("warehouse.cost +")),
            ],
            warehouses: vec![],
        })
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("rules[2].score (rule \"broken\"): "),
            "{text}"
        );
        assert!(matches!(
            e,
            RoutingError::Expression {
                index: 2,
                field: "score",
                ..
            }
        ));

        let e = Router::new(&RoutingOptions {
            rules: vec![rule("w", Some("warehouse.down"), Some("true"), None)],
            warehouses: vec![],
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("rules[0].when (rule \"w\"): `when` sees only `order`")
        );

        let e = Router::new(&RoutingOptions {
            rules: vec![rule("idle", Some("true"), None, None)],
            warehouses: vec![],
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "rules[0]: rule \"idle\" has neither `require` nor `score`: it would do nothing"
        );
    }

    #[test]
    fn digest_tells_rule_sets_apart() {
        let a = Router::new(&RoutingOptions::default()).unwrap();
        let b = Router::new(&RoutingOptions {
            rules: vec![rule("cost", None, None, Some("warehouse.cost"))],
            warehouses: vec![],
        })
        .unwrap();
        assert_ne!(a.digest(), b.digest());
        assert_eq!(
            a.digest(),
            Router::new(&RoutingOptions::default()).unwrap().digest()
        );
    }

    #[test]
    fn input_and_decision_round_trip_as_json() {
        let router = Router::new(&RoutingOptions {
            rules: vec![rule(
                "cost",
                None,
                None,
                Some("double(warehouse.cost) / 4.0"),
            )],
            warehouses: vec![profile("east", "east", 3), profile("west", "west", 1)],
        })
        .unwrap();
        let i = input("standard", &["east", "west"]);
        let d = router.decide(&i);
        assert_eq!(d.order, ["west", "east"]);
        let json = serde_json::json!({ "input": i, "decision": d });
        let text = serde_json::to_string(&json).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        let i2: RoutingInput = serde_json::from_value(back["input"].clone()).unwrap();
        let d2: RoutingDecision = serde_json::from_value(back["decision"].clone()).unwrap();
        assert_eq!(i2, i);
        assert_eq!(d2, d);
        // And the options, from TOML-shaped JSON, refuse unknown fields.
        let bad = serde_json::json!({ "rules": [{ "name": "x", "scor": "1" }] });
        assert!(serde_json::from_value::<RoutingOptions>(bad).is_err());
    }
}

#[cfg(test)]
mod cel_pitfalls {
    use super::*;

    /// CEL compares int with double, but does not mix them in arithmetic:
    /// such a score is an evaluation error (so the warehouse is ineligible),
    /// and `double(...)` is the fix.
    #[test]
    fn int_and_double_do_not_mix_in_arithmetic() {
        let options = |score: &str| RoutingOptions {
            rules: vec![RoutingRule {
                name: "mix".into(),
                when: Some("order.total_minor < 100.5".into()),
                require: None,
                score: Some(score.into()),
            }],
            warehouses: vec![],
        };
        let input = RoutingInput {
            order: OrderFacts {
                total_minor: 100,
                ..Default::default()
            },
            candidates: vec![CandidateFacts {
                name: "east".into(),
                can_serve_all: true,
                ..Default::default()
            }],
        };
        let d = Router::new(&options("warehouse.cost + 0.5"))
            .unwrap()
            .decide(&input);
        assert!(!d.ranking[0].eligible);
        assert!(
            d.ranking[0].reasons[0]
                .starts_with("rule mix: score: Unsupported binary operator 'add'"),
            "{:?}",
            d.ranking[0].reasons
        );
        let d = Router::new(&options("double(warehouse.cost) + 0.5"))
            .unwrap()
            .decide(&input);
        assert_eq!(d.order, ["east"]);
        assert_eq!(d.ranking[0].score, 0.5);
    }
}
