//! `POST /v1/ticket-distributions/{orderId}/generate`: the fallback that makes sure the
//! groups of the order's latest CONFIRMED version exist, handed to order-listener over
//! gRPC (`Generation.Generate`). Idempotent: existing groups are returned as they are.

use crate::caller::Caller;
use crate::dto::TicketDistributionGroup;
use crate::error::{ApiError, ApiErrorBody, ErrorCode};
use crate::middleware::CorrelationId;
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use std::time::Duration;
use td_proto::v1::GenerateRequest;
use td_store::query;
use tonic::Code;

/// Generate (or return) the groups of the order's latest confirmed version.
#[utoipa::path(
    post,
    path = "/v1/ticket-distributions/{orderId}/generate",
    tag = "ticket-distributions",
    params(
        ("ET-Client-Name" = String, Header, description = "`<company>-<application>`"),
        ("orderId" = String, Path),
    ),
    responses(
        (status = 200, body = Vec<TicketDistributionGroup>, description = "the groups of the latest confirmed version"),
        (status = 404, body = ApiErrorBody, description = "unknown order (ORDER_NOT_FOUND)"),
        (status = 409, body = ApiErrorBody, description = "the order is not CONFIRMED (ORDER_NOT_CONFIRMED)"),
        (status = 503, body = ApiErrorBody, description = "order-listener unavailable; retry"),
    )
)]
pub async fn generate(
    State(state): State<AppState>,
    caller: Caller,
    Extension(correlation): Extension<CorrelationId>,
    super::OrderIdPath(order_id): super::OrderIdPath,
) -> Result<Json<Vec<TicketDistributionGroup>>, ApiError> {
    let mut client = state.generation.clone();
    let mut request = tonic::Request::new(GenerateRequest {
        order_id: order_id.clone(),
        organisation_id: caller.scope().map(|o| o.0).unwrap_or(0),
        correlation_id: correlation.0.clone(),
    });
    request.set_timeout(Duration::from_secs(10));
    let response = client
        .generate(request)
        .await
        .map_err(|status| match status.code() {
            Code::NotFound => ApiError::new(
                ErrorCode::OrderNotFound,
                format!("No order has id {order_id}."),
            ),
            Code::FailedPrecondition => ApiError::new(
                ErrorCode::OrderNotConfirmed,
                format!(
                    "{} Tickets are generated only for CONFIRMED orders.",
                    status.message()
                ),
            ),
            Code::InvalidArgument => {
                ApiError::new(ErrorCode::InvalidParameter, status.message().to_owned())
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => ApiError::new(
                ErrorCode::Unavailable,
                "The generation service is not reachable right now. Retry shortly.",
            ),
            _ => ApiError::internal(format!("Generation.Generate: {status}")),
        })?;
    let ids = response
        .into_inner()
        .ticket_distribution_group_ids
        .iter()
        .map(|id| uuid::Uuid::parse_str(id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    let groups = query::groups_by_ids(&state.db, caller.scope(), ids).await?;
    Ok(Json(
        groups
            .iter()
            .map(|g| TicketDistributionGroup::from_rows(&g.group, &g.distributions))
            .collect(),
    ))
}
