//! Every rule of the deciders, the accepted case beside the refused one.

mod scenario;

use scenario::*;
use serde_json::{json, Value};
use stocktake_domain::{ActionStatus, Event};

fn create_plan() -> Value {
    json!({"type": "create_plan", "plan_id": PLAN, "title": "Children's services improvement plan", "organisation": "London Borough of Croydon"})
}

fn add_area(area: &str, number: u16) -> Value {
    json!({"type": "add_priority_area", "plan_id": PLAN, "area_id": area, "number": number,
           "title": "Recruitment and retention of staff", "lead": "Head of Workforce"})
}

fn add_action() -> Value {
    json!({"type": "add_action", "action_id": ACTION, "plan_id": PLAN, "area_id": AREA,
           "title": "Recruit newly qualified social workers", "owner": "Head of Workforce",
           "start_on": "2018-06-01", "due_on": "2018-10-31"})
}

fn status(status: &str, rag: Option<&str>, note: Option<&str>) -> Value {
    let mut cmd = json!({"type": "change_action_status", "action_id": ACTION, "status": status});
    if let Some(rag) = rag {
        cmd["rag"] = rag.into();
    }
    if let Some(note) = note {
        cmd["note"] = note.into();
    }
    cmd
}

fn with_action() -> Scenario {
    given([create_plan(), add_area(AREA, 4), add_action()])
}

fn with_action_in_progress() -> Scenario {
    given([
        create_plan(),
        add_area(AREA, 4),
        add_action(),
        status("in_progress", Some("green"), None),
    ])
}

fn with_completed_action() -> Scenario {
    let mut s = with_action_in_progress();
    s.when(status("completed", None, Some("Twelve started in October")))
        .unwrap();
    s
}

mod plan {
    use super::*;

    #[test]
    fn a_plan_is_created_once() {
        let mut s = given([]);
        assert_eq!(types(s.when(create_plan())), ["PlanCreated"]);
        assert_refused(s.when(create_plan()), "plan_id", "already exists");
    }

    #[test]
    fn a_plan_is_agreed_once_and_revised_after() {
        let mut s = given([create_plan()]);
        let agree = json!({"type": "agree_plan", "plan_id": PLAN, "agreed_on": "2017-11-20", "agreed_by": "Cabinet"});
        assert_eq!(types(s.when(agree.clone())), ["PlanAgreed"]);
        assert_refused(s.when(agree), "plan_id", "already agreed on 2017-11-20");
    }

    #[test]
    fn each_revision_raises_the_revision_number() {
        let mut s = given([create_plan()]);
        let revise = json!({"type": "revise_plan", "plan_id": PLAN, "kind": "redraft", "reason": "Refreshed around six priority areas"});
        let Event::PlanRevised(first) = &s.when(revise.clone()).unwrap()[0] else {
            panic!()
        };
        let Event::PlanRevised(second) = &s.when(revise).unwrap()[0] else {
            panic!()
        };
        assert_eq!((first.revision, second.revision), (2, 3));
    }

    #[test]
    fn commands_on_a_plan_that_does_not_exist_are_refused() {
        let mut s = given([]);
        assert_refused(s.when(add_area(AREA, 1)), "plan_id", "no plan with id");
    }

    #[test]
    fn area_numbers_are_unique_among_active_areas_and_reusable_once_retired() {
        let mut s = given([create_plan(), add_area(AREA, 4)]);
        assert_refused(s.when(add_area(OTHER_AREA, 4)), "number", "already active");
        s.when(json!({"type": "retire_priority_area", "plan_id": PLAN, "area_id": AREA, "reason": "Plan redrafted"}))
            .unwrap();
        assert_eq!(
            types(s.when(add_area(OTHER_AREA, 4))),
            ["PriorityAreaAdded"]
        );
    }

    #[test]
    fn area_numbers_run_from_one_to_ninety_nine() {
        let mut s = given([create_plan()]);
        assert_refused(s.when(add_area(AREA, 0)), "number", "between 1 and 99");
        assert_refused(s.when(add_area(AREA, 100)), "number", "between 1 and 99");
    }

