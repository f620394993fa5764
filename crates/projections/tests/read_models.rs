//! Each read model on a hand-written history: given what the programme office recorded, and
//! when, then this is what a reader sees.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use stocktake_domain::memory::{CommandMeta, MemoryStore};
use stocktake_domain::{
    ActionId, ActionStatus, Command, DisplayRag, MeasureId, PlanId, Rag, TimeInput, VisitId,
};
use stocktake_projections::views::measure::Trend;
use stocktake_projections::views::{self, action, changes, drift, measure, overview, visit};
use stocktake_projections::{At, ReadModel};
use uuid::Uuid;

const PLAN: &str = "00000000-0000-7000-8000-000000000001";
const AREA: &str = "00000000-0000-7000-8000-000000000011";
const RECRUIT: &str = "00000000-0000-7000-8000-000000000021";
const TEAMS: &str = "00000000-0000-7000-8000-000000000022";
const SEMINARS: &str = "00000000-0000-7000-8000-000000000023";
const CASELOAD: &str = "00000000-0000-7000-8000-000000000031";
const VISIT: &str = "00000000-0000-7000-8000-000000000041";
const PACE: &str = "00000000-0000-7000-8000-000000000051";
const OVERSIGHT: &str = "00000000-0000-7000-8000-000000000052";
const STRENGTH: &str = "00000000-0000-7000-8000-000000000053";

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

/// The history of a small plan in 2018, recorded on the days given.
struct History {
    store: MemoryStore,
    next: u128,
}

impl History {
    fn new() -> Self {
        History {
            store: MemoryStore::default(),
            next: 1 << 64,
        }
    }

    /// Records `command` on `recorded`, as having happened on `effective` (or when recorded).
    fn record(
        &mut self,
        recorded: DateTime<Utc>,
        effective: Option<DateTime<Utc>>,
        command: Value,
    ) -> &mut Self {
        let meta = CommandMeta {
            actor: "programme-director".into(),
            recorded_at: recorded,
            effective_at: effective.map(TimeInput::Instant),
        };
        let next = &mut self.next;
        let mut ids = || {
            *next += 1;
            Uuid::from_u128(*next)
        };
        let command: Command = serde_json::from_value(command.clone()).unwrap();
        self.store
            .execute(command, &meta, &mut ids)
            .unwrap_or_else(|e| panic!("refused: {e}"));
        self
    }

    fn model(&self) -> ReadModel {
        let mut model = ReadModel::default();
        for envelope in self.store.envelopes() {
            model.apply(envelope.clone());
        }
        model
    }
}

fn plan_id() -> PlanId {
    PlanId(PLAN.parse().unwrap())
}

fn action_id(id: &str) -> ActionId {
    ActionId(id.parse().unwrap())
}

/// A plan with three actions, recorded through 2018, with one late entry.
fn croydon_2018() -> History {
    let mut h = History::new();
    h.record(day(2018, 1, 2), None, json!({"type": "create_plan", "plan_id": PLAN, "title": "Improvement plan", "organisation": "Croydon"}))
        .record(day(2018, 1, 2), None, json!({"type": "add_priority_area", "plan_id": PLAN, "area_id": AREA, "number": 4, "title": "Recruitment and retention of staff", "lead": "Head of Workforce"}))
        .record(day(2018, 1, 3), None, json!({"type": "add_action", "action_id": RECRUIT, "plan_id": PLAN, "area_id": AREA, "title": "Recruit newly qualified social workers", "owner": "Head of Workforce", "due_on": "2018-06-30"}))
        .record(day(2018, 1, 3), None, json!({"type": "add_action", "action_id": TEAMS, "plan_id": PLAN, "area_id": AREA, "title": "Commission three managed teams", "owner": "Director", "due_on": "2018-07-31"}))
        .record(day(2018, 1, 3), None, json!({"type": "add_action", "action_id": SEMINARS, "plan_id": PLAN, "area_id": AREA, "title": "Managers' seminars", "owner": "Principal Social Worker", "due_on": "2018-08-31"}))
        .record(day(2018, 2, 1), None, json!({"type": "change_action_status", "action_id": RECRUIT, "status": "in_progress", "rag": "green"}))
        .record(day(2018, 3, 1), None, json!({"type": "change_action_status", "action_id": TEAMS, "status": "in_progress", "rag": "amber"}))
        .record(day(2018, 5, 1), None, json!({"type": "rebaseline_action", "action_id": RECRUIT, "due_on": "2018-09-30", "reason": "HR checks"}))
        .record(day(2018, 6, 1), None, json!({"type": "rebaseline_action", "action_id": RECRUIT, "due_on": "2018-10-31", "reason": "Second campaign"}))
        .record(day(2018, 6, 15), None, json!({"type": "change_action_status", "action_id": SEMINARS, "status": "in_progress", "rag": "green"}))
        // Entered on 25 July after the board, but it happened on 20 June.
        .record(day(2018, 7, 25), Some(day(2018, 6, 20)), json!({"type": "change_action_status", "action_id": TEAMS, "status": "blocked", "rag": "red", "note": "No provider bid"}))
        .record(day(2018, 8, 20), None, json!({"type": "change_action_status", "action_id": SEMINARS, "status": "completed", "note": "Three seminars held"}));
    h
}

