//! Named places where a crash test stops the hub on purpose. With
//! `CROSSDOCK_FAILPOINTS=name[,name…]` set, the step that reaches one logs
//! it and parks for good, so the test can SIGKILL the process at exactly
//! that moment (an effect applied at the target, not yet recorded here).
//! Without the variable a failpoint costs one lookup of a cached set.

use std::collections::HashSet;
use std::sync::OnceLock;

const VARIABLE: &str = "CROSSDOCK_FAILPOINTS";

fn armed() -> &'static HashSet<String> {
    static ARMED: OnceLock<HashSet<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var(VARIABLE)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

pub(crate) async fn hit(name: &'static str) {
    if armed().contains(name) {
        tracing::warn!(
            failpoint = name,
            "Failpoint reached; this step is parked until the process is killed."
        );
        std::future::pending::<()>().await;
    }
}
