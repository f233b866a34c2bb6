use super::*;

/// CEL compares int with double, but does not mix them in arithmetic:
/// such a score is an evaluation error (so the warehouse is ineligible),
/// and `double(...)` is the fix.
#[test]
fn int_and_double_do_not_mix_in_arithmetic() {
    let options = |score: &str| RoutingOptions {
        rules: vec![RoutingRule {
            name: "mix".into(),
            when: Some("order.total_minor < 100.5".into()),
            require: None,
            score: Some(score.into()),
        }],
        warehouses: vec![],
    };
    let input = RoutingInput {
        order: OrderFacts {
            total_minor: 100,
            ..Default::default()
        },
        candidates: vec![CandidateFacts {
            name: "east".into(),
            can_serve_all: true,
            ..Default::default()
        }],
    };
    let d = Router::new(&options("warehouse.cost + 0.5"))
        .unwrap()
        .decide(&input);
    assert!(!d.ranking[0].eligible);
    assert!(
        d.ranking[0].reasons[0].starts_with("rule mix: score: Unsupported binary operator 'add'"),
        "{:?}",
        d.ranking[0].reasons
    );
    let d = Router::new(&options("double(warehouse.cost) + 0.5"))
        .unwrap()
        .decide(&input);
    assert_eq!(d.order, ["east"]);
    assert_eq!(d.ranking[0].score, 0.5);
}
