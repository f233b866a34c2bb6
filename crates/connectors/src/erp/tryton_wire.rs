//! Tryton's JSON-RPC wire format: the envelope, its error arrays, and the
//! tagged objects it uses for values JSON has no type for
//! (`{"__class__": "Decimal", "decimal": "12.50"}`, `{"__class__": "date", …}`).
//! Money never passes through a float here; only quantities do, because
//! Tryton's quantities are floats.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::ConnectorError;

/// A request: `{"id": n, "method": "model.sale.sale.create", "params": [...]}`.
#[derive(Debug, Serialize)]
pub(crate) struct Request<'a> {
    pub id: u64,
    pub method: &'a str,
    pub params: &'a [Value],
}

/// What a 200 answer carried.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Result(Value),
    Error(RpcError),
}

/// A refusal carried in a 200 answer's `error` array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RpcError {
    /// `["UserError", [message, description, domain]]`: a business rule refused the call.
    User {
        message: String,
        description: String,
    },
    /// `["UserWarning", [name, message, description]]`: the call asks to be
    /// confirmed; it is skipped by recording `name` in `res.user.warning`.
    Warning { name: String, message: String },
    /// `["ConcurrencyException", message]`: a record changed under the call.
    Concurrency { message: String },
    /// `["LoginException", [name, message, type]]`: more login parameters wanted.
    Login { message: String },
    /// Any other exception: `[str(exception), traceback]`.
    Server { message: String },
}

impl RpcError {
    /// The error class the engine acts on. The server rolled the call back in
    /// every case (Tryton answers only after its transaction ended).
    pub(crate) fn into_connector_error(self, method: &str) -> ConnectorError {
        match self {
            RpcError::User {
                message,
                description,
            } => {
                let detail = if description.is_empty() {
                    message
                } else {
                    format!("{message} ({description})")
                };
                ConnectorError::rejected(format!("Tryton refused {method}: {detail}"))
            }
            RpcError::Warning { name, message } => ConnectorError::rejected(format!(
                "Tryton asks to confirm {method}: {message} (warning {name})"
            )),
            RpcError::Concurrency { message } => {
                ConnectorError::transient(format!("Tryton {method}: concurrent change: {message}"))
            }
            RpcError::Login { message } => ConnectorError::Unauthorized {
                reason: format!("Tryton {method}: {message}"),
            },
            RpcError::Server { message } => {
                ConnectorError::transient(format!("Tryton {method} failed: {message}"))
            }
        }
    }
}

/// Reads a 200 answer. An unreadable one means the call ran but we cannot
/// tell its result: in doubt.
pub(crate) fn read_answer(method: &str, body: &[u8]) -> Result<Answer, ConnectorError> {
    let unreadable =
        |why: String| ConnectorError::transient(format!("unreadable answer to {method}: {why}"));
    let mut envelope: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| unreadable(e.to_string()))?;
    if let Some(error) = envelope.remove("error") {
        return Ok(Answer::Error(read_error(error)));
    }
    match envelope.remove("result") {
        Some(result) => Ok(Answer::Result(result)),
        None => Err(unreadable("neither result nor error".into())),
    }
}

fn read_error(error: Value) -> RpcError {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let (kind, args) = match &error {
        Value::Array(items) => (items.first(), items.get(1)),
        other => {
            return RpcError::Server {
                message: other.to_string(),
            };
        }
    };
    let arg = |i: usize| text(args.and_then(|a| a.as_array()).and_then(|a| a.get(i)));
    match kind.and_then(Value::as_str) {
        Some("UserError") => RpcError::User {
            message: arg(0),
            description: arg(1),
        },
        Some("UserWarning") => RpcError::Warning {
            name: arg(0),
            message: arg(1),
        },
        Some("ConcurrencyException") => RpcError::Concurrency {
            message: text(args),
        },
        Some("LoginException") => RpcError::Login { message: arg(1) },
        // `[str(exception), traceback]`: the traceback is for the server log.
        _ => RpcError::Server {
            message: text(kind),
        },
    }
}

/// `{"__class__": "Decimal", "decimal": "12.50"}`.
pub(crate) fn decimal(amount: Decimal) -> Value {
    json!({ "__class__": "Decimal", "decimal": amount.to_string() })
}

