//! Order rules: validation, enrichment, holds and tax treatment, written in
//! CEL with its string and list extensions (routing uses plain CEL) over [`RuleFacts`] — the order, the customer's
//! history, orders to the same address, the channel and the catalogue.
//! Pure: no I/O, no clock (the caller says when the order is judged).
//!
//! [`Rules`] is built once from [`RulesOptions`]: every expression is
//! compiled, every field path it reads is checked against the facts'
//! shape, and every expression is run once on a sample order so a wrong
//! result type (a `require` that yields a number) is refused at
//! `config check` and at start, never met by an order. [`Rules::evaluate`]
//! never fails: a rule that errors, returns the wrong type or runs past its
//! budget fails closed — the order goes to the exception queue with the
//! rule named.
//!
//! Kinds run in this order, each in configuration order: `enrich` (each
//! sees what earlier ones set), `validate` (every failure is reported),
//! `hold` (the first matching applies) and `tax` (the first matching
//! decides; none = the connector's default stands).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use cel::{Context, Env, Program, Value};

use crate::routing::{parse_message, value_type};
use crossdock_model::TaxTreatment;
use serde::{Deserialize, Serialize};

mod check;
mod evaluate;
pub mod facts;
mod values;

pub use facts::{
    AddressFact, AddressFacts, ChannelFacts, CustomerFacts, LineFacts, OrderRuleFacts, PastOrder,
    RuleFacts, SkuStock, sample_facts,
};

/// Kind of the timeline event that records a rules evaluation
/// ([`crossdock_store::events::TimelineEvent::RulesEvaluated`]), with
/// `{"facts": RuleFacts, "outcome": RulesOutcome}` as its detail.
pub const RULES_EVENT: &str = "rules_evaluated";

const DEFAULT_BUDGET_US: u64 = 5_000;

fn default_budget_us() -> u64 {
    DEFAULT_BUDGET_US
}

/// The `[rules]` configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesOptions {
    /// CPU time one expression may take, in µs; past it the rule fails
    /// closed (the order goes to the exception queue).
    #[serde(default = "default_budget_us")]
    pub budget_us: u64,
    /// SKU prefix → category (`line.category`, `order.categories`); the
    /// longest matching prefix wins.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, String>,
    /// Channel name → where that marketplace collects and remits sales tax
    /// itself: countries (`"US"`) or country-regions (`"US-CA"`); read as
    /// `channel.facilitator`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facilitator: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validate: Vec<ValidateRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enrich: Vec<EnrichRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hold: Vec<HoldRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tax: Vec<TaxRule>,
}

impl Default for RulesOptions {
    fn default() -> Self {
        RulesOptions {
            budget_us: DEFAULT_BUDGET_US,
            categories: BTreeMap::new(),
            facilitator: BTreeMap::new(),
            validate: Vec::new(),
            enrich: Vec::new(),
            hold: Vec::new(),
            tax: Vec::new(),
        }
    }
}

/// `require` must hold (when `when` does), or the order fails validation
/// with `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateRule {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub require: String,
    pub message: String,
}

/// When `when` holds (always when absent), each `set` field takes its
/// expression's value. Fields: `service_level`, `customer_group` (strings),
/// `gift` (bool), `priority` (int).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichRule {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub set: BTreeMap<String, String>,
}

/// When `when` holds, the order is held with `reason` before the ERP; it
/// keeps its reservation. `expires` ("24h", "30m"): the hold lapses by
/// itself after that long; absent = only an operator releases it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRule {
    pub name: String,
    pub when: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// When `when` holds, the order's tax treatment is `treatment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRule {
    pub name: String,
    pub when: String,
    pub treatment: TaxTreatment,
}

/// The four kinds of order rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Enrich,
    Validate,
    Hold,
    Tax,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Enrich => "enrich",
            RuleKind::Validate => "validate",
            RuleKind::Hold => "hold",
            RuleKind::Tax => "tax",
        }
    }
}

