//! `POST /v1/ticket-distribution-groups/distribute`: places the FAILED tickets of the given
//! groups in NOD again, through nod-distributor (`Distributor.Distribute` over gRPC). Other
//! tickets are left alone. Answers with the groups as they are now; the placement itself
//! happens shortly after and shows on the status endpoint and in the events.

use crate::caller::Caller;
use crate::dto::TicketDistributionGroup;
use crate::error::{ApiError, ApiErrorBody, ErrorCode};
use crate::middleware::CorrelationId;
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use std::time::Duration;
use td_proto::v1::DistributeRequest;
use td_store::query;
use tonic::Code;
use utoipa::ToSchema;

/// Most groups one call may name.
const MAX_GROUPS: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DistributeBody {
    /// The groups whose FAILED tickets are placed again (at most 100).
    pub ticket_distribution_group_ids: Vec<uuid::Uuid>,
}

/// Place the FAILED tickets of these groups in NOD again.
#[utoipa::path(
    post,
    path = "/v1/ticket-distribution-groups/distribute",
    tag = "ticket-distribution-groups",
    params(("ET-Client-Name" = String, Header, description = "`<company>-<application>`")),
    request_body = DistributeBody,
    responses(
        (status = 200, body = Vec<TicketDistributionGroup>, description = "the groups; their FAILED tickets are queued for placement"),
        (status = 400, body = ApiErrorBody, description = "no groups, too many, or not UUIDs"),
        (status = 404, body = ApiErrorBody, description = "a group does not exist (GROUP_NOT_FOUND)"),
        (status = 503, body = ApiErrorBody, description = "nod-distributor unavailable; retry"),
    )
)]
pub async fn distribute(
    State(state): State<AppState>,
    caller: Caller,
    Extension(correlation): Extension<CorrelationId>,
    body: Result<Json<DistributeBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Vec<TicketDistributionGroup>>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.body_text()))?;
    let ids = body.ticket_distribution_group_ids;
    if ids.is_empty() || ids.len() > MAX_GROUPS {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("ticketDistributionGroupIds must name 1 to {MAX_GROUPS} groups."),
        ));
    }
    let groups = query::groups_by_ids(&state.db, caller.scope(), ids.clone()).await?;
    if let Some(missing) = ids
        .iter()
        .find(|id| !groups.iter().any(|g| g.group.id == **id))
    {
        return Err(ApiError::new(
            ErrorCode::GroupNotFound,
            format!("No ticket distribution group has id {missing}."),
        ));
    }
    let mut client = state.distributor.clone();
    let mut request = tonic::Request::new(DistributeRequest {
        ticket_distribution_group_ids: ids.iter().map(|i| i.to_string()).collect(),
        organisation_id: caller.scope().map(|o| o.0).unwrap_or(0),
        correlation_id: correlation.0.clone(),
    });
    request.set_timeout(Duration::from_secs(10));
    client
        .distribute(request)
        .await
        .map_err(|status| match status.code() {
            Code::InvalidArgument => {
                ApiError::new(ErrorCode::InvalidParameter, status.message().to_owned())
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => ApiError::new(
                ErrorCode::Unavailable,
                "The distribution service is not reachable right now. Retry shortly.",
            ),
            _ => ApiError::internal(format!("Distributor.Distribute: {status}")),
        })?;
    let groups = query::groups_by_ids(&state.db, caller.scope(), ids).await?;
    Ok(Json(
        groups
            .iter()
            .map(|g| TicketDistributionGroup::from_rows(&g.group, &g.distributions))
            .collect(),
    ))
}
