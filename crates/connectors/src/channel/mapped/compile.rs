//! A mapping compiled once at startup: every jq program and template checked and named by its field, then run per payload.

use crossdock_model::{
    Address, Customer, Money, Order, OrderLine, OrderStatus, TaxTreatment, order_id_for,
};
use jaq_json::Val;
use reqwest::Method;
use reqwest::header::HeaderName;
use rust_decimal::Decimal;

use super::expr::{
    Expr, Field, address, amount, optional_string, quantity, required_string, timestamp, version_ms,
};
use super::mapping::{
    ChannelMapping, DEFAULT_CANCEL_REASON, SUPPORTED_MAPPING_VERSIONS, SignatureEncoding,
    SinceFormat,
};
use crate::input::currency;
use crate::jq::{Program, check_template, kind};
use crate::{ChannelEvent, InputError};

impl ChannelMapping {
    /// Compiles every program and checks every template, naming the field
    /// of the first problem (`order.line.unit_price: jq syntax error …`).
    /// Secrets are not read here (see [`MappedChannel::new`]).
    pub fn validate(&self) -> Result<(), String> {
        CompiledMapping::compile(self).map(drop)
    }
}

/// Maps one payload as `mapping` says, for channel `channel`, with no
/// network and no secrets: what `crossdock translate --from <channel>` runs.
pub fn map_payload(
    channel: &str,
    mapping: &ChannelMapping,
    body: &[u8],
) -> Result<ChannelEvent, MappingError> {
    PayloadMapper::compile(mapping)
        .map_err(MappingError::Mapping)?
        .map(channel, body)
        .map_err(MappingError::Input)
}

/// A mapping compiled once and run on many payloads, with no network and
/// no secrets: what [`map_payload`] does per call, for callers that map a
/// stream of payloads with one mapping (the fuzz target in
/// `crates/connectors/fuzz/`), where compiling every jq program per payload
/// would cost more than mapping it.
pub struct PayloadMapper(CompiledMapping);

impl PayloadMapper {
    /// Compiles `mapping`; the error names the mapping field at fault.
    pub fn compile(mapping: &ChannelMapping) -> Result<PayloadMapper, String> {
        CompiledMapping::compile(mapping).map(PayloadMapper)
    }

    /// Maps one payload for channel `channel`.
    pub fn map(&self, channel: &str, body: &[u8]) -> Result<ChannelEvent, InputError> {
        self.0.map_message(channel, body)
    }
}

/// Why [`map_payload`] failed: the mapping itself, or the payload.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum MappingError {
    #[error("channel mapping: {0}")]
    Mapping(String),
    #[error("{0}")]
    Input(InputError),
}

/// A writing HTTP method named in a mapping.
pub(super) fn write_method(key: &str, name: &str) -> Result<Method, String> {
    match name.to_ascii_uppercase().as_str() {
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        other => Err(format!("{key}: {other:?} is not POST, PUT or PATCH")),
    }
}

/// A payload as a jq value, numbers kept as written.
pub(super) fn parse_payload(body: &[u8]) -> Result<Val, InputError> {
    crate::jq::parse_json(body).map_err(|e| InputError::new("body", e))
}

pub(super) struct CompiledSignature {
    pub(super) header: String,
    pub(super) encoding: SignatureEncoding,
    pub(super) prefix: Option<String>,
}

pub(super) struct CompiledPoll {
    pub(super) path: String,
    pub(super) since_param: String,
    pub(super) since_format: SinceFormat,
    pub(super) query: Vec<(String, String)>,
    pub(super) items: Expr,
    pub(super) next_cursor: Option<Expr>,
    pub(super) cursor_param: Option<String>,
    pub(super) link_header: bool,
    pub(super) max_pages: u32,
}

pub(super) struct CompiledConfirm {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) body: Program,
    pub(super) id: Expr,
}

pub(super) struct CompiledFind {
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) results: Program,
}

pub(super) struct CompiledAvailability {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) per_sku: bool,
    pub(super) body: Program,
    pub(super) results: Option<Program>,
    pub(super) batch_limit: usize,
}

pub(super) struct CompiledLine {
    pub(super) line_id: Option<Field>,
    pub(super) sku: Field,
    pub(super) title: Option<Field>,
    pub(super) quantity: Field,
    pub(super) unit_price: Field,
    pub(super) discount: Option<Field>,
    pub(super) tax: Option<Field>,
}

