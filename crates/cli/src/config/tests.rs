use super::*;

fn demo_text() -> String {
    toml::to_string(&Config::demo()).unwrap()
}

#[test]
fn demo_config_round_trips_and_validates() {
    let text = demo_text();
    let c = Config::parse(&text, "demo.toml", std::iter::empty()).unwrap();
    assert_eq!(c.warehouses.len(), 2);
    assert_eq!(c.channels[0].name, "webstore");
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = "[hub]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n";
    let e = Config::parse(text, "hub.toml", std::iter::empty()).unwrap_err();
    let s = e.to_string();
    assert!(s.starts_with("hub.toml:3:1 (key hub.lisen)"), "{s}");
    assert!(s.contains("unknown field `lisen`"), "{s}");
}

#[test]
fn wrong_type_names_the_line() {
    let mut text = demo_text();
    text = text.replace("concurrency = 64", "concurrency = \"many\"");
    let e = Config::parse(&text, "c.toml", std::iter::empty()).unwrap_err();
    let line = text.lines().position(|l| l.contains("\"many\"")).unwrap() + 1;
    assert!(e.to_string().starts_with(&format!("c.toml:{line}:")), "{e}");
    assert!(e.to_string().contains("key engine.concurrency"), "{e}");
}

#[test]
fn environment_overrides_win_and_are_validated() {
    let text = demo_text();
    let env = vec![
        (
            "CROSSDOCK__HUB__LISTEN".to_owned(),
            "127.0.0.1:9999".to_owned(),
        ),
        ("CROSSDOCK__ENGINE__CONCURRENCY".to_owned(), "8".to_owned()),
    ];
    let c = Config::parse(&text, "d.toml", env.into_iter()).unwrap();
    assert_eq!(c.hub.listen, "127.0.0.1:9999");
    assert_eq!(c.engine.concurrency, 8);
    let env = vec![("CROSSDOCK__ENGINE__CONCURRENCY".to_owned(), "0".to_owned())];
    let e = Config::parse(&text, "d.toml", env.into_iter()).unwrap_err();
    assert!(
        e.to_string().contains("engine") && e.to_string().contains("concurrency"),
        "{e}"
    );
}

#[test]
fn channel_pacing_is_optional_and_checked_like_the_erp_governor() {
    let with = |table: &str| {
        demo_text().replace(
            "[channels.split]",
            &format!("[channels.pacing]\n{table}\n\n[channels.split]"),
        )
    };
    let c = Config::parse(
        &with("requests_per_sec = 5.0"),
        "p.toml",
        std::iter::empty(),
    )
    .unwrap();
    let pacing = c.channels[0].pacing.as_ref().expect("pacing");
    assert_eq!(pacing.requests_per_sec, 5.0);
    assert!(toml::to_string(&c).unwrap().contains("[channels.pacing]"));
    assert!(Config::demo().channels[0].pacing.is_none());
    let e = Config::parse(&with("burst = 0"), "p.toml", std::iter::empty()).unwrap_err();
    assert_eq!(e.location, "p.toml: key channels[0].pacing");
    assert_eq!(e.message, "burst must be at least 1");
}

#[test]
fn signed_sources_must_name_their_secret_and_files_are_read_beside_the_config() {
    let text = demo_text();
    let mut written: toml::Table = toml::from_str(&text).unwrap();
    written["channels"].as_array_mut().unwrap()[0]
        .as_table_mut()
        .unwrap()
        .remove("signing");
    let e = Config::parse(
        &toml::to_string(&written).unwrap(),
        "d.toml",
        std::iter::empty(),
    )
    .unwrap_err();
    assert_eq!(e.location, "d.toml: key channels[0].signing");
    assert!(e.message.contains("every webhook is signed"), "{e}");
    let mut written: toml::Table = toml::from_str(&text).unwrap();
    written["warehouses"].as_array_mut().unwrap()[1]
        .as_table_mut()
        .unwrap()
        .remove("signing");
    let e = Config::parse(
        &toml::to_string(&written).unwrap(),
        "conf/d.toml",
        std::iter::empty(),
    )
    .unwrap_err();
    assert_eq!(e.location, "conf/d.toml: key warehouses[1].signing");
    assert!(
        e.message.starts_with("required when kind = \"rest\""),
        "{e}"
    );
    // The demo's relative key file, read from beside the configuration.
    let c = Config::parse(&text, "conf/d.toml", std::iter::empty()).unwrap();
    let ChannelSpec::Webstore(w) = &c.channels[0].spec else {
        panic!("the demo's channel is the webstore")
    };
    assert_eq!(
        w.signing.secret_file.as_deref(),
        Some(Path::new("conf/.crossdock/webhook-signing.secret"))
    );
    let sim_signing = c.sim.unwrap().channel.signing.unwrap();
    assert_eq!(w.signing.secret_file, sim_signing.secret_file);
}

