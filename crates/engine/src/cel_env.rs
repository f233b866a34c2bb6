//! What the hub's CEL environments (routing and order rules) add to the
//! `cel` crate, both for the cost of judging an order:
//!
//! - [`shared_val`]: facts as CEL values whose maps and lists are shared
//!   behind an `Arc`. The crate copies a value whenever a comprehension
//!   binds it (`order.lines.all(l, …)` copies every line, each string in
//!   it) and when a variable is bound from a [`Value`]; with shared
//!   containers those copies are a reference count.
//! - `matches` with a per-thread cache of compiled regular expressions: the
//!   crate's own compiles the pattern at every call, which cost a rule set
//!   with one ZIP-code check more than every other rule together.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use cel::common::traits::{Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{CelBool, CelList, CelMap, CelMapKey, CelString, Type};
use cel::common::value::{Builtin, BuiltinRef, Val};
use cel::{Env, ExecutionError, Value};

/// The standard library, the string and list extensions, and the cached
/// `matches`.
pub(crate) fn hub_env() -> Result<Env, String> {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .map_err(|e| format!("CEL string extension: {e:?}"))?;
    env.add_extension(cel::extensions::lists)
        .map_err(|e| format!("CEL list extension: {e:?}"))?;
    add_matches(&mut env)?;
    Ok(env)
}

/// `matches(s, re)` and `s.matches(re)`, as the CEL standard defines them
/// (RE2 syntax, a match anywhere in `s` unless anchored).
pub(crate) fn add_matches(env: &mut Env) -> Result<(), String> {
    cel::add_overload!(env, fn cached_matches: (CelString, CelString) -> Result<CelBool>,
        name = "matches", id = "matches")
    .map_err(|e| format!("CEL matches: {e:?}"))?;
    cel::add_member_overload!(env, fn cached_matches: (CelString, CelString) -> Result<CelBool>,
        name = "matches")
    .map_err(|e| format!("CEL matches: {e:?}"))?;
    Ok(())
}

/// Patterns kept per thread; past it a pattern is compiled for its call
/// alone (a rule building patterns from order data cannot grow the cache).
const REGEX_CACHE_LIMIT: usize = 256;

thread_local! {
    static REGEXES: RefCell<HashMap<String, Arc<regex::Regex>>> = RefCell::new(HashMap::new());
}

fn cached_matches(this: &CelString<'_>, re: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    let pattern = re.inner();
    let cached = REGEXES.with(|c| c.borrow().get(pattern).cloned());
    let compiled = match cached {
        Some(r) => r,
        None => {
            let r = Arc::new(regex::Regex::new(pattern).map_err(|err| {
                ExecutionError::FunctionError {
                    function: "matches".to_owned(),
                    message: format!("'{pattern}' not a valid regex:\n{err}"),
                }
            })?);
            REGEXES.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() < REGEX_CACHE_LIMIT {
                    c.insert(pattern.to_owned(), Arc::clone(&r));
                }
            });
            r
        }
    };
    Ok(CelBool::from(compiled.is_match(this.inner())))
}

/// `facts` as a shared CEL value ([`shared_val`]).
pub(crate) fn facts_val<T: serde::Serialize>(facts: &T) -> Result<Box<dyn Val>, String> {
    let value = cel::to_value(facts).map_err(|e| e.to_string())?;
    shared_val(&value).map_err(|e| e.to_string())
}

/// `value` as a CEL value whose maps and lists, at every depth, are shared.
pub(crate) fn shared_val(value: &Value) -> Result<Box<dyn Val>, ExecutionError> {
    Ok(match value {
        Value::Map(map) => {
            let entries = map
                .map
                .iter()
                .map(|(k, v)| Ok((CelMapKey::from(k.clone()), shared_val(v)?)))
                .collect::<Result<HashMap<_, _>, ExecutionError>>()?;
            Box::new(Shared::new(CelMap::from(entries)))
        }
        Value::List(items) => {
            let items = items
                .iter()
                .map(shared_val)
                .collect::<Result<Vec<_>, ExecutionError>>()?;
            Box::new(Shared::new(CelList::from(items)))
        }
        other => other.clone().try_into()?,
    })
}

/// A CEL map with one key changed: the other entries are shared with
/// `map`'s (see [`Shared`]), so enrichment can show later rules what it set
/// without copying the order.
pub(crate) fn with_entry<'v>(
    map: &(dyn Val + 'v),
    key: &str,
    value: Box<dyn Val + 'v>,
) -> Option<Box<dyn Val + 'v>> {
    let map = map.downcast_ref::<CelMap>()?;
    let mut entries: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = map
        .inner()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone_as_boxed()))
        .collect();
    entries.insert(CelMapKey::from(key.to_owned()), value);
    Some(shared(CelMap::from(entries)))
}

/// `inner` (a map or a list) as a [`Shared`] value.
pub(crate) fn shared<'v, T>(inner: T) -> Box<dyn Val + 'v>
where
    T: Val + Clone + Container + Indexer + Iterable + Sizer + Zeroer + 'v,
{
    Box::new(Shared::new(inner))
}

/// A CEL container behind an `Arc`: it reads, compares and converts as the
/// container itself (every operator and `downcast_ref` see the inner map
/// or list); only copying it is cheap.
#[derive(Debug)]
pub(crate) struct Shared<T>(Arc<T>);