/// Every expression of a mapping, compiled.
pub(super) struct CompiledMapping {
    pub(super) version: u32,
    pub(super) signature: Option<CompiledSignature>,
    pub(super) message_key_header: Option<String>,
    pub(super) message_key: Option<Expr>,
    pub(super) external_order_id: Field,
    pub(super) source_version: Field,
    pub(super) cancelled: Option<Expr>,
    pub(super) cancel_reason: Option<Expr>,
    pub(super) placed_at: Field,
    pub(super) currency: Field,
    pub(super) customer_email: Field,
    pub(super) customer_name: Field,
    pub(super) customer_id: Option<Field>,
    pub(super) customer_phone: Option<Field>,
    pub(super) shipping_address: Option<Field>,
    pub(super) billing_address: Option<Field>,
    pub(super) lines: Field,
    pub(super) line: CompiledLine,
    pub(super) shipping: Option<Field>,
    pub(super) total: Option<Field>,
    pub(super) service_level: Option<Field>,
    pub(super) tax_treatment: TaxTreatment,
    pub(super) poll: Option<CompiledPoll>,
    pub(super) confirm: Option<CompiledConfirm>,
    pub(super) find: Option<CompiledFind>,
    pub(super) availability: Option<CompiledAvailability>,
}

pub(super) const SHIPMENT_PLACEHOLDERS: &[&str] = &["external_order_id", "package_id"];

