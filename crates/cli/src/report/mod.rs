//! The board report as a file: Markdown to read in any viewer, one self-contained HTML page to
//! attach to committee papers, and CSV, one row per action, for the clerk's spreadsheet.
//!
//! The content is gathered by [`stocktake_projections::views::report::board_report`]; this
//! module only lays it out. The three formats say the same things in the same words, so the
//! words (status names, RAG names, dates, the "since" phrase) live here, once.

mod csv;
mod html;
mod markdown;
mod svg;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use stocktake_domain::time::end_of_day;
use stocktake_domain::{ActionStatus, AreaId, DisplayRag, FindingKind, Rag};
use stocktake_projections::views::measure::Trend;
use stocktake_projections::views::report::{BoardReport, SinceBasis};

/// The file formats of the board report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Csv,
}

/// A format name that is not one of md, markdown, html or csv.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a report format: use md, html or csv")]
pub struct UnknownFormat(String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "csv" => Ok(Format::Csv),
            _ => Err(UnknownFormat(raw.chars().take(32).collect())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("could not lay out the report")]
    Format(#[from] fmt::Error),
    #[error("could not write the CSV report: {0}")]
    Csv(#[from] ::csv::Error),
}

/// The report as the text of one file in the given format.
pub fn render(report: &BoardReport, format: Format) -> Result<String, ReportError> {
    match format {
        Format::Markdown => Ok(markdown::render(report)?),
        Format::Html => Ok(html::render(report)?),
        Format::Csv => self::csv::render(report),
    }
}

/// Text made safe to place in HTML or SVG, as element content or a quoted attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn long_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

fn short_date(date: NaiveDate) -> String {
    date.format("%-d %b %Y").to_string()
}

/// "10 to 11 July 2018", "30 July to 2 August 2018", "28 December 2017 to 3 January 2018".
fn date_range(start: NaiveDate, end: NaiveDate) -> String {
    if start == end {
        long_date(start)
    } else if start.year() != end.year() {
        format!("{} to {}", long_date(start), long_date(end))
    } else if start.month() != end.month() {
        format!("{} to {}", start.format("%-d %B"), long_date(end))
    } else {
        format!("{} to {}", start.day(), long_date(end))
    }
}

/// A value with its unit, as a reader writes it: "19.1 cases per worker", "40%".
fn with_unit(value: f64, unit: &str) -> String {
    if unit == "%" {
        format!("{}%", number(value))
    } else {
        format!("{} {unit}", number(value))
    }
}

/// "every finding that needs an action has one", "1 needing an action has none".
fn unanswered_phrase(unanswered: usize) -> String {
    match unanswered {
        0 => "every finding that needs an action has one".to_owned(),
        1 => "1 needing an action has none".to_owned(),
        n => format!("{n} needing an action have none"),
    }
}

fn date_time(time: DateTime<Utc>) -> String {
    time.format("%-d %b %Y %H:%M UTC").to_string()
}

/// The day the report describes. `as_of` is usually the end of a day, so its date is that day.
fn as_of_date(report: &BoardReport) -> NaiveDate {
    report.as_of.date_naive()
}

fn status_word(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::NotStarted => "Not started",
        ActionStatus::InProgress => "In progress",
        ActionStatus::Blocked => "Blocked",
        ActionStatus::Completed => "Completed",
        ActionStatus::Cancelled => "Cancelled",
    }
}

fn rag_word(rag: Option<DisplayRag>) -> &'static str {
    match rag {
        Some(DisplayRag::Red) => "Red",
        Some(DisplayRag::Amber) => "Amber",
        Some(DisplayRag::Green) => "Green",
        Some(DisplayRag::Blue) => "Blue",
        None => "Not rated",
    }
}

fn reading_rag_word(rag: Rag) -> &'static str {
    rag_word(Some(rag.into()))
}