fn line<'a>(
    plan: &'a overview::PlanOverview,
    id: &str,
) -> &'a stocktake_projections::views::ActionSummary {
    plan.areas
        .iter()
        .flat_map(|a| &a.actions)
        .find(|a| a.action_id == action_id(id))
        .unwrap()
}

#[test]
fn the_overview_counts_ratings_statuses_and_what_is_overdue_as_of_the_day_asked() {
    let model = croydon_2018().model();
    let plan = overview::plan_overview(
        &model,
        plan_id(),
        &At::as_of(day(2018, 8, 1)),
        day(2026, 1, 1),
    )
    .unwrap();
    assert_eq!(plan.areas.len(), 1);
    assert_eq!(plan.counts.actions, 3);
    assert_eq!(
        (plan.counts.red, plan.counts.green, plan.counts.blue),
        (1, 2, 0)
    );
    assert_eq!(plan.counts.blocked, 1);
    // Teams were due 31 July and are still open on 1 August.
    let teams = line(&plan, TEAMS);
    assert!(teams.overdue);
    assert_eq!(teams.days_overdue, 1);
    assert_eq!(plan.counts.overdue, 1);
    let recruit = line(&plan, RECRUIT);
    assert_eq!(recruit.rebaseline_count, 2);
    assert!(!recruit.overdue, "rebaselined to October");
    assert_eq!(
        recruit.days_since_update,
        (day(2018, 8, 1) - day(2018, 6, 1)).num_days()
    );

    let later = overview::plan_overview(
        &model,
        plan_id(),
        &At::as_of(day(2018, 9, 1)),
        day(2026, 1, 1),
    )
    .unwrap();
    let seminars = line(&later, SEMINARS);
    assert_eq!(seminars.status, ActionStatus::Completed);
    assert_eq!(seminars.rag, Some(DisplayRag::Blue));
    assert_eq!(later.counts.percent_complete, 33.3);
}

#[test]
fn a_late_entry_changes_what_was_true_but_not_what_the_board_knew() {
    let model = croydon_2018().model();
    let board_day = day(2018, 7, 24);
    let truth =
        overview::plan_overview(&model, plan_id(), &At::as_of(board_day), day(2026, 1, 1)).unwrap();
    assert_eq!(line(&truth, TEAMS).status, ActionStatus::Blocked);
    let known = overview::plan_overview(
        &model,
        plan_id(),
        &At::as_of(board_day).known_at(board_day),
        day(2026, 1, 1),
    )
    .unwrap();
    assert_eq!(line(&known, TEAMS).status, ActionStatus::InProgress);
    assert_eq!(line(&known, TEAMS).rag, Some(DisplayRag::Amber));
    // Before anything about the plan was recorded, there was no plan.
    assert!(overview::plan_overview(
        &model,
        plan_id(),
        &At::as_of(board_day).known_at(day(2017, 12, 1)),
        day(2026, 1, 1)
    )
    .is_err());
}

#[test]
fn the_audit_trail_shows_who_changed_what_and_what_it_was_before() {
    let model = croydon_2018().model();
    let history =
        action::action_history(&model, action_id(RECRUIT), &At::NOW, day(2026, 1, 1)).unwrap();
    let types: Vec<&str> = history.entries.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [
            "ActionAdded",
            "ActionStatusChanged",
            "ActionRebaselined",
            "ActionRebaselined"
        ]
    );
    let second_rebaseline = &history.entries[3];
    assert_eq!(second_rebaseline.actor, "programme-director");
    assert_eq!(second_rebaseline.data["reason"], "Second campaign");
    let due = second_rebaseline
        .changes
        .iter()
        .find(|c| c.field == "due_on")
        .unwrap();
    assert_eq!(
        (due.before.as_str(), due.after.as_str()),
        (Some("2018-09-30"), Some("2018-10-31"))
    );
    let teams =
        action::action_history(&model, action_id(TEAMS), &At::NOW, day(2026, 1, 1)).unwrap();
    assert!(
        teams.entries.last().unwrap().late,
        "recorded five weeks after it happened"
    );
    let versions: Vec<u64> = teams.entries.iter().map(|e| e.version).collect();
    assert_eq!(versions, [1, 2, 3]);
}

