//! Writers. The crate holds no state: the caller passes delimiters, partner
//! ids, date/time and control numbers (which it must persist and increment
//! per trading partner), and gets bytes back.

use rust_decimal::Decimal;

use crate::common::{DateTime, Party, Reference};
use crate::error::WriteError;
use crate::sets::a997::FunctionalAck;
use crate::sets::w940::WarehouseShippingOrder;
use crate::token::Delimiters;

/// Who is talking to whom, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeParams {
    pub delimiters: Delimiters,
    /// ISA05/ISA06 (id up to 15 characters, padded on output).
    pub sender_qualifier: String,
    pub sender_id: String,
    /// ISA07/ISA08.
    pub receiver_qualifier: String,
    pub receiver_id: String,
    /// GS02/GS03.
    pub application_sender: String,
    pub application_receiver: String,
    /// CCYYMMDD; ISA09 uses the last six digits.
    pub date: String,
    /// HHMM.
    pub time: String,
    /// ISA12, e.g. `00401`. From `00402` on ISA11 carries the repetition
    /// separator, which must then be set in `delimiters`.
    pub version: String,
    /// GS08, e.g. `004010`.
    pub group_version: String,
    /// ISA15: `P` or `T`.
    pub usage: char,
    /// ISA14.
    pub ack_requested: bool,
}

/// Control numbers to use for one interchange. The first transaction set
/// gets `first_set`, the next `first_set + 1`, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlNumbers {
    pub interchange: u32,
    pub group: u32,
    pub first_set: u32,
}

/// One outgoing segment: id and elements, each element a list of components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutSegment {
    pub id: &'static str,
    pub elements: Vec<Vec<String>>,
}

impl OutSegment {
    pub fn new(id: &'static str) -> Self {
        Self {
            id,
            elements: Vec::new(),
        }
    }

    /// Appends a simple element (`None` = empty).
    #[must_use]
    pub fn el(mut self, v: Option<impl Into<String>>) -> Self {
        self.elements.push(v.map(Into::into).into_iter().collect());
        self
    }

    #[must_use]
    pub fn val(self, v: impl Into<String>) -> Self {
        self.el(Some(v))
    }

    /// Appends a composite element.
    #[must_use]
    pub fn composite(mut self, components: Vec<String>) -> Self {
        self.elements.push(components);
        self
    }
}

fn check_params(p: &EnvelopeParams, cn: &ControlNumbers) -> Result<(), WriteError> {
    p.delimiters.check().map_err(WriteError::Delimiters)?;
    let version: u32 = p.version.parse().map_err(|_| WriteError::InvalidField {
        field: "ISA12 version",
        value: p.version.clone(),
        reason: "must be 5 digits",
    })?;
    if p.version.len() != 5 {
        return Err(WriteError::InvalidField {
            field: "ISA12 version",
            value: p.version.clone(),
            reason: "must be 5 digits",
        });
    }
    match (version >= 402, p.delimiters.repetition) {
        (true, None) => {
            return Err(WriteError::Delimiters(
                "ISA12 >= 00402 needs a repetition separator (ISA11)".into(),
            ));
        }
        (false, Some(_)) => {
            return Err(WriteError::Delimiters(
                "ISA12 < 00402 has no repetition separator; ISA11 is \"U\"".into(),
            ));
        }
        _ => {}
    }
    for (field, value, max) in [
        ("ISA06 sender id", &p.sender_id, 15),
        ("ISA08 receiver id", &p.receiver_id, 15),
        ("ISA05 sender qualifier", &p.sender_qualifier, 2),
        ("ISA07 receiver qualifier", &p.receiver_qualifier, 2),
        ("GS02 application sender", &p.application_sender, 15),
        ("GS03 application receiver", &p.application_receiver, 15),
    ] {
        if value.is_empty() || value.chars().count() > max {
            return Err(WriteError::InvalidField {
                field,
                value: value.clone(),
                reason: "wrong length",
            });
        }
    }
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(&p.date, 8) {
        return Err(WriteError::InvalidField {
            field: "date",
            value: p.date.clone(),
            reason: "must be CCYYMMDD",
        });
    }
    if !digits(&p.time, 4) {
        return Err(WriteError::InvalidField {
            field: "time",
            value: p.time.clone(),
            reason: "must be HHMM",
        });
    }
    if !matches!(p.usage, 'P' | 'T') {
        return Err(WriteError::InvalidField {
            field: "ISA15 usage",
            value: p.usage.to_string(),
            reason: "must be P or T",
        });
    }
    if cn.interchange > 999_999_999 || cn.group > 999_999_999 {
        return Err(WriteError::InvalidField {
            field: "control number",
            value: format!("{}/{}", cn.interchange, cn.group),
            reason: "must fit in 9 digits",
        });
    }
    Ok(())
}