/// The key printed with every RAG table: colour keys vary between councils, so say ours.
const RAG_KEY: &str = "Red: off track, needs escalation. Amber: at risk. Green: on track. \
Blue: completed. For measures, green is on target, amber within tolerance, red outside it.";

fn finding_kind_word(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Strength => "Strength",
        FindingKind::AreaForImprovement => "Area for improvement",
        FindingKind::Recommendation => "Recommendation",
    }
}

fn trend_word(trend: Trend) -> &'static str {
    match trend {
        Trend::Improving => "Improving",
        Trend::Worsening => "Worsening",
        Trend::Steady => "Steady",
        Trend::Unknown => "Too few readings",
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "Yes"
    } else {
        "No"
    }
}

/// A value as a reader writes it: no trailing zeros, at most two decimals.
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// The heading of the changes section: "since the Improvement Board of 24 July 2018".
fn since_phrase(report: &BoardReport) -> String {
    match &report.since_basis {
        SinceBasis::BoardMeeting { forum, held_on } => {
            format!("since the {forum} of {}", long_date(*held_on))
        }
        SinceBasis::Requested => format!("since {}", moment(report.changes.since)),
        SinceBasis::Window { days } => format!(
            "since {} ({days} days before this report)",
            moment(report.changes.since)
        ),
    }
}

/// What "recorded late" means in this report's window, said once under the changes heading.
fn late_note(report: &BoardReport) -> String {
    match &report.since_basis {
        SinceBasis::BoardMeeting { forum, held_on } => format!(
            "took effect before the {forum} of {} but were recorded on or after that day, \
             so that meeting could not have seen them",
            long_date(*held_on)
        ),
        SinceBasis::Requested | SinceBasis::Window { .. } => {
            "took effect before the start of this period but were recorded during it, \
             so they were not known when the period began"
                .to_owned()
        }
    }
}

/// A bound given as a day reads as the day; other instants keep their time.
fn moment(time: DateTime<Utc>) -> String {
    let date = time.date_naive();
    if time == end_of_day(date) {
        long_date(date)
    } else if time == date.and_time(NaiveTime::MIN).and_utc() {
        format!("the start of {}", long_date(date))
    } else {
        date_time(time)
    }
}

/// "3. A relentless focus on practice", or a placeholder for an area the plan no longer has.
fn area_label(report: &BoardReport, area_id: AreaId) -> String {
    report
        .overview
        .areas
        .iter()
        .find(|a| a.area_id == area_id)
        .map_or_else(
            || "Unknown area".to_owned(),
            |a| format!("{}. {}", a.number, a.title),
        )
}

/// The first `max` characters of a text, with an ellipsis when it was cut.
fn truncate(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{}…", head.trim_end())
    } else {
        head
    }
}

/// "Visit 3: Some children wait too long for …": how a finding is named from an action's side.
fn finding_reference(visit_number: u16, text: &str) -> String {
    format!("Visit {visit_number}: {}", truncate(text, 60))
}

#[cfg(test)]
mod test_support {
    use chrono::TimeZone;
    use stocktake_domain::demo;
    use stocktake_projections::views::report::{board_report, LogHead};
    use stocktake_projections::ReadModel;

    use super::*;

    /// The demo plan's board report as of the end of a day.
    pub(super) fn demo_report(y: i32, m: u32, d: u32) -> BoardReport {
        let store = demo::replay().expect("the demo journey replays");
        let mut model = ReadModel::default();
        for envelope in store.envelopes() {
            model.apply(envelope.clone());
        }
        let as_of = end_of_day(NaiveDate::from_ymd_opt(y, m, d).expect("a valid date"));
        board_report(
            &model,
            demo::plan_id(),
            Some(as_of),
            None,
            Utc.with_ymd_and_hms(2020, 1, 6, 9, 0, 0).unwrap(),
            LogHead {
                last_seq: model.last_seq(),
                head_hash: "9f2c51e0d4".into(),
            },
        )
        .expect("the demo plan exists")
    }