    #[test]
    fn an_area_is_retired_once() {
        let mut s = given([create_plan(), add_area(AREA, 1)]);
        let retire = json!({"type": "retire_priority_area", "plan_id": PLAN, "area_id": AREA, "reason": "Plan redrafted"});
        assert_eq!(types(s.when(retire.clone())), ["PriorityAreaRetired"]);
        assert_refused(s.when(retire), "area_id", "already retired");
        let unknown = json!({"type": "retire_priority_area", "plan_id": PLAN, "area_id": OTHER_AREA, "reason": "x"});
        assert_refused(s.when(unknown), "area_id", "no priority area");
    }

    #[test]
    fn meetings_are_held_by_established_forums() {
        let mut s = given([create_plan()]);
        let meeting = json!({"type": "record_meeting", "plan_id": PLAN, "forum_id": FORUM, "held_on": "2018-07-24"});
        assert_refused(s.when(meeting.clone()), "forum_id", "no forum");
        s.when(json!({"type": "establish_forum", "plan_id": PLAN, "forum_id": FORUM, "kind": "improvement_board",
                       "name": "Children's services improvement board", "chair": "Independent chair"}))
            .unwrap();
        assert_eq!(types(s.when(meeting)), ["MeetingHeld"]);
    }

    #[test]
    fn milestones_belong_to_an_existing_plan() {
        let milestone = json!({"type": "record_milestone", "plan_id": PLAN, "kind": "statutory_direction",
                               "title": "Revised statutory direction", "occurred_on": "2018-05-08"});
        assert_refused(given([]).when(milestone.clone()), "plan_id", "no plan");
        assert_eq!(
            types(given([create_plan()]).when(milestone)),
            ["MilestoneRecorded"]
        );
    }
}

mod action {
    use super::*;

    #[test]
    fn an_action_is_added_to_an_active_area_of_its_plan() {
        let mut s = given([create_plan(), add_area(AREA, 4)]);
        assert_eq!(types(s.when(add_action())), ["ActionAdded"]);
        assert_refused(s.when(add_action()), "action_id", "already exists");
    }

    #[test]
    fn an_action_needs_an_existing_plan() {
        let mut s = given([]);
        assert_refused(s.when(add_action()), "plan_id", "no plan");
    }

    #[test]
    fn an_action_needs_an_area_of_its_plan() {
        let mut s = given([create_plan()]);
        assert_refused(s.when(add_action()), "area_id", "must name a priority area");
    }

    #[test]
    fn an_action_cannot_be_added_to_a_retired_area() {
        let mut s = given([
            create_plan(),
            add_area(AREA, 4),
            json!({"type": "retire_priority_area", "plan_id": PLAN, "area_id": AREA, "reason": "Plan redrafted"}),
        ]);
        assert_refused(s.when(add_action()), "area_id", "is retired");
    }

    #[test]
    fn an_action_is_not_due_before_it_starts() {
        let mut s = given([create_plan(), add_area(AREA, 4)]);
        let mut cmd = add_action();
        cmd["due_on"] = "2018-05-01".into();
        assert_refused(s.when(cmd), "due_on", "before the start date");
    }

    #[test]
    fn status_follows_the_lifecycle() {
        let mut s = with_action();
        assert_refused(
            s.when(status("completed", None, Some("done"))),
            "status",
            "cannot become completed",
        );
        assert_eq!(
            types(s.when(status("in_progress", Some("amber"), None))),
            ["ActionStatusChanged"]
        );
        assert_eq!(
            types(s.when(status("blocked", Some("red"), Some("No agency cover")))),
            ["ActionStatusChanged"]
        );
        assert_refused(
            s.when(status("completed", None, Some("done"))),
            "status",
            "cannot become completed",
        );
    }

    #[test]
    fn a_status_change_records_where_it_came_from() {
        let mut s = with_action();
        let events = s.when(status("in_progress", Some("green"), None)).unwrap();
        let Event::ActionStatusChanged(e) = &events[0] else {
            panic!()
        };
        assert_eq!(
            (e.from, e.status),
            (ActionStatus::NotStarted, ActionStatus::InProgress)
        );
    }

