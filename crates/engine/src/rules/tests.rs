use super::*;

fn options(toml_text: &str) -> RulesOptions {
    toml::from_str(toml_text).expect("rules options parse")
}

fn rules(toml_text: &str) -> Rules {
    Rules::new(&options(toml_text)).expect("rules compile")
}

fn refused(toml_text: &str) -> RulesError {
    Rules::new(&options(toml_text)).expect_err("rules refused")
}

#[test]
fn validation_reports_every_failed_rule_with_its_message() {
    let r = rules(
        r#"
        [[validate]]
        name = "us-address-complete"
        when = "order.ship_to.country == 'US'"
        require = "order.ship_to.region != '' && order.ship_to.postal_code.matches('^[0-9]{5}(-[0-9]{4})?$')"
        message = "US addresses need a state and a ZIP code"

        [[validate]]
        name = "known-skus"
        require = "order.lines.all(l, l.known)"
        message = "every SKU must be in the catalogue"

        [[validate]]
        name = "quantity-bounds"
        require = "order.lines.all(l, l.quantity <= 10)"
        message = "at most 10 units a line"
        "#,
    );
    let mut facts = sample_facts();
    facts.order.ship_to.postal_code = "ABC".into();
    facts.order.lines[0].quantity = 12;
    let out = r.evaluate(&facts);
    assert_eq!(
        out.failures,
        [
            "us-address-complete: US addresses need a state and a ZIP code",
            "quantity-bounds: at most 10 units a line"
        ]
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.rules[1].outcome, "passed");

    // Outside the US the address rule does not apply.
    facts.order.ship_to.country = "CA".into();
    facts.order.lines[0].quantity = 1;
    let out = r.evaluate(&facts);
    assert!(out.refusals().is_empty(), "{:?}", out.refusals());
    assert_eq!(out.rules[0].outcome, "skipped: when is false");
}

#[test]
fn enrichment_sets_fields_in_order_and_later_rules_see_them() {
    let r = rules(
        r#"
        [[enrich]]
        name = "express-from-method"
        when = "order.shipping_method.lowerAscii().contains('next day')"
        set = { service_level = "'expedited'", priority = "10" }

        [[enrich]]
        name = "vip"
        when = "customer.spent_minor >= 100000"
        set = { customer_group = "'vip'" }

        [[hold]]
        name = "review-non-vip-expedited"
        when = "order.service_level == 'expedited' && order.customer_group != 'vip'"
        reason = "expedited order from a non-VIP customer"
        "#,
    );
    let mut facts = sample_facts();
    facts.order.shipping_method = "Next Day Air".into();
    let out = r.evaluate(&facts);
    let fields: Vec<(&str, &serde_json::Value, &serde_json::Value)> = out
        .changes
        .iter()
        .map(|c| (c.field.as_str(), &c.before, &c.after))
        .collect();
    assert_eq!(
        fields,
        [
            ("priority", &serde_json::json!(0), &serde_json::json!(10)),
            (
                "service_level",
                &serde_json::json!("standard"),
                &serde_json::json!("expedited")
            ),
        ]
    );
    assert_eq!(
        out.hold.as_ref().map(|h| h.rule.as_str()),
        Some("review-non-vip-expedited")
    );

    // A big spender is a VIP: the later hold rule sees the group set.
    facts.customer.spent_minor = 250_000;
    let out = r.evaluate(&facts);
    assert_eq!(out.final_values()["customer_group"], "vip");
    assert_eq!(out.hold, None);
}

