//! The board report: one paper that answers the improvement board's standing questions as of a
//! date, ready to attach to the agenda.
//!
//! Where is the plan (counts by RAG and priority area), what changed since the board last met
//! (including late entries that change what that meeting saw), what is drifting, how the KPIs
//! stand against target, and what the monitoring visits found and which actions answer them.
//! It is assembled from the other views at one moment, so every section agrees with the others
//! and with the provenance line that says which log head it was read from. Rendering (Markdown,
//! HTML, CSV) is the binary's business; this module only gathers.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use stocktake_domain::time::end_of_day;
use stocktake_domain::{ActionId, Event, ForumKind, PlanId, Rag, StreamRef};

use super::changes::{plan_changes, PlanChanges};
use super::drift::{drift, Drift, DEFAULT_STALE_AFTER_DAYS};
use super::measure::{plan_measures, MeasureView};
use super::overview::{plan_overview, PlanOverview};
use super::visit::{plan_visits, FindingView, VisitView};
use super::{plan_at, NotFound};
use crate::at::At;
use crate::model::ReadModel;

/// Without an earlier board meeting to report from, changes are those of this many days.
pub const DEFAULT_SINCE_DAYS: i64 = 30;

/// The head of the log the read model was built from: the report names it so that a reader can
/// check, with `stocktake verify`, that the history behind the paper has not been altered since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogHead {
    pub last_seq: u64,
    pub head_hash: String,
}

/// Where the report came from and when: the line an auditor reads first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The log head when the report was generated.
    pub log_seq: u64,
    pub head_hash: String,
    /// The last event the read model had folded; below `log_seq` when it was catching up.
    pub folded_seq: u64,
    pub as_of: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
}

/// Why the "changes since" window starts where it does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum SinceBasis {
    /// The reader gave the date.
    Requested,
    /// The last improvement board meeting before the report's date: the board hears what
    /// happened since it last met. The window opens as that meeting's day begins, so the
    /// meeting and what it decided are the first changes, and an entry about an earlier day
    /// recorded on or after it is marked backdated: that meeting could not have seen it.
    BoardMeeting { forum: String, held_on: NaiveDate },
    /// The plan has no earlier board meeting, so a fixed window.
    Window { days: i64 },
}

/// The headline numbers, so that every format can open with them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Headline {
    pub active_areas: usize,
    pub retired_areas: usize,
    /// Measures by the RAG of their latest reading.
    pub measures_red: usize,
    pub measures_amber: usize,
    pub measures_green: usize,
    pub measures_without_readings: usize,
    pub findings_unanswered: usize,
    pub changes: usize,
    /// Changes recorded in the window about earlier times: they alter what the last meeting saw.
    pub changes_recorded_late: usize,
}

/// A finding that an action answers, for reading from the action's side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answering<'a> {
    pub visit: &'a VisitView,
    pub finding: &'a FindingView,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardReport {
    pub plan_id: PlanId,
    pub as_of: DateTime<Utc>,
    pub headline: Headline,
    /// The plan as of the report's date: areas (active first), their actions and counts.
    pub overview: PlanOverview,
    pub since_basis: SinceBasis,
    /// Changes that took effect in the window, and late entries recorded in it.
    pub changes: PlanChanges,
    pub drift: Drift,
    pub measures: Vec<MeasureView>,
    /// Every visit that had taken place by the report's date, by number.
    pub visits: Vec<VisitView>,
    pub provenance: Provenance,
}

impl BoardReport {
    /// The visit findings an action answers, by visit number.
    pub fn findings_answered_by(&self, action_id: ActionId) -> Vec<Answering<'_>> {
        self.visits
            .iter()
            .flat_map(|visit| {
                visit
                    .findings
                    .iter()
                    .filter(move |f| f.actions.iter().any(|a| a.action_id == action_id))
                    .map(move |finding| Answering { visit, finding })
            })
            .collect()
    }
}