    /// A report whose user-given texts all try to break out of their format.
    pub(super) fn hostile_report() -> BoardReport {
        const HOSTILE: &str = "<script>alert(\"x\")</script> & | *bold* =SUM(A1)";
        let mut report = demo_report(2018, 9, 30);
        report.overview.title = HOSTILE.into();
        report.overview.organisation = HOSTILE.into();
        for area in &mut report.overview.areas {
            area.title = HOSTILE.into();
            area.lead = HOSTILE.into();
            for action in &mut area.actions {
                action.title = HOSTILE.into();
                action.owner = HOSTILE.into();
            }
        }
        for change in &mut report.changes.changes {
            change.subject = HOSTILE.into();
            change.summary = HOSTILE.into();
            change.actor = HOSTILE.into();
        }
        for item in report
            .drift
            .overdue
            .iter_mut()
            .chain(&mut report.drift.stale)
        {
            item.area_title = HOSTILE.into();
            item.action.title = HOSTILE.into();
            item.action.owner = HOSTILE.into();
        }
        for measure in &mut report.measures {
            measure.name = HOSTILE.into();
            measure.unit = HOSTILE.into();
            for reading in &mut measure.readings {
                reading.source = HOSTILE.into();
            }
        }
        for visit in &mut report.visits {
            visit.theme = HOSTILE.into();
            for finding in &mut visit.findings {
                finding.text = HOSTILE.into();
                for action in &mut finding.actions {
                    action.title = HOSTILE.into();
                }
            }
        }
        report.provenance.head_hash = HOSTILE.into();
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_are_read_as_people_type_them() {
        assert_eq!("md".parse(), Ok(Format::Markdown));
        assert_eq!("Markdown".parse(), Ok(Format::Markdown));
        assert_eq!(" html ".parse(), Ok(Format::Html));
        assert_eq!("CSV".parse(), Ok(Format::Csv));
        let error = "pdf".parse::<Format>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "`pdf` is not a report format: use md, html or csv"
        );
    }

    #[test]
    fn escape_covers_markup_and_both_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom's & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom&#39;s &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }

    #[test]
    fn date_ranges_say_each_part_once() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(date_range(d(2018, 7, 10), d(2018, 7, 10)), "10 July 2018");
        assert_eq!(
            date_range(d(2018, 7, 10), d(2018, 7, 11)),
            "10 to 11 July 2018"
        );
        assert_eq!(
            date_range(d(2018, 7, 30), d(2018, 8, 2)),
            "30 July to 2 August 2018"
        );
        assert_eq!(
            date_range(d(2017, 12, 28), d(2018, 1, 3)),
            "28 December 2017 to 3 January 2018"
        );
    }

    #[test]
    fn numbers_drop_trailing_zeros() {
        assert_eq!(number(16.0), "16");
        assert_eq!(number(20.1), "20.1");
        assert_eq!(number(14.25), "14.25");
        assert_eq!(number(0.004), "0");
        assert_eq!(number(-0.001), "0");
        assert_eq!(with_unit(40.0, "%"), "40%");
        assert_eq!(with_unit(19.1, "cases per worker"), "19.1 cases per worker");
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("short", 60), "short");
        assert_eq!(truncate("ééééé", 3), "ééé…");
        let reference = finding_reference(3, &"word ".repeat(30));
        assert!(reference.starts_with("Visit 3: word word"));
        assert!(reference.chars().count() <= "Visit 3: ".len() + 61);
    }

    #[test]
    fn the_changes_heading_names_the_board_it_reports_from() {
        let report = test_support::demo_report(2018, 8, 31);
        assert_eq!(
            since_phrase(&report),
            "since the Children's Services Improvement Board of 24 July 2018"
        );
    }

    #[test]
    fn every_format_renders_the_demo_report() {
        let report = test_support::demo_report(2019, 12, 31);
        for format in [Format::Markdown, Format::Html, Format::Csv] {
            let text = render(&report, format).expect("renders");
            assert!(!text.is_empty(), "{format:?}");
        }
    }
}