impl<T> Shared<T> {
    fn new(inner: T) -> Self {
        Shared(Arc::new(inner))
    }
}

impl<T> Val for Shared<T>
where
    T: Val + Clone + Container + Indexer + Iterable + Sizer + Zeroer,
{
    fn get_type(&self) -> &Type {
        self.0.get_type()
    }

    fn cel_type() -> &'static Type {
        T::cel_type()
    }

    fn as_adder<'b, 'v>(&'b self) -> Option<&'b (dyn cel::common::traits::Adder + 'v)>
    where
        Self: 'v,
    {
        self.0.as_adder()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        self.0.as_container()
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        self.0.as_indexer()
    }

    fn into_indexer<'v>(self: Box<Self>) -> Option<Box<dyn Indexer + 'v>>
    where
        Self: 'v,
    {
        Some(Box::new(Arc::unwrap_or_clone(self.0)))
    }

    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn Iterable + 'v)>
    where
        Self: 'v,
    {
        self.0.as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        self.0.as_sizer()
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        self.0.as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.0.equals(other)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(Shared(Arc::clone(&self.0)))
    }

    fn as_builtin<'b, 'v>(&'b self) -> BuiltinRef<'b, 'v>
    where
        Self: 'v,
    {
        self.0.as_builtin()
    }

    fn into_builtin<'v>(self: Box<Self>) -> Option<Builtin<'v>>
    where
        Self: 'v,
    {
        Box::new(Arc::unwrap_or_clone(self.0)).into_builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cel::Context;

    fn run(env: &Arc<Env>, vars: &[(&str, Value)], source: &str) -> Value {
        let mut cx = Context::with_env(Arc::clone(env));
        for (name, value) in vars {
            cx.add_variable_as_val(*name, shared_val(value).expect("converts"));
        }
        env.compile(source)
            .expect("compiles")
            .execute(&cx)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    fn order() -> Value {
        cel::to_value(serde_json::json!({
            "id": "o-1",
            "ship_to": {"country": "US", "postal_code": "62701"},
            "bill_to": {"country": "US", "postal_code": "62701"},
            "lines": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 60}],
            "categories": ["general", "restricted"],
        }))
        .expect("a CEL value")
    }

    #[test]
    fn shared_values_read_compare_and_iterate_like_plain_ones() {
        let env = Arc::new(hub_env().expect("env"));
        let vars = [("order", order())];
        let cases = [
            ("order.lines.all(l, l.quantity <= 50)", false),
            ("order.lines.exists(l, l.sku == 'B')", true),
            ("order.lines.filter(l, l.quantity > 1).size() == 2", true),
            ("order.lines.map(l, l.sku) == ['A', 'B']", true),
            ("'restricted' in order.categories", true),
            ("'ship_to' in order", true),
            ("order.bill_to == order.ship_to", true),
            (
                "order.ship_to == {'country': 'US', 'postal_code': '62701'}",
                true,
            ),
            (
                "{'country': 'US', 'postal_code': '62701'} == order.ship_to",
                true,
            ),
            ("order.lines[1].quantity == 60", true),
            ("size(order.lines) == 2 && size(order.ship_to) == 2", true),
            (
                "type(order.ship_to) == map && type(order.lines) == list",
                true,
            ),
            ("order.lines + [{'sku': 'C'}] == order.lines", false),
        ];
        for (source, want) in cases {
            assert_eq!(run(&env, &vars, source), Value::Bool(want), "{source}");
        }
        assert_eq!(
            run(&env, &vars, "order.ship_to"),
            cel::to_value(serde_json::json!({"country": "US", "postal_code": "62701"}))
                .expect("a CEL value"),
        );
    }

    #[test]
    fn matches_is_the_standard_one_and_a_bad_pattern_is_an_error() {
        let env = Arc::new(hub_env().expect("env"));
        let vars = [("zip", Value::String(Arc::new("62701-1234".into())))];
        for _ in 0..2 {
            // The second round reads the cache.
            assert_eq!(
                run(&env, &vars, "zip.matches('^[0-9]{5}(-[0-9]{4})?$')"),
                Value::Bool(true)
            );
            assert_eq!(
                run(&env, &vars, "matches(zip, '^[0-9]{5}$')"),
                Value::Bool(false)
            );
            assert_eq!(run(&env, &vars, "zip.matches('-12')"), Value::Bool(true));
        }
        let mut cx = Context::with_env(Arc::clone(&env));
        cx.add_variable_from_value("zip", "1");
        let err = env
            .compile("zip.matches('(')")
            .expect("compiles")
            .execute(&cx)
            .expect_err("a bad pattern fails");
        assert!(err.to_string().contains("not a valid regex"), "{err}");
    }

    #[test]
    fn with_entry_changes_one_key_and_keeps_the_rest() {
        let env = Arc::new(hub_env().expect("env"));
        let base = shared_val(&order()).expect("converts");
        let changed = with_entry(
            base.as_ref(),
            "id",
            Box::new(CelString::from("o-2".to_owned())),
        )
        .expect("a map");
        let mut cx = Context::with_env(Arc::clone(&env));
        cx.add_variable_as_val("order", changed);
        cx.add_variable_as_val("before", base);
        let program = env
            .compile("order.id == 'o-2' && before.id == 'o-1' && order.lines == before.lines")
            .expect("compiles");
        assert_eq!(program.execute(&cx), Ok(Value::Bool(true)));
    }
}
