//! External side effects with idempotency keys.
//!
//! An effect is recorded (`pending`) before the call and resolved after it.
//! If the hub dies between the two, the effect stays pending: the next
//! attempt finds it "in doubt" and asks the target whether it already holds
//! the result (find by external reference) before calling again. So a crash
//! can delay an effect but never apply it twice.

use std::future::Future;
use std::sync::Mutex;

use crossdock_connectors::ConnectorError;
use crossdock_store::{EffectResolution, EffectStatus, NewEffect, Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub use crossdock_store::events::EffectOutcome;

/// Identity of one effect.
#[derive(Debug, Clone)]
pub struct EffectSpec<'a> {
    /// Idempotency key, unique per effect forever (`erp:sales_order:<order>`).
    pub key: String,
    /// The system it acts on (`erp`, `warehouse:east`, `channel:webstore`).
    pub target: &'a str,
    pub kind: &'a str,
    pub entity_key: &'a str,
}

/// Apply an effect at most once. `find` asks the target whether the effect
/// already happened; `call` performs it.
pub async fn run_effect<T, F, FFut, C, CFut>(
    store: &Store,
    now: i64,
    resolutions: &Mutex<Vec<EffectResolution>>,
    spec: EffectSpec<'_>,
    find: F,
    call: C,
) -> Result<(T, EffectOutcome), EffectError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> FFut,
    FFut: Future<Output = Result<Option<T>, ConnectorError>>,
    C: FnOnce() -> CFut,
    CFut: Future<Output = Result<T, ConnectorError>>,
{
    let effect = store
        .begin_effect(&NewEffect {
            key: spec.key.clone(),
            target: spec.target.to_owned(),
            kind: spec.kind.to_owned(),
            entity_key: spec.entity_key.to_owned(),
            at: now,
        })
        .await?;

    if effect.status == EffectStatus::Applied
        && let Some(result) = effect.result
    {
        telemetry::effect(spec.target, "skipped");
        let value = serde_json::from_value(result)
            .map_err(|e| StoreError::Corrupt(format!("effect {} result: {e}", spec.key)))?;
        return Ok((value, EffectOutcome::AlreadyApplied));
    }

    // Left pending by an earlier attempt: the call may have reached the
    // target. A refused or throttled effect is known not applied.
    if effect.in_doubt {
        match find().await {
            Ok(Some(found)) => {
                let json =
                    serde_json::to_value(&found).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                record_applied(resolutions, &spec.key, json, now);
                telemetry::effect(spec.target, "found");
                return Ok((found, EffectOutcome::FoundAtTarget));
            }
            Ok(None) => {}
            Err(e) => {
                telemetry::effect(spec.target, "transient");
                return Err(e.into());
            }
        }
    }

    match call().await {
        Ok(result) => {
            let json =
                serde_json::to_value(&result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            record_applied(resolutions, &spec.key, json, now);
            telemetry::effect(spec.target, "applied");
            Ok((result, EffectOutcome::Applied))
        }
        Err(e) => {
            // A refusal means not applied, but only for this call: if an
            // earlier attempt was in doubt (and not found just now, perhaps
            // because it is still on its way), the effect stays pending so
            // the next attempt asks the target again.
            let known_not_applied = !effect.in_doubt
                && matches!(
                    e,
                    ConnectorError::Throttled { .. }
                        | ConnectorError::CircuitOpen { .. }
                        | ConnectorError::Paced { .. }
                        | ConnectorError::Unreachable { .. }
                        | ConnectorError::Rejected { .. }
                        | ConnectorError::Unauthorized { .. }
                );
            if known_not_applied {
                store
                    .resolve_effect(&spec.key, EffectStatus::Failed, None, now)
                    .await?;
            }
            let outcome = match &e {
                ConnectorError::Throttled { .. } => "throttled",
                ConnectorError::CircuitOpen { .. } => "circuit_open",
                ConnectorError::Paced { .. } => "paced",
                ConnectorError::Unreachable { .. } => "unreachable",
                ConnectorError::Rejected { .. } | ConnectorError::Unauthorized { .. } => "rejected",
                ConnectorError::Transient { .. } => "transient",
            };
            telemetry::effect(spec.target, outcome);
            Err(e.into())
        }
    }
}

/// Note an applied effect; the runner writes it with the step's outcome.
/// Until then it is pending, so a crash in between leaves it in doubt and
/// the next attempt finds it at the target instead of applying it again.
fn record_applied(
    resolutions: &Mutex<Vec<EffectResolution>>,
    key: &str,
    result: serde_json::Value,
    at: i64,
) {
    resolutions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(EffectResolution {
            key: key.to_owned(),
            status: EffectStatus::Applied,
            result: Some(result),
            at,
        });
}