/// A rules configuration that cannot be used. Each names the rule, so the
/// configuration check can point at its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// An expression does not parse, reads what rules cannot see, or
    /// yields the wrong type.
    #[error("rules.{kind}[{index}].{field} (rule {rule:?}): {message}")]
    Expression {
        kind: &'static str,
        index: usize,
        rule: String,
        field: String,
        message: String,
    },
    /// Anything else wrong with a rule.
    #[error("{path} (rule {rule:?}): {message}")]
    Invalid {
        path: String,
        rule: String,
        message: String,
    },
}

impl RulesError {
    /// The rule the error is about.
    pub fn rule(&self) -> &str {
        match self {
            RulesError::Expression { rule, .. } | RulesError::Invalid { rule, .. } => rule,
        }
    }
}

/// A field enrichment may set, with the type its expression must yield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ServiceLevel,
    CustomerGroup,
    Gift,
    Priority,
}

impl Field {
    const ALL: [(&'static str, Field); 4] = [
        ("service_level", Field::ServiceLevel),
        ("customer_group", Field::CustomerGroup),
        ("gift", Field::Gift),
        ("priority", Field::Priority),
    ];

    fn parse(s: &str) -> Option<Field> {
        Field::ALL.iter().find(|(n, _)| *n == s).map(|(_, f)| *f)
    }

    fn name(self) -> &'static str {
        Field::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }

    /// Read the field as enrichment has left it so far.
    fn get(self, o: &Enrichable) -> serde_json::Value {
        match self {
            Field::ServiceLevel => o.service_level.clone().into(),
            Field::CustomerGroup => o.customer_group.clone().into(),
            Field::Gift => o.gift.into(),
            Field::Priority => o.priority.into(),
        }
    }

    /// Write `v` into the fields, or say why it is the wrong type.
    fn set(self, o: &mut Enrichable, v: &Value) -> Result<(), String> {
        match (self, v) {
            (Field::ServiceLevel, Value::String(s)) => o.service_level = s.to_string(),
            (Field::CustomerGroup, Value::String(s)) => o.customer_group = s.to_string(),
            (Field::Gift, Value::Bool(b)) => o.gift = *b,
            (Field::Priority, Value::Int(i)) => o.priority = *i,
            (Field::Priority, Value::UInt(u)) => {
                o.priority = i64::try_from(*u).map_err(|_| format!("{u} is out of range"))?
            }
            (f, other) => {
                let want = match f {
                    Field::ServiceLevel | Field::CustomerGroup => "string",
                    Field::Gift => "bool",
                    Field::Priority => "int",
                };
                return Err(format!("expected {want}, got {}", value_type(other)));
            }
        }
        Ok(())
    }
}

/// The fields of the order enrichment may set, as the rules have set them
/// so far (the rest of the order facts never change while judging).
#[derive(Debug, Clone)]
struct Enrichable {
    service_level: String,
    customer_group: String,
    gift: bool,
    priority: i64,
}

impl Enrichable {
    fn of(o: &OrderRuleFacts) -> Self {
        Enrichable {
            service_level: o.service_level.clone(),
            customer_group: o.customer_group.clone(),
            gift: o.gift,
            priority: o.priority,
        }
    }
}

/// Index of a compiled expression in [`Rules::programs`]: rules with the
/// same expression text share one program, run once per order while the
/// order is unchanged (expressions are pure).
type ProgramId = usize;

enum Body {
    Require {
        program: ProgramId,
        message: String,
    },
    Set(Vec<(Field, ProgramId)>),
    Hold {
        reason: String,
        expires_ms: Option<i64>,
    },
    Tax(TaxTreatment),
}

struct CompiledRule {
    kind: RuleKind,
    name: Arc<str>,
    when: Option<ProgramId>,
    body: Body,
}

/// Compiled order rules. Cheap to share (`Send + Sync`).
pub struct Rules {
    env: Arc<Env>,
    rules: Vec<CompiledRule>,
    /// Every distinct expression of `rules`, compiled once.
    programs: Vec<Program>,
    options: RulesOptions,
    channel_kinds: BTreeMap<String, String>,
    budget: Duration,
    digest: String,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("rules", &self.rules.len())
            .field("digest", &self.digest)
            .finish()
    }
}

impl Default for Rules {
    fn default() -> Self {
        // No rules compile without error.
        Rules::new(&RulesOptions::default()).unwrap_or_else(|_| unreachable!())
    }
}

