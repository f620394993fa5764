//! A KPI's trend as an inline SVG chart: readings over time, the target as a dashed line, each
//! point coloured by its RAG and shaped by it too (circle green, square amber, triangle red) so
//! the chart still reads when printed in black and white.
//!
//! Pure string building with no dependencies: the chart must live inside one HTML file with
//! no scripts, fonts or images. Time runs left to right in proportion to the days between
//! periods, so a gap in reporting shows as a gap.

use std::fmt::Write;

use chrono::NaiveDate;
use stocktake_domain::Rag;
use stocktake_projections::views::measure::Reading;

use super::{escape, number, reading_rag_word, short_date};

/// What a chart needs to know about a measure.
#[derive(Debug, Clone, Copy)]
pub(super) struct Chart<'a> {
    /// Unique in the document: the SVG's title and description are referred to by id.
    pub id: &'a str,
    pub name: &'a str,
    pub unit: &'a str,
    pub target: f64,
    /// In period order.
    pub readings: &'a [Reading],
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 290.0;
/// The plot area inside the drawing: room on the left for values, on the right for the
/// target's label, below for dates, the axis title and the legend.
const PLOT_LEFT: f64 = 64.0;
const PLOT_RIGHT: f64 = WIDTH - 92.0;
const PLOT_TOP: f64 = 16.0;
const PLOT_BOTTOM: f64 = HEIGHT - 84.0;
/// Date labels ("30 Sep 2018") need this much room each.
const DATE_LABEL_GAP: f64 = 84.0;
const MAX_VALUE_TICKS: usize = 6;

const INK: &str = "#1b1b1b";
const GRID: &str = "#d5d8dc";

pub(super) fn rag_colour(rag: Rag) -> &'static str {
    match rag {
        Rag::Red => "#c0392b",
        Rag::Amber => "#d68910",
        Rag::Green => "#1e8449",
    }
}

/// A linear map from data to drawing coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Scale {
    fn new(domain: (f64, f64), range: (f64, f64)) -> Self {
        Scale { domain, range }
    }

    /// A domain of one value (a single reading) maps to the middle of the range.
    fn map(&self, value: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if d1 == d0 {
            return (r0 + r1) / 2.0;
        }
        r0 + (value - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// Round steps (1, 2, 5 times a power of ten) that cover `lo..=hi` in at most `max` ticks.
fn value_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let (lo, hi) = if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        // A flat series still needs a band to sit in.
        let pad = (lo.abs() * 0.1).max(1.0);
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    };
    let rough = (hi - lo) / (max.max(2) - 1) as f64;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&step| (((hi / step).ceil() - (lo / step).floor()) as usize) < max)
        .unwrap_or(100.0 * magnitude);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Which readings label the date axis, given their x positions in order: the first, the last,
/// and between them each one at least `min_gap` from its neighbours, so labels never collide.
fn date_tick_indices(xs: &[f64], min_gap: f64) -> Vec<usize> {
    let mut picked: Vec<usize> = Vec::new();
    for (index, &x) in xs.iter().enumerate() {
        if picked.last().is_none_or(|&last| x - xs[last] >= min_gap) {
            picked.push(index);
        }
    }
    let last = xs.len().saturating_sub(1);
    if xs.len() > 1 && picked.last() != Some(&last) {
        // The latest reading is the one a board asks about: it keeps its label.
        if picked.len() > 1 && xs[last] - xs[picked[picked.len() - 1]] < min_gap {
            picked.pop();
        }
        picked.push(last);
    }
    picked
}

fn days_since(start: NaiveDate, date: NaiveDate) -> f64 {
    (date - start).num_days() as f64
}

/// The chart as one `<svg>` element, sized by its container.
pub(super) fn trend_chart(chart: &Chart<'_>) -> String {
    let mut out = String::new();
    write_chart(&mut out, chart).expect("writing to a String cannot fail");
    out
}

