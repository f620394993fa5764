//! The Croydon demo journey, checked against the rules of the domain and against its sources.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use stocktake_domain::aggregates::{Action, Plan, Visit};
use stocktake_domain::demo::{self, DemoStep, Journey};
use stocktake_domain::memory::MemoryStore;
use stocktake_domain::{
    ActionId, ActionStatus, AggregateState, AreaId, Command, Event, FindingId, FindingKind,
    ForumId, MeasureId, StreamRef, StreamType, TimeInput, VisitId,
};

fn journey() -> Journey {
    demo::journey().unwrap_or_else(|e| panic!("the demo journey does not load: {e}"))
}

/// Runs every step in order, stopping at the first refusal with the step that caused it.
fn run() -> MemoryStore {
    let journey = journey();
    let mut store = MemoryStore::default();
    let mut next_id = demo::ids();
    for (index, step) in journey.steps.iter().enumerate() {
        if let Err(error) = store.execute(step.command.clone(), &step.meta(), &mut next_id) {
            panic!(
                "step {index} ({}, recorded {}) was refused: {error}\n{:?}",
                step.command.type_name(),
                step.recorded_at,
                step.command
            );
        }
    }
    store
}

fn plan(store: &MemoryStore) -> Plan {
    match store.state(StreamRef::plan(demo::plan_id())) {
        AggregateState::Plan(s) => s.plan.expect("the demo plan exists"),
        other => panic!("not a plan: {other:?}"),
    }
}

fn action(store: &MemoryStore, name: &str) -> Action {
    let id = ActionId(demo::id(name));
    match store.state(StreamRef::action(id)) {
        AggregateState::Action(s) => s.action.unwrap_or_else(|| panic!("no action @{name}")),
        other => panic!("not an action: {other:?}"),
    }
}