/// Serializes segments, checking that no value contains a delimiter.
struct Out<'a> {
    d: &'a Delimiters,
    buf: String,
}

impl Out<'_> {
    fn push(&mut self, seg: &OutSegment) -> Result<(), WriteError> {
        let d = self.d;
        let forbidden: Vec<char> = [
            Some(d.element),
            Some(d.component),
            d.repetition,
            Some(d.segment),
        ]
        .into_iter()
        .flatten()
        .map(char::from)
        .chain(['\r', '\n'])
        .collect();
        // Trailing empty elements are not transmitted (X12 syntax rule).
        let last = seg
            .elements
            .iter()
            .rposition(|e| e.iter().any(|c| !c.is_empty()));
        let used = last.map_or(0, |i| i + 1);
        self.buf.push_str(seg.id);
        for (i, el) in seg.elements[..used].iter().enumerate() {
            self.buf.push(d.element as char);
            let comp_used = el.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
            for (j, c) in el[..comp_used].iter().enumerate() {
                if let Some(bad) = c.chars().find(|ch| forbidden.contains(ch)) {
                    return Err(WriteError::DelimiterInValue {
                        segment: seg.id,
                        element: i + 1,
                        value: c.clone(),
                        delimiter: bad,
                    });
                }
                if j > 0 {
                    self.buf.push(d.component as char);
                }
                self.buf.push_str(c);
            }
        }
        self.end_segment();
        Ok(())
    }

    fn end_segment(&mut self) {
        self.buf.push(self.d.segment as char);
        // One segment per line for humans and diff tools, unless the
        // terminator already is a line break.
        if self.d.segment != b'\n' {
            self.buf.push('\n');
        }
    }
}

/// Writes a complete interchange with one functional group whose
/// transaction sets are given as (ST01, body segments without ST/SE).
pub fn write_interchange(
    params: &EnvelopeParams,
    cn: ControlNumbers,
    functional_id: &str,
    sets: &[(&str, Vec<OutSegment>)],
) -> Result<String, WriteError> {
    check_params(params, &cn)?;
    let d = &params.delimiters;
    let mut out = Out {
        d,
        buf: String::new(),
    };
    let pad = |s: &str, n: usize| format!("{s:<n$}");
    let isa11 = d.repetition.map_or('U', char::from);
    let e = d.element as char;
    // The ISA is fixed width; it is assembled by hand so padding survives.
    let isa = [
        "ISA".to_owned(),
        "00".into(),
        pad("", 10),
        "00".into(),
        pad("", 10),
        pad(&params.sender_qualifier, 2),
        pad(&params.sender_id, 15),
        pad(&params.receiver_qualifier, 2),
        pad(&params.receiver_id, 15),
        params.date[2..].to_owned(),
        params.time.clone(),
        isa11.to_string(),
        params.version.clone(),
        format!("{:09}", cn.interchange),
        if params.ack_requested {
            "1".into()
        } else {
            "0".into()
        },
        params.usage.to_string(),
        (d.component as char).to_string(),
    ]
    .join(&e.to_string());
    for (field, v) in [
        ("ISA06", &params.sender_id),
        ("ISA08", &params.receiver_id),
        ("ISA05", &params.sender_qualifier),
        ("ISA07", &params.receiver_qualifier),
    ] {
        let forbidden = [
            Some(d.element),
            Some(d.component),
            d.repetition,
            Some(d.segment),
        ];
        if let Some(bad) = v.bytes().find(|b| forbidden.contains(&Some(*b))) {
            return Err(WriteError::DelimiterInValue {
                segment: "ISA",
                element: field[3..].parse().unwrap_or(0),
                value: v.clone(),
                delimiter: bad as char,
            });
        }
    }
    out.buf.push_str(&isa);
    out.end_segment();
    out.push(
        &OutSegment::new("GS")
            .val(functional_id)
            .val(params.application_sender.clone())
            .val(params.application_receiver.clone())
            .val(params.date.clone())
            .val(params.time.clone())
            .val(cn.group.to_string())
            .val("X")
            .val(params.group_version.clone()),
    )?;
    for (i, (set_id, body)) in sets.iter().enumerate() {
        let offset = u32::try_from(i).unwrap_or(u32::MAX);
        let control = format!("{:04}", cn.first_set.saturating_add(offset));
        out.push(&OutSegment::new("ST").val(*set_id).val(control.clone()))?;
        for seg in body {
            out.push(seg)?;
        }
        out.push(
            &OutSegment::new("SE")
                .val((body.len() + 2).to_string())
                .val(control),
        )?;
    }
    out.push(
        &OutSegment::new("GE")
            .val(sets.len().to_string())
            .val(cn.group.to_string()),
    )?;
    out.push(
        &OutSegment::new("IEA")
            .val("1")
            .val(format!("{:09}", cn.interchange)),
    )?;
    Ok(out.buf)
}

