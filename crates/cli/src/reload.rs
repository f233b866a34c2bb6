//! Configuration versions and reloads of a running hub.
//!
//! A hub records each configuration it runs (`start`) or is asked to run
//! (`sighup`) in the store: the hash of the effective configuration with
//! secrets left out (`Config::version_hash`), when, who, and whether it was
//! applied or refused and why. `GET /v1/config/versions` and `crossdock
//! config versions` show them.
//!
//! On SIGHUP the hub reads its file again. What decides work but holds no
//! connection, listener or store is applied at once: the order rules
//! (`[rules]`) and fulfilment routing (`[routing]`: rules and warehouse
//! profiles) — the engine holds both as `Live` values, and each step takes
//! one snapshot. Everything else is built once at start (the listener, the
//! store, connectors with their credentials and pacing, the engine's
//! options, availability policies, the API's settings), so a change there
//! is refused whole, naming the keys that need a restart; an invalid file
//! is refused whole with its error. Either way the old configuration keeps
//! running.

use crate::config::Config;

/// Sections a reload applies to a running hub.
pub const RELOADABLE: [&str; 2] = ["rules", "routing"];

/// The section (`rules`, `hub`, `channels`…) a `plan` key belongs to.
fn section(key: &str) -> &str {
    key.split(['.', '[']).next().unwrap_or(key)
}

/// What a reload from `running` to `new` applies: the reloadable sections
/// that changed (empty: nothing changed). `Err` with the reason when a key
/// outside them changed.
pub fn judge(running: &Config, new: &Config) -> Result<Vec<String>, String> {
    let changes = crate::plan::key_changes(running, new).map_err(|e| e.to_string())?;
    let fixed: Vec<&str> = changes
        .iter()
        .map(|c| c.key.as_str())
        .filter(|k| !RELOADABLE.contains(&section(k)))
        .collect();
    if !fixed.is_empty() {
        const SHOWN: usize = 8;
        let mut named = fixed
            .iter()
            .take(SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if fixed.len() > SHOWN {
            named.push_str(&format!(" and {} more", fixed.len() - SHOWN));
        }
        return Err(format!(
            "needs a restart: {named} changed; a reload applies only [{}]",
            RELOADABLE.join("] and [")
        ));
    }
    let mut sections: Vec<String> = changes.iter().map(|c| section(&c.key).to_owned()).collect();
    sections.sort();
    sections.dedup();
    Ok(sections)
}

/// The OS user running this process, the default `who` of a version.
pub fn os_user() -> String {
    whoami::username().unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_routing_reload_the_rest_needs_a_restart() {
        let running = Config::demo();
        assert_eq!(judge(&running, &running), Ok(Vec::new()));

        let mut new = running.clone();
        new.routing.rules.push(
            toml::from_str("name = \"prefer-east\"\nscore = \"1.0\"").expect("a routing rule"),
        );
        assert_eq!(judge(&running, &new), Ok(vec!["routing".to_owned()]));

        let mut moved = new.clone();
        moved.hub.listen = "127.0.0.1:9999".into();
        moved.engine.max_attempts += 1;
        let reason = judge(&running, &moved).unwrap_err();
        assert!(reason.contains("hub.listen"), "{reason}");
        assert!(reason.contains("engine.max_attempts"), "{reason}");
        assert!(reason.contains("needs a restart"), "{reason}");
    }
}