    #[test]
    fn the_same_status_again_is_refused() {
        let mut s = with_action_in_progress();
        assert_refused(
            s.when(status("in_progress", Some("red"), None)),
            "status",
            "already in_progress",
        );
    }

    #[test]
    fn an_open_status_needs_a_rag_rating() {
        let mut s = with_action();
        assert_refused(
            s.when(status("in_progress", None, None)),
            "rag",
            "is required",
        );
    }

    #[test]
    fn completing_needs_a_note_and_no_rag() {
        let mut s = with_action_in_progress();
        assert_refused(
            s.when(status("completed", None, None)),
            "note",
            "is required",
        );
        assert_refused(
            s.when(status("completed", Some("green"), Some("done"))),
            "rag",
            "reads blue",
        );
        assert_eq!(
            types(s.when(status("completed", None, Some("done")))),
            ["ActionStatusChanged"]
        );
    }

    #[test]
    fn cancelling_needs_a_note() {
        let mut s = with_action();
        assert_refused(
            s.when(status("cancelled", None, None)),
            "note",
            "is required",
        );
        assert_eq!(
            types(s.when(status("cancelled", None, Some("Superseded by the redraft")))),
            ["ActionStatusChanged"]
        );
    }

    #[test]
    fn a_closed_action_changes_status_only_by_reopening() {
        let mut s = with_completed_action();
        assert_refused(
            s.when(status("in_progress", Some("amber"), None)),
            "status",
            "reopen it",
        );
        let reopen = json!({"type": "reopen_action", "action_id": ACTION, "reason": "Audit found the new teams not yet stable", "rag": "amber"});
        assert_eq!(types(s.when(reopen)), ["ActionReopened"]);
        assert_eq!(
            types(s.when(status("completed", None, Some("Stable now")))),
            ["ActionStatusChanged"]
        );
    }

    #[test]
    fn only_closed_actions_are_reopened() {
        let mut s = with_action_in_progress();
        let reopen = json!({"type": "reopen_action", "action_id": ACTION, "reason": "x"});
        assert_refused(s.when(reopen), "action_id", "only completed or cancelled");
    }

    #[test]
    fn reopening_needs_a_reason() {
        let json = json!({"type": "reopen_action", "action_id": ACTION});
        let err = serde_json::from_value::<stocktake_domain::Command>(json).unwrap_err();
        assert!(err.to_string().contains("missing field `reason`"), "{err}");
    }

    #[test]
    fn rebaselining_moves_the_due_date_and_counts() {
        let mut s = with_action_in_progress();
        let rebaseline = |due: &str| json!({"type": "rebaseline_action", "action_id": ACTION, "due_on": due, "reason": "Recruitment campaign slipped"});
        assert_refused(
            s.when(rebaseline("2018-10-31")),
            "due_on",
            "must differ from the current due date",
        );
        assert_refused(
            s.when(rebaseline("2018-05-01")),
            "due_on",
            "before the start date",
        );
        s.when(rebaseline("2018-12-31")).unwrap();
        let events = s.when(rebaseline("2019-03-31")).unwrap();
        let Event::ActionRebaselined(e) = &events[0] else {
            panic!()
        };
        assert_eq!(e.rebaseline_count, 2);
        assert_eq!(e.previous_due_on.to_string(), "2018-12-31");
    }

    #[test]
    fn a_closed_action_is_not_rebaselined() {
        let mut s = with_completed_action();
        let rebaseline = json!({"type": "rebaseline_action", "action_id": ACTION, "due_on": "2019-01-31", "reason": "x"});
        assert_refused(s.when(rebaseline), "action_id", "only open actions");
    }

    #[test]
    fn an_owner_is_reassigned_to_someone_else() {
        let mut s = with_action();
        let assign = |owner: &str| json!({"type": "assign_action_owner", "action_id": ACTION, "owner": owner});
        assert_refused(
            s.when(assign("Head of Workforce")),
            "owner",
            "already owned",
        );
        assert_eq!(
            types(s.when(assign("Director of Early Help and Children's Social Care"))),
            ["ActionOwnerAssigned"]
        );
    }