#[test]
fn rules_sharing_an_expression_each_get_its_outcome_and_see_enrichment() {
    // The same `when` and `require` texts run once per order while the
    // order is unchanged; an enrichment that changes the order makes later
    // rules judge the changed order.
    let r = rules(
        r#"
        [[enrich]]
        name = "bump-a"
        when = "order.priority == 0"
        set = { priority = "order.priority + 1" }

        [[enrich]]
        name = "bump-b"
        when = "order.priority == 0"
        set = { priority = "order.priority + 1" }

        [[validate]]
        name = "still-zero"
        require = "order.priority == 0"
        message = "priority untouched"

        [[validate]]
        name = "known-a"
        require = "order.lines.all(l, l.known)"
        message = "first check"

        [[validate]]
        name = "known-b"
        require = "order.lines.all(l, l.known)"
        message = "second check"
        "#,
    );
    let mut facts = sample_facts();
    facts.order.lines[0].known = false;
    let out = r.evaluate(&facts);
    let outcomes: Vec<(&str, &str)> = out.rules.iter().map(|r| (&*r.name, &*r.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            ("bump-a", "set priority = 1"),
            ("bump-b", "skipped: when is false"),
            ("still-zero", "failed: priority untouched"),
            ("known-a", "failed: first check"),
            ("known-b", "failed: second check"),
        ]
    );
    assert_eq!(out.final_values()["priority"], 1);
    assert_eq!(
        out.failures,
        [
            "still-zero: priority untouched",
            "known-a: first check",
            "known-b: second check"
        ]
    );
    // On the timeline a result is three strings, as it always was.
    let stored = serde_json::to_value(&out.rules[0]).expect("serializes");
    assert_eq!(
        stored,
        serde_json::json!({"kind": "enrich", "name": "bump-a", "outcome": "set priority = 1"})
    );
    let read: RuleResult = serde_json::from_value(stored).expect("deserializes");
    assert_eq!(read, out.rules[0]);
}

#[test]
fn the_first_matching_hold_and_tax_rule_apply() {
    let r = rules(
        r#"
        [facilitator]
        amazon = ["US"]
        walmart = ["US-CA", "US-NY"]

        [[hold]]
        name = "new-customer-high-value"
        when = "customer.orders == 0 && order.total_minor > 50000"
        reason = "high value from a new customer"
        expires = "24h"

        [[hold]]
        name = "countries-differ"
        when = "order.has_bill_to && order.bill_to.country != order.ship_to.country"
        reason = "billing and shipping countries differ"

        [[tax]]
        name = "marketplace-collects"
        when = "channel.facilitator"
        treatment = "marketplace_facilitator"

        [[tax]]
        name = "everything-else"
        when = "true"
        treatment = "merchant_collected"
        "#,
    );
    let mut facts = sample_facts();
    facts.customer.orders = 0;
    facts.order.total_minor = 80_000;
    facts.order.bill_to.country = "DE".into();
    facts.channel = r.channel_facts("walmart", &facts.order.ship_to);
    let out = r.evaluate(&facts);
    let hold = out.hold.clone().expect("held");
    assert_eq!(hold.rule, "new-customer-high-value");
    assert_eq!(hold.expires_ms, Some(86_400_000));
    assert_eq!(out.rules[1].outcome, "matched (an earlier hold applies)");
    // Walmart collects in CA and NY only; the sample ships to IL.
    assert_eq!(
        out.tax.as_ref().map(|t| t.treatment),
        Some(TaxTreatment::MerchantCollected)
    );
    facts.order.ship_to.region = "CA".into();
    facts.channel = r.channel_facts("walmart", &facts.order.ship_to);
    assert!(facts.channel.facilitator);
    let out = r.evaluate(&facts);
    assert_eq!(
        out.tax,
        Some(TaxDecision {
            rule: "marketplace-collects".into(),
            treatment: TaxTreatment::MarketplaceFacilitator
        })
    );
}

#[test]
fn a_syntax_error_is_refused_naming_the_rule_and_the_place() {
    let e = refused(
        r#"
        [[validate]]
        name = "broken"
        require = "order.total_minor > "
        message = "m"
        "#,
    );
    assert_eq!(e.rule(), "broken");
    let text = e.to_string();
    assert!(
        text.starts_with("rules.validate[0].require (rule \"broken\"): "),
        "{text}"
    );
}