/// Formats a decimal as an X12 `R` value (no exponent, no trailing zeros).
pub fn format_decimal(d: Decimal) -> String {
    d.normalize().to_string()
}

fn party_segments(p: &Party, out: &mut Vec<OutSegment>) {
    out.push(
        OutSegment::new("N1")
            .val(p.entity.clone())
            .el(p.name.clone())
            .el(p.id_qualifier.clone())
            .el(p.id.clone()),
    );
    for pair in p.address_lines.chunks(2) {
        out.push(
            OutSegment::new("N3")
                .val(pair[0].clone())
                .el(pair.get(1).cloned()),
        );
    }
    if p.city.is_some() || p.state.is_some() || p.postal_code.is_some() || p.country.is_some() {
        out.push(
            OutSegment::new("N4")
                .el(p.city.clone())
                .el(p.state.clone())
                .el(p.postal_code.clone())
                .el(p.country.clone()),
        );
    }
}

fn n9(r: &Reference) -> OutSegment {
    OutSegment::new("N9")
        .val(r.qualifier.clone())
        .el(r.id.clone())
        .el(r.description.clone())
}

fn g62(d: &DateTime) -> OutSegment {
    OutSegment::new("G62")
        .val(d.qualifier.clone())
        .el(d.date.clone())
        .el(d.time_code.clone())
        .el(d.time.clone())
}

/// The body segments (ST/SE excluded) of a 940.
pub fn segments_940(order: &WarehouseShippingOrder) -> Result<Vec<OutSegment>, WriteError> {
    let mut s = vec![
        OutSegment::new("W05")
            .val(order.status_code.clone())
            .val(order.depositor_order_number.clone())
            .el(order.purchase_order_number.clone()),
    ];
    for p in &order.parties {
        party_segments(p, &mut s);
    }
    s.extend(order.references.iter().map(n9));
    s.extend(order.dates.iter().map(g62));
    if let Some(c) = &order.carrier {
        let mut w66 = OutSegment::new("W66")
            .val(c.payment_method.clone())
            .el(c.transport_method.clone());
        w66 = w66
            .el(None::<String>)
            .el(None::<String>)
            .el(c.routing.clone());
        w66 = w66
            .el(None::<String>)
            .el(None::<String>)
            .el(None::<String>)
            .el(None::<String>);
        s.push(w66.el(c.scac.clone()));
    }
    for line in &order.lines {
        if line.product_ids.len() > 3 {
            return Err(WriteError::InvalidField {
                field: "940 line product ids",
                value: line.product_ids.len().to_string(),
                reason: "W01 carries at most 3 qualifier/id pairs",
            });
        }
        s.push(OutSegment::new("LX").val(line.line_number.to_string()));
        let mut w01 = OutSegment::new("W01")
            .val(format_decimal(line.quantity))
            .val(line.unit.clone())
            .el(line.upc.clone());
        for (i, id) in line.product_ids.iter().enumerate() {
            if i == 2 {
                // Third pair lives at W01-14/15; pad W01-08..13.
                while w01.elements.len() < 13 {
                    w01 = w01.el(None::<String>);
                }
            }
            w01 = w01.val(id.qualifier.clone()).val(id.id.clone());
        }
        s.push(w01);
        if let Some(desc) = &line.description {
            s.push(OutSegment::new("G69").val(desc.clone()));
        }
        s.extend(line.references.iter().map(n9));
    }
    let total: Decimal = order.lines.iter().map(|l| l.quantity).sum();
    s.push(
        OutSegment::new("W76")
            .val(format_decimal(total))
            .el(order.total_weight.as_ref().map(|w| format_decimal(w.value)))
            .el(order.total_weight.as_ref().and_then(|w| w.unit.clone())),
    );
    Ok(s)
}