/// What one rule did to one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    pub kind: RuleKind,
    /// Shared with the compiled rule: recording it costs no copy.
    #[serde(with = "shared_str")]
    pub name: Arc<str>,
    /// `passed`, `failed: …`, `skipped: when is false`, `set …`, `held`,
    /// `matched (an earlier hold applies)`, `decided …`, `error: …`. The
    /// common outcomes are static text, not formatted per order.
    pub outcome: Cow<'static, str>,
}

/// `Arc<str>` as a plain string: serde's own impl needs its `rc` feature,
/// which this workspace does not turn on.
mod shared_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(de).map(Arc::from)
    }
}

/// A field an enrichment rule changed, with its value before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub rule: String,
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

impl FieldChange {
    /// Carry this change onto the canonical order: the one place that maps
    /// an enrichment field to the order's field. False for a field or value
    /// enrichment does not set (a record written by another version).
    pub fn apply_to(&self, order: &mut crossdock_model::Order) -> bool {
        use serde_json::Value as Json;
        match (Field::parse(&self.field), &self.after) {
            (Some(Field::ServiceLevel), Json::String(s)) => order.service_level = s.clone(),
            (Some(Field::CustomerGroup), Json::String(s)) => {
                order.customer_group = (!s.is_empty()).then(|| s.clone())
            }
            (Some(Field::Gift), Json::Bool(b)) => order.gift = *b,
            (Some(Field::Priority), Json::Number(n)) if n.is_i64() => {
                order.priority = n.as_i64().unwrap_or(order.priority)
            }
            _ => return false,
        }
        true
    }
}

/// The hold a rule places.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldDecision {
    pub rule: String,
    pub reason: String,
    /// How long until it lapses by itself, in ms; none = until released.
    pub expires_ms: Option<i64>,
}

/// The tax treatment a rule decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxDecision {
    pub rule: String,
    pub treatment: TaxTreatment,
}

/// The outcome of the rules on one order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesOutcome {
    /// Short hash of the rules used.
    pub digest: String,
    /// Every rule, in the order they ran.
    pub rules: Vec<RuleResult>,
    /// Failed validation rules: `rule: message`.
    pub failures: Vec<String>,
    /// Rules that could not be judged (error, wrong type, over budget):
    /// they fail closed.
    pub errors: Vec<String>,
    pub changes: Vec<FieldChange>,
    pub hold: Option<HoldDecision>,
    pub tax: Option<TaxDecision>,
}

impl RulesOutcome {
    /// Why the order cannot go on: every failed rule and every rule that
    /// failed closed. Empty = it passes.
    pub fn refusals(&self) -> Vec<String> {
        self.failures.iter().chain(&self.errors).cloned().collect()
    }

    /// The enrichment's final value of each field it set.
    pub fn final_values(&self) -> BTreeMap<&str, &serde_json::Value> {
        self.changes
            .iter()
            .map(|c| (c.field.as_str(), &c.after))
            .collect()
    }
}

/// What an expression must yield.
#[derive(Clone, Copy)]
enum Expect {
    Bool,
    Field(Field),
}