#[test]
fn an_unknown_field_is_refused_with_its_position_even_behind_a_false_branch() {
    // `false && …` never reads the field at run time; the static check does.
    let e = refused(
        r#"
        [[hold]]
        name = "typo"
        when = "false && order.ship_to.contry == 'US'"
        reason = "r"
        "#,
    );
    let text = e.to_string();
    assert!(text.contains("unknown field `contry`"), "{text}");
    assert!(text.contains("1:"), "{text}");
    // Inside a comprehension, the element's fields are checked too.
    let e = refused(
        r#"
        [[validate]]
        name = "lines"
        require = "order.lines.all(l, l.qty > 0)"
        message = "m"
        "#,
    );
    assert!(e.to_string().contains("unknown field `qty`"), "{e}");
    let e = refused(
        r#"
        [[validate]]
        name = "var"
        require = "buyer.orders > 0"
        message = "m"
        "#,
    );
    assert!(e.to_string().contains("unknown variable `buyer`"), "{e}");
}

#[test]
fn a_rule_of_the_wrong_type_is_refused() {
    let e = refused(
        r#"
        [[validate]]
        name = "number"
        require = "order.total_minor + 1"
        message = "m"
        "#,
    );
    assert!(
        e.to_string().contains("must yield a bool, yields int"),
        "{e}"
    );
    let e = refused(
        r#"
        [[enrich]]
        name = "group"
        set = { customer_group = "customer.orders" }
        "#,
    );
    assert!(
        e.to_string()
            .contains("for customer_group: expected string, got int"),
        "{e}"
    );
    let e = refused(
        r#"
        [[enrich]]
        name = "unknown-field"
        set = { warehouse = "'east'" }
        "#,
    );
    assert!(e.to_string().contains("cannot set \"warehouse\""), "{e}");
    let e = refused(
        r#"
        [[validate]]
        name = "mix"
        require = "order.total_minor > 'x'"
        message = "m"
        "#,
    );
    assert!(e.to_string().contains("fails on a sample order"), "{e}");
}

#[test]
fn names_are_unique_across_kinds_and_holds_need_a_valid_expiry() {
    let e = refused(
        r#"
        [[validate]]
        name = "same"
        require = "true"
        message = "m"
        [[hold]]
        name = "same"
        when = "false"
        reason = "r"
        "#,
    );
    assert!(e.to_string().contains("defined twice"), "{e}");
    let e = refused(
        r#"
        [[hold]]
        name = "h"
        when = "false"
        reason = "r"
        expires = "soon"
        "#,
    );
    assert!(e.to_string().starts_with("rules.hold[0].expires"), "{e}");
}

#[test]
fn a_rule_that_fails_at_run_time_fails_closed_and_never_panics() {
    let r = rules(
        r#"
        [[validate]]
        name = "first-line"
        require = "order.lines[0].quantity > 0"
        message = "m"
        "#,
    );
    let mut facts = sample_facts();
    facts.order.lines.clear();
    let out = r.evaluate(&facts);
    assert!(out.failures.is_empty());
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert!(
        out.errors[0].starts_with("first-line (validate): "),
        "{:?}",
        out.errors
    );
    assert_eq!(out.refusals(), out.errors);
}

#[test]
fn a_rule_over_its_budget_fails_closed_with_the_reason() {
    // A rule that does real work for every pair of 300 lines, with a
    // budget of 1 µs: it cannot finish in time on any machine.
    let mut o = options(
        r#"
        budget_us = 1
        [[validate]]
        name = "slow"
        require = "order.lines.all(l, order.lines.exists(m, m.sku == l.sku))"
        message = "m"
        "#,
    );
    o.budget_us = 1;
    let r = Rules::new(&o).expect("compiles");
    let mut facts = sample_facts();
    let line = facts.order.lines[0].clone();
    facts.order.lines = (0..300)
        .map(|i| LineFacts {
            sku: format!("SKU-{i}"),
            ..line.clone()
        })
        .collect();
    let out = r.evaluate(&facts);
    assert_eq!(out.errors.len(), 1, "{out:?}");
    assert!(
        out.errors[0].contains("over the budget of 1 µs: failing closed"),
        "{:?}",
        out.errors
    );
}

#[test]
fn the_digest_changes_with_the_rules() {
    let a = rules("[[validate]]\nname = \"a\"\nrequire = \"true\"\nmessage = \"m\"\n");
    let b = rules("[[validate]]\nname = \"a\"\nrequire = \"false\"\nmessage = \"m\"\n");
    assert_ne!(a.digest(), b.digest());
    assert_eq!(a.evaluate(&sample_facts()).digest, a.digest());
}
