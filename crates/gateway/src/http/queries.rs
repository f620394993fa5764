//! The read side: plans, actions, changes, drift, measures, visits, activity.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use stocktake_domain::{ActionId, MeasureId, PlanId, VisitId};
use stocktake_projections::views::{
    self, action, changes, drift, measure, overview, visit, Moment,
};
use uuid::Uuid;

use super::auth::Caller;
use super::params::Params;
use crate::problem::ApiError;
use crate::state::AppState;

/// A path id that is not a UUID names nothing: 404, as for an unknown id.
fn id<T: From<Uuid>>(raw: &str, kind: &str) -> Result<T, ApiError> {
    raw.parse::<Uuid>().map(T::from).map_err(|_| {
        ApiError::not_found(format!(
            "no {kind} with id `{}`",
            raw.chars().take(64).collect::<String>()
        ))
    })
}

pub async fn list_plans(
    State(state): State<AppState>,
    _: Caller,
    params: Params,
) -> Result<Response, ApiError> {
    let at = params.at()?;
    let model = state.read_model().await;
    Ok(Json(overview::plan_list(&model, &at, state.now())).into_response())
}

pub async fn get_plan(
    State(state): State<AppState>,
    _: Caller,
    Path(plan_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let plan_id: PlanId = id(&plan_id, "plan")?;
    let at = params.at()?;
    let now = state.now();
    let model = state.read_model().await;
    if !at.is_now() {
        return Ok(Json(overview::plan_overview(&model, plan_id, &at, now)?).into_response());
    }
    let last_seq = model.last_seq();
    if let Some(body) = state.overviews().get(plan_id, last_seq, now) {
        return Ok(json_body(body));
    }
    let overview = overview::plan_overview(&model, plan_id, &at, now)?;
    drop(model);
    let body =
        Bytes::from(serde_json::to_vec(&overview).map_err(|e| ApiError::Internal(e.to_string()))?);
    state.overviews().put(plan_id, last_seq, now, body.clone());
    Ok(json_body(body))
}

fn json_body(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

pub async fn plan_changes(
    State(state): State<AppState>,
    _: Caller,
    Path(plan_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let plan_id: PlanId = id(&plan_id, "plan")?;
    let now = state.now();
    let until = match params.time("until")? {
        Some(until) => until,
        None => params.time("as_of")?.unwrap_or(now),
    };
    let since = params
        .start_time("since")?
        .ok_or_else(|| ApiError::bad_field("since", "is required: a date or RFC 3339 time"))?;
    if since > until {
        return Err(ApiError::bad_field("since", "must not be after `until`"));
    }
    let known_at = params.time("known_at")?;
    let model = state.read_model().await;
    Ok(Json(changes::plan_changes(
        &model, plan_id, since, until, known_at, now,
    )?)
    .into_response())
}

pub async fn plan_drift(
    State(state): State<AppState>,
    _: Caller,
    Path(plan_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let plan_id: PlanId = id(&plan_id, "plan")?;
    let at = params.at()?;
    let stale = params.number(
        "stale_days",
        drift::DEFAULT_STALE_AFTER_DAYS as u64,
        1,
        3650,
    )?;
    let model = state.read_model().await;
    Ok(Json(drift::drift(
        &model,
        plan_id,
        stale as i64,
        &at,
        state.now(),
    )?)
    .into_response())
}

pub async fn plan_activity(
    State(state): State<AppState>,
    _: Caller,
    Path(plan_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let plan_id: PlanId = id(&plan_id, "plan")?;
    let at = params.at()?;
    let limit = params.number("limit", 50, 1, 1000)?;
    let model = state.read_model().await;
    Ok(Json(changes::activity(
        &model,
        plan_id,
        limit as usize,
        &at,
        state.now(),
    )?)
    .into_response())
}

#[derive(serde::Serialize)]
struct PlanMeasures {
    measures: Vec<measure::MeasureView>,
    #[serde(flatten)]
    moment: Moment,
}

#[derive(serde::Serialize)]
struct PlanVisits {
    visits: Vec<visit::VisitView>,
    #[serde(flatten)]
    moment: Moment,
}

pub async fn plan_measures(
    State(state): State<AppState>,
    _: Caller,
    Path(plan_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let plan_id: PlanId = id(&plan_id, "plan")?;
    let at = params.at()?;
    let (model, now) = (state.read_model().await, state.now());
    let moment = views::plan_moment(&model, plan_id, &at, now)?;
    let measures = measure::plan_measures(&model, plan_id, &at, now);
    Ok(Json(PlanMeasures { measures, moment }).into_response())
}

pub async fn plan_visits(
    State(state): State<AppState>,
    _: Caller,
    Path(plan_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let plan_id: PlanId = id(&plan_id, "plan")?;
    let at = params.at()?;
    let (model, now) = (state.read_model().await, state.now());
    let moment = views::plan_moment(&model, plan_id, &at, now)?;
    let visits = visit::plan_visits(&model, plan_id, &at, now);
    Ok(Json(PlanVisits { visits, moment }).into_response())
}

pub async fn get_action(
    State(state): State<AppState>,
    _: Caller,
    Path(action_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let action_id: ActionId = id(&action_id, "action")?;
    let at = params.at()?;
    let model = state.read_model().await;
    let detail = action::action_detail(&model, action_id, &at, state.now())?;
    let etag = HeaderValue::from_str(&format!("\"{}\"", detail.summary.version)).expect("digits");
    let mut response = Json(detail).into_response();
    response.headers_mut().insert("etag", etag);
    Ok(response)
}

pub async fn action_history(
    State(state): State<AppState>,
    _: Caller,
    Path(action_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let action_id: ActionId = id(&action_id, "action")?;
    let at = params.at()?;
    let model = state.read_model().await;
    Ok(Json(action::action_history(&model, action_id, &at, state.now())?).into_response())
}

pub async fn get_measure(
    State(state): State<AppState>,
    _: Caller,
    Path(measure_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let measure_id: MeasureId = id(&measure_id, "measure")?;
    let at = params.at()?;
    let model = state.read_model().await;
    Ok(Json(measure::measure(&model, measure_id, &at, state.now())?).into_response())
}

pub async fn get_visit(
    State(state): State<AppState>,
    _: Caller,
    Path(visit_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let visit_id: VisitId = id(&visit_id, "monitoring visit")?;
    let at = params.at()?;
    let model = state.read_model().await;
    Ok(Json(visit::visit(&model, visit_id, &at, state.now())?).into_response())
}