/// The board report for a plan as of a moment (`None`: now).
///
/// `since` starts the "changes since" window; left out, it is the last improvement board
/// meeting before `as_of`, else [`DEFAULT_SINCE_DAYS`] before it. `now` is the wall clock the
/// shell passes in: the default `as_of` and the time the report says it was generated.
pub fn board_report(
    model: &ReadModel,
    plan_id: PlanId,
    as_of: Option<DateTime<Utc>>,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    log_head: LogHead,
) -> Result<BoardReport, NotFound> {
    let as_of = as_of.unwrap_or(now);
    let at = At::as_of(as_of);
    let overview = plan_overview(model, plan_id, &at, now)?;
    let (since, since_basis) = match since {
        Some(since) => (since, SinceBasis::Requested),
        None => match last_board_meeting(model, plan_id, &at) {
            Some((forum, held_on)) => (
                start_of_day(held_on),
                SinceBasis::BoardMeeting { forum, held_on },
            ),
            None => (
                as_of - Duration::days(DEFAULT_SINCE_DAYS),
                SinceBasis::Window {
                    days: DEFAULT_SINCE_DAYS,
                },
            ),
        },
    };
    let changes = plan_changes(model, plan_id, since, as_of, None, now)?;
    let drift = drift(model, plan_id, DEFAULT_STALE_AFTER_DAYS, &at, now)?;
    let measures = plan_measures(model, plan_id, &at, now);
    let visits = plan_visits(model, plan_id, &at, now);
    let headline = headline(&overview, &changes, &measures, &visits);
    Ok(BoardReport {
        plan_id,
        as_of,
        headline,
        overview,
        since_basis,
        changes,
        drift,
        measures,
        visits,
        provenance: Provenance {
            log_seq: log_head.last_seq,
            head_hash: log_head.head_hash,
            folded_seq: model.last_seq(),
            as_of,
            generated_at: now,
        },
    })
}

/// The last instant before a day begins: a window `(since, until]` from it includes the day.
fn start_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.pred_opt().map_or(DateTime::<Utc>::MIN_UTC, end_of_day)
}

/// The forum name and day of the latest improvement board meeting held before the moment.
fn last_board_meeting(model: &ReadModel, plan_id: PlanId, at: &At) -> Option<(String, NaiveDate)> {
    let stream = StreamRef::plan(plan_id);
    let plan = plan_at(model, stream, at)?.item;
    let as_of = at.as_of?;
    model
        .timeline_of(stream)?
        .entries_at(at)
        .filter_map(|entry| match &entry.kept.event {
            Event::MeetingHeld(e) => Some(e),
            _ => None,
        })
        // A meeting on the report's own day is the one the paper is for, not the last one.
        .filter(|e| end_of_day(e.held_on) < as_of)
        .filter_map(|e| {
            let forum = plan.forums.get(&e.forum_id)?;
            (forum.kind == ForumKind::ImprovementBoard).then(|| (forum.name.to_string(), e.held_on))
        })
        .max_by_key(|(_, held_on)| *held_on)
}

