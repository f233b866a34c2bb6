//! The SVG charts: a line chart over time and a horizontal bar chart,
//! drawn with fixed-precision coordinates so the bytes are stable.

use std::fmt::Write as _;

use super::axis::{Axis, TimeAxis};
use super::format::{
    MS_PER_HOUR, MS_PER_MIN, Px, count_f64, escape, fmt_ms, ms_to_f64, text_width, truncate,
};
use crate::report::Sample;

/// Series colours, handed out in `BTreeMap` order so a channel keeps its
/// colour from run to run. Past the tenth series the colours repeat, dashed.
pub(super) const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

pub(super) const W: f64 = 720.0;
pub(super) const H: f64 = 260.0;
pub(super) const LEFT: f64 = 64.0;
pub(super) const RIGHT: f64 = 16.0;
pub(super) const BOTTOM: f64 = 40.0;
pub(super) const LEGEND_ROW: f64 = 16.0;

/// A line chart over time. Each series is `(name, colour, samples)`; the
/// x axis runs from the start of the day, in hours. `reference` draws a
/// dashed horizontal line at `(value, label)`.
pub(super) fn line_chart(
    title: &str,
    series: &[(&str, &str, &[Sample])],
    y_label: &str,
    reference: Option<(f64, &str)>,
) -> String {
    // Non-finite values cannot be placed on an axis; leaving them out keeps
    // NaN from leaking into coordinates.
    let series: Vec<Line<'_>> = series
        .iter()
        .map(|(name, colour, samples)| Line {
            name,
            colour,
            points: samples
                .iter()
                .filter(|s| s.value.is_finite())
                .map(|s| (s.at_ms, s.value))
                .collect(),
        })
        .collect();

    let all = series.iter().flat_map(|l| l.points.iter());
    let (mut t_min, mut t_max) = (0_i64, 0_i64);
    let (mut v_min, mut v_max) = (0.0_f64, 0.0_f64);
    let mut has_data = false;
    for &(t, v) in all {
        has_data = true;
        t_min = t_min.min(t);
        t_max = t_max.max(t);
        v_min = v_min.min(v);
        v_max = v_max.max(v);
    }
    if let Some((r, _)) = reference.filter(|(r, _)| r.is_finite()) {
        v_min = v_min.min(r);
        v_max = v_max.max(r);
    }
    let x_axis = TimeAxis::new(t_min, t_max);
    let y_axis = Axis::new(v_min, v_max);

    let mut out = String::new();
    // A single series is named by the chart's title; a legend only repeats it.
    let legend = if series.len() > 1 {
        legend(&series)
    } else {
        (String::new(), 0.0)
    };
    // A very long legend overlaps the plot rather than squeezing it to nothing.
    let top = (30.0 + legend.1 + 8.0).min(H - BOTTOM - 80.0);
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, top, H - BOTTOM);
    let sx = |t: i64| x0 + x_axis.fraction(t) * (x1 - x0);
    let sy = |v: f64| y1 - y_axis.fraction(v) * (y1 - y0);

    svg_open(&mut out, title, W, H);
    out.push_str(&legend.0);

    // Horizontal gridlines with their labels.
    for tick in y_axis.ticks() {
        let y = sy(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e1e4e8\"/>\
             <text x=\"{}\" y=\"{}\" dy=\"0.32em\" text-anchor=\"end\">{}</text>",
            Px(x0),
            Px(y),
            Px(x1),
            Px(y),
            Px(x0 - 6.0),
            Px(y),
            y_axis.label(tick)
        );
    }
    // Time ticks.
    for tick in x_axis.ticks() {
        let x = sx(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#57606a\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            Px(x),
            Px(y1),
            Px(x),
            Px(y1 + 4.0),
            Px(x),
            Px(y1 + 16.0),
            x_axis.label(tick)
        );
    }
    axes_and_labels(&mut out, (x0, x1, y0, y1), y_label, "time from start (h)");

    if let Some((r, label)) = reference.filter(|(r, _)| r.is_finite()) {
        let y = sy(r);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#cf222e\" \
             stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#cf222e\">{}</text>",
            Px(x0),
            Px(y),
            Px(x1),
            Px(y),
            Px(x1 - 2.0),
            Px(y - 4.0),
            escape(label)
        );
    }

    draw_lines(&mut out, &series, &sx, &sy);
    svg_close(&mut out, (x0, x1, y0, y1), has_data);
    out
}