fn visits(store: &MemoryStore) -> BTreeMap<u16, Visit> {
    let mut visits = BTreeMap::new();
    for envelope in store.envelopes() {
        if let Event::VisitRecorded(e) = &envelope.event {
            let state = store.state(StreamRef {
                stream_type: StreamType::Visit,
                id: e.visit_id.uuid(),
            });
            if let AggregateState::Visit(s) = state {
                visits.insert(e.number, s.visit.expect("a recorded visit"));
            }
        }
    }
    visits
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Every reading of a measure, as (period end, value).
fn readings(store: &MemoryStore, name: &str) -> Vec<(NaiveDate, f64)> {
    let id = MeasureId(demo::id(name));
    store
        .envelopes()
        .iter()
        .filter_map(|envelope| match &envelope.event {
            Event::MeasureReadingRecorded(e) if e.measure_id == id => {
                Some((e.period_end, e.value.get()))
            }
            _ => None,
        })
        .collect()
}

/// When a step says it happened: its effective time, or its recorded time when it gives none.
fn effective(step: &DemoStep) -> DateTime<Utc> {
    step.effective_at.map_or(step.recorded_at, TimeInput::start)
}

fn late(step: &DemoStep) -> Option<Duration> {
    let lag = step.recorded_at - effective(step);
    (lag > Duration::days(14)).then_some(lag)
}

mod the_journey_runs {
    use super::*;

    #[test]
    fn every_step_is_accepted_in_recorded_order() {
        let store = run();
        assert!(store.envelopes().len() >= journey().steps.len());
    }

    #[test]
    fn it_tells_a_long_enough_story() {
        let steps = journey().steps.len();
        assert!((250..=450).contains(&steps), "{steps} steps");
    }

    #[test]
    fn replaying_it_twice_gives_identical_logs() {
        let first = demo::replay().unwrap();
        let second = demo::replay().unwrap();
        assert_eq!(first.envelopes(), second.envelopes());
    }

    #[test]
    fn steps_are_in_recorded_order_and_nothing_happens_after_it_is_recorded() {
        let steps = journey().steps;
        for (index, pair) in steps.windows(2).enumerate() {
            assert!(
                pair[0].recorded_at <= pair[1].recorded_at,
                "step {} is recorded before step {index}",
                index + 1
            );
        }
        for (index, step) in steps.iter().enumerate() {
            assert!(
                effective(step) <= step.recorded_at,
                "step {index} happens after it is recorded"
            );
        }
    }

    #[test]
    fn every_creation_names_its_id_so_later_steps_can_refer_to_it() {
        for (index, step) in journey().steps.iter().enumerate() {
            let mut command = step.command.clone();
            let before = command.clone();
            command.fill_missing_ids(&mut || panic!("step {index} leaves an id to the store"));
            assert_eq!(command, before);
        }
    }

    #[test]
    fn steps_say_where_they_come_from() {
        for (index, step) in journey().steps.iter().enumerate() {
            if let Some(source) = &step.source {
                assert!(
                    ["000", "001", "002", "003", "004"].contains(&source.as_str()),
                    "step {index} cites {source}"
                );
            }
            assert!(
                step.illustrative || step.source.is_some(),
                "step {index} claims to be from the sources but names none"
            );
        }
    }
}

mod the_plan {
    use super::*;

    #[test]
    fn was_agreed_by_cabinet_on_20_november_2017() {
        let plan = plan(&run());
        let agreed = plan.agreed.expect("the plan was agreed");
        assert_eq!(agreed.agreed_on, date("2017-11-20"));
        assert_eq!(agreed.agreed_by.as_str(), "Cabinet");
        assert_eq!(plan.organisation.as_str(), "London Borough of Croydon");
    }

    #[test]
    fn was_redrafted_once_in_september_2018() {
        let store = run();
        assert_eq!(plan(&store).revision, 2);
        let revisions: Vec<_> = store
            .envelopes()
            .iter()
            .filter_map(|e| match &e.event {
                Event::PlanRevised(r) => Some((e.effective_at.date_naive(), r.kind)),
                _ => None,
            })
            .collect();
        assert_eq!(revisions.len(), 1);
        assert_eq!(revisions[0].0.format("%Y-%m").to_string(), "2018-09");
    }

    #[test]
    fn has_the_six_priority_areas_of_the_september_2018_refresh() {
        let plan = plan(&run());
        let mut active: Vec<_> = plan.areas.values().filter(|a| a.is_active()).collect();
        active.sort_by_key(|a| a.number);
        let titles: Vec<_> = active
            .iter()
            .map(|a| (a.number, a.title.as_str()))
            .collect();
        assert_eq!(
            titles,
            [
                (
                    1,
                    "Reduce caseloads in assessment and care planning and create capacity"
                ),
                (
                    2,
                    "Reset the bar for all managers in early help and children's social care"
                ),
                (3, "A relentless focus on practice"),
                (4, "Recruitment and retention of staff"),
                (5, "Develop the early help offer"),
                (
                    6,
                    "Relaunch the children and families strategic partnership"
                ),
            ]
        );
        let with_partner: Vec<u16> = active
            .iter()
            .filter(|a| a.partner_contribution.is_some())
            .map(|a| a.number)
            .collect();
        assert_eq!(
            with_partner,
            [2, 3, 5, 6],
            "Camden contributes to 2, 3, 5 and 6"
        );
    }

    #[test]
    fn the_2017_areas_are_retired_with_a_reason_and_keep_their_actions() {
        let store = run();
        let plan = plan(&store);
        for n in 1..=5 {
            let area = &plan.areas[&AreaId(demo::id(&format!("area-2017-{n}")))];
            assert!(area.retired.is_some(), "2017 area {n} is still active");
        }
        let in_retired = action(&store, "action-managers-seminars");
        assert_eq!(in_retired.area_id.uuid(), demo::id("area-2017-1"));
        assert_eq!(in_retired.status, ActionStatus::Completed);
    }

    #[test]
    fn milestones_come_from_the_sources() {
        let store = run();
        let milestones: Vec<_> = store
            .envelopes()
            .iter()
            .filter_map(|e| match &e.event {
                Event::MilestoneRecorded(m) => Some((m.occurred_on, m.title.as_str())),
                _ => None,
            })
            .collect();
        let on = |d: &str| milestones.iter().any(|(day, _)| *day == date(d));
        assert!(on("2017-12-04"), "commissioner's report");
        assert!(on("2018-05-08"), "revised statutory direction");
        assert!(on("2018-09-17"), "£10.9m reported to the sub-committee");
        assert!(milestones.iter().any(|(_, t)| t.contains("£10.9m")));
    }

    #[test]
    fn has_the_four_governance_forums_and_their_meetings() {
        let store = run();
        let plan = plan(&store);
        assert_eq!(plan.forums.len(), 4);
        let board = &plan.forums[&ForumId(demo::id("forum-board"))];
        assert_eq!(board.chair.as_ref().unwrap().as_str(), "Independent chair");
        let held: Vec<_> = store
            .envelopes()
            .iter()
            .filter_map(|e| match &e.event {
                Event::MeetingHeld(m) => Some((m.forum_id.uuid(), m.held_on)),
                _ => None,
            })
            .collect();
        let met = |forum: &str, on: &str| held.contains(&(demo::id(forum), date(on)));
        assert!(
            met("forum-partnership-review", "2018-07-17"),
            "first Croydon/Camden review"
        );
        assert!(held
            .iter()
            .any(|(f, d)| *f == demo::id("forum-board")
                && d.format("%Y-%m").to_string() == "2018-07"));
        assert!(held
            .iter()
            .any(|(f, d)| *f == demo::id("forum-board")
                && d.format("%Y-%m").to_string() == "2018-09"));
        assert!(held.iter().any(|(f, d)| *f == demo::id("forum-visit-prep")
            && d.format("%Y-%m").to_string() == "2018-08"));
        assert!(held
            .iter()
            .any(|(f, d)| *f == demo::id("forum-action-group")
                && d.format("%Y-%m").to_string() == "2018-09"));
    }
}

mod the_monitoring_visits {
    use super::*;

    #[test]
    fn there_are_eight_with_the_dates_and_themes_of_the_sources() {
        let visits = visits(&run());
        assert_eq!(
            visits.keys().copied().collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );

        let v1 = &visits[&1];
        assert_eq!(v1.started_on.format("%Y-%m").to_string(), "2017-12");
        assert_eq!(v1.theme.as_str(), "Contacts, referrals and assessments");

        let v2 = &visits[&2];
        assert_eq!(
            (v2.started_on, v2.ended_on),
            (date("2018-03-20"), date("2018-03-21"))
        );
        assert_eq!(v2.theme.as_str(), "Vulnerable adolescents");
        assert_eq!(v2.letter_published_on, Some(date("2018-05-09")));

        let v3 = &visits[&3];
        assert_eq!(
            (v3.started_on, v3.ended_on),
            (date("2018-07-10"), date("2018-07-11"))
        );
        assert!(v3.theme.as_str().contains("plans and planning"));
        assert_eq!(v3.letter_published_on, Some(date("2018-08-02")));

        let v4 = &visits[&4];
        assert_eq!(
            (v4.started_on, v4.ended_on),
            (date("2018-10-03"), date("2018-10-04"))
        );
        assert!(v4.theme.as_str().contains("Children looked after"));

        let v6 = &visits[&6];
        assert!(v6.theme.as_str().contains("privately fostered"));
        assert_eq!(v6.started_on.format("%Y").to_string(), "2019");

        let v8 = &visits[&8];
        assert_eq!(
            (v8.started_on, v8.ended_on),
            (date("2019-10-16"), date("2019-10-17"))
        );
        assert_eq!(v8.theme.as_str(), "Children in need and child protection");
        assert_eq!(v8.letter_published_on, Some(date("2019-12-18")));
    }

    #[test]
    fn every_letter_is_published() {
        for (number, visit) in visits(&run()) {
            assert!(visit.letter_published_on.is_some(), "visit {number}");
        }
    }

    #[test]
    fn findings_are_answered_by_actions_but_not_all_of_them() {
        let store = run();
        let visits = visits(&store);
        let unanswered: Vec<_> = visits
            .values()
            .flat_map(|v| v.findings.values().map(move |f| (v.number, f)))
            .filter(|(_, f)| f.kind.needs_action() && f.action_ids.is_empty())
            .collect();
        assert!(!unanswered.is_empty(), "some finding should have no action");
        let v2_mase = &visits[&2].findings[&FindingId(demo::id("finding-v2-mase"))];
        assert_eq!(v2_mase.kind, FindingKind::AreaForImprovement);
        assert!(v2_mase
            .action_ids
            .contains(&ActionId(demo::id("action-mase-review"))));
        let v6_private_fostering =
            &visits[&6].findings[&FindingId(demo::id("finding-v6-private-fostering"))];
        assert!(v6_private_fostering.text.as_str().contains("poor"));
    }

    #[test]
    fn visit_ids_are_the_symbolic_ones() {
        let visits = visits(&run());
        for (number, visit) in visits {
            assert_eq!(
                visit.visit_id,
                VisitId(demo::id(&format!("visit-{number}")))
            );
        }
    }
}

mod the_measures {
    use super::*;

    #[test]
    fn caseloads_fall_from_19_to_just_over_14_against_a_target_of_16() {
        let store = run();
        let caseload = readings(&store, "measure-caseload");
        let at = |d: &str| {
            caseload
                .iter()
                .filter(|(p, _)| *p == date(d))
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
        };
        assert_eq!(at("2018-03-21"), [19.0], "visit 2 (004)");
        assert!(caseload
            .iter()
            .any(|(p, v)| p.format("%Y").to_string() == "2019" && *v == 18.0));
        let october_2019 = at("2019-10-17");
        assert_eq!(october_2019.len(), 1);
        assert!(
            (14.0..15.0).contains(&october_2019[0]),
            "just over 14 (001)"
        );

        let measure = match store.state(StreamRef {
            stream_type: StreamType::Measure,
            id: demo::id("measure-caseload"),
        }) {
            AggregateState::Measure(s) => s.measure.unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(measure.target.get(), 16.0);
        assert_eq!(measure.unit.as_str(), "cases per worker");
    }

    #[test]
    fn the_other_figures_of_the_sources_are_there() {
        let store = run();
        assert!(readings(&store, "measure-agency-staff").contains(&(date("2018-03-21"), 41.0)));
        assert!(readings(&store, "measure-rhi-completed").contains(&(date("2018-02-28"), 62.0)));
        assert!(readings(&store, "measure-rhi-72h").contains(&(date("2018-02-28"), 36.0)));
        assert!(readings(&store, "measure-vacancy-rate")
            .iter()
            .any(|(p, v)| p.format("%Y").to_string() == "2019" && *v == 40.0));
    }
}

mod the_actions {
    use super::*;

    fn all_actions(store: &MemoryStore) -> Vec<Action> {
        store
            .envelopes()
            .iter()
            .filter_map(|e| match &e.event {
                Event::ActionAdded(a) => Some(action_by_id(store, a.action_id)),
                _ => None,
            })
            .collect()
    }

    fn action_by_id(store: &MemoryStore, id: ActionId) -> Action {
        match store.state(StreamRef::action(id)) {
            AggregateState::Action(s) => s.action.unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn section_5_of_the_sub_committee_report_is_in_the_plan() {
        let store = run();
        let managed = action(&store, "action-managed-teams-commission");
        assert_eq!(managed.status, ActionStatus::Completed);
        assert_eq!(managed.start_on, Some(date("2018-06-01")));
        let nqsw = action(&store, "action-nqsw-recruitment");
        assert_eq!(nqsw.area_id.uuid(), demo::id("area-2018-1"));
        assert_eq!(nqsw.status, ActionStatus::Completed);
        for name in [
            "action-managers-seminars",
            "action-practice-week-2018",
            "action-learning-offer",
            "action-early-help-strategy",
            "action-partnership-relaunch",
            "action-management-practice-group",
        ] {
            action(&store, name);
        }
    }

    #[test]
    fn the_lifecycle_is_all_there_drift_included() {
        let store = run();
        let actions = all_actions(&store);
        let count = |status| actions.iter().filter(|a| a.status == status).count();
        assert!(count(ActionStatus::Cancelled) >= 1);
        assert!(actions.iter().filter(|a| a.impact_confirmed).count() >= 2);
        assert!(actions.iter().any(|a| a.rebaseline_count >= 2));

        let end = journey().steps.last().unwrap().recorded_at.date_naive();
        let overdue: Vec<_> = actions
            .iter()
            .filter(|a| !a.status.is_closed() && a.due_on < end)
            .collect();
        assert!(!overdue.is_empty(), "drift should show at the end");
        assert!(overdue.iter().any(|a| a.rebaseline_count >= 2));

        let events = |name: &str| -> Vec<&'static str> {
            let id = demo::id(name);
            store
                .envelopes()
                .iter()
                .filter(|e| e.stream.id == id)
                .map(|e| e.event.type_name())
                .collect()
        };
        assert!(events("action-case-transfer").contains(&"ActionReopened"));
        assert!(events("action-learning-offer").contains(&"ActionOwnerAssigned"));
        assert!(store.envelopes().iter().any(|e| matches!(
            &e.event,
            Event::ActionStatusChanged(s) if s.status == ActionStatus::Blocked
        )));
    }

    #[test]
    fn practice_week_evidence_is_attached() {
        let store = run();
        let week = action(&store, "action-practice-week-2018");
        assert!(week
            .evidence
            .latest_first()
            .any(|e| e.title.as_str() == "Practice week audit summary, Sept 2018"));
    }
}

mod the_two_clocks {
    use super::*;

    #[test]
    fn some_steps_are_recorded_weeks_after_they_happened() {
        let steps = journey().steps;
        let late: Vec<_> = steps
            .iter()
            .filter(|s| late(s).is_some())
            .map(|s| s.command.type_name())
            .collect();
        assert!(late.len() >= 4, "{late:?}");
        assert!(late.contains(&"change_action_status"));
        assert!(late.contains(&"record_measure"));
        assert!(late.contains(&"rebaseline_action"));
    }

    #[test]
    fn the_board_of_24_july_2018_could_not_know_that_return_home_interviews_were_blocked() {
        let steps = journey().steps;
        let board = date("2018-07-24").and_hms_opt(18, 0, 0).unwrap().and_utc();
        let blocked = steps
            .iter()
            .find(|s| {
                matches!(&s.command, Command::ChangeActionStatus(c)
                    if c.action_id.uuid() == demo::id("action-rhi-distance")
                        && c.status == ActionStatus::Blocked)
            })
            .expect("the action was blocked");
        assert!(
            effective(blocked) < board,
            "it was blocked before the board met"
        );
        assert!(blocked.recorded_at > board, "but recorded only afterwards");
    }

    #[test]
    fn the_june_2018_caseload_was_corrected_after_the_board_saw_it() {
        let store = run();
        let june: Vec<_> = store
            .envelopes()
            .iter()
            .filter_map(|e| match &e.event {
                Event::MeasureReadingRecorded(r)
                    if r.measure_id.uuid() == demo::id("measure-caseload")
                        && r.period_end == date("2018-06-30") =>
                {
                    Some((e.recorded_at.date_naive(), r.value.get()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(june.len(), 2);
        assert!(june[0].0 < date("2018-07-24") && date("2018-07-24") < june[1].0);
        assert!(june[1].1 > june[0].1, "the correction is higher");
    }
}

mod roles_not_people {
    use super::*;

    /// Everyone the sources name.
    const NAMES: &[&str] = &[
        "Eleni Ioannides",
        "Ioannides",
        "Barbara Peacock",
        "Peacock",
        "Louise Hocking",
        "Hocking",
        "Anne Waterman",
        "Waterman",
        "Alisa Flemming",
        "Flemming",
        "Eleanor Brazil",
        "Brazil",
        "Tony Newman",
        "Newman",
        "Richard Simpson",
        "Simpson",
        "Jacqueline Harris-Baker",
        "Harris-Baker",
        "Sue Moorman",
        "Moorman",
        "Kerry Crichlow",
        "Crichlow",
    ];

    fn named(text: &str) -> Option<&'static str> {
        NAMES.iter().copied().find(|name| text.contains(name))
    }

    #[test]
    fn no_owner_lead_chair_or_actor_is_a_person() {
        let store = run();
        let plan = plan(&store);
        for area in plan.areas.values() {
            assert_eq!(named(area.lead.as_str()), None, "{}", area.lead);
        }
        for forum in plan.forums.values() {
            if let Some(chair) = &forum.chair {
                assert_eq!(named(chair.as_str()), None, "{chair}");
            }
        }
        for envelope in store.envelopes() {
            assert_eq!(named(&envelope.actor), None, "{}", envelope.actor);
            let owner = match &envelope.event {
                Event::ActionAdded(a) => Some(&a.owner),
                Event::ActionOwnerAssigned(a) => Some(&a.owner),
                _ => None,
            };
            if let Some(owner) = owner {
                assert_eq!(named(owner.as_str()), None, "{owner}");
            }
        }
    }

    #[test]
    fn no_one_is_named_anywhere_in_the_journey() {
        let json = demo::JOURNEY_JSON;
        assert_eq!(named(json), None);
    }
}