fn headline(
    overview: &PlanOverview,
    changes: &PlanChanges,
    measures: &[MeasureView],
    visits: &[VisitView],
) -> Headline {
    let latest_rag = |rag: Rag| {
        measures
            .iter()
            .filter(|m| m.latest.as_ref().is_some_and(|r| r.rag == rag))
            .count()
    };
    Headline {
        active_areas: overview.areas.iter().filter(|a| !a.retired).count(),
        retired_areas: overview.areas.iter().filter(|a| a.retired).count(),
        measures_red: latest_rag(Rag::Red),
        measures_amber: latest_rag(Rag::Amber),
        measures_green: latest_rag(Rag::Green),
        measures_without_readings: measures.iter().filter(|m| m.latest.is_none()).count(),
        findings_unanswered: visits.iter().map(|v| v.unanswered_findings).sum(),
        changes: changes.changes.len(),
        changes_recorded_late: changes.changes.iter().filter(|c| c.backdated).count(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use stocktake_domain::{demo, ActionStatus, StreamType};

    use super::*;
    use crate::views::changes::ChangeEntry;

    fn demo_model() -> ReadModel {
        let store = demo::replay().expect("the demo journey replays");
        let mut model = ReadModel::default();
        for envelope in store.envelopes() {
            model.apply(envelope.clone());
        }
        model
    }

    fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        end_of_day(NaiveDate::from_ymd_opt(y, m, d).expect("valid date"))
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2020, 1, 6, 9, 0, 0).unwrap()
    }

    fn head(model: &ReadModel) -> LogHead {
        LogHead {
            last_seq: model.last_seq(),
            head_hash: "b3:0123abcd".into(),
        }
    }

    fn report_as_of(model: &ReadModel, as_of: DateTime<Utc>) -> BoardReport {
        board_report(
            model,
            demo::plan_id(),
            Some(as_of),
            None,
            now(),
            head(model),
        )
        .expect("the demo plan exists")
    }

    #[test]
    fn after_the_september_2018_redraft_the_report_shows_six_active_areas() {
        let model = demo_model();
        let report = report_as_of(&model, day(2018, 9, 30));
        assert_eq!(report.headline.active_areas, 6);
        assert_eq!(report.headline.retired_areas, 5);
        let numbers: Vec<u16> = report
            .overview
            .areas
            .iter()
            .filter(|a| !a.retired)
            .map(|a| a.number)
            .collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
        assert_eq!(report.overview.revision, 2);
    }

    #[test]
    fn changes_since_the_july_2018_board_flag_the_late_june_entries_as_backdated() {
        let model = demo_model();
        let report = report_as_of(&model, day(2018, 8, 31));
        assert_eq!(
            report.since_basis,
            SinceBasis::BoardMeeting {
                forum: "Children's Services Improvement Board".into(),
                held_on: NaiveDate::from_ymd_opt(2018, 7, 24).unwrap(),
            }
        );
        assert_eq!(report.changes.since, day(2018, 7, 23));
        assert!(
            report
                .changes
                .changes
                .iter()
                .any(|c| c.event_type == "MeetingHeld" && !c.backdated),
            "the board of 24 July opens the list"
        );
        let backdated: Vec<_> = report
            .changes
            .changes
            .iter()
            .filter(|c| c.backdated)
            .collect();
        let june =
            |c: &ChangeEntry| c.effective_at.date_naive().format("%Y-%m").to_string() == "2018-06";
        assert!(
            backdated
                .iter()
                .any(|c| june(c) && c.event_type == "ActionStatusChanged"),
            "the return home interviews block of 20 June, entered on 25 July: {backdated:#?}"
        );
        assert!(
            backdated.iter().any(|c| june(c)
                && c.stream_type == StreamType::Measure
                && c.summary.contains("20.1")),
            "the June caseload corrected to 20.1 on 6 August: {backdated:#?}"
        );
        assert_eq!(report.headline.changes_recorded_late, backdated.len());
    }

    #[test]
    fn what_the_last_board_decided_that_day_is_news_not_a_late_entry() {
        let model = demo_model();
        let report = report_as_of(&model, day(2018, 9, 30));
        let redraft = report
            .changes
            .changes
            .iter()
            .find(|c| c.event_type == "PlanRevised")
            .expect("the redraft agreed at the board of 26 September");
        assert!(redraft.recorded_at > redraft.effective_at);
        assert!(!redraft.backdated);
    }

    #[test]
    fn a_report_on_the_day_of_a_board_reports_since_the_board_before() {
        let model = demo_model();
        let report = report_as_of(&model, day(2018, 7, 24));
        assert!(matches!(
            report.since_basis,
            SinceBasis::BoardMeeting { held_on, .. } if held_on == NaiveDate::from_ymd_opt(2018, 5, 22).unwrap()
        ));
    }

    #[test]
    fn before_any_board_meeting_the_window_is_thirty_days() {
        let model = demo_model();
        let as_of = day(2017, 10, 1);
        let report = report_as_of(&model, as_of);
        assert_eq!(report.since_basis, SinceBasis::Window { days: 30 });
        assert_eq!(report.changes.since, as_of - Duration::days(30));
    }

    #[test]
    fn a_requested_since_is_kept() {
        let model = demo_model();
        let since = day(2018, 1, 1);
        let report = board_report(
            &model,
            demo::plan_id(),
            Some(day(2018, 3, 31)),
            Some(since),
            now(),
            head(&model),
        )
        .unwrap();
        assert_eq!(report.since_basis, SinceBasis::Requested);
        assert_eq!(report.changes.since, since);
        assert_eq!(report.changes.until, day(2018, 3, 31));
    }

    #[test]
    fn the_caseload_kpi_has_readings_each_with_a_rag_and_a_latest_against_target() {
        let model = demo_model();
        let report = report_as_of(&model, day(2018, 9, 30));
        let caseload = report
            .measures
            .iter()
            .find(|m| m.name == "Average social worker caseload")
            .expect("the caseload measure");
        assert!(caseload.readings.len() >= 3, "{:?}", caseload.readings);
        assert_eq!(caseload.target, 16.0);
        let latest = caseload.latest.as_ref().expect("a latest reading");
        assert!(latest.period_end <= NaiveDate::from_ymd_opt(2018, 9, 30).unwrap());
        let june = caseload
            .readings
            .iter()
            .find(|r| r.period_end == NaiveDate::from_ymd_opt(2018, 6, 30).unwrap())
            .expect("a June 2018 reading");
        assert_eq!(june.value, 20.1);
        assert_eq!(june.rag, Rag::Red);
        assert!(june.corrected);
        let headline = report.headline;
        assert_eq!(
            headline.measures_red
                + headline.measures_amber
                + headline.measures_green
                + headline.measures_without_readings,
            report.measures.len()
        );
    }

    #[test]
    fn visits_carry_their_findings_and_the_actions_answering_them() {
        let model = demo_model();
        let report = report_as_of(&model, day(2018, 9, 30));
        let numbers: Vec<u16> = report.visits.iter().map(|v| v.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        let visit_2 = &report.visits[1];
        let risk_meetings = visit_2
            .findings
            .iter()
            .find(|f| f.text.starts_with("Dedicated strategy meetings"))
            .expect("the visit 2 finding on risk meetings");
        let action = &risk_meetings.actions[0];
        assert_eq!(action.status, ActionStatus::Completed);
        let answered = report.findings_answered_by(action.action_id);
        assert!(answered
            .iter()
            .any(|a| a.visit.number == 2 && a.finding.finding_id == risk_meetings.finding_id));
        assert_eq!(
            report.headline.findings_unanswered,
            report
                .visits
                .iter()
                .flat_map(|v| &v.findings)
                .filter(|f| f.unanswered)
                .count()
        );
    }

    #[test]
    fn provenance_names_the_log_head_and_both_times() {
        let model = demo_model();
        let as_of = day(2018, 9, 30);
        let report = report_as_of(&model, as_of);
        assert_eq!(report.provenance.log_seq, model.last_seq());
        assert_eq!(report.provenance.folded_seq, model.last_seq());
        assert_eq!(report.provenance.head_hash, "b3:0123abcd");
        assert_eq!(report.provenance.as_of, as_of);
        assert_eq!(report.provenance.generated_at, now());
    }

    #[test]
    fn without_a_date_the_report_is_as_of_now() {
        let model = demo_model();
        let report =
            board_report(&model, demo::plan_id(), None, None, now(), head(&model)).unwrap();
        assert_eq!(report.as_of, now());
        assert_eq!(report.visits.len(), 8);
    }

    #[test]
    fn a_plan_that_did_not_exist_yet_is_not_found_at_that_moment() {
        let model = demo_model();
        let error = board_report(
            &model,
            demo::plan_id(),
            Some(day(2017, 1, 1)),
            None,
            now(),
            head(&model),
        )
        .unwrap_err();
        assert!(error.at_moment);
    }

    #[test]
    fn the_report_serializes_to_json() {
        let model = demo_model();
        let report = report_as_of(&model, day(2018, 9, 30));
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["since_basis"]["basis"], "board_meeting");
        assert_eq!(json["provenance"]["head_hash"], "b3:0123abcd");
    }
}
