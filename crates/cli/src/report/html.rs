//! The board report as one self-contained HTML page, fit to attach to committee papers.
//!
//! Everything is inline: the style sheet, and each KPI's trend as SVG. No scripts, fonts,
//! images or links leave the file, so it opens the same on an air-gapped laptop, in a mail
//! client and in the council's document system years later. RAG is shown as a coloured badge
//! with the word in it, never colour alone, so it survives black-and-white printing and
//! colour-blind readers. Every piece of user text passes through [`escape`].

use std::fmt::{self, Write};

use stocktake_domain::DisplayRag;
use stocktake_domain::Rag;
use stocktake_projections::views::drift::DriftItem;
use stocktake_projections::views::measure::MeasureView;
use stocktake_projections::views::overview::Counts;
use stocktake_projections::views::report::BoardReport;
use stocktake_projections::views::visit::VisitView;
use stocktake_projections::views::ActionSummary;

use super::svg::{self, Chart};
use super::{
    as_of_date, date_range, date_time, escape, finding_kind_word, late_note, long_date, number,
    rag_word, short_date, since_phrase, status_word, trend_word, unanswered_phrase, with_unit,
    yes_no, RAG_KEY,
};

const STYLE: &str = r#"
:root { --red: #c0392b; --amber: #d68910; --green: #1e8449; --blue: #1f618d; --grey: #5d6d7e; --line: #d5d8dc; --ink: #1b1b1b; }
* { box-sizing: border-box; }
body { font-family: Arial, Helvetica, sans-serif; font-size: 14px; line-height: 1.4; color: var(--ink); max-width: 1100px; margin: 0 auto; padding: 24px; }
header .organisation { margin: 0; font-weight: bold; color: var(--grey); }
h1 { font-size: 26px; margin: 2px 0 4px; }
h2 { font-size: 20px; border-bottom: 2px solid var(--ink); padding-bottom: 2px; margin: 32px 0 10px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
p { margin: 6px 0; }
.subtitle { font-size: 17px; margin: 0 0 8px; }
.provenance { font-size: 12px; border: 1px solid var(--line); background: #f8f9f9; padding: 6px 8px; }
.provenance code { font-size: 12px; word-break: break-all; }
.muted, .key { color: #4d5656; font-size: 12px; }
ul.headline { padding-left: 20px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eaeded; font-weight: bold; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.date { white-space: nowrap; }
tr.total td { font-weight: bold; border-top: 2px solid var(--ink); }
tr.retired td { color: #4d5656; }
.rag { display: inline-block; min-width: 5.2em; padding: 1px 6px; border-radius: 3px; font-size: 12px; font-weight: bold; text-align: center; color: #fff; white-space: nowrap; }
.rag-red { background: var(--red); }
.rag-amber { background: var(--amber); color: var(--ink); }
.rag-green { background: var(--green); }
.rag-blue { background: var(--blue); }
.rag-none { background: #fff; color: var(--ink); border: 1px solid var(--grey); }
.flag { font-weight: bold; color: var(--red); white-space: nowrap; }
.late { font-weight: bold; }
figure { margin: 8px 0 20px; }
figcaption { font-size: 12px; color: #4d5656; }
svg.trend { max-width: 760px; height: auto; display: block; }
@media print {
  @page { size: A4; margin: 14mm; }
  body { font-size: 9.5pt; max-width: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  h3 { break-after: avoid; page-break-after: avoid; }
  thead { display: table-header-group; }
  tr, figure, .provenance { break-inside: avoid; page-break-inside: avoid; }
  section { break-before: auto; }
  .rag, th, .provenance { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .rag { border: 1px solid var(--ink); }
}
"#;

pub(super) fn render(report: &BoardReport) -> Result<String, fmt::Error> {
    let mut out = String::new();
    let plan = &report.overview;
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, r#"<html lang="en-GB">"#)?;
    writeln!(out, "<head>")?;
    writeln!(out, r#"<meta charset="utf-8">"#)?;
    writeln!(
        out,
        r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#
    )?;
    writeln!(
        out,
        "<title>{}: board report as of {}</title>",
        escape(&plan.title),
        long_date(as_of_date(report))
    )?;
    writeln!(out, "<style>{STYLE}</style>")?;
    writeln!(out, "</head>")?;
    writeln!(out, "<body>")?;
    header(&mut out, report)?;
    writeln!(out, "<main>")?;
    summary(&mut out, report)?;
    changes(&mut out, report)?;
    drift(&mut out, report)?;
    measures(&mut out, report)?;
    visits(&mut out, report)?;
    actions(&mut out, report)?;
    writeln!(out, "</main>")?;
    writeln!(out, "</body>")?;
    writeln!(out, "</html>")?;
    Ok(out)
}

fn rag_badge(rag: Option<DisplayRag>) -> String {
    let class = rag.map_or("none", DisplayRag::as_str);
    format!(r#"<span class="rag rag-{class}">{}</span>"#, rag_word(rag))
}

fn reading_badge(rag: Rag) -> String {
    rag_badge(Some(rag.into()))
}

/// An HTML table. Cells are HTML already: the caller escapes what came from users.
struct Table<'a> {
    columns: &'a [(&'a str, Cell)],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Text,
    Number,
    Date,
}

impl Cell {
    fn class(self) -> &'static str {
        match self {
            Cell::Text => "",
            Cell::Number => r#" class="num""#,
            Cell::Date => r#" class="date""#,
        }
    }
}

impl Table<'_> {
    fn open(&self, out: &mut String) -> fmt::Result {
        out.write_str("<table>\n<thead><tr>")?;
        for (name, cell) in self.columns {
            let class = if *cell == Cell::Number {
                cell.class()
            } else {
                ""
            };
            write!(out, r#"<th scope="col"{class}>{name}</th>"#)?;
        }
        out.write_str("</tr></thead>\n<tbody>\n")
    }

    fn row(&self, out: &mut String, class: Option<&str>, cells: &[String]) -> fmt::Result {
        match class {
            Some(class) => write!(out, r#"<tr class="{class}">"#)?,
            None => out.write_str("<tr>")?,
        }
        for ((_, cell), value) in self.columns.iter().zip(cells) {
            write!(out, "<td{}>{value}</td>", cell.class())?;
        }
        out.write_str("</tr>\n")
    }

    fn close(&self, out: &mut String) -> fmt::Result {
        out.write_str("</tbody>\n</table>\n")
    }

    fn write(&self, out: &mut String, rows: &[Vec<String>]) -> fmt::Result {
        self.open(out)?;
        for row in rows {
            self.row(out, None, row)?;
        }
        self.close(out)
    }
}

fn header(out: &mut String, report: &BoardReport) -> fmt::Result {
    let plan = &report.overview;
    writeln!(out, "<header>")?;
    writeln!(
        out,
        r#"<p class="organisation">{}</p>"#,
        escape(&plan.organisation)
    )?;
    writeln!(out, "<h1>{}</h1>", escape(&plan.title))?;
    writeln!(
        out,
        r#"<p class="subtitle">Improvement board report as of {}</p>"#,
        long_date(as_of_date(report))
    )?;
    let agreed = match (&plan.agreed_by, plan.agreed_on) {
        (Some(by), Some(on)) => format!(", agreed by {} on {}", escape(by), long_date(on)),
        _ => ", not yet agreed".to_owned(),
    };
    writeln!(out, "<p>Plan revision {}{agreed}.</p>", plan.revision)?;
    let p = &report.provenance;
    write!(
        out,
        r#"<p class="provenance">Generated {} from the event log at sequence {} (head hash <code>{}</code>), showing the plan as of {}."#,
        date_time(p.generated_at),
        p.log_seq,
        escape(&p.head_hash),
        date_time(p.as_of)
    )?;
    if p.folded_seq != p.log_seq {
        write!(
            out,
            " The read model had reached sequence {} of {}.",
            p.folded_seq, p.log_seq
        )?;
    }
    writeln!(out, "</p>\n</header>")
}

fn counts_cells(c: &Counts) -> [String; 8] {
    [
        c.actions.to_string(),
        c.red.to_string(),
        c.amber.to_string(),
        c.green.to_string(),
        c.blue.to_string(),
        c.unrated.to_string(),
        c.overdue.to_string(),
        format!("{}%", c.percent_complete),
    ]
}

fn summary(out: &mut String, report: &BoardReport) -> fmt::Result {
    let h = &report.headline;
    let c = &report.overview.counts;
    writeln!(out, r#"<section id="summary">"#)?;
    writeln!(out, "<h2>Summary</h2>")?;
    writeln!(out, r#"<ul class="headline">"#)?;
    let retired = if h.retired_areas > 0 {
        format!(
            " (and {} retired areas kept for their history)",
            h.retired_areas
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "<li><strong>{}</strong> actions in <strong>{}</strong> active priority areas{retired}.</li>",
        c.actions, h.active_areas
    )?;
    writeln!(
        out,
        "<li>Rated {} {}, {} {}, {} {}, {} {} (completed); {} {}.</li>",
        c.red,
        rag_badge(Some(DisplayRag::Red)),
        c.amber,
        rag_badge(Some(DisplayRag::Amber)),
        c.green,
        rag_badge(Some(DisplayRag::Green)),
        c.blue,
        rag_badge(Some(DisplayRag::Blue)),
        c.unrated,
        rag_badge(None),
    )?;
    writeln!(
        out,
        "<li><strong>{}</strong> overdue, <strong>{}</strong> blocked; {}% complete.</li>",
        c.overdue, c.blocked, c.percent_complete
    )?;
    let without = if h.measures_without_readings > 0 {
        format!(", {} without readings", h.measures_without_readings)
    } else {
        String::new()
    };
    writeln!(
        out,
        "<li>Measures at their latest reading: {} {}, {} {}, {} {}{without}.</li>",
        h.measures_red,
        reading_badge(Rag::Red),
        h.measures_amber,
        reading_badge(Rag::Amber),
        h.measures_green,
        reading_badge(Rag::Green),
    )?;
    writeln!(
        out,
        "<li>Visit findings needing an action and without one: <strong>{}</strong>.</li>",
        h.findings_unanswered
    )?;
    writeln!(
        out,
        "<li>{} changes {}, {} of them recorded late.</li>",
        h.changes,
        escape(&since_phrase(report)),
        h.changes_recorded_late
    )?;
    writeln!(out, "</ul>")?;

    let table = Table {
        columns: &[
            ("Priority area", Cell::Text),
            ("Lead", Cell::Text),
            ("Actions", Cell::Number),
            ("Red", Cell::Number),
            ("Amber", Cell::Number),
            ("Green", Cell::Number),
            ("Blue", Cell::Number),
            ("Not rated", Cell::Number),
            ("Overdue", Cell::Number),
            ("Complete", Cell::Number),
        ],
    };
    table.open(out)?;
    for area in &report.overview.areas {
        let mut name = format!("{}. {}", area.number, escape(&area.title));
        if area.retired {
            name.push_str(" <em>(retired)</em>");
        }
        let mut cells = vec![name, escape(&area.lead)];
        cells.extend(counts_cells(&area.counts));
        table.row(out, area.retired.then_some("retired"), &cells)?;
    }
    let mut total = vec!["All areas".to_owned(), String::new()];
    total.extend(counts_cells(c));
    table.row(out, Some("total"), &total)?;
    table.close(out)?;
    writeln!(out, r#"<p class="key">Key: {}</p>"#, escape(RAG_KEY))?;
    writeln!(out, "</section>")
}

fn changes(out: &mut String, report: &BoardReport) -> fmt::Result {
    writeln!(out, r#"<section id="changes">"#)?;
    writeln!(out, "<h2>Changes {}</h2>", escape(&since_phrase(report)))?;
    if report.changes.changes.is_empty() {
        return writeln!(out, "<p>No changes.</p>\n</section>");
    }
    if report.headline.changes_recorded_late > 0 {
        writeln!(
            out,
            r#"<p>Changes marked <span class="late">recorded late</span> {}.</p>"#,
            escape(&late_note(report))
        )?;
    }
    let rows: Vec<Vec<String>> = report
        .changes
        .changes
        .iter()
        .map(|c| {
            let mut recorded = short_date(c.recorded_at.date_naive());
            if c.backdated {
                recorded.push_str(r#"<br><span class="late">recorded late</span>"#);
            }
            vec![
                short_date(c.effective_at.date_naive()),
                escape(&c.subject),
                escape(&c.summary),
                escape(&c.actor),
                recorded,
            ]
        })
        .collect();
    Table {
        columns: &[
            ("Took effect", Cell::Date),
            ("Subject", Cell::Text),
            ("Change", Cell::Text),
            ("By", Cell::Text),
            ("Recorded", Cell::Date),
        ],
    }
    .write(out, &rows)?;
    writeln!(out, "</section>")
}

fn drift(out: &mut String, report: &BoardReport) -> fmt::Result {
    let d = &report.drift;
    writeln!(out, r#"<section id="drift">"#)?;
    writeln!(out, "<h2>Drift and delay</h2>")?;
    let sections: [(String, &[DriftItem]); 4] = [
        ("Overdue".into(), &d.overdue),
        ("Rebaselined twice or more".into(), &d.rebaselined),
        (
            format!("Not updated for {} days or more", d.stale_after_days),
            &d.stale,
        ),
        ("Blocked".into(), &d.blocked),
    ];
    let table = Table {
        columns: &[
            ("Area", Cell::Text),
            ("Action", Cell::Text),
            ("Owner", Cell::Text),
            ("Status", Cell::Text),
            ("RAG", Cell::Text),
            ("Due", Cell::Date),
            ("Days overdue", Cell::Number),
            ("Rebaselines", Cell::Number),
            ("Days since update", Cell::Number),
        ],
    };
    for (title, items) in sections {
        writeln!(out, "<h3>{title} ({})</h3>", items.len())?;
        if items.is_empty() {
            writeln!(out, "<p>None.</p>")?;
            continue;
        }
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|i| {
                let a = &i.action;
                vec![
                    format!("{}. {}", i.area_number, escape(&i.area_title)),
                    escape(&a.title),
                    escape(&a.owner),
                    status_word(a.status).into(),
                    rag_badge(a.rag),
                    short_date(a.due_on),
                    a.days_overdue.to_string(),
                    a.rebaseline_count.to_string(),
                    a.days_since_update.to_string(),
                ]
            })
            .collect();
        table.write(out, &rows)?;
    }
    writeln!(out, "</section>")
}

fn better_word(m: &MeasureView) -> &'static str {
    match m.direction {
        stocktake_domain::Direction::LowerIsBetter => "lower",
        stocktake_domain::Direction::HigherIsBetter => "higher",
    }
}

fn measures(out: &mut String, report: &BoardReport) -> fmt::Result {
    writeln!(out, r#"<section id="measures">"#)?;
    writeln!(out, "<h2>Measures</h2>")?;
    if report.measures.is_empty() {
        return writeln!(out, "<p>No measures defined.</p>\n</section>");
    }
    let rows: Vec<Vec<String>> = report
        .measures
        .iter()
        .map(|m| {
            let (latest, period, rag) = match &m.latest {
                Some(r) => (
                    escape(&with_unit(r.value, &m.unit)),
                    short_date(r.period_end),
                    reading_badge(r.rag),
                ),
                None => ("No readings".into(), String::new(), rag_badge(None)),
            };
            vec![
                escape(&m.name),
                latest,
                period,
                rag,
                format!("{} (tolerance {})", number(m.target), number(m.tolerance)),
                better_word(m).into(),
                trend_word(m.trend).into(),
            ]
        })
        .collect();
    Table {
        columns: &[
            ("Measure", Cell::Text),
            ("Latest", Cell::Text),
            ("Period ending", Cell::Date),
            ("RAG", Cell::Text),
            ("Target", Cell::Text),
            ("Better", Cell::Text),
            ("Trend", Cell::Text),
        ],
    }
    .write(out, &rows)?;
    for (index, m) in report.measures.iter().enumerate() {
        writeln!(out, "<h3>{}</h3>", escape(&m.name))?;
        let id = format!("kpi-{}", index + 1);
        writeln!(out, "<figure>")?;
        writeln!(
            out,
            "{}",
            svg::trend_chart(&Chart {
                id: &id,
                name: &m.name,
                unit: &m.unit,
                target: m.target,
                readings: &m.readings,
            })
        )?;
        let corrected = m.readings.iter().filter(|r| r.corrected).count();
        let corrected = match corrected {
            0 => String::new(),
            1 => " One reading was corrected after it was first reported.".to_owned(),
            n => format!(" {n} readings were corrected after they were first reported."),
        };
        writeln!(
            out,
            "<figcaption>{} readings in {}; target {} ({} is better, tolerance {}).{corrected}</figcaption>",
            m.readings.len(),
            escape(&m.unit),
            number(m.target),
            better_word(m),
            number(m.tolerance)
        )?;
        writeln!(out, "</figure>")?;
    }
    writeln!(out, "</section>")
}

fn visit_heading(visit: &VisitView) -> String {
    format!(
        "Visit {}: {} ({})",
        visit.number,
        escape(&visit.theme),
        date_range(visit.started_on, visit.ended_on)
    )
}

fn action_brief(a: &ActionSummary) -> String {
    let overdue = if a.overdue {
        format!(
            r#", <span class="flag">{} days overdue</span>"#,
            a.days_overdue
        )
    } else {
        String::new()
    };
    format!(
        "{} {} ({}, due {}{overdue})",
        rag_badge(a.rag),
        escape(&a.title),
        status_word(a.status),
        short_date(a.due_on)
    )
}

fn visits(out: &mut String, report: &BoardReport) -> fmt::Result {
    writeln!(out, r#"<section id="visits">"#)?;
    writeln!(out, "<h2>Monitoring visits</h2>")?;
    if report.visits.is_empty() {
        return writeln!(out, "<p>No monitoring visits yet.</p>\n</section>");
    }
    let table = Table {
        columns: &[
            ("Kind", Cell::Text),
            ("Finding", Cell::Text),
            ("Answered by", Cell::Text),
        ],
    };
    for visit in &report.visits {
        writeln!(out, "<h3>{}</h3>", visit_heading(visit))?;
        let letter = visit.letter_published_on.map_or_else(
            || "Letter not yet published.".to_owned(),
            |on| format!("Letter published {}.", long_date(on)),
        );
        let unanswered = match visit.unanswered_findings {
            0 => unanswered_phrase(0),
            n => format!(r#"<span class="flag">{}</span>"#, unanswered_phrase(n)),
        };
        writeln!(
            out,
            "<p>{letter} {} findings; {unanswered}.</p>",
            visit.findings.len()
        )?;
        if visit.findings.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = visit
            .findings
            .iter()
            .map(|f| {
                let answered_by = if f.unanswered {
                    r#"<span class="flag">No action answers this finding</span>"#.to_owned()
                } else if f.actions.is_empty() {
                    r#"<span class="muted">No action needed</span>"#.to_owned()
                } else {
                    f.actions
                        .iter()
                        .map(action_brief)
                        .collect::<Vec<_>>()
                        .join("<br>")
                };
                vec![
                    finding_kind_word(f.kind).into(),
                    escape(&f.text),
                    answered_by,
                ]
            })
            .collect();
        table.write(out, &rows)?;
    }
    writeln!(out, "</section>")
}

fn actions(out: &mut String, report: &BoardReport) -> fmt::Result {
    writeln!(out, r#"<section id="actions">"#)?;
    writeln!(out, "<h2>Actions by priority area</h2>")?;
    let table = Table {
        columns: &[
            ("Action", Cell::Text),
            ("Owner", Cell::Text),
            ("Status", Cell::Text),
            ("RAG", Cell::Text),
            ("Start", Cell::Date),
            ("Due", Cell::Date),
            ("Overdue", Cell::Text),
            ("Rebaselines", Cell::Number),
            ("Last update", Cell::Date),
            ("Evidence", Cell::Number),
            ("Impact confirmed", Cell::Text),
            ("Answers", Cell::Text),
        ],
    };
    for area in &report.overview.areas {
        let retired = if area.retired { " (retired)" } else { "" };
        writeln!(
            out,
            "<h3>{}. {}{retired}</h3>",
            area.number,
            escape(&area.title)
        )?;
        write!(out, "<p>Lead: {}.", escape(&area.lead))?;
        if let Some(partner) = &area.partner_contribution {
            write!(out, " Partner: {}", escape(partner))?;
        }
        if let Some(reason) = &area.retired_reason {
            write!(out, " Retired: {}", escape(reason))?;
        }
        writeln!(out, "</p>")?;
        if area.actions.is_empty() {
            writeln!(out, "<p>No actions.</p>")?;
            continue;
        }
        let rows: Vec<Vec<String>> = area
            .actions
            .iter()
            .map(|a| {
                let mut answers: Vec<String> = report
                    .findings_answered_by(a.action_id)
                    .iter()
                    .map(|answering| format!("Visit {}", answering.visit.number))
                    .collect();
                answers.dedup();
                vec![
                    escape(&a.title),
                    escape(&a.owner),
                    status_word(a.status).into(),
                    rag_badge(a.rag),
                    a.start_on.map(short_date).unwrap_or_default(),
                    short_date(a.due_on),
                    if a.overdue {
                        format!(r#"<span class="flag">{} days</span>"#, a.days_overdue)
                    } else {
                        "No".into()
                    },
                    a.rebaseline_count.to_string(),
                    a.last_updated_at
                        .map(|t| short_date(t.date_naive()))
                        .unwrap_or_default(),
                    a.evidence_count.to_string(),
                    yes_no(a.impact_confirmed).into(),
                    answers.join(", "),
                ]
            })
            .collect();
        table.write(out, &rows)?;
    }
    writeln!(out, "</section>")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{demo_report, hostile_report};
    use super::*;

    #[test]
    fn the_page_is_one_self_contained_file() {
        let html = render(&demo_report(2019, 12, 31)).unwrap();
        let lower = html.to_lowercase();
        assert!(lower.starts_with("<!doctype html>"));
        for external in [
            "http://", "https://", "<script", "<link", "<img", "<iframe", "@import", "url(",
            "src=", "href=",
        ] {
            assert!(!lower.contains(external), "{external} found");
        }
        assert!(lower.contains("<style>") && lower.contains("@media print"));
    }

    #[test]
    fn every_measure_with_readings_has_its_trend_chart() {
        let report = demo_report(2019, 12, 31);
        let html = render(&report).unwrap();
        let with_readings = report
            .measures
            .iter()
            .filter(|m| !m.readings.is_empty())
            .count();
        assert!(with_readings >= 5);
        assert_eq!(html.matches("<svg").count(), report.measures.len());
        assert_eq!(html.matches(r#"class="target""#).count(), with_readings);
        for m in &report.measures {
            assert!(html.contains(&format!("<h3>{}</h3>", escape(&m.name))));
        }
    }

    #[test]
    fn the_sections_a_board_expects_are_there() {
        let html = render(&demo_report(2018, 8, 31)).unwrap();
        for heading in [
            "<h2>Summary</h2>",
            "<h2>Changes since the Children&#39;s Services Improvement Board of 24 July 2018</h2>",
            "<h2>Drift and delay</h2>",
            "<h2>Measures</h2>",
            "<h2>Monitoring visits</h2>",
            "<h2>Actions by priority area</h2>",
        ] {
            assert!(html.contains(heading), "{heading}");
        }
        assert!(html.contains(r#"<span class="late">recorded late</span>"#));
    }

    #[test]
    fn rag_is_a_colour_and_a_word() {
        let html = render(&demo_report(2018, 9, 30)).unwrap();
        for (class, word) in [
            ("red", "Red"),
            ("amber", "Amber"),
            ("green", "Green"),
            ("blue", "Blue"),
        ] {
            assert!(html.contains(&format!(r#"<span class="rag rag-{class}">{word}</span>"#)));
        }
        assert!(html.contains("#c0392b"));
    }

    #[test]
    fn all_user_text_is_escaped() {
        let html = render(&hostile_report()).unwrap();
        assert!(
            !html.to_lowercase().contains("<script"),
            "a script got through"
        );
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; |"));
    }

    #[test]
    fn tags_are_balanced() {
        let html = render(&demo_report(2019, 12, 31)).unwrap();
        for tag in [
            "section", "table", "thead", "tbody", "tr", "figure", "svg", "h2", "h3", "p", "ul",
        ] {
            let opened = html.matches(&format!("<{tag}>")).count()
                + html.matches(&format!("<{tag} ")).count();
            let closed = html.matches(&format!("</{tag}>")).count();
            assert_eq!(opened, closed, "<{tag}>");
        }
    }
}