impl Rules {
    /// Compile and check every rule of `options` once.
    pub fn new(options: &RulesOptions) -> Result<Rules, RulesError> {
        let env = Arc::new(crate::cel_env::hub_env().map_err(|m| RulesError::Invalid {
            path: "rules".into(),
            rule: String::new(),
            message: m,
        })?);
        let shapes = check::FactShapes::new();
        let sample = sample_facts();
        let (sample_cx, _) = evaluate::context(&env, &sample);
        if options.budget_us == 0 {
            return Err(RulesError::Invalid {
                path: "rules.budget_us".into(),
                rule: String::new(),
                message: "must be at least 1".into(),
            });
        }
        let mut names = std::collections::HashSet::new();
        let mut rules = Vec::new();
        let mut compiler = Compiler {
            env: &env,
            shapes: &shapes,
            sample: &sample_cx,
            names: &mut names,
            programs: Vec::new(),
            interned: HashMap::new(),
        };
        for (i, r) in options.enrich.iter().enumerate() {
            let kind = RuleKind::Enrich;
            compiler.name(kind, i, &r.name)?;
            if r.set.is_empty() {
                return Err(invalid(kind, i, &r.name, "set", "sets no field"));
            }
            let mut sets = Vec::new();
            for (field, source) in &r.set {
                let f = Field::parse(field).ok_or_else(|| {
                    let known: Vec<&str> = Field::ALL.iter().map(|(n, _)| *n).collect();
                    invalid(
                        kind,
                        i,
                        &r.name,
                        &format!("set.{field}"),
                        &format!(
                            "enrichment cannot set {field:?} (it sets {})",
                            known.join(", ")
                        ),
                    )
                })?;
                let p = compiler.compile(
                    kind,
                    i,
                    &r.name,
                    &format!("set.{field}"),
                    source,
                    Expect::Field(f),
                )?;
                sets.push((f, p));
            }
            rules.push(CompiledRule {
                kind,
                name: r.name.as_str().into(),
                when: compiler.when(kind, i, &r.name, r.when.as_deref())?,
                body: Body::Set(sets),
            });
        }
        for (i, r) in options.validate.iter().enumerate() {
            let kind = RuleKind::Validate;
            compiler.name(kind, i, &r.name)?;
            if r.message.trim().is_empty() {
                return Err(invalid(
                    kind,
                    i,
                    &r.name,
                    "message",
                    "a failing order needs a message",
                ));
            }
            rules.push(CompiledRule {
                kind,
                name: r.name.as_str().into(),
                when: compiler.when(kind, i, &r.name, r.when.as_deref())?,
                body: Body::Require {
                    program: compiler.compile(
                        kind,
                        i,
                        &r.name,
                        "require",
                        &r.require,
                        Expect::Bool,
                    )?,
                    message: r.message.clone(),
                },
            });
        }
        for (i, r) in options.hold.iter().enumerate() {
            let kind = RuleKind::Hold;
            compiler.name(kind, i, &r.name)?;
            if r.reason.trim().is_empty() {
                return Err(invalid(kind, i, &r.name, "reason", "a hold needs a reason"));
            }
            let expires_ms = match &r.expires {
                None => None,
                Some(text) => {
                    let d = humantime::parse_duration(text).map_err(|e| {
                        invalid(kind, i, &r.name, "expires", &format!("{text:?}: {e}"))
                    })?;
                    if d.is_zero() {
                        return Err(invalid(
                            kind,
                            i,
                            &r.name,
                            "expires",
                            "must be longer than 0",
                        ));
                    }
                    Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                }
            };
            rules.push(CompiledRule {
                kind,
                name: r.name.as_str().into(),
                when: Some(compiler.compile(kind, i, &r.name, "when", &r.when, Expect::Bool)?),
                body: Body::Hold {
                    reason: r.reason.clone(),
                    expires_ms,
                },
            });
        }
        for (i, r) in options.tax.iter().enumerate() {
            let kind = RuleKind::Tax;
            compiler.name(kind, i, &r.name)?;
            rules.push(CompiledRule {
                kind,
                name: r.name.as_str().into(),
                when: Some(compiler.compile(kind, i, &r.name, "when", &r.when, Expect::Bool)?),
                body: Body::Tax(r.treatment),
            });
        }
        for (prefix, category) in &options.categories {
            if prefix.is_empty() || category.trim().is_empty() {
                return Err(RulesError::Invalid {
                    path: format!("rules.categories.{prefix:?}"),
                    rule: String::new(),
                    message: "needs a non-empty SKU prefix and category".into(),
                });
            }
        }
        let programs = compiler.programs;
        Ok(Rules {
            env,
            rules,
            programs,
            options: options.clone(),
            channel_kinds: BTreeMap::new(),
            budget: Duration::from_micros(options.budget_us),
            digest: crate::routing::short_digest(options),
        })
    }

    /// Tell the rules each channel's connector kind (`channel.kind`).
    pub fn with_channel_kinds(mut self, kinds: BTreeMap<String, String>) -> Rules {
        self.channel_kinds = kinds;
        self
    }

    /// Short hash of the options these rules were built from.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many distinct expressions the rules have (rules that share an
    /// expression's text share its program).
    pub fn expressions(&self) -> usize {
        self.programs.len()
    }

