//! The `/v1` contract as an OpenAPI 3.1 document, generated from the code.
//!
//! Three sources, each the one place its concept lives:
//! - the operations (summary, parameters, bodies, the answers particular to
//!   each) are the handlers' `#[utoipa::path]` annotations;
//! - the data schemas come from the body types themselves (`bodies.rs` and
//!   the model and store types they hold) through schemars, which reads
//!   serde's attributes, so a schema cannot describe other JSON than the
//!   one serde writes;
//! - security and the answers of the key door (401, 403, 429) and of an
//!   unavailable store (503) are added to every operation from the route
//!   table (`v1_routes`), whose scope per route is the one the door
//!   enforces.
//!
//! The document is served at `GET /v1/openapi.json` and checked in as
//! `docs/openapi.json`; a test keeps the two byte for byte equal.

use schemars::SchemaGenerator;
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::KeyedRoute;
use crate::bodies::*;
use crate::error::ErrorBody;
use crate::schema::bound_integers;

/// Where schemars puts the schemas a body refers to: the document's components.
const COMPONENTS: &str = "/components/schemas";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Crossdock hub API",
        version = "1",
        description = "The hub's `/v1` API: orders, exceptions, inventory, availability, \
statistics, API keys and their audit, marketplace settlements. Every operation needs an API key \
(`Authorization: Bearer cdk_…`) with the scope the operation names; errors are \
`{\"error\": {\"code\", \"message\"}}` with a code from the catalogue \
(docs/errors/). Versioning and deprecation: docs/api-versioning.md.",
        license(name = "Apache-2.0 OR MIT")
    ),
    paths(
        crate::list_orders,
        crate::held_orders,
        crate::get_order,
        crate::release_order,
        crate::order_timeline,
        crate::list_exceptions,
        crate::replay_exceptions,
        crate::replay_one,
        crate::list_inventory,
        crate::get_inventory,
        crate::availability_stats,
        crate::sku_availability,
        crate::stats,
        crate::keys_api::list_keys,
        crate::keys_api::create_key,
        crate::keys_api::revoke_key,
        crate::keys_api::audit,
        crate::authority_api::get_authority,
        crate::config_versions,
        crate::settlements_api::list_settlements,
        crate::settlements_api::list_residuals,
        crate::settlements_api::get_settlement,
        crate::settlements_api::import,
        crate::settlements_api::resolve,
    ),
    tags(
        (name = "orders", description = "Orders, their timeline and holds"),
        (name = "exceptions", description = "The exception queue and replay"),
        (name = "inventory", description = "Stock positions and availability per channel"),
        (name = "hub", description = "What the hub holds and does"),
        (name = "keys", description = "API keys and the audit of writes (scope admin)"),
        (name = "settlements", description = "Marketplace settlements: import, reconciliation, the residual ledger"),
    )
)]
struct V1Doc;

/// The schemas of every body `/v1` sends or takes, keyed by name, each
/// with the schemas it refers to. Answers are described as serialized,
/// requests as deserialized; a name both use must mean the same schema.
fn data_schemas() -> Map<String, Value> {
    let generator = |contract: Contract| -> SchemaGenerator {
        SchemaSettings::draft2020_12()
            .with(|s| {
                s.definitions_path = COMPONENTS.into();
                s.contract = contract;
                s.meta_schema = None;
            })
            .into_generator()
    };
    let mut out = generator(Contract::Serialize);
    out.subschema_for::<ErrorBody>();
    out.subschema_for::<OrderList>();
    out.subschema_for::<OrderDetail>();
    out.subschema_for::<OrderTimeline>();
    out.subschema_for::<Released>();
    out.subschema_for::<ExceptionList>();
    out.subschema_for::<Replayed>();
    out.subschema_for::<PositionList>();
    out.subschema_for::<SkuPositions>();
    out.subschema_for::<AvailabilityStats>();
    out.subschema_for::<crossdock_engine::availability::SkuAvailability>();
    out.subschema_for::<Stats>();
    out.subschema_for::<KeyList>();
    out.subschema_for::<CreatedKey>();
    out.subschema_for::<RevokedKey>();
    out.subschema_for::<AuditList>();
    out.subschema_for::<AuthorityView>();
    out.subschema_for::<ConfigVersionList>();
    out.subschema_for::<SettlementList>();
    out.subschema_for::<crossdock_engine::settlements::SettlementView>();
    out.subschema_for::<crossdock_engine::settlements::ImportReport>();
    out.subschema_for::<ResidualList>();
    out.subschema_for::<crossdock_engine::settlements::ResidualView>();
    let mut schemas = out.take_definitions(true);

    let mut taken = generator(Contract::Deserialize);
    taken.subschema_for::<ReleaseRequest>();
    taken.subschema_for::<NewKeyRequest>();
    taken.subschema_for::<ResolveRequest>();
    taken.subschema_for::<crossdock_store::ExceptionFilter>();
    for (name, schema) in taken.take_definitions(true) {
        match schemas.get(&name) {
            Some(existing) => assert_eq!(
                existing, &schema,
                "schema {name} differs between answers and requests; give one of the types another name"
            ),
            None => {
                schemas.insert(name, schema);
            }
        }
    }
    schemas.values_mut().for_each(bound_integers);
    schemas
}

