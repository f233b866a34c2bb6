//! Two helpers of the contract that sit below both the handlers and the
//! document (`openapi.rs`): `QueryOf`, a query type's fields as OpenAPI
//! parameters, and `bound_integers`, the ranges serde enforces on integers.

use std::marker::PhantomData;

use schemars::JsonSchema;
use schemars::generate::{Contract, SchemaSettings};
use serde_json::Value;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{RefOr, Required, Schema};

/// A type's fields as query parameters (`params(QueryOf<OrderFilter>)`),
/// from its schemars schema, so the parameters are the fields serde reads.
pub(crate) struct QueryOf<T>(PhantomData<T>);

impl<T: JsonSchema> utoipa::IntoParams for QueryOf<T> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let root = SchemaSettings::draft2020_12()
            .with(|s| {
                s.inline_subschemas = true;
                s.contract = Contract::Deserialize;
            })
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value();
        let required: Vec<&str> = root
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = root.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        properties
            .iter()
            .map(|(name, property)| {
                let mut property = property.clone();
                let description = property
                    .as_object_mut()
                    .and_then(|p| p.remove("description"))
                    .and_then(|d| d.as_str().map(str::to_owned));
                // A query parameter is absent or a value, never null.
                if let Some(types) = property.get_mut("type").and_then(Value::as_array_mut) {
                    types.retain(|t| t != "null");
                    if types.len() == 1 {
                        property["type"] = types[0].clone();
                    }
                }
                bound_integers(&mut property);
                let schema: RefOr<Schema> = serde_json::from_value(property)
                    .unwrap_or_else(|e| panic!("query field {name}: {e}"));
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .required(if required.contains(&name.as_str()) {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(description)
                    .schema(Some(schema))
                    .build()
            })
            .collect()
    }
}

/// Give every integer schema of a fixed width its range, where schemars
/// names only the format (`int64`): a client, or a fuzzer, then knows that a
/// larger number is refused, as serde refuses it.
pub(crate) fn bound_integers(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let range: Option<(i128, i128)> = match map.get("format").and_then(Value::as_str) {
                Some("int8") => Some((i8::MIN.into(), i8::MAX.into())),
                Some("int16") => Some((i16::MIN.into(), i16::MAX.into())),
                Some("int32") => Some((i32::MIN.into(), i32::MAX.into())),
                Some("int64") => Some((i64::MIN.into(), i64::MAX.into())),
                Some("uint8") => Some((0, u8::MAX.into())),
                Some("uint16") => Some((0, u16::MAX.into())),
                Some("uint32") => Some((0, u32::MAX.into())),
                Some("uint64") => Some((0, u64::MAX.into())),
                _ => None,
            };
            if let Some((min, max)) = range {
                let number = |n: i128| {
                    i64::try_from(n)
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(u64::try_from(n).unwrap_or(u64::MAX)))
                };
                map.entry("minimum").or_insert_with(|| number(min));
                map.entry("maximum").or_insert_with(|| number(max));
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}