#[test]
fn changes_since_the_last_board_include_late_entries_about_earlier_days() {
    let model = croydon_2018().model();
    let since = day(2018, 7, 24);
    let report = changes::plan_changes(
        &model,
        plan_id(),
        since,
        day(2018, 8, 31),
        None,
        day(2026, 1, 1),
    )
    .unwrap();
    let summaries: Vec<(&str, bool)> = report
        .changes
        .iter()
        .map(|c| (c.event_type, c.backdated))
        .collect();
    assert_eq!(
        summaries,
        [
            ("ActionStatusChanged", true),
            ("ActionStatusChanged", false)
        ]
    );
    assert!(report.changes[0].summary.contains("blocked"));
    // Asked as the board knew it on 24 July, the late entry is not there.
    let as_known = changes::plan_changes(
        &model,
        plan_id(),
        day(2018, 6, 1),
        day(2018, 7, 24),
        Some(day(2018, 7, 24)),
        day(2026, 1, 1),
    )
    .unwrap();
    assert!(as_known
        .changes
        .iter()
        .all(|c| c.event_type != "ActionStatusChanged" || !c.summary.contains("blocked")));
}

#[test]
fn drift_names_overdue_rebaselined_stale_and_blocked_actions_with_the_evidence() {
    let model = croydon_2018().model();
    let report = drift::drift(
        &model,
        plan_id(),
        30,
        &At::as_of(day(2018, 11, 15)),
        day(2026, 1, 1),
    )
    .unwrap();
    let ids =
        |items: &[drift::DriftItem]| items.iter().map(|i| i.action.action_id).collect::<Vec<_>>();
    assert_eq!(
        ids(&report.overdue),
        [action_id(TEAMS), action_id(RECRUIT)],
        "most overdue first"
    );
    assert_eq!(
        report.overdue[0].action.days_overdue,
        (day(2018, 11, 15).date_naive() - chrono::NaiveDate::from_ymd_opt(2018, 7, 31).unwrap())
            .num_days()
    );
    assert_eq!(ids(&report.rebaselined), [action_id(RECRUIT)]);
    assert_eq!(report.rebaselined[0].action.rebaseline_count, 2);
    assert_eq!(ids(&report.blocked), [action_id(TEAMS)]);
    assert_eq!(report.stale.len(), 2, "completed actions never drift");
    let lenient = drift::drift(
        &model,
        plan_id(),
        365,
        &At::as_of(day(2018, 11, 15)),
        day(2026, 1, 1),
    )
    .unwrap();
    assert!(lenient.stale.is_empty());
}

#[test]
fn a_measure_rates_each_reading_against_target_and_keeps_the_trend() {
    let mut h = croydon_2018();
    h.record(day(2018, 1, 4), None, json!({"type": "define_measure", "measure_id": CASELOAD, "plan_id": PLAN, "name": "Average caseload", "unit": "cases per worker", "direction": "lower_is_better", "target": 16, "tolerance": 2}))
        .record(day(2018, 3, 23), Some(day(2018, 3, 21)), json!({"type": "record_measure", "measure_id": CASELOAD, "value": 19, "period_end": "2018-03-21", "source": "Visit 2 letter"}))
        .record(day(2018, 7, 10), Some(day(2018, 6, 30)), json!({"type": "record_measure", "measure_id": CASELOAD, "value": 17.6, "period_end": "2018-06-30", "source": "June report"}))
        .record(day(2018, 8, 6), Some(day(2018, 6, 30)), json!({"type": "record_measure", "measure_id": CASELOAD, "value": 20.1, "period_end": "2018-06-30", "source": "June report, corrected"}));
    let model = h.model();
    let id = MeasureId(CASELOAD.parse().unwrap());
    let now = measure::measure(&model, id, &At::NOW, day(2026, 1, 1)).unwrap();
    let series: Vec<(f64, Rag, bool)> = now
        .readings
        .iter()
        .map(|r| (r.value, r.rag, r.corrected))
        .collect();
    assert_eq!(series, [(19.0, Rag::Red, false), (20.1, Rag::Red, true)]);
    assert_eq!(now.trend, Trend::Worsening);
    let board = measure::measure(
        &model,
        id,
        &At::as_of(day(2018, 7, 24)).known_at(day(2018, 7, 24)),
        day(2026, 1, 1),
    )
    .unwrap();
    let seen: Vec<(f64, Rag)> = board.readings.iter().map(|r| (r.value, r.rag)).collect();
    assert_eq!(
        seen,
        [(19.0, Rag::Red), (17.6, Rag::Amber)],
        "the board saw the uncorrected figure"
    );
    assert_eq!(board.trend, Trend::Improving);
}

