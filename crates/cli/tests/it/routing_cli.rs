//! `crossdock routing explain` and `what-if` against a store holding orders
//! with recorded routing decisions.

use crate::support::crossdock;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use crossdock_engine::routing::{
    CandidateFacts, OrderFacts, Router, RoutingInput, RoutingOptions, RoutingRule, WarehouseProfile,
};
use crossdock_model::Order;
use crossdock_store::{Changes, NewEvent, NewJob, Store};
use serde_json::json;

/// 2026-11-20T10:00:00Z.
const T0: i64 = 1_795_168_800_000;

fn run(args: &[&str], dir: &Path) -> Output {
    crossdock()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("CROSSDOCK_DATABASE_URL")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn order(id: &str) -> Order {
    serde_json::from_value(json!({
        "id": id,
        "channel": "webstore",
        "external_id": format!("ext-{id}"),
        "source_version": 1,
        "placed_at": "2026-11-20T09:00:00Z",
        "currency": "USD",
        "customer": { "email": "ada@example.com", "name": "Ada" },
        "lines": [{
            "line_id": "1", "sku": "SKU-1", "title": "Tee", "quantity": 2,
            "unit_price": { "amount": "10.00", "currency": "USD" },
            "discount": { "amount": "0.00", "currency": "USD" },
            "tax": { "amount": "0.00", "currency": "USD" }
        }],
        "shipping": { "amount": "0.00", "currency": "USD" },
        "total": { "amount": "20.00", "currency": "USD" },
        "status": "reserved"
    }))
    .unwrap()
}

fn facts(id: &str) -> OrderFacts {
    OrderFacts {
        id: id.into(),
        channel: "webstore".into(),
        service_level: "standard".into(),
        country: "US".into(),
        region: "NY".into(),
        postal_code: "11201".into(),
        units: 2,
        line_count: 1,
        total_minor: 2000,
        skus: vec!["SKU-1".into()],
        quantities: BTreeMap::from([("SKU-1".into(), 2)]),
    }
}

fn candidate(name: &str, stock: i64, down: bool) -> CandidateFacts {
    CandidateFacts {
        name: name.into(),
        can_serve_all: stock >= 2,
        available: BTreeMap::from([("SKU-1".into(), stock)]),
        shipped_today: 0,
        down,
    }
}

fn recorded_options() -> RoutingOptions {
    RoutingOptions {
        rules: vec![RoutingRule {
            name: "cost".into(),
            when: None,
            require: None,
            score: Some("warehouse.cost".into()),
        }],
        warehouses: vec![
            WarehouseProfile {
                name: "east".into(),
                cost: 3,
                ..Default::default()
            },
            WarehouseProfile {
                name: "west".into(),
                cost: 5,
                ..Default::default()
            },
        ],
    }
}

/// Orders, each with its routing inputs and times, decided by `router` and
/// written as the engine would: the order and its `routing_decision` events.
async fn write(store: &Store, router: &Router, orders: &[(&str, Vec<(i64, RoutingInput)>)]) {
    for (id, routings) in orders {
        let key = crossdock_engine::order_entity_key(id);
        store
            .enqueue(
                &[NewJob {
                    entity_key: key.clone(),
                    step: "reserve".into(),
                    payload: json!({}),
                    run_at: T0,
                }],
                T0,
            )
            .await
            .unwrap();
        let jobs = store.claim_jobs("test", T0, 60_000, 10).await.unwrap();
        assert_eq!(jobs.len(), 1);
        let events = routings
            .iter()
            .map(|(at, input)| NewEvent {
                entity_key: key.clone(),
                at: *at,
                kind: "routing_decision".into(),
                detail: json!({ "input": input, "decision": router.decide(input) }),
            })
            .collect();
        let changes = Changes {
            orders: vec![order(id)],
            events,
            ..Default::default()
        };
        store.complete_job(&jobs[0], &changes, T0).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_and_what_if_against_recorded_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let router = Router::new(&recorded_options()).unwrap();
    let input = |id: &str, cands: Vec<CandidateFacts>| RoutingInput {
        order: facts(id),
        candidates: cands,
    };
    write(
        &store,
        &router,
        &[
            // Routed to east, then re-routed to west when east went down.
            (
                "o-1",
                vec![
                    (
                        T0,
                        input(
                            "o-1",
                            vec![candidate("east", 5, false), candidate("west", 5, false)],
                        ),
                    ),
                    (
                        T0 + 60_000,
                        input(
                            "o-1",
                            vec![candidate("east", 5, true), candidate("west", 5, false)],
                        ),
                    ),
                ],
            ),
            // East has no stock: west.
            (
                "o-2",
                vec![(
                    T0 + 120_000,
                    input(
                        "o-2",
                        vec![candidate("east", 0, false), candidate("west", 5, false)],
                    ),
                )],
            ),
            // Routed a day before --since: left out of what-if.
            (
                "o-old",
                vec![(
                    T0 - 86_400_000,
                    input(
                        "o-old",
                        vec![candidate("east", 5, false), candidate("west", 5, false)],
                    ),
                )],
            ),
        ],
    )
    .await;
    store.close().await;
    let digest = router.digest().to_owned();

    // explain: every decision in time order, ranking, reasons, choice.
    let out = stdout(&run(&["routing", "explain", "o-1"], dir.path()));
    let expected = format!(
        "order o-1: 2 routing decision(s)

decision 1 at 2026-11-20T10:00:00.000Z (rules {digest})
  1. east  eligible    score 3  rule cost: score +3
  2. west  eligible    score 5  rule cost: score +5
  chosen: east
  reason: east: lowest score (3) of east, west

decision 2 at 2026-11-20T10:01:00.000Z (rules {digest})
  1. west  eligible    score 5  rule cost: score +5
  2. east  ineligible  score 3  down (breaker open); rule cost: score +3
  chosen: west
  reason: west: the only eligible (score 5); ineligible: east: down (breaker open), rule cost: score +3
"
    );
    assert_eq!(out, expected);

    let out = stdout(&run(&["routing", "explain", "o-2", "--json"], dir.path()));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["order_id"], "o-2");
    let decisions = v["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["at"], "2026-11-20T10:02:00.000Z");
    assert_eq!(decisions[0]["decision"]["order"], json!(["west"]));
    assert_eq!(
        decisions[0]["decision"]["ranking"][1]["reasons"],
        json!(["no stock for SKU-1", "rule cost: score +3"])
    );
    assert_eq!(decisions[0]["input"]["order"]["total_minor"], 2000);

    let missing = run(&["routing", "explain", "nope"], dir.path());
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("order nope not found"));

    // what-if: west preferred moves o-1's first decision, nothing else.
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        r#"[[rules]]
name = "cost"
score = "warehouse.cost"

[[rules]]
name = "prefer-west"
score = "warehouse.name == 'west' ? 0 : 10"

[[warehouses]]
name = "east"
cost = 3

[[warehouses]]
name = "west"
cost = 5
"#,
    )
    .unwrap();
    let rules_arg = rules.to_str().unwrap();
    let new_digest = {
        let text = std::fs::read_to_string(&rules).unwrap();
        let options: RoutingOptions = toml::from_str(&text).unwrap();
        Router::new(&options).unwrap().digest().to_owned()
    };
    let args = [
        "routing",
        "what-if",
        "--rules",
        rules_arg,
        "--since",
        "2026-11-20T09:00:00Z",
    ];
    let out = stdout(&run(&args, dir.path()));
    assert_eq!(
        out,
        format!(
            "orders: 2, changed: 1 (rules {new_digest}, since 2026-11-20T09:00:00.000Z)
order o-1 (decision 1): east → west (west: lowest score (5) of west, east)
"
        )
    );
    // A duration back from now takes every order, the old one too.
    let out = stdout(&run(
        &[
            "routing", "what-if", "--rules", rules_arg, "--since", "3650days", "--json",
        ],
        dir.path(),
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["orders"].as_i64(), v["changed"].as_i64()),
        (Some(3), Some(2))
    );
    let changed: Vec<(&str, &str, &str)> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["order_id"].as_str().unwrap(),
                c["before"].as_str().unwrap(),
                c["after"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [("o-old", "east", "west"), ("o-1", "east", "west")]
    );
    assert_eq!(v["rules_digest"], new_digest.as_str());

    // A rule that does not compile: exit 1, the file, the rule's line, the field.
    std::fs::write(
        &rules,
        "[[rules]]\nname = \"cost\"\nscore = \"warehouse.cost\"\n\n[[rules]]\nname = \"broken\"\nscore = \"warehouse.cost +\"\n",
    )
    .unwrap();
    let out = run(&args, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    let want = format!("error: {rules_arg}:5: rules[1].score (rule \"broken\"): ");
    assert!(err.starts_with(&want), "{err}");

    // A misspelt key: exit 1 with the file, line and column from TOML.
    std::fs::write(&rules, "[[rules]]\nname = \"cost\"\nscroe = \"1\"\n").unwrap();
    let out = run(&args, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    let want = format!("error: {rules_arg}:3:1 (key rules.scroe): unknown field `scroe`");
    assert!(err.starts_with(&want), "{err}");

    // A bad --since names itself.
    std::fs::write(&rules, "").unwrap();
    let out = run(
        &[
            "routing",
            "what-if",
            "--rules",
            rules_arg,
            "--since",
            "yesterday",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--since \"yesterday\" is neither"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `crossdock config plan`: a readable diff of two configurations, with the
/// routing decisions a tightened rule would change replayed on the store.
#[tokio::test(flavor = "multi_thread")]
async fn config_plan_shows_keys_hides_secrets_and_replays_a_tightened_routing_rule() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::open_dir(&data).await.unwrap();
    let router = Router::new(&recorded_options()).unwrap();
    let both = || vec![candidate("east", 5, false), candidate("west", 5, false)];
    let input = |id: &str| RoutingInput {
        order: facts(id),
        candidates: both(),
    };
    // Two orders routed to east (cheaper), one to west (east had none).
    write(
        &store,
        &router,
        &[
            ("p-1", vec![(T0, input("p-1"))]),
            ("p-2", vec![(T0 + 1_000, input("p-2"))]),
            (
                "p-3",
                vec![(
                    T0 + 2_000,
                    RoutingInput {
                        order: facts("p-3"),
                        candidates: vec![candidate("east", 0, false), candidate("west", 5, false)],
                    },
                )],
            ),
        ],
    )
    .await;
    store.close().await;

    let text_of = |out: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let printed = crossdock()
        .args(["demo", "--print-config"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    let mut base: toml::Table =
        toml::from_str(&String::from_utf8(printed.stdout).unwrap()).unwrap();
    base.insert(
        "routing".into(),
        toml::Value::try_from(recorded_options()).unwrap(),
    );
    let write_config = |name: &str, table: &toml::Table| {
        let path = dir.path().join(name);
        std::fs::write(&path, toml::to_string(table).unwrap()).unwrap();
        path
    };
    let current = write_config("current.toml", &base);
    let plan = |new: &Path, json: bool| {
        let mut c = crossdock();
        c.args(["config", "plan"])
            .arg(&current)
            .arg(new)
            .args(["--since", "2026-11-20T00:00:00Z", "--data-dir"])
            .arg(&data)
            .env_remove("CROSSDOCK_DATABASE_URL");
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };

    // The same file: no change, exit 0.
    let out = plan(&current, false);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    assert!(text_of(&out).contains("no change"), "{}", text_of(&out));

    // East refused by a new rule: the two orders it served move to west.
    let mut tightened = base.clone();
    let mut options = recorded_options();
    options.rules.push(RoutingRule {
        name: "no-east".into(),
        when: None,
        require: Some("warehouse.name != 'east'".into()),
        score: None,
    });
    tightened.insert("routing".into(), toml::Value::try_from(options).unwrap());
    let new = write_config("tightened.toml", &tightened);
    let out = plan(&new, true);
    assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sections"], json!(["routing"]), "{report}");
    assert_eq!(report["routing"]["orders"], 3, "{report}");
    assert_eq!(report["routing"]["changed"], 2, "{report}");
    let moved: Vec<&str> = report["routing"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(moved, ["p-1", "p-2"]);
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "routing.rules[no-east].require"),
        "{report}"
    );

    // A new channel and an ERP secret: keys by name, the secret hidden.
    let mut more = base.clone();
    let mut channels = more["channels"].as_array().unwrap().clone();
    let mut regional = channels[0].as_table().unwrap().clone();
    regional.insert("name".into(), "regional".into());
    regional.insert("base_url".into(), "http://127.0.0.1:9111".into());
    channels.push(toml::Value::Table(regional));
    more.insert("channels".into(), toml::Value::Array(channels));
    let erp = more["erp"].as_table_mut().unwrap();
    erp.insert(
        "auth".into(),
        toml::Value::try_from(json!({
            "kind": "client_credentials", "token_url": "http://127.0.0.1:9102/token",
            "client_id": "hub", "client_secret": "plan-test-s3cr3t"
        }))
        .unwrap(),
    );
    let new = write_config("more.toml", &more);
    let out = plan(&new, false);
    assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
    let text = text_of(&out);
    assert!(
        text.contains("+ channels[regional].base_url = \"http://127.0.0.1:9111\""),
        "{text}"
    );
    assert!(
        text.contains("+ erp.auth.client_secret = \"(hidden)\""),
        "{text}"
    );
    assert!(!text.contains("plan-test-s3cr3t"), "{text}");

    // An invalid file: exit 2, named.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[hub]\nlisten = 5\n").unwrap();
    let out = plan(&bad, false);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}
