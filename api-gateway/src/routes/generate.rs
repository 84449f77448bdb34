//! `POST /v1/ticket-distributions/{orderId}/generate`: the fallback that makes sure the
//! groups of the order's latest CONFIRMED version exist. Groups are generated in the same
//! transaction that records a CONFIRMED version, so for a known confirmed order they exist
//! already and are returned as they are (idempotent); nothing is created twice.

use crate::caller::Caller;
use crate::dto::TicketDistributionGroup;
use crate::error::{ApiError, ApiErrorBody, ErrorCode};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use td_domain::ids::OrderId;
use td_store::query::{self, ConfirmedVersion};

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
    )
)]
pub async fn generate(
    State(state): State<AppState>,
    caller: Caller,
    super::OrderIdPath(order_id): super::OrderIdPath,
) -> Result<Json<Vec<TicketDistributionGroup>>, ApiError> {
    let order = OrderId(order_id);
    let version = match query::confirmed_version(&state.db, caller.scope(), &order, None).await? {
        ConfirmedVersion::Confirmed(v) => v,
        ConfirmedVersion::NotConfirmed { status } => {
            return Err(ApiError::new(
                ErrorCode::OrderNotConfirmed,
                format!(
                    "order {order} is {status}, not CONFIRMED Tickets are generated only for CONFIRMED orders."
                ),
            ))
        }
        // Without a version asked for, nothing else means the order is known.
        _ => {
            return Err(ApiError::new(
                ErrorCode::OrderNotFound,
                format!("No order has id {order}."),
            ))
        }
    };
    let ids = query::group_ids_of_version(&state.db, &order, version).await?;
    let groups = query::groups_by_ids(&state.db, caller.scope(), ids).await?;
    Ok(Json(
        groups
            .iter()
            .map(|g| TicketDistributionGroup::from_rows(&g.group, &g.distributions))
            .collect(),
    ))
}
