//! The read models on the demo journey: the Croydon plan as it stood on the days that mattered.

use chrono::{DateTime, NaiveDate, Utc};
use stocktake_domain::demo;
use stocktake_domain::{MeasureId, Rag, VisitId};
use stocktake_projections::views::{measure, overview, visit};
use stocktake_projections::{At, ReadModel};

fn model() -> ReadModel {
    let store = demo::replay().expect("the demo journey decides");
    let mut model = ReadModel::default();
    for envelope in store.envelopes() {
        model.apply(envelope.clone());
    }
    model
}

fn end_of(date: &str) -> DateTime<Utc> {
    stocktake_domain::time::end_of_day(date.parse::<NaiveDate>().unwrap())
}

fn now() -> DateTime<Utc> {
    end_of("2020-01-31")
}

#[test]
fn the_plan_on_the_day_of_each_monitoring_visit() {
    let model = model();
    let mut previous_actions = 0;
    for number in 1..=8 {
        let id = VisitId(demo::id(&format!("visit-{number}")));
        let visit = visit::visit(&model, id, &At::NOW, now()).unwrap();
        assert_eq!(visit.number, number);
        let day = At::as_of(end_of(&visit.started_on.to_string()));
        let plan = overview::plan_overview(&model, demo::plan_id(), &day, now()).unwrap();
        assert!(
            plan.counts.actions >= previous_actions,
            "actions are never removed from history"
        );
        previous_actions = plan.counts.actions;
        let active = plan.areas.iter().filter(|a| !a.retired).count();
        // The plan was redrafted around six priority areas in September 2018, between visits 3 and 4.
        if number <= 3 {
            assert_eq!(plan.revision, 1, "visit {number}");
        } else {
            assert_eq!(plan.revision, 2, "visit {number}");
            assert_eq!(active, 6, "visit {number}");
        }
    }
}

#[test]
fn the_visits_happened_when_the_sources_say() {
    let model = model();
    let on = |number: u16| {
        let v = visit::visit(
            &model,
            VisitId(demo::id(&format!("visit-{number}"))),
            &At::NOW,
            now(),
        )
        .unwrap();
        (
            v.started_on.to_string(),
            v.ended_on.to_string(),
            v.letter_published_on.map(|d| d.to_string()),
        )
    };
    assert_eq!(
        on(2),
        (
            "2018-03-20".into(),
            "2018-03-21".into(),
            Some("2018-05-09".into())
        )
    );
    assert_eq!(
        on(3),
        (
            "2018-07-10".into(),
            "2018-07-11".into(),
            Some("2018-08-02".into())
        )
    );
    assert_eq!(
        on(8),
        (
            "2019-10-16".into(),
            "2019-10-17".into(),
            Some("2019-12-18".into())
        )
    );
}

#[test]
fn the_caseload_falls_below_its_target_of_sixteen() {
    let model = model();
    let caseload = measure::measure(
        &model,
        MeasureId(demo::id("measure-caseload")),
        &At::NOW,
        now(),
    )
    .unwrap();
    assert_eq!(caseload.target, 16.0);
    let value_on = |period: &str| {
        caseload
            .readings
            .iter()
            .find(|r| r.period_end.to_string() == period)
            .map(|r| (r.value, r.rag))
    };
    assert_eq!(
        value_on("2018-03-21"),
        Some((19.0, Rag::Red)),
        "visit 2: an average of 19"
    );
    assert_eq!(
        value_on("2019-04-25"),
        Some((18.0, Rag::Amber)),
        "visit 6: 18"
    );
    let (last, rag) = value_on("2019-10-17").expect("visit 8's reading");
    assert!(last > 14.0 && last < 15.0, "visit 8: just over 14");
    assert_eq!(rag, Rag::Green);
    let periods: Vec<_> = caseload.readings.iter().map(|r| r.period_end).collect();
    assert!(
        periods.windows(2).all(|w| w[0] < w[1]),
        "one reading per period, in order"
    );
}

#[test]
fn the_july_2018_board_saw_a_june_caseload_that_was_later_corrected() {
    let model = model();
    let id = MeasureId(demo::id("measure-caseload"));
    let june = |at: &At| {
        measure::measure(&model, id, at, now())
            .unwrap()
            .readings
            .into_iter()
            .find(|r| r.period_end.to_string() == "2018-06-30")
            .map(|r| r.value)
    };
    let board = end_of("2018-07-24");
    assert_eq!(june(&At::as_of(board).known_at(board)), Some(17.6));
    assert_eq!(june(&At::as_of(board)), Some(20.1));
}