    #[test]
    fn progress_on_a_closed_action_carries_no_rag() {
        let mut s = with_completed_action();
        let progress = json!({"type": "record_progress", "action_id": ACTION, "note": "Retention at six months", "rag": "green"});
        assert_refused(s.when(progress), "rag", "closed action");
        let note_only = json!({"type": "record_progress", "action_id": ACTION, "note": "Retention at six months"});
        assert_eq!(types(s.when(note_only)), ["ProgressRecorded"]);
    }

    #[test]
    fn evidence_is_attached_once() {
        let mut s = with_action();
        let evidence = json!({"type": "attach_evidence", "action_id": ACTION, "evidence_id": EVIDENCE,
                              "title": "NQSW cohort list", "reference": "HR report, October 2018"});
        assert_eq!(types(s.when(evidence.clone())), ["EvidenceAttached"]);
        assert_refused(s.when(evidence), "evidence_id", "already exists");
    }

    #[test]
    fn impact_is_confirmed_only_against_evidence_of_a_completed_action() {
        let confirm =
            json!({"type": "confirm_impact", "action_id": ACTION, "note": "Caseloads fell to 16"});
        let mut s = with_completed_action();
        assert_refused(s.when(confirm.clone()), "evidence_ids", "attach evidence");
        s.when(
            json!({"type": "attach_evidence", "action_id": ACTION, "evidence_id": EVIDENCE,
                       "title": "Caseload report", "reference": "Performance pack, Jan 2019"}),
        )
        .unwrap();
        let unknown = json!({"type": "confirm_impact", "action_id": ACTION, "note": "x", "evidence_ids": [OTHER_ACTION]});
        assert_refused(s.when(unknown), "evidence_ids", "no evidence");
        // A second piece whose id sorts before the first: "all of it" is in the order attached.
        let earlier_id = "00000000-0000-7000-8000-000000000001";
        s.when(
            json!({"type": "attach_evidence", "action_id": ACTION, "evidence_id": earlier_id,
                       "title": "Caseload audit", "reference": "Audit pack, Feb 2019"}),
        )
        .unwrap();
        let events = s.when(confirm).unwrap();
        let Event::ImpactConfirmed(e) = &events[0] else {
            panic!()
        };
        let named: Vec<String> = e.evidence_ids.iter().map(|id| id.0.to_string()).collect();
        assert_eq!(
            named,
            [EVIDENCE, earlier_id],
            "all evidence, in the order attached, when none is named"
        );
    }

    #[test]
    fn impact_is_confirmed_against_the_evidence_named_when_every_piece_is_attached() {
        let mut s = with_completed_action();
        let second = "00000000-0000-7000-8000-000000000002";
        for (id, title) in [(EVIDENCE, "Caseload report"), (second, "Caseload audit")] {
            s.when(
                json!({"type": "attach_evidence", "action_id": ACTION, "evidence_id": id,
                          "title": title, "reference": "Performance pack, Jan 2019"}),
            )
            .unwrap();
        }
        let both = json!({"type": "confirm_impact", "action_id": ACTION, "note": "x",
                          "evidence_ids": [second, OTHER_ACTION]});
        assert_refused(s.when(both), "evidence_ids", "no evidence");
        let named = json!({"type": "confirm_impact", "action_id": ACTION, "note": "x",
                           "evidence_ids": [second, EVIDENCE]});
        let events = s.when(named).unwrap();
        let Event::ImpactConfirmed(e) = &events[0] else {
            panic!()
        };
        let ids: Vec<String> = e.evidence_ids.iter().map(|id| id.0.to_string()).collect();
        assert_eq!(ids, [second, EVIDENCE], "as the command named them");
    }

    #[test]
    fn impact_waits_for_completion() {
        let mut s = with_action_in_progress();
        s.when(
            json!({"type": "attach_evidence", "action_id": ACTION, "evidence_id": EVIDENCE,
                       "title": "Caseload report", "reference": "Performance pack"}),
        )
        .unwrap();
        let confirm = json!({"type": "confirm_impact", "action_id": ACTION, "note": "x"});
        assert_refused(s.when(confirm), "action_id", "once it is completed");
    }