/// One series of a line chart, non-finite values already dropped.
pub(super) struct Line<'a> {
    name: &'a str,
    colour: &'a str,
    points: Vec<(i64, f64)>,
}

/// Draws each series as a polyline, or a dot when it has a single point.
pub(super) fn draw_lines(
    out: &mut String,
    series: &[Line<'_>],
    sx: &impl Fn(i64) -> f64,
    sy: &impl Fn(f64) -> f64,
) {
    for (i, line) in series.iter().enumerate() {
        let colour = line.colour;
        let dash = dash_for(i);
        match line.points.as_slice() {
            [] => {}
            // A single point makes an invisible polyline: draw a dot.
            [(t, v)] => {
                let _ = writeln!(
                    out,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{colour}\"/>",
                    Px(sx(*t)),
                    Px(sy(*v))
                );
            }
            _ => {
                let mut coords = String::new();
                for (t, v) in &line.points {
                    if !coords.is_empty() {
                        coords.push(' ');
                    }
                    let _ = write!(coords, "{},{}", Px(sx(*t)), Px(sy(*v)));
                }
                let _ = writeln!(
                    out,
                    "<polyline points=\"{coords}\" fill=\"none\" stroke=\"{colour}\" \
                     stroke-width=\"1.8\" stroke-linejoin=\"round\"{dash}/>"
                );
            }
        }
    }
}

/// Legend entries laid out left to right, wrapping onto further rows under
/// the title. Returns the markup and the height it takes.
pub(super) fn legend(series: &[Line<'_>]) -> (String, f64) {
    let mut out = String::new();
    let (mut x, mut row) = (LEFT, 0.0_f64);
    for (i, line) in series.iter().enumerate() {
        let colour = line.colour;
        let name = truncate(line.name, 28);
        let width = 30.0 + text_width(&name);
        if x + width > W - RIGHT && x > LEFT {
            x = LEFT;
            row += 1.0;
        }
        let y = 34.0 + row * LEGEND_ROW;
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" \
             stroke-width=\"3\"{}/><text x=\"{}\" y=\"{}\" dy=\"0.32em\">{}</text>",
            Px(x),
            Px(y),
            Px(x + 18.0),
            Px(y),
            dash_for(i),
            Px(x + 22.0),
            Px(y),
            escape(&name)
        );
        x += width + 10.0;
    }
    let height = if series.is_empty() {
        0.0
    } else {
        (row + 1.0) * LEGEND_ROW
    };
    (out, height)
}

/// Second and later rounds through the palette are dashed so colours that
/// repeat can still be told apart.
pub(super) fn dash_for(index: usize) -> &'static str {
    if index >= PALETTE.len() {
        " stroke-dasharray=\"5 3\""
    } else {
        ""
    }
}

