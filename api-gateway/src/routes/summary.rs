//! `GET /v1/ticket-distributions/{orderId}/summary`.

use crate::caller::Caller;
use crate::dto::{summarise, OrderDistributionSummary};
use crate::error::{ApiError, ApiErrorBody, ErrorCode};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use td_domain::ids::OrderId;
use td_store::query;

/// The distinct distribution details (NOD order group, media id, sent as PDF) of all the
/// order's tickets, each with the tickets that share it.
#[utoipa::path(
    get,
    path = "/v1/ticket-distributions/{orderId}/summary",
    operation_id = "getTicketDistributionSummary",
    tag = "ticket-distributions",
    params(
        ("ET-Client-Name" = String, Header, description = "`<company>-<application>`"),
        ("orderId" = String, Path),
    ),
    responses(
        (status = 200, body = OrderDistributionSummary),
        (status = 404, body = ApiErrorBody, description = "unknown order"),
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    super::OrderIdPath(order_id): super::OrderIdPath,
) -> Result<Json<OrderDistributionSummary>, ApiError> {
    let order = OrderId(order_id);
    let rows = query::order_distributions(&state.db, caller.scope(), &order)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::OrderNotFound,
                format!("No order has id {order}."),
            )
        })?;
    Ok(Json(OrderDistributionSummary {
        order_id: order.0,
        distributions: summarise(&rows),
    }))
}