fn write_chart(out: &mut String, chart: &Chart<'_>) -> std::fmt::Result {
    let id = escape(chart.id);
    write!(
        out,
        r#"<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" font-family="Arial, Helvetica, sans-serif" font-size="12">"#
    )?;
    write!(
        out,
        r#"<title id="{id}-title">{}: readings against a target of {} {}</title>"#,
        escape(chart.name),
        number(chart.target),
        escape(chart.unit)
    )?;
    write!(
        out,
        r#"<desc id="{id}-desc">{}</desc>"#,
        escape(&describe(chart))
    )?;
    let [first, .., last] = chart.readings else {
        if let [only] = chart.readings {
            write_plot(out, chart, only.period_end, only.period_end)?;
        } else {
            write!(
                out,
                r#"<text x="{}" y="{}" text-anchor="middle" fill="{INK}">No readings yet</text>"#,
                WIDTH / 2.0,
                HEIGHT / 2.0
            )?;
        }
        return out.write_str("</svg>");
    };
    write_plot(out, chart, first.period_end, last.period_end)?;
    out.write_str("</svg>")
}

/// Axes, target, line and points for readings between two period ends.
fn write_plot(
    out: &mut String,
    chart: &Chart<'_>,
    start: NaiveDate,
    end: NaiveDate,
) -> std::fmt::Result {
    let values = chart.readings.iter().map(|r| r.value);
    let lo = values.clone().fold(chart.target, f64::min);
    let hi = values.fold(chart.target, f64::max);
    // A little room above and below, so neither the target nor a point sits on the frame.
    let pad = (hi - lo) * 0.05;
    let ticks = value_ticks(lo - pad, hi + pad, MAX_VALUE_TICKS);
    let y = Scale::new((ticks[0], ticks[ticks.len() - 1]), (PLOT_BOTTOM, PLOT_TOP));
    let x = Scale::new((0.0, days_since(start, end)), (PLOT_LEFT, PLOT_RIGHT));
    let point = |r: &Reading| (x.map(days_since(start, r.period_end)), y.map(r.value));

    for &tick in &ticks {
        let ty = y.map(tick);
        write!(
            out,
            r#"<line x1="{PLOT_LEFT}" y1="{ty:.1}" x2="{PLOT_RIGHT}" y2="{ty:.1}" stroke="{GRID}" stroke-width="1"/><text x="{}" y="{:.1}" text-anchor="end" fill="{INK}">{}</text>"#,
            PLOT_LEFT - 6.0,
            ty + 4.0,
            number(tick)
        )?;
    }
    write!(
        out,
        r#"<line x1="{PLOT_LEFT}" y1="{PLOT_TOP}" x2="{PLOT_LEFT}" y2="{PLOT_BOTTOM}" stroke="{INK}"/><line x1="{PLOT_LEFT}" y1="{PLOT_BOTTOM}" x2="{PLOT_RIGHT}" y2="{PLOT_BOTTOM}" stroke="{INK}"/>"#
    )?;
    let xs: Vec<f64> = chart.readings.iter().map(|r| point(r).0).collect();
    for index in date_tick_indices(&xs, DATE_LABEL_GAP) {
        let reading = &chart.readings[index];
        let tx = xs[index];
        write!(
            out,
            r#"<line x1="{tx:.1}" y1="{PLOT_BOTTOM}" x2="{tx:.1}" y2="{}" stroke="{INK}"/><text x="{tx:.1}" y="{}" text-anchor="middle" fill="{INK}">{}</text>"#,
            PLOT_BOTTOM + 5.0,
            PLOT_BOTTOM + 19.0,
            short_date(reading.period_end)
        )?;
    }
    write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" fill="{INK}">Period ending</text>"#,
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        PLOT_BOTTOM + 38.0
    )?;
    let mid_y = (PLOT_TOP + PLOT_BOTTOM) / 2.0;
    write!(
        out,
        r#"<text x="14" y="{mid_y}" text-anchor="middle" transform="rotate(-90 14 {mid_y})" fill="{INK}">{}</text>"#,
        escape(chart.unit)
    )?;

    let target_y = y.map(chart.target);
    write!(
        out,
        r#"<line class="target" x1="{PLOT_LEFT}" y1="{target_y:.1}" x2="{PLOT_RIGHT}" y2="{target_y:.1}" stroke="{INK}" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" fill="{INK}">Target {}</text>"#,
        PLOT_RIGHT + 6.0,
        target_y + 4.0,
        number(chart.target)
    )?;

    if chart.readings.len() > 1 {
        let points: Vec<String> = chart
            .readings
            .iter()
            .map(|r| {
                let (px, py) = point(r);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        write!(
            out,
            r##"<polyline class="series" points="{}" fill="none" stroke="#566573" stroke-width="2"/>"##,
            points.join(" ")
        )?;
    }
    for reading in chart.readings {
        let (px, py) = point(reading);
        write_marker(out, reading, chart.unit, px, py)?;
    }
    write_legend(out)
}

/// One reading's marker, with a tooltip that says what it is in words.
fn write_marker(
    out: &mut String,
    reading: &Reading,
    unit: &str,
    px: f64,
    py: f64,
) -> std::fmt::Result {
    write!(
        out,
        r#"<g class="point rag-{}">"#,
        reading_rag_word(reading.rag).to_lowercase()
    )?;
    write_shape(out, reading.rag, px, py)?;
    write!(
        out,
        "<title>{}: {} {}, {}{}</title></g>",
        short_date(reading.period_end),
        number(reading.value),
        escape(unit),
        reading_rag_word(reading.rag).to_lowercase(),
        if reading.corrected {
            " (corrected)"
        } else {
            ""
        }
    )
}

fn write_shape(out: &mut String, rag: Rag, px: f64, py: f64) -> std::fmt::Result {
    let fill = rag_colour(rag);
    match rag {
        Rag::Green => write!(
            out,
            r#"<circle cx="{px:.1}" cy="{py:.1}" r="5" fill="{fill}" stroke="{INK}" stroke-width="1"/>"#
        ),
        Rag::Amber => write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{fill}" stroke="{INK}" stroke-width="1"/>"#,
            px - 4.5,
            py - 4.5
        ),
        Rag::Red => write!(
            out,
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{fill}" stroke="{INK}" stroke-width="1"/>"#,
            px,
            py - 6.0,
            px + 6.0,
            py + 4.5,
            px - 6.0,
            py + 4.5
        ),
    }
}

