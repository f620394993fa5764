//! The board report as Markdown: plain tables and headings that read the same in a terminal,
//! an email or a rendering viewer.
//!
//! User text is escaped so that a title can neither break a table nor bring its own markup
//! (or, in viewers that render HTML, its own tags) into the paper.

use std::fmt::{self, Write};

use stocktake_projections::views::drift::DriftItem;
use stocktake_projections::views::measure::MeasureView;
use stocktake_projections::views::report::BoardReport;
use stocktake_projections::views::visit::VisitView;
use stocktake_projections::views::ActionSummary;

use super::{
    area_label, as_of_date, date_range, date_time, finding_kind_word, late_note, long_date, number,
    rag_word, reading_rag_word, short_date, since_phrase, status_word, trend_word,
    unanswered_phrase, with_unit, yes_no, RAG_KEY,
};

/// Inline text with Markdown's punctuation escaped and line breaks folded, fit for a table cell.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // An underscore inside a word (`in_progress`) cannot start emphasis: left bare, it
        // reads better in plain text.
        let inside_word = |i: usize| {
            i > 0
                && chars[i - 1].is_alphanumeric()
                && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())
        };
        match c {
            '_' if inside_word(i) => out.push(c),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {}
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A table: each column is a header and whether it holds numbers (right-aligned).
/// Cells are Markdown already: the caller escapes what came from users.
fn table(out: &mut String, columns: &[(&str, bool)], rows: &[Vec<String>]) -> fmt::Result {
    let header: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    writeln!(out, "| {} |", header.join(" | "))?;
    let rule: Vec<&str> = columns
        .iter()
        .map(|&(_, numeric)| if numeric { "--:" } else { "---" })
        .collect();
    writeln!(out, "|{}|", rule.join("|"))?;
    for row in rows {
        writeln!(out, "| {} |", row.join(" | "))?;
    }
    writeln!(out)
}

pub(super) fn render(report: &BoardReport) -> Result<String, fmt::Error> {
    let mut out = String::new();
    header(&mut out, report)?;
    summary(&mut out, report)?;
    changes(&mut out, report)?;
    drift(&mut out, report)?;
    measures(&mut out, report)?;
    visits(&mut out, report)?;
    actions(&mut out, report)?;
    Ok(out)
}

fn header(out: &mut String, report: &BoardReport) -> fmt::Result {
    let plan = &report.overview;
    writeln!(out, "# {}\n", md(&plan.title))?;
    writeln!(
        out,
        "**{}**: improvement board report as of {}\n",
        md(&plan.organisation),
        long_date(as_of_date(report))
    )?;
    let agreed = match (&plan.agreed_by, plan.agreed_on) {
        (Some(by), Some(on)) => format!(", agreed by {} on {}", md(by), long_date(on)),
        _ => ", not yet agreed".to_owned(),
    };
    writeln!(out, "Plan revision {}{agreed}.\n", plan.revision)?;
    let p = &report.provenance;
    write!(
        out,
        "> Generated {} from the event log at sequence {} (head hash {}), showing the plan as of {}.",
        date_time(p.generated_at),
        p.log_seq,
        md(&p.head_hash),
        date_time(p.as_of)
    )?;
    if p.folded_seq != p.log_seq {
        write!(
            out,
            " The read model had reached sequence {} of {}.",
            p.folded_seq, p.log_seq
        )?;
    }
    writeln!(out, "\n")
}

fn summary(out: &mut String, report: &BoardReport) -> fmt::Result {
    let h = &report.headline;
    let c = &report.overview.counts;
    writeln!(out, "## Summary\n")?;
    writeln!(
        out,
        "- {} actions in {} active priority areas{}.",
        c.actions,
        h.active_areas,
        if h.retired_areas > 0 {
            format!(
                " (and {} retired areas kept for their history)",
                h.retired_areas
            )
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "- Rated {} red, {} amber, {} green, {} blue (completed); {} not rated.",
        c.red, c.amber, c.green, c.blue, c.unrated
    )?;
    writeln!(
        out,
        "- {} overdue, {} blocked; {}% complete.",
        c.overdue, c.blocked, c.percent_complete
    )?;
    writeln!(
        out,
        "- Measures at their latest reading: {} red, {} amber, {} green{}.",
        h.measures_red,
        h.measures_amber,
        h.measures_green,
        if h.measures_without_readings > 0 {
            format!(", {} without readings", h.measures_without_readings)
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "- Visit findings needing an action and without one: {}.",
        h.findings_unanswered
    )?;
    writeln!(
        out,
        "- {} changes {}, {} of them recorded late.\n",
        h.changes,
        since_phrase(report),
        h.changes_recorded_late
    )?;

    let mut rows: Vec<Vec<String>> = report
        .overview
        .areas
        .iter()
        .map(|area| {
            let c = &area.counts;
            let mut name = format!("{}. {}", area.number, md(&area.title));
            if area.retired {
                name.push_str(" (retired)");
            }
            vec![
                name,
                md(&area.lead),
                c.actions.to_string(),
                c.red.to_string(),
                c.amber.to_string(),
                c.green.to_string(),
                c.blue.to_string(),
                c.unrated.to_string(),
                c.overdue.to_string(),
                format!("{}%", c.percent_complete),
            ]
        })
        .collect();
    rows.push(vec![
        "**All areas**".into(),
        String::new(),
        c.actions.to_string(),
        c.red.to_string(),
        c.amber.to_string(),
        c.green.to_string(),
        c.blue.to_string(),
        c.unrated.to_string(),
        c.overdue.to_string(),
        format!("{}%", c.percent_complete),
    ]);
    table(
        out,
        &[
            ("Priority area", false),
            ("Lead", false),
            ("Actions", true),
            ("Red", true),
            ("Amber", true),
            ("Green", true),
            ("Blue", true),
            ("Not rated", true),
            ("Overdue", true),
            ("Complete", true),
        ],
        &rows,
    )?;
    writeln!(out, "Key: {RAG_KEY}\n")
}

fn changes(out: &mut String, report: &BoardReport) -> fmt::Result {
    writeln!(out, "## Changes {}\n", since_phrase(report))?;
    if report.changes.changes.is_empty() {
        return writeln!(out, "No changes.\n");
    }
    if report.headline.changes_recorded_late > 0 {
        writeln!(
            out,
            "Changes marked **recorded late** {}.\n",
            md(&late_note(report))
        )?;
    }
    let rows: Vec<Vec<String>> = report
        .changes
        .changes
        .iter()
        .map(|c| {
            let mut recorded = short_date(c.recorded_at.date_naive());
            if c.backdated {
                recorded.push_str(" **recorded late**");
            }
            vec![
                short_date(c.effective_at.date_naive()),
                md(&c.subject),
                md(&c.summary),
                md(&c.actor),
                recorded,
            ]
        })
        .collect();
    table(
        out,
        &[
            ("Took effect", false),
            ("Subject", false),
            ("Change", false),
            ("By", false),
            ("Recorded", false),
        ],
        &rows,
    )
}

fn drift(out: &mut String, report: &BoardReport) -> fmt::Result {
    let d = &report.drift;
    writeln!(out, "## Drift and delay\n")?;
    let sections: [(String, &[DriftItem]); 4] = [
        ("Overdue".into(), &d.overdue),
        ("Rebaselined twice or more".into(), &d.rebaselined),
        (
            format!("Not updated for {} days or more", d.stale_after_days),
            &d.stale,
        ),
        ("Blocked".into(), &d.blocked),
    ];
    for (title, items) in sections {
        writeln!(out, "### {title} ({})\n", items.len())?;
        if items.is_empty() {
            writeln!(out, "None.\n")?;
            continue;
        }
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|i| {
                let a = &i.action;
                vec![
                    format!("{}. {}", i.area_number, md(&i.area_title)),
                    md(&a.title),
                    md(&a.owner),
                    status_word(a.status).into(),
                    rag_word(a.rag).into(),
                    short_date(a.due_on),
                    a.days_overdue.to_string(),
                    a.rebaseline_count.to_string(),
                    a.days_since_update.to_string(),
                ]
            })
            .collect();
        table(
            out,
            &[
                ("Area", false),
                ("Action", false),
                ("Owner", false),
                ("Status", false),
                ("RAG", false),
                ("Due", false),
                ("Days overdue", true),
                ("Rebaselines", true),
                ("Days since update", true),
            ],
            &rows,
        )?;
    }
    Ok(())
}

fn target_text(m: &MeasureView) -> String {
    format!("{} (tolerance {})", number(m.target), number(m.tolerance))
}

fn better_word(m: &MeasureView) -> &'static str {
    match m.direction {
        stocktake_domain::Direction::LowerIsBetter => "Lower",
        stocktake_domain::Direction::HigherIsBetter => "Higher",
    }
}

fn measures(out: &mut String, report: &BoardReport) -> fmt::Result {
    writeln!(out, "## Measures\n")?;
    if report.measures.is_empty() {
        return writeln!(out, "No measures defined.\n");
    }
    let rows: Vec<Vec<String>> = report
        .measures
        .iter()
        .map(|m| {
            let (latest, period, rag) = match &m.latest {
                Some(r) => (
                    md(&with_unit(r.value, &m.unit)),
                    short_date(r.period_end),
                    reading_rag_word(r.rag).to_owned(),
                ),
                None => ("No readings".into(), String::new(), String::new()),
            };
            vec![
                md(&m.name),
                latest,
                period,
                rag,
                target_text(m),
                better_word(m).into(),
                trend_word(m.trend).into(),
            ]
        })
        .collect();
    table(
        out,
        &[
            ("Measure", false),
            ("Latest", false),
            ("Period ending", false),
            ("RAG", false),
            ("Target", false),
            ("Better", false),
            ("Trend", false),
        ],
        &rows,
    )?;
    for m in &report.measures {
        writeln!(out, "### {}\n", md(&m.name))?;
        writeln!(
            out,
            "In {}; target {}, {} is better.\n",
            md(&m.unit),
            target_text(m),
            better_word(m).to_lowercase()
        )?;
        if m.readings.is_empty() {
            writeln!(out, "No readings yet.\n")?;
            continue;
        }
        let rows: Vec<Vec<String>> = m
            .readings
            .iter()
            .map(|r| {
                let mut source = md(&r.source);
                if r.corrected {
                    source = format!("**corrected**: {source}");
                }
                vec![
                    short_date(r.period_end),
                    number(r.value),
                    reading_rag_word(r.rag).into(),
                    source,
                ]
            })
            .collect();
        table(
            out,
            &[
                ("Period ending", false),
                ("Value", true),
                ("RAG", false),
                ("Source", false),
            ],
            &rows,
        )?;
    }
    Ok(())
}

fn visit_heading(visit: &VisitView) -> String {
    format!(
        "Visit {}: {} ({})",
        visit.number,
        md(&visit.theme),
        date_range(visit.started_on, visit.ended_on)
    )
}

fn action_brief(a: &ActionSummary) -> String {
    let mut text = format!(
        "{} ({}, {}, due {}",
        md(&a.title),
        status_word(a.status),
        rag_word(a.rag),
        short_date(a.due_on)
    );
    if a.overdue {
        text.push_str(&format!(", **{} days overdue**", a.days_overdue));
    }
    text.push(')');
    text
}

fn visits(out: &mut String, report: &BoardReport) -> fmt::Result {
    writeln!(out, "## Monitoring visits\n")?;
    if report.visits.is_empty() {
        return writeln!(out, "No monitoring visits yet.\n");
    }
    for visit in &report.visits {
        writeln!(out, "### {}\n", visit_heading(visit))?;
        let letter = visit.letter_published_on.map_or_else(
            || "Letter not yet published.".to_owned(),
            |on| format!("Letter published {}.", long_date(on)),
        );
        writeln!(
            out,
            "{letter} {} findings; {}.\n",
            visit.findings.len(),
            unanswered_phrase(visit.unanswered_findings)
        )?;
        if visit.findings.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = visit
            .findings
            .iter()
            .map(|f| {
                let answered_by = if f.unanswered {
                    "**No action answers this finding**".to_owned()
                } else if f.actions.is_empty() {
                    "No action needed".to_owned()
                } else {
                    f.actions
                        .iter()
                        .map(action_brief)
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                vec![finding_kind_word(f.kind).into(), md(&f.text), answered_by]
            })
            .collect();
        table(
            out,
            &[("Kind", false), ("Finding", false), ("Answered by", false)],
            &rows,
        )?;
    }
    Ok(())
}

fn actions(out: &mut String, report: &BoardReport) -> fmt::Result {
    writeln!(out, "## Actions by priority area\n")?;
    for area in &report.overview.areas {
        let mut heading = area_label(report, area.area_id);
        if area.retired {
            heading.push_str(" (retired)");
        }
        writeln!(out, "### {}\n", md(&heading))?;
        write!(out, "Lead: {}.", md(&area.lead))?;
        if let Some(partner) = &area.partner_contribution {
            write!(out, " Partner: {}", md(partner))?;
        }
        if let Some(reason) = &area.retired_reason {
            write!(out, " Retired: {}", md(reason))?;
        }
        writeln!(out, "\n")?;
        if area.actions.is_empty() {
            writeln!(out, "No actions.\n")?;
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
                    md(&a.title),
                    md(&a.owner),
                    status_word(a.status).into(),
                    rag_word(a.rag).into(),
                    a.start_on.map(short_date).unwrap_or_default(),
                    short_date(a.due_on),
                    if a.overdue {
                        format!("**{} days**", a.days_overdue)
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
        table(
            out,
            &[
                ("Action", false),
                ("Owner", false),
                ("Status", false),
                ("RAG", false),
                ("Start", false),
                ("Due", false),
                ("Overdue", false),
                ("Rebaselines", true),
                ("Last update", false),
                ("Evidence", true),
                ("Impact confirmed", false),
                ("Answers", false),
            ],
            &rows,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{demo_report, hostile_report};
    use super::*;

    #[test]
    fn the_board_paper_has_every_section_in_order() {
        let text = render(&demo_report(2018, 9, 30)).unwrap();
        let headings = [
            "# Children's services improvement plan",
            "## Summary",
            "## Changes since the Children's Services Improvement Board of 26 September 2018",
            "## Drift and delay",
            "## Measures",
            "## Monitoring visits",
            "## Actions by priority area",
        ];
        let positions: Vec<usize> = headings
            .iter()
            .map(|h| {
                text.find(&format!("{h}\n"))
                    .unwrap_or_else(|| panic!("{h} missing"))
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert!(text.contains("improvement board report as of 30 September 2018"));
    }

    #[test]
    fn late_entries_and_corrected_readings_are_marked() {
        let text = render(&demo_report(2018, 8, 31)).unwrap();
        assert!(text.contains("**recorded late**"));
        assert!(text.contains("**corrected**"));
    }

    #[test]
    fn every_table_row_has_as_many_cells_as_its_header() {
        let text = render(&hostile_report()).unwrap();
        let mut expected = None;
        for line in text.lines() {
            if !line.starts_with('|') {
                expected = None;
                continue;
            }
            // Escaped pipes belong to the text, not the table.
            let cells = line.replace("\\|", "").matches('|').count();
            match expected {
                None => expected = Some(cells),
                Some(n) => assert_eq!(cells, n, "{line}"),
            }
        }
    }

    #[test]
    fn user_text_cannot_bring_its_own_markup() {
        let text = render(&hostile_report()).unwrap();
        assert!(!text.contains("<script>"));
        assert!(text.contains(r"\<script\>"));
        assert!(text.contains(r"\*bold\*"));
    }

    #[test]
    fn escaping_keeps_plain_words_plain() {
        assert_eq!(md("in_progress → cancelled"), "in_progress → cancelled");
        assert_eq!(
            md("_emphasis_ and **bold**"),
            r"\_emphasis\_ and \*\*bold\*\*"
        );
        assert_eq!(md("a | b\nc"), r"a \| b c");
    }

    #[test]
    fn a_plan_with_nothing_yet_still_reads() {
        let text = render(&demo_report(2017, 10, 1)).unwrap();
        assert!(text.contains("## Changes since 1 September 2017 (30 days before this report)"));
        assert!(text.contains("No monitoring visits yet."));
    }
}
