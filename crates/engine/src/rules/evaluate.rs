//! [`Rules::evaluate`]: every rule on one order. This is the validate
//! step's per-order cost, so it is kept lean: the facts become CEL values
//! without serde ([`super::values`]), an expression shared by several rules
//! runs once while the order is unchanged, and the common outcomes are
//! static text.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use cel::common::types::{CelBool, CelInt, CelString};
use cel::common::value::Val;
use cel::{Context, Env, Program, Value};

use super::values::{FactVal, address_facts_val, channel_val, customer_val, order_val};
use super::{
    Body, Enrichable, FieldChange, HoldDecision, ProgramId, RuleFacts, RuleResult, Rules,
    RulesOutcome, TaxDecision, tax_name,
};
use crate::routing::value_type;

/// What each distinct expression gave on this order, once run; cleared
/// when enrichment changes the order.
type Memo = Vec<Option<Result<Value, String>>>;

impl Rules {
    /// Run every rule on `facts`. Never fails; see the module docs.
    pub fn evaluate(&self, facts: &RuleFacts) -> RulesOutcome {
        let mut out = RulesOutcome {
            digest: self.digest.clone(),
            ..RulesOutcome::default()
        };
        if self.rules.is_empty() {
            return out;
        }
        out.rules.reserve(self.rules.len());
        let mut order = Enrichable::of(&facts.order);
        let (mut cx, mut order_value) = context(&self.env, facts);
        let mut memo: Memo = vec![None; self.programs.len()];
        for rule in &self.rules {
            let mut result = |outcome: Cow<'static, str>| {
                out.rules.push(RuleResult {
                    kind: rule.kind,
                    name: Arc::clone(&rule.name),
                    outcome,
                })
            };
            let fail_closed = |e: &str| format!("{} ({}): {e}", rule.name, rule.kind.as_str());
            let applies = match rule.when {
                None => Ok(true),
                Some(p) => self.run(p, &cx, &mut memo).and_then(|v| match v {
                    Value::Bool(b) => Ok(b),
                    other => Err(format!("when: expected a bool, got {}", value_type(&other))),
                }),
            };
            let applies = match applies {
                Ok(a) => a,
                Err(e) => {
                    out.errors.push(fail_closed(&e));
                    result(format!("error: {e}").into());
                    continue;
                }
            };
            match &rule.body {
                Body::Hold { .. } | Body::Tax(_) if !applies => result("not matched".into()),
                _ if !applies => result("skipped: when is false".into()),
                Body::Require { program, message } => match self.run(*program, &cx, &mut memo) {
                    Ok(Value::Bool(true)) => result("passed".into()),
                    Ok(Value::Bool(false)) => {
                        out.failures.push(format!("{}: {message}", rule.name));
                        result(format!("failed: {message}").into());
                    }
                    Ok(other) => {
                        let e = format!("require: expected a bool, got {}", value_type(&other));
                        out.errors.push(fail_closed(&e));
                        result(format!("error: {e}").into());
                    }
                    Err(e) => {
                        out.errors.push(fail_closed(&e));
                        result(format!("error: {e}").into());
                    }
                },
                Body::Set(sets) => {
                    let mut said = Vec::new();
                    let mut failed = None;
                    let first_change = out.changes.len();
                    for (field, program) in sets {
                        let got = self
                            .run(*program, &cx, &mut memo)
                            .and_then(|v| {
                                let before = field.get(&order);
                                field
                                    .set(&mut order, &v)
                                    .map(|()| (before, field.get(&order)))
                            })
                            .map_err(|e| format!("set.{}: {e}", field.name()));
                        match got {
                            Ok((before, after)) => {
                                said.push(format!("{} = {after}", field.name()));
                                if before != after {
                                    out.changes.push(FieldChange {
                                        rule: rule.name.to_string(),
                                        field: field.name().to_owned(),
                                        before,
                                        after,
                                    });
                                }
                            }
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                    match failed {
                        Some(e) => {
                            out.errors.push(fail_closed(&e));
                            result(format!("error: {e}").into());
                        }
                        None => {
                            result(format!("set {}", said.join(", ")).into());
                            // Later rules see what this one set: the fields
                            // that changed go into a copy of the order's
                            // top-level map (its lines are shared, not
                            // converted again), and what expressions gave
                            // on the order before no longer holds.
                            let changed = &out.changes[first_change..];
                            if let Some(v) = with_fields(order_value.as_ref(), changed) {
                                cx.add_variable_as_val("order", v.clone_as_boxed());
                                order_value = v;
                                memo.iter_mut().for_each(|m| *m = None);
                            }
                        }
                    }
                }
                Body::Hold { reason, expires_ms } => {
                    if out.hold.is_some() {
                        result("matched (an earlier hold applies)".into());
                    } else {
                        out.hold = Some(HoldDecision {
                            rule: rule.name.to_string(),
                            reason: reason.clone(),
                            expires_ms: *expires_ms,
                        });
                        result(format!("held: {reason}").into());
                    }
                }
                Body::Tax(treatment) => {
                    if out.tax.is_some() {
                        result("matched (an earlier tax rule decided)".into());
                    } else {
                        out.tax = Some(TaxDecision {
                            rule: rule.name.to_string(),
                            treatment: *treatment,
                        });
                        result(format!("decided {}", tax_name(*treatment)).into());
                    }
                }
            }
        }
        out
    }

    /// Program `id`'s value on this order: what it gave before, or a run.
    fn run(&self, id: ProgramId, cx: &Context, memo: &mut Memo) -> Result<Value, String> {
        if let Some(Some(got)) = memo.get(id) {
            return got.clone();
        }
        let got = self.run_program(&self.programs[id], cx);
        if let Some(slot) = memo.get_mut(id) {
            *slot = Some(got.clone());
        }
        got
    }

    /// Run `program`, failing closed past the budget. Wall time is the
    /// cheap first measure (a vDSO clock read, no system call); a run past
    /// the budget is run again on this thread's CPU clock, so a thread the
    /// OS set aside for a while is not taken for a costly rule. Rules are
    /// pure, so the second run gives the same answer.
    // A rule's cost is the process's own time, not the hub's: on a manual
    // clock every rule would be free.
    #[allow(clippy::disallowed_methods)]
    fn run_program(&self, program: &Program, cx: &Context) -> Result<Value, String> {
        let started = Instant::now();
        let got = program.execute(cx);
        if started.elapsed() > self.budget {
            let cpu = cpu_time::ThreadTime::now();
            let _ = program.execute(cx);
            let spent = cpu.elapsed();
            if spent > self.budget {
                return Err(format!(
                    "took {} µs of CPU, over the budget of {} µs: failing closed",
                    spent.as_micros(),
                    self.budget.as_micros()
                ));
            }
        }
        got.map_err(|e| e.to_string())
    }
}

/// `order` (a CEL map) with the `changes`' fields set to their `after`
/// values; `None` when nothing changed or `order` is not a map. Only the
/// top-level map is new: lines and addresses are shared with `order`.
fn with_fields<'f>(order: &(dyn Val + 'f), changes: &[FieldChange]) -> Option<FactVal<'f>> {
    let mut changed: Option<FactVal<'f>> = None;
    for c in changes {
        let value: FactVal<'f> = match &c.after {
            serde_json::Value::String(s) => Box::new(CelString::from(s.clone())),
            serde_json::Value::Bool(b) => Box::new(CelBool::from(*b)),
            serde_json::Value::Number(n) => Box::new(CelInt::from(n.as_i64()?)),
            _ => return None,
        };
        let base = changed.as_deref().unwrap_or(order);
        changed = Some(crate::cel_env::with_entry(base, &c.field, value)?);
    }
    changed
}

/// The rules' context for `facts`, and the `order` value in it; the values
/// borrow `facts` ([`super::values`]).
pub(super) fn context<'f>(env: &Arc<Env>, facts: &'f RuleFacts) -> (Context<'f, 'f>, FactVal<'f>) {
    let mut cx = Context::with_env(Arc::clone(env));
    let order = order_val(&facts.order);
    cx.add_variable_as_val("order", order.clone_as_boxed());
    cx.add_variable_as_val("customer", customer_val(&facts.customer));
    cx.add_variable_as_val("address", address_facts_val(&facts.address));
    cx.add_variable_as_val("channel", channel_val(&facts.channel));
    (cx, order)
}