    #[test]
    fn commands_on_an_unknown_action_are_refused() {
        let mut s = given([create_plan()]);
        assert_refused(
            s.when(status("in_progress", Some("green"), None)),
            "action_id",
            "no action with id",
        );
    }

    #[test]
    fn an_id_of_another_kind_names_no_action() {
        let mut s = given([create_plan()]);
        let cmd = json!({"type": "change_action_status", "action_id": PLAN, "status": "in_progress", "rag": "green"});
        assert_refused(s.when(cmd), "action_id", "no action with id");
    }
}

mod measure {
    use super::*;

    fn define(tolerance: f64) -> Value {
        json!({"type": "define_measure", "measure_id": MEASURE, "plan_id": PLAN, "name": "Average caseload",
               "unit": "cases per worker", "direction": "lower_is_better", "target": 16, "tolerance": tolerance})
    }

    #[test]
    fn a_measure_belongs_to_an_existing_plan() {
        assert_refused(given([]).when(define(2.0)), "plan_id", "no plan");
        assert_eq!(
            types(given([create_plan()]).when(define(2.0))),
            ["MeasureDefined"]
        );
    }

    #[test]
    fn the_tolerance_is_never_negative() {
        assert_refused(
            given([create_plan()]).when(define(-1.0)),
            "tolerance",
            "zero or more",
        );
    }

    #[test]
    fn a_target_change_must_change_something() {
        let mut s = given([create_plan(), define(2.0)]);
        let same = json!({"type": "change_measure_target", "measure_id": MEASURE, "target": 16, "reason": "x"});
        assert_refused(s.when(same), "target", "must differ");
        let lower = json!({"type": "change_measure_target", "measure_id": MEASURE, "target": 15, "reason": "Board raised ambition"});
        assert_eq!(types(s.when(lower)), ["MeasureTargetChanged"]);
    }

    #[test]
    fn readings_are_finite_numbers() {
        for value in ["1e400", "NaN", "\"19\""] {
            let text = format!(
                r#"{{"type":"record_measure","measure_id":"{MEASURE}","value":{value},"period_end":"2018-03-31","source":"Ofsted letter"}}"#
            );
            assert!(
                serde_json::from_str::<stocktake_domain::Command>(&text).is_err(),
                "{value} was accepted"
            );
        }
        let mut s = given([create_plan(), define(2.0)]);
        let reading = json!({"type": "record_measure", "measure_id": MEASURE, "value": 19, "period_end": "2018-03-31", "source": "Ofsted visit 2 letter"});
        assert_eq!(types(s.when(reading)), ["MeasureReadingRecorded"]);
    }
}

mod visit {
    use super::*;

    fn record_visit(started: &str, ended: &str) -> Value {
        json!({"type": "record_visit", "visit_id": VISIT, "plan_id": PLAN, "number": 3,
               "started_on": started, "ended_on": ended, "theme": "Help and protection"})
    }

    fn record_finding() -> Value {
        json!({"type": "record_finding", "visit_id": VISIT, "finding_id": FINDING, "kind": "area_for_improvement",
               "text": "The pace of change has been too slow"})
    }

    fn link(actions: &[&str]) -> Value {
        json!({"type": "link_finding", "visit_id": VISIT, "finding_id": FINDING, "action_ids": actions})
    }

    fn with_finding() -> Scenario {
        given([
            create_plan(),
            add_area(AREA, 4),
            add_action(),
            record_visit("2018-07-10", "2018-07-11"),
            record_finding(),
        ])
    }

    #[test]
    fn a_visit_ends_on_or_after_its_start() {
        let mut s = given([create_plan()]);
        assert_refused(
            s.when(record_visit("2018-07-11", "2018-07-10")),
            "ended_on",
            "before the visit started",
        );
        assert_eq!(
            types(s.when(record_visit("2018-07-10", "2018-07-11"))),
            ["VisitRecorded"]
        );
    }

    #[test]
    fn a_finding_links_to_actions_of_the_visits_plan() {
        let mut s = with_finding();
        assert_eq!(types(s.when(link(&[ACTION]))), ["FindingLinked"]);
        assert_refused(s.when(link(&[ACTION])), "action_ids", "already linked");
    }

