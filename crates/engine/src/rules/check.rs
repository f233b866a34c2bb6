//! Static checks of a compiled rule before it ever runs: every field path
//! it reads (`order.ship_to.country`, `l.sku` inside `order.lines.all(l, …)`)
//! must exist in [`RuleFacts`]. CEL itself only finds an unknown field when
//! an order reaches it; the configuration check finds it at once, with its
//! place in the expression.
//!
//! The shape of the facts is taken from [`sample_facts`] serialized, so the
//! check cannot drift from what rules are given.

use std::collections::BTreeMap;

use cel::Program;
use cel::common::ast::{EntryExpr, Expr};
use cel::parser::Expression;
use serde_json::Value as Json;

use super::facts::sample_facts;

/// The shape of a value rules can read.
#[derive(Debug, Clone)]
enum Shape {
    Object(BTreeMap<String, Shape>),
    List(Box<Shape>),
    Scalar,
}

fn shape_of(v: &Json) -> Shape {
    match v {
        Json::Object(m) => Shape::Object(m.iter().map(|(k, v)| (k.clone(), shape_of(v))).collect()),
        Json::Array(a) => Shape::List(Box::new(a.first().map_or(Shape::Scalar, shape_of))),
        _ => Shape::Scalar,
    }
}

/// The variables rules see, with their shapes.
pub(super) struct FactShapes {
    roots: BTreeMap<String, Shape>,
}

impl FactShapes {
    pub(super) fn new() -> Self {
        let sample = serde_json::to_value(sample_facts()).unwrap_or(Json::Null);
        let roots = match shape_of(&sample) {
            Shape::Object(m) => m,
            _ => BTreeMap::new(),
        };
        FactShapes { roots }
    }

    /// The first unknown variable or field `program` reads, as a message
    /// with its line and column in the expression.
    pub(super) fn unknown_field(&self, program: &Program, source: &str) -> Option<String> {
        let mut scope: Vec<(String, Option<Shape>)> = Vec::new();
        let mut walker = Walker {
            roots: &self.roots,
            scope: &mut scope,
            found: None,
        };
        walker.shape(program.expression());
        let (id, message) = walker.found?;
        let place = program
            .source_info()
            .offset_for(id)
            .map(|(start, _)| position(source, start as usize))
            .map(|(line, col)| format!("{line}:{col}: "))
            .unwrap_or_default();
        Some(format!("{place}{message}"))
    }
}

/// 1-based line and column of a character offset.
fn position(source: &str, offset: usize) -> (usize, usize) {
    let before: String = source.chars().take(offset).collect();
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
    (line, column)
}

struct Walker<'a> {
    roots: &'a BTreeMap<String, Shape>,
    /// Comprehension variables in scope, innermost last; `None` = unknown shape.
    scope: &'a mut Vec<(String, Option<Shape>)>,
    found: Option<(u64, String)>,
}

impl Walker<'_> {
    fn fail(&mut self, id: u64, message: String) {
        if self.found.is_none() {
            self.found = Some((id, message));
        }
    }

    /// The shape of `e` when it is a path into the facts; checks every
    /// sub-expression on the way.
    fn shape(&mut self, e: &Expression) -> Option<Shape> {
        match &e.expr {
            Expr::Ident(name) => {
                if let Some((_, s)) = self.scope.iter().rev().find(|(n, _)| n == name) {
                    return s.clone();
                }
                match self.roots.get(name) {
                    Some(s) => Some(s.clone()),
                    None => {
                        let known: Vec<&str> = self.roots.keys().map(String::as_str).collect();
                        self.fail(
                            e.id,
                            format!("unknown variable `{name}` (rules see {})", known.join(", ")),
                        );
                        None
                    }
                }
            }
            Expr::Select(sel) => {
                let operand = self.shape(&sel.operand)?;
                match operand {
                    Shape::Object(fields) => match fields.get(&sel.field) {
                        Some(s) => Some(s.clone()),
                        None => {
                            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                            self.fail(
                                e.id,
                                format!(
                                    "unknown field `{}` (known: {})",
                                    sel.field,
                                    known.join(", ")
                                ),
                            );
                            None
                        }
                    },
                    Shape::List(_) | Shape::Scalar => {
                        self.fail(e.id, format!("`.{}` on a value without fields", sel.field));
                        None
                    }
                }
            }
            Expr::Call(call) => {
                let target = call.target.as_ref().and_then(|t| self.shape(t));
                let args: Vec<Option<Shape>> = call.args.iter().map(|a| self.shape(a)).collect();
                // Indexing a list of facts keeps checking the element.
                if call.func_name == "_[_]"
                    && let Some(Some(Shape::List(element))) = args.first()
                {
                    return Some((**element).clone());
                }
                let _ = target;
                None
            }
            Expr::Comprehension(c) => {
                let range = self.shape(&c.iter_range);
                let element = match range {
                    Some(Shape::List(el)) => Some(*el),
                    _ => None,
                };
                self.shape(&c.accu_init);
                self.scope.push((c.iter_var.clone(), element));
                if let Some(v2) = &c.iter_var2 {
                    self.scope.push((v2.clone(), None));
                }
                self.scope.push((c.accu_var.clone(), None));
                self.shape(&c.loop_cond);
                self.shape(&c.loop_step);
                self.shape(&c.result);
                self.scope.pop();
                if c.iter_var2.is_some() {
                    self.scope.pop();
                }
                self.scope.pop();
                None
            }
            Expr::List(l) => {
                for el in &l.elements {
                    self.shape(el);
                }
                None
            }
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        self.shape(&me.key);
                        self.shape(&me.value);
                    }
                }
                None
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        self.shape(&f.value);
                    }
                }
                None
            }
            Expr::Literal(_) | Expr::Unspecified => None,
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
