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

/// Kind of the timeline event that records a routing decision
/// ([`crossdock_store::events::TimelineEvent::RoutingDecision`]), with
/// `{"input": RoutingInput, "decision": RoutingDecision}` as its detail.
pub const ROUTING_EVENT: &str = "routing_decision";

/// The `[routing]` configuration: rules and warehouse profiles.
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
    /// Releases there today: the slots of its daily capacity taken
    /// ([`capacity_day`]).
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

/// The day a daily capacity counts in, for a moment: its UTC day's first
/// millisecond.
pub fn capacity_day(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(86_400_000)
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

/// A CEL parse error as `line:column: message`s (rules and routing alike).
pub(crate) fn parse_message(e: &cel::ParseErrors) -> String {
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

/// The CEL type of a value, lower-case, for messages.
pub(crate) fn value_type(v: &Value) -> String {
    format!("{:?}", v.type_of()).to_lowercase()
}

impl Router {
    /// Compile every expression of `options` once.
    pub fn new(options: &RoutingOptions) -> Result<Router, RoutingError> {
        let mut env = Env::stdlib();
        crate::cel_env::add_matches(&mut env).map_err(|message| RoutingError::Invalid {
            path: "rules".into(),
            message,
        })?;
        let env = Arc::new(env);
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
            digest: short_digest(options),
        })
    }

    /// Whether any warehouse has a daily capacity, i.e. whether callers
    /// need to count what each released today.
    pub fn uses_capacity(&self) -> bool {
        self.profiles.iter().any(|p| p.daily_capacity.is_some())
    }

    /// `warehouse`'s daily capacity, if its profile has one.
    pub fn daily_capacity(&self, warehouse: &str) -> Option<u32> {
        self.profiles
            .iter()
            .find(|p| p.name == warehouse)
            .and_then(|p| p.daily_capacity)
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
        let order_error = match crate::cel_env::facts_val(order) {
            Ok(v) => {
                root.add_variable_as_val("order", v);
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
                let facts_error = match crate::cel_env::facts_val(&facts) {
                    Ok(v) => {
                        scope.add_variable_as_val("warehouse", v);
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

/// FNV-1a (64 bits) of a rule set's canonical JSON, as 12 hex digits:
/// enough to tell rule-set versions apart (not a security hash). Routing
/// and order rules both stamp their decisions with it.
pub(crate) fn short_digest<T: Serialize>(options: &T) -> String {
    let text = serde_json::to_string(options).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")[..12].to_owned()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod cel_pitfalls;