/// The answers every keyed operation may give, whatever the handler does.
fn shared_responses() -> Value {
    let error = |description: &str, headers: Value| {
        json!({
            "description": description,
            "headers": headers,
            "content": { "application/json": { "schema": { "$ref": format!("#{COMPONENTS}/ErrorBody") } } }
        })
    };
    let challenge = json!({ "WWW-Authenticate": {
        "description": "`Bearer realm=\"crossdock\"`, with `error=\"invalid_token\"` for a key that is not usable or `error=\"insufficient_scope\", scope=\"…\"` for a key without the scope",
        "schema": { "type": "string" }
    }});
    json!({
        "Unauthenticated": error(
            "No usable key: none, unknown, revoked or expired (CD-API-0401)",
            challenge.clone(),
        ),
        "Forbidden": error("The key lacks the operation's scope (CD-API-0403)", challenge),
        "TooManyRequests": error(
            "The key is over its rate (CD-API-0429) or its daily quota (CD-QTA-0429)",
            json!({ "Retry-After": {
                "description": "Whole seconds until the key may call again",
                "schema": { "type": "integer", "minimum": 1 }
            }}),
        ),
        "Unavailable": error(
            "The hub cannot answer now: its store or engine is in trouble (CD-SRV-0503)",
            json!({}),
        ),
    })
}

/// The `/v1` document for the keyed routes `routes` (from `keyed_routes`).
pub fn document(routes: &[KeyedRoute]) -> Value {
    let mut doc = serde_json::to_value(V1Doc::openapi()).expect("the OpenAPI model serializes");
    doc["components"]["schemas"] = Value::Object(data_schemas());
    doc["components"]["responses"] = shared_responses();
    doc["components"]["securitySchemes"] = json!({
        "api_key": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "cdk_ followed by 43 base64url characters",
            "description": "An API key (`crossdock keys create`, or the bootstrap key `crossdock demo` prints). \
    Its scopes form a ladder: admin > operate > read; each operation lists the one it needs."
        }
    });
    for route in routes {
        let method = route.method.as_str().to_ascii_lowercase();
        let Some(op) = doc["paths"]
            .get_mut(route.path)
            .and_then(|p| p.get_mut(&method))
        else {
            // Left for the test that compares the table and the document.
            continue;
        };
        // A body is required, but for the replay filter, where none means
        // "every open exception".
        if let Some(body) = op.get_mut("requestBody") {
            body["required"] = Value::Bool(route.path != "/v1/exceptions/replay");
        }
        op["security"] = json!([{ "api_key": [route.scope.as_str()] }]);
        let responses = op["responses"].as_object_mut().expect("responses");
        for (status, name) in [
            ("401", "Unauthenticated"),
            ("403", "Forbidden"),
            ("429", "TooManyRequests"),
            ("503", "Unavailable"),
        ] {
            responses
                .entry(status)
                .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{name}") }));
        }
        let needs = format!("Needs a key with scope `{}`.", route.scope);
        op["description"] = match op.get("description").and_then(Value::as_str) {
            Some(d) => Value::String(format!("{d}\n\n{needs}")),
            None => Value::String(needs),
        };
    }
    doc
}

/// The document as served and checked in: pretty JSON and a final newline.
pub fn document_text(routes: &[KeyedRoute]) -> String {
    let mut text =
        serde_json::to_string_pretty(&document(routes)).expect("a JSON value serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::{ServerOptions, keyed_routes};

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_keyed_route_is_documented_with_its_method_path_and_scope_and_nothing_else() {
        let routes = keyed_routes(&ServerOptions::default());
        let doc = document(&routes);
        let table: BTreeSet<(String, String)> = routes
            .iter()
            .map(|r| (r.method.as_str().to_ascii_lowercase(), r.path.to_owned()))
            .collect();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| {
                        [
                            "get", "put", "post", "delete", "patch", "head", "options", "trace",
                        ]
                        .contains(&k.as_str())
                    })
                    .map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        let missing: Vec<_> = table.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&table).collect();
        assert!(
            missing.is_empty(),
            "routes of v1_routes without a #[utoipa::path] in openapi.rs's paths(...): {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "documented operations that v1_routes does not serve: {extra:?}"
        );
        for r in &routes {
            let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
            assert_eq!(
                op["security"],
                json!([{ "api_key": [r.scope.as_str()] }]),
                "{} {}",
                r.method,
                r.path
            );
            for status in ["200", "401", "403", "429"] {
                let answered = op["responses"].get(status).is_some()
                    || (status == "200" && op["responses"].get("201").is_some());
                assert!(answered, "{} {} documents no {status}", r.method, r.path);
            }
        }
    }

    #[test]
    fn every_reference_resolves_and_the_document_is_openapi_3_1() {
        let doc = document(&keyed_routes(&ServerOptions::default()));
        assert_eq!(doc["openapi"], "3.1.0");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20, "expected many references, got {found:?}");
        for r in found {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{r} is not local"));
            let target = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{r} resolves to nothing"));
            assert_ne!(
                target.get("$ref").and_then(Value::as_str),
                Some(r),
                "{r} refers to itself"
            );
        }
    }

    #[test]
    fn the_error_envelope_and_money_are_described_as_written() {
        let doc = document(&keyed_routes(&ServerOptions::default()));
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["ErrorBody"]["properties"]["error"]["$ref"],
            "#/components/schemas/ErrorDetail"
        );
        let codes = schemas["ErrorCode"]["enum"].as_array().unwrap();
        assert!(codes.contains(&json!("CD-API-0401")));
        assert_eq!(schemas["Money"]["properties"]["amount"]["type"], "string");
        // The secret's hash is never serialized, so it is not in the schema.
        assert!(
            schemas["ApiKey"]["properties"]
                .get("secret_sha256")
                .is_none()
        );
    }
}
