//! The board report as CSV: one row per action, for the clerk's spreadsheet.
//!
//! The `csv` crate does the quoting, so commas, quotes and line breaks in titles stay in their
//! cell. A cell that a spreadsheet would take for a formula (one starting `=`, `+`, `-` or `@`)
//! gets a leading apostrophe: titles come from users, and opening a board paper must never
//! run anything. The file starts with a byte order mark, without which Excel reads UTF-8 as
//! the local code page and garbles every "£" and "…".
//!
//! Area numbers start again at 1 when a plan is redrafted, so a column says whether the area
//! was retired: without it two areas numbered 1 would be indistinguishable in a filter.

use ::csv::WriterBuilder;
use stocktake_projections::views::report::BoardReport;

use super::{finding_reference, rag_word, status_word, yes_no, ReportError};

/// Excel's cue that the file is UTF-8.
const BYTE_ORDER_MARK: &str = "\u{feff}";

const HEADER: [&str; 16] = [
    "Area number",
    "Area title",
    "Area retired",
    "Action",
    "Owner",
    "Status",
    "RAG",
    "Start",
    "Due",
    "Overdue",
    "Days overdue",
    "Rebaseline count",
    "Days since update",
    "Evidence count",
    "Impact confirmed",
    "Linked findings",
];

/// Text from users, defused for spreadsheets.
fn text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

pub(super) fn render(report: &BoardReport) -> Result<String, ReportError> {
    let mut writer = WriterBuilder::new().from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for area in &report.overview.areas {
        for action in &area.actions {
            let findings: Vec<String> = report
                .findings_answered_by(action.action_id)
                .iter()
                .map(|a| finding_reference(a.visit.number, &a.finding.text))
                .collect();
            writer.write_record([
                area.number.to_string(),
                text(&area.title),
                yes_no(area.retired).to_owned(),
                text(&action.title),
                text(&action.owner),
                status_word(action.status).to_owned(),
                rag_word(action.rag).to_owned(),
                action.start_on.map(|d| d.to_string()).unwrap_or_default(),
                action.due_on.to_string(),
                yes_no(action.overdue).to_owned(),
                action.days_overdue.to_string(),
                action.rebaseline_count.to_string(),
                action.days_since_update.to_string(),
                action.evidence_count.to_string(),
                yes_no(action.impact_confirmed).to_owned(),
                text(&findings.join("; ")),
            ])?;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ::csv::Error::from(e.into_error()))?;
    let body = String::from_utf8(bytes).expect("every cell was a Rust string");
    Ok(format!("{BYTE_ORDER_MARK}{body}"))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{demo_report, hostile_report};
    use super::*;

    fn parse(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let header = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        (header, rows)
    }

    #[test]
    fn one_row_per_action_under_a_header() {
        let report = demo_report(2018, 9, 30);
        let (header, rows) = parse(&render(&report).unwrap());
        assert_eq!(header, HEADER);
        assert_eq!(rows.len(), report.overview.counts.actions);
        assert!(rows.iter().all(|r| r.len() == HEADER.len()));
        let first = &report.overview.areas[0];
        assert_eq!(rows[0][0], first.number.to_string());
        assert_eq!(rows[0][1], first.title);
        assert_eq!(rows[0][3], first.actions[0].title);
        assert!(rows.iter().all(|r| ["Yes", "No"].contains(&r[9].as_str())));
        let retired = rows.iter().filter(|r| r[2] == "Yes").count();
        let in_retired_areas: usize = report
            .overview
            .areas
            .iter()
            .filter(|a| a.retired)
            .map(|a| a.actions.len())
            .sum();
        assert_eq!(retired, in_retired_areas);
    }

    #[test]
    fn linked_findings_name_the_visit_and_the_start_of_the_finding() {
        let report = demo_report(2018, 9, 30);
        let (_, rows) = parse(&render(&report).unwrap());
        let row = rows
            .iter()
            .find(|r| r[3].starts_with("Tracker so senior managers oversee strategy meetings"))
            .expect("the action answering visit 2's finding on risk meetings");
        let linked = &row[15];
        assert!(
            linked.starts_with("Visit 2: Dedicated strategy meetings for children at risk"),
            "{linked}"
        );
        assert!(linked.chars().count() <= "Visit 2: ".len() + 61);
    }

    #[test]
    fn the_file_tells_excel_it_is_utf8() {
        let text = render(&demo_report(2018, 9, 30)).unwrap();
        assert!(text.starts_with("\u{feff}Area number,"));
    }

    #[test]
    fn awkward_text_survives_the_round_trip_and_formulas_are_defused() {
        let mut report = hostile_report();
        let area = &mut report.overview.areas[0];
        area.actions[0].title = "Say \"hello\", then\nwave".into();
        area.actions[1].title = "=HYPERLINK(\"x\")".into();
        let (_, rows) = parse(&render(&report).unwrap());
        assert_eq!(rows[0][3], "Say \"hello\", then\nwave");
        assert_eq!(rows[1][3], "'=HYPERLINK(\"x\")");
        assert_eq!(
            rows[2][3],
            "<script>alert(\"x\")</script> & | *bold* =SUM(A1)"
        );
    }
}