fn write_legend(out: &mut String) -> std::fmt::Result {
    let ly = HEIGHT - 18.0;
    let mut lx = PLOT_LEFT;
    for (rag, label) in [
        (Rag::Green, "Green: on target"),
        (Rag::Amber, "Amber: within tolerance"),
        (Rag::Red, "Red: outside tolerance"),
    ] {
        write_shape(out, rag, lx + 6.0, ly - 4.0)?;
        write!(
            out,
            r#"<text x="{}" y="{ly}" fill="{INK}">{label}</text>"#,
            lx + 16.0
        )?;
        // Sans-serif text at 12px averages about 6px a character.
        lx += 16.0 + label.len() as f64 * 6.2 + 14.0;
    }
    write!(
        out,
        r#"<line x1="{lx}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="{INK}" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{}" y="{ly}" fill="{INK}">Target</text>"#,
        lx + 22.0,
        lx + 28.0,
        y = ly - 4.0
    )
}

/// The chart in words, for screen readers and anyone who cannot see the colours.
fn describe(chart: &Chart<'_>) -> String {
    if chart.readings.is_empty() {
        return format!("No readings yet. Target {}.", number(chart.target));
    }
    let readings: Vec<String> = chart
        .readings
        .iter()
        .map(|r| {
            format!(
                "{} {} ({})",
                short_date(r.period_end),
                number(r.value),
                reading_rag_word(r.rag).to_lowercase()
            )
        })
        .collect();
    format!(
        "Readings in {}: {}. Target {}.",
        chart.unit,
        readings.join("; "),
        number(chart.target)
    )
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn reading(y: i32, m: u32, d: u32, value: f64, rag: Rag) -> Reading {
        let at = Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
        Reading {
            period_end: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            value,
            rag,
            source: "Monthly performance report".into(),
            recorded_at: at,
            effective_at: at,
            corrected: false,
        }
    }

    fn chart(readings: &[Reading]) -> String {
        trend_chart(&Chart {
            id: "kpi-1",
            name: "Average social worker caseload",
            unit: "cases per worker",
            target: 16.0,
            readings,
        })
    }

    /// The (x, y) of every marker, in document order.
    fn markers(svg: &str) -> Vec<(f64, f64)> {
        svg.split(r#"<g class="point"#)
            .skip(1)
            .map(|rest| &rest[..rest.find("</g>").unwrap()])
            .map(|marker| {
                let attr = |name: &str| -> f64 {
                    let start = marker.find(&format!(r#"{name}=""#)).unwrap() + name.len() + 2;
                    let len = marker[start..].find('"').unwrap();
                    marker[start..start + len].parse().unwrap()
                };
                if marker.contains("<circle") {
                    (attr("cx"), attr("cy"))
                } else if marker.contains("<rect") {
                    (attr("x") + 4.5, attr("y") + 4.5)
                } else {
                    let start = marker.find(r#"points=""#).unwrap() + 8;
                    let apex: Vec<f64> = marker[start..]
                        .split([',', ' '])
                        .take(2)
                        .map(|n| n.parse().unwrap())
                        .collect();
                    (apex[0], apex[1] + 6.0)
                }
            })
            .collect()
    }

    #[test]
    fn a_scale_maps_its_domain_onto_its_range_and_may_flip_it() {
        let y = Scale::new((0.0, 20.0), (200.0, 0.0));
        assert_eq!(y.map(0.0), 200.0);
        assert_eq!(y.map(20.0), 0.0);
        assert_eq!(y.map(5.0), 150.0);
        assert_eq!(Scale::new((3.0, 3.0), (10.0, 30.0)).map(3.0), 20.0);
    }

    #[test]
    fn value_ticks_are_round_and_cover_the_values() {
        assert_eq!(
            value_ticks(14.2, 22.4, 6),
            [14.0, 16.0, 18.0, 20.0, 22.0, 24.0]
        );
        assert_eq!(value_ticks(36.0, 85.0, 6), [20.0, 40.0, 60.0, 80.0, 100.0]);
        let flat = value_ticks(16.0, 16.0, 6);
        assert!(flat.len() >= 2 && flat[0] < 16.0 && *flat.last().unwrap() > 16.0);
        assert!(value_ticks(0.12, 0.19, 6).len() <= 6);
    }

    #[test]
    fn date_labels_keep_the_ends_and_never_crowd() {
        assert_eq!(date_tick_indices(&[], 80.0), Vec::<usize>::new());
        assert_eq!(date_tick_indices(&[300.0], 80.0), [0]);
        assert_eq!(
            date_tick_indices(&[0.0, 100.0, 200.0, 300.0], 80.0),
            [0, 1, 2, 3]
        );
        // Close readings share a label; the latest always has its own.
        assert_eq!(
            date_tick_indices(&[0.0, 30.0, 90.0, 120.0, 400.0, 430.0], 80.0),
            [0, 2, 5]
        );
        let monthly: Vec<f64> = (0..23).map(|i| f64::from(i) * 20.0).collect();
        let picked = date_tick_indices(&monthly, 80.0);
        assert_eq!((picked[0], *picked.last().unwrap()), (0, 22));
        assert!(picked
            .windows(2)
            .all(|w| monthly[w[1]] - monthly[w[0]] >= 80.0));
    }

    #[test]
    fn points_are_placed_by_date_and_value() {
        let readings = [
            reading(2018, 1, 31, 22.0, Rag::Red),
            reading(2018, 3, 31, 18.0, Rag::Green),
            reading(2018, 7, 31, 17.0, Rag::Amber),
        ];
        let svg = chart(&readings);
        let points = markers(&svg);
        assert_eq!(points.len(), 3);
        assert!((points[0].0 - PLOT_LEFT).abs() < 0.1);
        assert!((points[2].0 - PLOT_RIGHT).abs() < 0.1);
        // 59 of 181 days in.
        let expected = PLOT_LEFT + 59.0 / 181.0 * (PLOT_RIGHT - PLOT_LEFT);
        assert!((points[1].0 - expected).abs() < 0.1, "{points:?}");
        // Lower values sit lower on the page: larger y.
        assert!(points[0].1 < points[1].1 && points[1].1 < points[2].1);
        assert!(svg.contains(r#"points=""#) && svg.contains("<polyline"));
    }

    #[test]
    fn the_target_is_a_dashed_line_at_its_value_with_a_label() {
        let svg = chart(&[
            reading(2018, 1, 31, 22.0, Rag::Red),
            reading(2018, 2, 28, 12.0, Rag::Green),
        ]);
        assert!(svg.contains(r#"class="target""#));
        assert!(svg.contains("stroke-dasharray"));
        assert!(svg.contains("Target 16"));
        // 12 to 22, padded, gives ticks 10 to 25 in fives: 16 is two fifths of the way up.
        let target_y = PLOT_BOTTOM - 0.4 * (PLOT_BOTTOM - PLOT_TOP);
        assert!(svg.contains(&format!(r#"y1="{target_y:.1}""#)), "{svg}");
    }

    #[test]
    fn points_are_coloured_and_shaped_by_rag_and_labelled_with_dates_and_unit() {
        let svg = chart(&[
            reading(2018, 1, 31, 22.0, Rag::Red),
            reading(2018, 2, 28, 17.0, Rag::Amber),
            reading(2018, 3, 31, 15.0, Rag::Green),
        ]);
        assert!(svg.contains(r##"<polygon points="##) && svg.contains("#c0392b"));
        assert!(svg.contains("<rect") && svg.contains("#d68910"));
        assert!(svg.contains("<circle") && svg.contains("#1e8449"));
        assert!(svg.contains("31 Jan 2018") && svg.contains("31 Mar 2018"));
        assert!(svg.contains(">cases per worker</text>"));
        assert!(svg.contains("<title>31 Jan 2018: 22 cases per worker, red</title>"));
    }

    #[test]
    fn an_empty_series_says_so_and_draws_no_points() {
        let svg = chart(&[]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("No readings yet"));
        assert!(markers(&svg).is_empty());
        assert!(!svg.contains("<polyline"));
    }

    #[test]
    fn a_single_reading_sits_in_the_middle_with_its_target() {
        let svg = chart(&[reading(2018, 6, 30, 20.1, Rag::Red)]);
        let points = markers(&svg);
        assert_eq!(points.len(), 1);
        assert!((points[0].0 - (PLOT_LEFT + PLOT_RIGHT) / 2.0).abs() < 0.1);
        assert!(!svg.contains("<polyline"));
        assert!(svg.contains("Target 16") && svg.contains("30 Jun 2018"));
    }

    #[test]
    fn user_text_is_escaped() {
        let svg = trend_chart(&Chart {
            id: "kpi-\"1",
            name: "<script>alert(1)</script>",
            unit: "</text><script>",
            target: 1.0,
            readings: &[reading(2018, 6, 30, 2.0, Rag::Red)],
        });
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains(r#"id="kpi-&quot;1-title""#));
    }
}