#[test]
fn visit_follow_up_shows_answered_and_unanswered_findings() {
    let mut h = croydon_2018();
    h.record(day(2018, 7, 12), Some(day(2018, 7, 11)), json!({"type": "record_visit", "visit_id": VISIT, "plan_id": PLAN, "number": 3, "started_on": "2018-07-10", "ended_on": "2018-07-11", "theme": "Help and protection"}))
        .record(day(2018, 8, 3), None, json!({"type": "record_finding", "visit_id": VISIT, "finding_id": PACE, "kind": "area_for_improvement", "text": "The pace of change has been too slow"}))
        .record(day(2018, 8, 3), None, json!({"type": "record_finding", "visit_id": VISIT, "finding_id": OVERSIGHT, "kind": "recommendation", "text": "Strengthen management oversight"}))
        .record(day(2018, 8, 3), None, json!({"type": "record_finding", "visit_id": VISIT, "finding_id": STRENGTH, "kind": "strength", "text": "Some evidence of improving practice"}))
        .record(day(2018, 8, 4), None, json!({"type": "link_finding", "visit_id": VISIT, "finding_id": PACE, "action_ids": [TEAMS, RECRUIT]}));
    let model = h.model();
    let view = visit::visit(
        &model,
        VisitId(VISIT.parse().unwrap()),
        &At::as_of(day(2018, 8, 10)),
        day(2026, 1, 1),
    )
    .unwrap();
    assert_eq!(view.unanswered_findings, 1);
    let pace = view
        .findings
        .iter()
        .find(|f| f.text.contains("pace"))
        .unwrap();
    assert_eq!(pace.actions.len(), 2);
    assert_eq!(pace.late_actions, 1, "the managed teams were due 31 July");
    let strength = view
        .findings
        .iter()
        .find(|f| f.text.contains("improving"))
        .unwrap();
    assert!(!strength.unanswered, "strengths need no answer");
    let before_the_letter = visit::visit(
        &model,
        VisitId(VISIT.parse().unwrap()),
        &At::as_of(day(2018, 7, 20)),
        day(2026, 1, 1),
    )
    .unwrap();
    assert!(before_the_letter.findings.is_empty());
}

#[test]
fn the_activity_feed_is_newest_first_and_bounded() {
    let model = croydon_2018().model();
    let feed = changes::activity(&model, plan_id(), 3, &At::NOW, day(2026, 1, 1)).unwrap();
    let seqs: Vec<u64> = feed.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [12, 11, 10]);
    let known = changes::activity(
        &model,
        plan_id(),
        3,
        &At::NOW.known_at(day(2018, 7, 1)),
        day(2026, 1, 1),
    )
    .unwrap();
    assert_eq!(known.entries[0].seq, 10);
    let _ = Duration::days(1);
}

#[test]
fn a_plan_s_lists_say_their_moment_and_only_for_a_plan_that_existed_then() {
    let model = croydon_2018().model();
    let now = day(2026, 1, 1);
    let at = At::as_of(day(2018, 3, 1));
    let moment = views::plan_moment(&model, plan_id(), &at, now).unwrap();
    assert_eq!(moment.as_of, Some(day(2018, 3, 1)));
    assert_eq!(moment.reference_time, day(2018, 3, 1));
    assert_eq!(moment.last_seq, model.last_seq());

    let before =
        views::plan_moment(&model, plan_id(), &At::as_of(day(2017, 12, 1)), now).unwrap_err();
    assert!(before.at_moment, "the plan exists, but not then");
    let unknown = views::plan_moment(&model, PlanId(Uuid::from_u128(9)), &at, now).unwrap_err();
    assert!(!unknown.at_moment, "no such plan at all");
}