    /// The categories and stock facts of an order's SKUs come from the
    /// catalogue; the channel facts from the configuration.
    pub fn channel_facts(&self, channel: &str, ship_to: &AddressFact) -> ChannelFacts {
        ChannelFacts {
            name: channel.to_owned(),
            kind: self.channel_kinds.get(channel).cloned().unwrap_or_default(),
            facilitator: self
                .options
                .facilitator
                .get(channel)
                .is_some_and(|f| facts::facilitator_covers(f, ship_to)),
        }
    }

    /// The order facts of `order`, with its lines' catalogue facts.
    pub fn order_facts(
        &self,
        order: &crossdock_model::Order,
        stock: &BTreeMap<String, SkuStock>,
    ) -> OrderRuleFacts {
        facts::order_facts(order, stock, &self.options.categories)
    }
}

/// `merchant_collected`, `marketplace_facilitator`.
pub fn tax_name(t: TaxTreatment) -> &'static str {
    match t {
        TaxTreatment::MerchantCollected => "merchant_collected",
        TaxTreatment::MarketplaceFacilitator => "marketplace_facilitator",
    }
}

fn invalid(kind: RuleKind, index: usize, rule: &str, field: &str, message: &str) -> RulesError {
    RulesError::Invalid {
        path: format!("rules.{}[{index}].{field}", kind.as_str()),
        rule: rule.to_owned(),
        message: message.to_owned(),
    }
}

struct Compiler<'a> {
    env: &'a Arc<Env>,
    shapes: &'a check::FactShapes,
    sample: &'a Context<'a, 'a>,
    names: &'a mut std::collections::HashSet<String>,
    programs: Vec<Program>,
    /// Expression text → its program.
    interned: HashMap<String, ProgramId>,
}

impl Compiler<'_> {
    fn name(&mut self, kind: RuleKind, index: usize, name: &str) -> Result<(), RulesError> {
        if name.trim().is_empty() {
            return Err(invalid(kind, index, name, "name", "a rule needs a name"));
        }
        if !self.names.insert(name.to_owned()) {
            return Err(invalid(
                kind,
                index,
                name,
                "name",
                &format!("rule {name:?} is defined twice (names are shared by every kind)"),
            ));
        }
        Ok(())
    }

    fn when(
        &mut self,
        kind: RuleKind,
        index: usize,
        rule: &str,
        source: Option<&str>,
    ) -> Result<Option<ProgramId>, RulesError> {
        source
            .map(|s| self.compile(kind, index, rule, "when", s, Expect::Bool))
            .transpose()
    }

    /// Parse, check the field paths, and run once on the sample order to
    /// check the result's type; the same text compiled before gives the
    /// same program (checked again, so each rule's errors name it).
    fn compile(
        &mut self,
        kind: RuleKind,
        index: usize,
        rule: &str,
        field: &str,
        source: &str,
        expect: Expect,
    ) -> Result<ProgramId, RulesError> {
        let err = |message: String| RulesError::Expression {
            kind: kind.as_str(),
            index,
            rule: rule.to_owned(),
            field: field.to_owned(),
            message,
        };
        if source.trim().is_empty() {
            return Err(err("empty expression".into()));
        }
        let program = self
            .env
            .compile(source)
            .map_err(|e| err(parse_message(&e)))?;
        if let Some(m) = self.shapes.unknown_field(&program, source) {
            return Err(err(m));
        }
        let value = program
            .execute(self.sample)
            .map_err(|e| err(format!("fails on a sample order: {e}")))?;
        match expect {
            Expect::Bool if !matches!(value, Value::Bool(_)) => Err(err(format!(
                "must yield a bool, yields {}",
                value_type(&value)
            ))),
            Expect::Field(f) => {
                let mut probe = Enrichable::of(&sample_facts().order);
                f.set(&mut probe, &value)
                    .map_err(|m| err(format!("for {}: {m}", f.name())))?;
                Ok(self.intern(source, program))
            }
            Expect::Bool => Ok(self.intern(source, program)),
        }
    }

    fn intern(&mut self, source: &str, program: Program) -> ProgramId {
        if let Some(&id) = self.interned.get(source) {
            return id;
        }
        self.programs.push(program);
        let id = self.programs.len() - 1;
        self.interned.insert(source.to_owned(), id);
        id
    }
}

#[cfg(test)]
mod tests;