/// A horizontal bar chart of one latency per row; `None` draws no bar.
pub(super) fn bar_chart(title: &str, bars: &[(&str, Option<i64>)]) -> String {
    const LABEL_W: f64 = 170.0;
    const VALUE_W: f64 = 90.0;
    const TOP: f64 = 34.0;
    const ROW: f64 = 24.0;
    const BAR: f64 = 14.0;

    let max_ms = bars
        .iter()
        .filter_map(|(_, v)| *v)
        .max()
        .unwrap_or(0)
        .max(0);
    // Tick in a unit that suits the largest bar, so labels read "0 s, 5 s,
    // 10 s" rather than raw milliseconds.
    let (unit_ms, unit) = match max_ms {
        m if m < 1_000 => (1, "ms"),
        m if m < MS_PER_MIN => (1_000, "s"),
        m if m < MS_PER_HOUR => (MS_PER_MIN, "min"),
        _ => (MS_PER_HOUR, "h"),
    };
    let scaled = |ms: i64| ms_to_f64(ms.max(0)) / ms_to_f64(unit_ms);
    let axis = Axis::new(0.0, scaled(max_ms));

    let rows = if bars.is_empty() {
        2.0
    } else {
        count_f64(bars.len())
    };
    let height = TOP + rows * ROW + BOTTOM;
    let (x0, x1, y0, y1) = (LABEL_W, W - VALUE_W, TOP, TOP + rows * ROW);
    let sx = |v: f64| x0 + axis.fraction(v) * (x1 - x0);

    let mut out = String::new();
    svg_open(&mut out, title, W, height);
    for tick in axis.ticks() {
        let x = sx(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e1e4e8\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{} {unit}</text>",
            Px(x),
            Px(y0),
            Px(x),
            Px(y1),
            Px(x),
            Px(y1 + 16.0),
            axis.label(tick)
        );
    }
    let mut y = y0;
    for (name, value) in bars {
        let mid = y + ROW / 2.0;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" dy=\"0.32em\" text-anchor=\"end\">{}</text>",
            Px(x0 - 8.0),
            Px(mid),
            escape(&truncate(name, 24))
        );
        if let Some(ms) = value {
            let end = sx(scaled(*ms));
            let _ = writeln!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\" dy=\"0.32em\">{}</text>",
                Px(x0),
                Px(mid - BAR / 2.0),
                Px(end - x0),
                Px(BAR),
                PALETTE[0],
                Px(end + 4.0),
                Px(mid),
                fmt_ms(*ms)
            );
        } else {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" dy=\"0.32em\" fill=\"#57606a\">no shipments</text>",
                Px(x0 + 4.0),
                Px(mid)
            );
        }
        y += ROW;
    }
    axes_and_labels(&mut out, (x0, x1, y0, y1), "", "ship-confirm p95");
    svg_close(&mut out, (x0, x1, y0, y1), !bars.is_empty());
    out
}

/// The `<svg>` element and the chart's title, drawn above the plot.
pub(super) fn svg_open(out: &mut String, title: &str, width: f64, height: f64) {
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" \
         height=\"{h}\" role=\"img\" aria-label=\"{t}\" font-family=\"sans-serif\" \
         font-size=\"11\" fill=\"#1f2328\"><title>{t}</title>",
        w = Px(width),
        h = Px(height),
        t = escape(title)
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"18\" font-size=\"13\" font-weight=\"600\">{}</text>",
        Px(LEFT),
        escape(title)
    );
}

/// The two axis lines and their captions; `plot` is `(x0, x1, y0, y1)`.
pub(super) fn axes_and_labels(
    out: &mut String,
    plot: (f64, f64, f64, f64),
    y_label: &str,
    x_label: &str,
) {
    let (x0, x1, y0, y1) = plot;
    let _ = writeln!(
        out,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#57606a\"/>\
         <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#57606a\"/>",
        Px(x0),
        Px(y1),
        Px(x1),
        Px(y1),
        Px(x0),
        Px(y0),
        Px(x0),
        Px(y1),
    );
    if !y_label.is_empty() {
        let _ = writeln!(
            out,
            "<text transform=\"translate(14,{}) rotate(-90)\" text-anchor=\"middle\" \
             fill=\"#57606a\">{}</text>",
            Px(f64::midpoint(y0, y1)),
            escape(y_label)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#57606a\">{}</text>",
        Px(f64::midpoint(x0, x1)),
        Px(y1 + 32.0),
        escape(x_label)
    );
}

/// Closes the chart; an empty one says so in the middle of its plot,
/// `plot` being `(x0, x1, y0, y1)`.
pub(super) fn svg_close(out: &mut String, plot: (f64, f64, f64, f64), has_data: bool) {
    let (x0, x1, y0, y1) = plot;
    if !has_data {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#57606a\">no data</text>",
            Px(f64::midpoint(x0, x1)),
            Px(f64::midpoint(y0, y1))
        );
    }
    out.push_str("</svg>\n");
}
