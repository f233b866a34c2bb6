//! Two JSON documents compared leaf by leaf, for the reports that say what
//! a change would change (`mapping diff`, `config plan`).

use std::collections::BTreeMap;

use serde_json::Value;

/// How arrays that are not tables with a `name` are taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrays {
    /// Element by element: `lines[0].unit_price.amount`.
    Indexed,
    /// As one value (a configuration's lists of names).
    Whole,
}

/// Every leaf of `v` by its path (`a.b`, `lines[0]`); the entries of an
/// array of tables that all have a `name` are keyed by it
/// (`channels[regional]`), an empty array is a leaf.
pub fn leaves(v: &Value, arrays: Arrays) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    walk(v, String::new(), arrays, &mut out);
    out
}

fn walk(v: &Value, path: String, arrays: Arrays, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, p, arrays, out);
            }
        }
        Value::Array(a)
            if !a.is_empty()
                && a.iter()
                    .all(|e| e.get("name").is_some_and(Value::is_string)) =>
        {
            for e in a {
                let name = e["name"].as_str().unwrap_or_default();
                walk(e, format!("{path}[{name}]"), arrays, out);
            }
        }
        Value::Array(a) if !a.is_empty() && arrays == Arrays::Indexed => {
            for (i, v) in a.iter().enumerate() {
                walk(v, format!("{path}[{i}]"), arrays, out);
            }
        }
        _ => {
            out.insert(path, v.clone());
        }
    }
}

/// The leaves that differ, by path: `[before, after]`, `null` where a side
/// has none.
pub fn differences(before: &Value, after: &Value, arrays: Arrays) -> BTreeMap<String, [Value; 2]> {
    let (a, b) = (leaves(before, arrays), leaves(after, arrays));
    let mut out = BTreeMap::new();
    for key in a.keys().chain(b.keys()) {
        let (x, y) = (
            a.get(key).cloned().unwrap_or(Value::Null),
            b.get(key).cloned().unwrap_or(Value::Null),
        );
        if x != y {
            out.insert(key.clone(), [x, y]);
        }
    }
    out
}
