//! `POST /embedded/order-events`: submit an order event to the embedded default from the
//! shell. The event takes the same path as one from Kafka (parse, validate, record, or the
//! dead-letter log with the reason).

use api_gateway::error::{ApiError, ErrorCode};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use order_listener::{Incoming, Intake, IntakeOutcome};
use serde_json::{json, Value};
use std::sync::Arc;
use td_store::record::RecordOutcome;

pub fn routes(intake: Arc<Intake>) -> Router {
    Router::new()
        .route("/embedded/order-events", post(submit))
        .with_state(intake)
}

async fn submit(State(intake): State<Arc<Intake>>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let outcome = intake
        .process(Incoming {
            key: None,
            payload: Some(&body),
            traceparent: None,
            source: "embedded-http".to_owned(),
        })
        .await
        .map_err(ApiError::internal)?;
    match outcome {
        IntakeOutcome::Recorded(RecordOutcome::Applied {
            order_version,
            created,
            kept,
            cancelled,
        }) => Ok(Json(json!({
            "result": "RECORDED",
            "orderVersion": order_version,
            "createdGroups": created,
            "keptGroups": kept,
            "cancelledTicketDistributions": cancelled,
        }))),
        IntakeOutcome::Recorded(RecordOutcome::AlreadyRecorded { latest_version }) => Ok(Json(
            json!({ "result": "ALREADY_RECORDED", "latestVersion": latest_version }),
        )),
        IntakeOutcome::Recorded(RecordOutcome::Draft) => {
            Ok(Json(json!({ "result": "DRAFT_IGNORED" })))
        }
        IntakeOutcome::DeadLettered { reason } => Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("The order event was not accepted and went to the dead-letter log: {reason}"),
        )),
    }
}
