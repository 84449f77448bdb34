//! `POST /v1/ticket-distribution-groups/distribute`: places the FAILED tickets of the given
//! groups in NOD again. Other tickets are left alone. The gateway only records the request
//! in the store (`td_store::nod::request_replacement`); nod-distributor's dispatcher finds the tickets due
//! and places them, so this never talks to NOD nor needs nod-distributor to be up. Answers
//! with the groups as they are now; the placement itself happens shortly after and shows
//! on the status endpoint and in the events.

use crate::caller::Caller;
use crate::dto::TicketDistributionGroup;
use crate::error::{ApiError, ApiErrorBody, ErrorCode};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use td_domain::ids::TicketDistributionGroupId;
use td_store::{nod, query};
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
    )
)]
pub async fn distribute(
    State(state): State<AppState>,
    caller: Caller,
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
    let groups: Vec<TicketDistributionGroupId> =
        ids.iter().copied().map(TicketDistributionGroupId).collect();
    let requeued = nod::request_replacement(&state.db, &groups, caller.scope(), chrono::Utc::now())
        .await?
        .len();
    tracing::info!(
        groups = groups.len(),
        requeued,
        "FAILED tickets marked for placement again"
    );
    let groups = query::groups_by_ids(&state.db, caller.scope(), ids).await?;
    Ok(Json(
        groups
            .iter()
            .map(|g| TicketDistributionGroup::from_rows(&g.group, &g.distributions))
            .collect(),
    ))
}