/// Writes one interchange carrying the given 940s (functional id `OW`).
pub fn write_940(
    orders: &[WarehouseShippingOrder],
    params: &EnvelopeParams,
    cn: ControlNumbers,
) -> Result<String, WriteError> {
    let sets = orders
        .iter()
        .map(|o| Ok(("940", segments_940(o)?)))
        .collect::<Result<Vec<_>, WriteError>>()?;
    write_interchange(params, cn, "OW", &sets)
}

/// The body segments of one 997.
pub fn segments_997(ack: &FunctionalAck) -> Vec<OutSegment> {
    let mut s = vec![
        OutSegment::new("AK1")
            .val(ack.functional_id.clone())
            .val(ack.group_control_number.clone())
            .el(ack.version.clone()),
    ];
    for set in &ack.sets {
        s.push(
            OutSegment::new("AK2")
                .val(set.set_id.clone())
                .val(set.control_number.clone()),
        );
        for e in &set.segment_errors {
            s.push(
                OutSegment::new("AK3")
                    .val(e.segment_id.clone())
                    .val(e.position.to_string())
                    .el(e.loop_id.clone())
                    .el(e.code.clone()),
            );
            for el in &e.element_errors {
                let mut pos = vec![el.position.to_string()];
                pos.extend(el.component.map(|c| c.to_string()));
                s.push(
                    OutSegment::new("AK4")
                        .composite(pos)
                        .el(el.reference.clone())
                        .val(el.code.clone())
                        .el(el.bad_value.clone()),
                );
            }
        }
        let mut ak5 = OutSegment::new("AK5").val(set.status.code());
        for e in set.errors.iter().take(5) {
            ak5 = ak5.val(e.clone());
        }
        s.push(ak5);
    }
    let mut ak9 = OutSegment::new("AK9")
        .val(ack.status.code())
        .val(ack.sets_included.to_string())
        .val(ack.sets_received.to_string())
        .val(ack.sets_accepted.to_string());
    for e in ack.group_errors.iter().take(5) {
        ak9 = ak9.val(e.clone());
    }
    s.push(ak9);
    s
}

/// Writes one interchange (functional id `FA`) with one 997 per
/// acknowledged group.
pub fn write_997(
    acks: &[FunctionalAck],
    params: &EnvelopeParams,
    cn: ControlNumbers,
) -> Result<String, WriteError> {
    // AK1-01 and AK1-02 are mandatory: a group read leniently without its
    // GS cannot be acknowledged in a 997 (the partner needs a TA1 or a
    // person), and writing one would produce a 997 nobody can read.
    // Likewise AK2-01/AK2-02 for a set read without its ST elements.
    let required = |field: &'static str, value: &String| {
        if value.trim().is_empty() {
            Err(WriteError::InvalidField {
                field,
                value: value.clone(),
                reason: "required: the acknowledged group or set has none",
            })
        } else {
            Ok(())
        }
    };
    for a in acks {
        required("AK1-01 functional identifier", &a.functional_id)?;
        required("AK1-02 group control number", &a.group_control_number)?;
        for set in &a.sets {
            required("AK2-01 transaction set identifier", &set.set_id)?;
            required("AK2-02 transaction set control number", &set.control_number)?;
        }
    }
    let sets: Vec<_> = acks.iter().map(|a| ("997", segments_997(a))).collect();
    write_interchange(params, cn, "FA", &sets)
}