    #[test]
    fn a_finding_does_not_link_to_another_plans_action() {
        let mut s = with_finding();
        s.when(json!({"type": "create_plan", "plan_id": OTHER_PLAN, "title": "Another plan", "organisation": "Another council"}))
            .unwrap();
        s.when(json!({"type": "add_priority_area", "plan_id": OTHER_PLAN, "area_id": OTHER_AREA, "number": 1,
                       "title": "Elsewhere", "lead": "Director"}))
            .unwrap();
        s.when(json!({"type": "add_action", "action_id": FOREIGN_ACTION, "plan_id": OTHER_PLAN, "area_id": OTHER_AREA,
                       "title": "Elsewhere", "owner": "Director", "due_on": "2019-01-01"}))
            .unwrap();
        assert_refused(
            s.when(link(&[FOREIGN_ACTION])),
            "action_ids",
            "another plan",
        );
    }

    #[test]
    fn a_finding_links_only_to_actions_that_exist() {
        let mut s = with_finding();
        assert_refused(s.when(link(&[OTHER_ACTION])), "action_ids", "no action");
        assert_refused(s.when(link(&[])), "action_ids", "at least one");
    }

    #[test]
    fn a_letter_is_published_once_after_the_visit() {
        let mut s = with_finding();
        let publish = |on: &str| json!({"type": "publish_visit_letter", "visit_id": VISIT, "published_on": on});
        assert_refused(
            s.when(publish("2018-07-09")),
            "published_on",
            "before the visit ended",
        );
        assert_eq!(
            types(s.when(publish("2018-08-02"))),
            ["VisitLetterPublished"]
        );
        assert_refused(
            s.when(publish("2018-08-03")),
            "published_on",
            "already published",
        );
    }
}

mod envelope {
    use super::*;

    fn milestone(title: &str) -> Value {
        json!({"type": "record_milestone", "plan_id": PLAN, "kind": "review", "title": title, "occurred_on": "2018-07-17"})
    }

    #[test]
    fn effective_time_may_be_backdated_but_not_in_the_future() {
        let mut s = given([]);
        s.when_at(create_plan(), "2017-09-01".parse().ok()).unwrap();
        assert!(s
            .when_at(milestone("Partnership review"), "2018-07-17".parse().ok())
            .is_ok());
        assert_refused(
            s.when_at(milestone("Too early"), "2018-09-18".parse().ok()),
            "effective_at",
            "must not be later than the time it is recorded",
        );
    }

    #[test]
    fn a_streams_history_is_told_in_order() {
        let mut s = given([]);
        s.when_at(create_plan(), "2018-07-01".parse().ok()).unwrap();
        assert_refused(
            s.when_at(
                milestone("Before the plan existed"),
                "2018-06-30".parse().ok(),
            ),
            "effective_at",
            "must not be earlier than the latest change",
        );
    }

    #[test]
    fn a_refused_command_records_nothing() {
        let mut s = with_action();
        let before = s.store().envelopes().len();
        let _ = s.when(status("completed", None, None));
        assert_eq!(s.store().envelopes().len(), before);
    }
}

mod json {
    use stocktake_domain::Command;

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"{"type":"reopen_action","action_id":"00000000-0000-7000-8000-000000000021","reason":"x","reasno":"typo"}"#;
        let err = serde_json::from_str::<Command>(text).unwrap_err();
        assert!(err.to_string().contains("unknown field `reasno`"), "{err}");
    }

    #[test]
    fn unknown_command_types_are_refused() {
        let err = serde_json::from_str::<Command>(r#"{"type":"delete_action"}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `delete_action`"),
            "{err}"
        );
    }

    #[test]
    fn text_over_its_limit_is_refused_with_the_limit() {
        let title = "x".repeat(201);
        let text =
            format!(r#"{{"type":"create_plan","title":"{title}","organisation":"Croydon"}}"#);
        let err = serde_json::from_str::<Command>(&text).unwrap_err();
        assert!(err.to_string().contains("at most 200 characters"), "{err}");
    }
}