/// `{"__class__": "date", "year": 2026, "month": 11, "day": 26}`.
pub(crate) fn date(day: NaiveDate) -> Value {
    json!({ "__class__": "date", "year": day.year(), "month": day.month(), "day": day.day() })
}

/// Python's `str(Decimal)`, which may use an exponent (`0E-10`, `1.5E+3`).
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        text.parse().ok()
    }
}

/// A Decimal field as Tryton sends it (the tagged object), also accepting a
/// plain string; `null` is an error (use `Option<Dec>` for nullable fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dec(pub Decimal);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let text = match &value {
            Value::Object(map)
                if map.get("__class__").and_then(Value::as_str) == Some("Decimal") =>
            {
                map.get("decimal").and_then(Value::as_str)
            }
            Value::String(s) => Some(s.as_str()),
            _ => None,
        };
        text.and_then(parse_decimal)
            .map(Dec)
            .ok_or_else(|| serde::de::Error::custom(format!("not a Tryton Decimal: {value}")))
    }
}

/// Decodes a result into `T`; a result of another shape is in doubt (the
/// call ran, we cannot read what it did).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    method: &str,
    value: Value,
) -> Result<T, ConnectorError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| ConnectorError::transient(format!("unexpected answer to {method}: {e}")))
}

/// `Authorization: Session base64(login:user_id:session_key)`.
pub(crate) fn session_authorization(login: &str, user_id: i64, key: &str) -> String {
    format!(
        "Session {}",
        base64(format!("{login}:{user_id}:{key}").as_bytes())
    )
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn decimals_and_dates_use_tryton_tags() {
        assert_eq!(
            decimal(dec!(12.50)),
            json!({"__class__": "Decimal", "decimal": "12.50"})
        );
        assert_eq!(
            date(NaiveDate::from_ymd_opt(2026, 2, 3).unwrap()),
            json!({"__class__": "date", "year": 2026, "month": 2, "day": 3})
        );
        let read = |v: Value| serde_json::from_value::<Dec>(v).map(|d| d.0);
        assert_eq!(
            read(json!({"__class__": "Decimal", "decimal": "41.25"})).unwrap(),
            dec!(41.25)
        );
        assert_eq!(
            read(json!({"__class__": "Decimal", "decimal": "0E-10"})).unwrap(),
            Decimal::ZERO
        );
        assert_eq!(read(json!("0.0825000000")).unwrap(), dec!(0.0825));
        assert!(read(json!(12.5)).is_err(), "money never comes as a float");
        assert!(read(Value::Null).is_err());
    }

    #[test]
    fn errors_map_to_connector_errors() {
        let answer = |body: &str| read_answer("model.sale.sale.create", body.as_bytes());
        assert_eq!(
            answer(r#"{"id":1,"result":null}"#).unwrap(),
            Answer::Result(Value::Null)
        );
        let Answer::Error(user) = answer(
            r#"{"id":1,"error":["UserError",["The web ID on the sale must be unique per shop.","",null]]}"#,
        )
        .unwrap() else {
            panic!("expected an error")
        };
        match user.into_connector_error("model.sale.sale.create") {
            ConnectorError::Rejected { reason } => {
                assert!(reason.contains("must be unique per shop"), "{reason}")
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert_eq!(
            answer(
                r#"{"id":1,"error":["UserWarning",["abc.invoice_taxes","No default taxes",""]]}"#
            )
            .unwrap(),
            Answer::Error(RpcError::Warning {
                name: "abc.invoice_taxes".into(),
                message: "No default taxes".into()
            })
        );
        let Answer::Error(server) =
            answer(r#"{"id":1,"error":["'res.user'","Traceback ..."]}"#).unwrap()
        else {
            panic!("expected an error")
        };
        assert!(server.into_connector_error("m").is_in_doubt());
        let Answer::Error(concurrency) =
            answer(r#"{"id":1,"error":["ConcurrencyException","Records were modified"]}"#).unwrap()
        else {
            panic!("expected an error")
        };
        assert!(matches!(
            concurrency.into_connector_error("m"),
            ConnectorError::Transient { .. }
        ));
        assert!(answer("<html>").unwrap_err().is_in_doubt());
        assert!(answer(r#"{"id":1}"#).unwrap_err().is_in_doubt());
    }

    #[test]
    fn session_header_is_base64_of_login_uid_key() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(
            session_authorization("admin", 1, "c78d"),
            "Session YWRtaW46MTpjNzhk"
        );
    }
}
