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

fn rule(name: &str, when: Option<&str>, require: Option<&str>, score: Option<&str>) -> RoutingRule {
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

#[test]
fn routing_event_is_the_timeline_kind() {
    use crossdock_store::events::{RoutingDecided, TimelineEvent};
    let e = TimelineEvent::RoutingDecision(RoutingDecided {
        input: serde_json::json!({}),
        decision: serde_json::json!({}),
    });
    assert_eq!(e.kind(), ROUTING_EVENT);
}