#[test]
fn semantic_errors_name_the_key() {
    let mut c = Config::demo();
    c.warehouses[1].name = c.warehouses[0].name.clone();
    let e = c.validate("x.toml").unwrap_err();
    assert_eq!(e.location, "x.toml: key warehouses[1].name");
}

/// The shipped marketplace configuration has inline secrets (for its
/// simulators): `Debug`, as a log line would show it, shows none of them,
/// the mapped channel's token and signing secret included.
#[test]
fn debug_of_a_configuration_shows_no_secret() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
    let text = std::fs::read_to_string(format!("{dir}/demo-marketplaces.toml")).unwrap();
    let text = text
        .replace(
            "[erp]\nkind = \"rest\"\nbase_url = \"http://127.0.0.1:7102\"\n",
            "[erp]\nkind = \"rest\"\nbase_url = \"http://127.0.0.1:7102\"\n\n[erp.auth]\nkind = \"bearer\"\ntoken = \"erp-bearer-0042\"\n",
        )
        .replace(
            "data_dir = \".crossdock\"",
            "data_dir = \".crossdock\"\ndatabase_url = \"postgres://u:db-pass-0042@h/d\"",
        );
    let mut config = Config::parse(
        &text,
        &format!("{dir}/demo-marketplaces.toml"),
        std::iter::empty(),
    )
    .unwrap();
    let mapped = config
        .channels
        .iter_mut()
        .find(|c| c.kind() == ChannelKind::Mapped)
        .unwrap();
    if let ChannelSpec::Mapped(m) = &mut mapped.spec {
        let auth: toml::Table =
            toml::from_str("kind = \"bearer\"\ntoken = \"mapped-bearer-0042\"").unwrap();
        m.table.insert("auth".into(), auth.into());
        let webhook = m
            .table
            .get_mut("webhook")
            .and_then(|w| w.as_table_mut())
            .unwrap();
        let signature: toml::Table =
            toml::from_str("header = \"x-sig\"\nsecret = \"mapped-hmac-0042\"").unwrap();
        webhook.insert("signature".into(), signature.into());
    }
    let shown = format!("{config:?}");
    for secret in [
        "shpat_sim_access_token",
        "sim_webhook_secret",
        "walmart-sim-secret",
        "sim-client-secret",
        "sim-refresh-token",
        "erp-bearer-0042",
        "db-pass-0042",
        "mapped-bearer-0042",
        "mapped-hmac-0042",
    ] {
        assert!(!shown.contains(secret), "Debug shows {secret}: {shown}");
    }
    assert!(shown.contains("<redacted>"), "{shown}");
    // Where a secret is stays visible.
    assert!(shown.contains("demo-webhook.secret"), "{shown}");
    let spec = format!("{:?}", mapped_spec(&config));
    assert!(spec.contains("MappedChannelConfig { mapping"), "{spec}");
    assert!(
        !spec.contains("mapped-bearer-0042") && !spec.contains("mapped-hmac-0042"),
        "{spec}"
    );
}

fn mapped_spec(config: &Config) -> &ChannelSpec {
    &config
        .channels
        .iter()
        .find(|c| c.kind() == ChannelKind::Mapped)
        .unwrap()
        .spec
}