impl CompiledMapping {
    pub(super) fn compile(m: &ChannelMapping) -> Result<CompiledMapping, String> {
        if !SUPPORTED_MAPPING_VERSIONS.contains(&m.version) {
            return Err(format!(
                "version: {} is not a channel mapping version this hub knows (supported: {})",
                m.version,
                SUPPORTED_MAPPING_VERSIONS
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let signature = match &m.webhook.signature {
            Some(s) => {
                HeaderName::from_bytes(s.header.as_bytes()).map_err(|_| {
                    format!(
                        "webhook.signature.header: {:?} is not a header name",
                        s.header
                    )
                })?;
                if s.secret.is_none() && s.secret_env.is_none() {
                    return Err("webhook.signature: set secret_env or secret".to_owned());
                }
                Some(CompiledSignature {
                    header: s.header.clone(),
                    encoding: s.encoding,
                    prefix: s.prefix.clone(),
                })
            }
            None => None,
        };
        if let Some(h) = &m.webhook.message_key_header {
            HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| format!("webhook.message_key_header: {h:?} is not a header name"))?;
        }
        let e = &m.envelope;
        let o = &m.order;
        let l = &o.line;
        let line = CompiledLine {
            line_id: Field::compile_opt("order.line.line_id", "line_id", &l.line_id)?,
            sku: Field::compile("order.line.sku", "sku", &l.sku)?,
            title: Field::compile_opt("order.line.title", "title", &l.title)?,
            quantity: Field::compile("order.line.quantity", "quantity", &l.quantity)?,
            unit_price: Field::compile("order.line.unit_price", "unit_price", &l.unit_price)?,
            discount: Field::compile_opt("order.line.discount", "discount", &l.discount)?,
            tax: Field::compile_opt("order.line.tax", "tax", &l.tax)?,
        };
        let poll = match &m.poll {
            Some(p) => {
                check_template("poll.path", &p.path, &[])?;
                if p.next_cursor.is_some() != p.cursor_param.is_some() {
                    return Err(
                        "poll.cursor_param: next_cursor and cursor_param go together".to_owned(),
                    );
                }
                if p.max_pages == 0 {
                    return Err("poll.max_pages: must be at least 1".to_owned());
                }
                Some(CompiledPoll {
                    path: p.path.clone(),
                    since_param: p.since_param.clone(),
                    since_format: p.since_format,
                    query: p.query.clone(),
                    items: Expr::compile("poll.items", &p.items)?,
                    next_cursor: Expr::compile_opt("poll.next_cursor", &p.next_cursor)?,
                    cursor_param: p.cursor_param.clone(),
                    link_header: p.link_header,
                    max_pages: p.max_pages,
                })
            }
            None => None,
        };
        let confirm = match &m.confirm_shipment {
            Some(c) => {
                let method = write_method("confirm_shipment.method", &c.method)?;
                check_template("confirm_shipment.path", &c.path, SHIPMENT_PLACEHOLDERS)?;
                Some(CompiledConfirm {
                    method,
                    path: c.path.clone(),
                    body: Program::compile("confirm_shipment.body", &c.body)?,
                    id: Expr::compile("confirm_shipment.id", &c.id)?,
                })
            }
            None => None,
        };
        let find = match &m.find_shipment {
            Some(f) => {
                check_template("find_shipment.path", &f.path, SHIPMENT_PLACEHOLDERS)?;
                for (key, value) in &f.query {
                    check_template(
                        &format!("find_shipment.query.{key}"),
                        value,
                        SHIPMENT_PLACEHOLDERS,
                    )?;
                }
                Some(CompiledFind {
                    path: f.path.clone(),
                    query: f.query.clone(),
                    results: Program::compile("find_shipment.results", &f.results)?,
                })
            }
            None => None,
        };
        let availability = match &m.availability {
            Some(a) => {
                check_template("availability.path", &a.path, &["sku"])?;
                if a.batch_limit == 0 {
                    return Err("availability.batch_limit: must be at least 1".into());
                }
                Some(CompiledAvailability {
                    method: write_method("availability.method", &a.method)?,
                    path: a.path.clone(),
                    per_sku: a.path.contains("{sku}"),
                    body: Program::compile("availability.body", &a.body)?,
                    results: a
                        .results
                        .as_deref()
                        .map(|r| Program::compile("availability.results", r))
                        .transpose()?,
                    batch_limit: a.batch_limit,
                })
            }
            None => None,
        };
        Ok(CompiledMapping {
            version: m.version,
            signature,
            message_key_header: m.webhook.message_key_header.clone(),
            message_key: Expr::compile_opt("webhook.message_key", &m.webhook.message_key)?,
            external_order_id: Field::compile(
                "envelope.external_order_id",
                "external_id",
                &e.external_order_id,
            )?,
            source_version: Field::compile(
                "envelope.source_version",
                "source_version",
                &e.source_version,
            )?,
            cancelled: Expr::compile_opt("envelope.cancelled", &e.cancelled)?,
            cancel_reason: Expr::compile_opt("envelope.cancel_reason", &e.cancel_reason)?,
            placed_at: Field::compile("order.placed_at", "placed_at", &o.placed_at)?,
            currency: Field::compile("order.currency", "currency", &o.currency)?,
            customer_email: Field::compile(
                "order.customer_email",
                "customer.email",
                &o.customer_email,
            )?,
            customer_name: Field::compile(
                "order.customer_name",
                "customer.name",
                &o.customer_name,
            )?,
            customer_id: Field::compile_opt(
                "order.customer_id",
                "customer.external_id",
                &o.customer_id,
            )?,
            customer_phone: Field::compile_opt(
                "order.customer_phone",
                "customer.phone",
                &o.customer_phone,
            )?,
            shipping_address: Field::compile_opt(
                "order.shipping_address",
                "shipping_address",
                &o.shipping_address,
            )?,
            billing_address: Field::compile_opt(
                "order.billing_address",
                "billing_address",
                &o.billing_address,
            )?,
            lines: Field::compile("order.lines", "lines", &o.lines)?,
            line,
            shipping: Field::compile_opt("order.shipping", "shipping", &o.shipping)?,
            total: Field::compile_opt("order.total", "total", &o.total)?,
            service_level: Field::compile_opt(
                "order.service_level",
                "service_level",
                &o.service_level,
            )?,
            tax_treatment: o.tax_treatment,
            poll,
            confirm,
            find,
            availability,
        })
    }

    /// The order id and source version of a payload.
    pub(super) fn envelope(&self, payload: &Val) -> Result<(String, i64), InputError> {
        let id = self
            .external_order_id
            .read(payload, "", "", required_string)?;
        let version = self.source_version.read(payload, "", "", version_ms)?;
        Ok((id, version))
    }

    pub(super) fn map_message(
        &self,
        channel: &str,
        body: &[u8],
    ) -> Result<ChannelEvent, InputError> {
        let payload = parse_payload(body)?;
        let (external_order_id, source_version) = self.envelope(&payload)?;
        if let Some(cancelled) = &self.cancelled {
            let value = cancelled
                .eval(&payload)
                .map_err(|e| cancelled.error("", "envelope.cancelled", e))?;
            let is_cancelled = match value {
                Val::Bool(b) => b,
                Val::Null => false,
                other => {
                    return Err(cancelled.error(
                        "",
                        "envelope.cancelled",
                        format!("expected a boolean, got {}", kind(&other)),
                    ));
                }
            };
            if is_cancelled {
                let reason = match &self.cancel_reason {
                    Some(expr) => {
                        let value = expr
                            .eval(&payload)
                            .map_err(|e| expr.error("", "envelope.cancel_reason", e))?;
                        optional_string(&value)
                            .map_err(|e| expr.error("", "envelope.cancel_reason", e))?
                    }
                    None => None,
                };
                return Ok(ChannelEvent::Cancelled {
                    external_order_id,
                    source_version,
                    reason: reason.unwrap_or_else(|| DEFAULT_CANCEL_REASON.to_owned()),
                });
            }
        }
        let order = self.map_order(channel, &payload, external_order_id, source_version)?;
        Ok(ChannelEvent::Order(Box::new(order)))
    }

    pub(super) fn map_order(
        &self,
        channel: &str,
        payload: &Val,
        external_id: String,
        source_version: i64,
    ) -> Result<Order, InputError> {
        let p = payload;
        let currency = self.currency.read(p, "", "", |v| {
            let code = required_string(v)?;
            currency("", &code).map_err(|e| e.message)
        })?;
        let placed_at = self.placed_at.read(p, "", "", timestamp)?;
        let money = |field: &Option<Field>, prefix: &str, input: &Val, base: &str| match field {
            Some(f) => f.read(input, base, prefix, |v| amount(v, currency)),
            None => Ok(Money::new(Decimal::ZERO, currency)),
        };
        let opt_string = |field: &Option<Field>| match field {
            Some(f) => f.read(p, "", "", optional_string),
            None => Ok(None),
        };
        let address = |field: &Option<Field>| -> Result<Option<Address>, InputError> {
            let Some(f) = field else { return Ok(None) };
            let value = f
                .expr
                .eval(p)
                .map_err(|e| f.expr.error("", f.canonical, e))?;
            address(&value).map_err(|(key, e)| {
                let canonical = match key {
                    Some(k) => format!("{}.{k}", f.canonical),
                    None => f.canonical.to_owned(),
                };
                match (f.expr.source_path(""), key) {
                    (Some(path), Some(k)) => InputError::new(format!("{path}.{k}"), e),
                    _ => f.expr.error("", &canonical, e),
                }
            })
        };
        let customer = Customer {
            external_id: opt_string(&self.customer_id)?,
            email: self.customer_email.read(p, "", "", required_string)?,
            name: self.customer_name.read(p, "", "", required_string)?,
            phone: opt_string(&self.customer_phone)?,
        };
        let shipping_address = address(&self.shipping_address)?;
        let billing_address = address(&self.billing_address)?;
        let items = self.lines.read(p, "", "", |v| match v {
            Val::Arr(items) if items.is_empty() => {
                Err("an order needs at least one item".to_owned())
            }
            Val::Arr(items) => Ok(items.iter().cloned().collect::<Vec<Val>>()),
            Val::Null => Err("missing field".to_owned()),
            other => Err(format!("expected an array of lines, got {}", kind(other))),
        })?;
        let lines_base = self.lines.expr.source_path("");
        let mut lines = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            // Payload path of this element when `lines` is a pointer; the
            // canonical `lines[i].` prefix names jq-computed fields.
            let base = match &lines_base {
                Some(b) => format!("{b}[{i}]"),
                None => format!("lines[{i}]"),
            };
            let prefix = format!("lines[{i}].");
            let l = &self.line;
            let line_id = match &l.line_id {
                Some(f) => f.read(item, &base, &prefix, required_string)?,
                None => (i + 1).to_string(),
            };
            let title = match &l.title {
                Some(f) => f.read(item, &base, &prefix, optional_string)?,
                None => None,
            };
            let line = OrderLine {
                line_id,
                sku: l.sku.read(item, &base, &prefix, required_string)?,
                title: title.unwrap_or_default(),
                quantity: l.quantity.read(item, &base, &prefix, quantity)?,
                unit_price: l
                    .unit_price
                    .read(item, &base, &prefix, |v| amount(v, currency))?,
                discount: money(&l.discount, &prefix, item, &base)?,
                tax: money(&l.tax, &prefix, item, &base)?,
                shipped_quantity: 0,
                cancelled_quantity: 0,
            };
            // A discount larger than what it discounts makes the line, and a
            // total the hub computes, negative (found fuzzing,
            // crates/connectors/FUZZING.md): refused where it is wrong.
            let gross = line.unit_price.checked_mul(line.quantity);
            if gross.is_ok_and(|g| line.discount.amount > g.amount) {
                return Err(InputError::new(
                    format!("{base}.discount"),
                    format!(
                        "{} is more than the line's {} (unit price × quantity)",
                        line.discount.amount,
                        line.unit_price.amount * Decimal::from(line.quantity)
                    ),
                ));
            }
            lines.push(line);
        }
        let shipping = money(&self.shipping, "", p, "")?;
        let service_level = opt_string(&self.service_level)?.unwrap_or_else(|| "standard".into());
        let mut order = Order {
            id: order_id_for(channel, &external_id),
            channel: channel.to_owned(),
            external_id,
            source_version,
            placed_at,
            currency,
            customer,
            shipping_address,
            billing_address,
            lines,
            shipping,
            total: Money::new(Decimal::ZERO, currency),
            tax_treatment: self.tax_treatment,
            service_level,
            status: OrderStatus::Received,
            erp_ref: None,
            shipping_method: None,
            customer_group: None,
            gift: false,
            priority: 0,
            hold: None,
        };
        order.total = match &self.total {
            Some(f) => f.read(p, "", "", |v| amount(v, currency))?,
            // Totals are Rust arithmetic on exact decimals, never jq's.
            None => order
                .computed_total()
                .map_err(|e| InputError::new("total", format!("cannot compute: {e}")))?,
        };
        Ok(order)
    }
}
