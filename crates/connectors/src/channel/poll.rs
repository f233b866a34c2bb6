//! What every channel's poll shares: turning a polled order into the same
//! inbox message whichever marketplace it came from.

/// A polled order as an inbox message keyed `<source>:poll:<id>:<version>`,
/// or `None` when its id or version cannot be read: logged and left out,
/// since one bad order must not hold up the reconciliation of the rest (its
/// webhook twin is refused at the door the same way).
pub(crate) fn polled_order(
    channel: &str,
    source: &str,
    raw: Vec<u8>,
    // Reads the order's id and source version from its raw body.
    read_envelope: impl Fn(&[u8]) -> Result<(String, i64), crate::InputError>,
) -> Option<(crate::InboundEnvelope, Vec<u8>)> {
    match read_envelope(&raw) {
        Ok((id, version)) => Some((
            crate::InboundEnvelope {
                message_key: format!("{source}:poll:{id}:{version}"),
                external_order_id: id,
                source_version: version,
            },
            raw,
        )),
        Err(error) => {
            tracing::warn!(channel, source, %error, "skipping an unreadable polled order");
            None
        }
    }
}
