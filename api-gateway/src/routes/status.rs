//! `GET /v1/ticket-distributions/{ticketDistributionId}/status`: the hot path.

use crate::caller::Caller;
use crate::dto::TicketDistributionStatus;
use crate::error::{ApiError, ApiErrorBody, ErrorCode};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use std::sync::Arc;
use td_domain::ids::{OrganisationId, TicketDistributionId};
use td_store::query::{self, StatusRow};
use uuid::Uuid;

/// Whether a ticket is valid now, and why not.
///
/// A ticket is valid when it is GENERATED, DISTRIBUTED, PICKED_UP or ACTIVATED, belongs to
/// its order's latest confirmed version, and its validity has not ended.
#[utoipa::path(
    get,
    path = "/v1/ticket-distributions/{ticketDistributionId}/status",
    tag = "ticket-distributions",
    params(
        ("ET-Client-Name" = String, Header, description = "`<company>-<application>`"),
        ("ticketDistributionId" = String, Path, description = "ticket distribution id (UUID)"),
    ),
    responses(
        (status = 200, body = TicketDistributionStatus),
        (status = 400, body = ApiErrorBody, description = "the id is not a UUID"),
        (status = 404, body = ApiErrorBody, description = "no such ticket distribution"),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TicketDistributionStatus>, ApiError> {
    let not_found = || {
        ApiError::new(
            ErrorCode::TicketDistributionNotFound,
            format!("No ticket distribution has id {id}."),
        )
    };
    let uuid = Uuid::parse_str(&id).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            "Parameter `ticketDistributionId` must be a UUID.",
        )
    })?;
    // Another organisation's ticket is answered exactly like one that does not exist, with
    // the same work: a cached row outside the caller's scope is ignored, and the database is
    // asked with the scope, so neither the answer nor its timing tells the two apart.
    let scope = caller.scope();
    let cached = match state.status_cache.as_ref() {
        Some(cache) => match cache.get(&uuid) {
            Some(row) if scope.may_read(OrganisationId(row.distribution.organisation_id)) => {
                cache.get_fresh(&uuid).await
            }
            _ => None,
        },
        None => None,
    };
    let row = match cached {
        Some(row) => row,
        None => {
            let epoch = state.status_cache.as_ref().map(|c| c.epoch());
            let row = query::distribution_status(&state.db, scope, TicketDistributionId(uuid))
                .await?
                .ok_or_else(not_found)?;
            let row = Arc::new(row);
            if let (Some(cache), Some(epoch)) = (state.status_cache.as_ref(), epoch) {
                cache.insert(uuid, Arc::clone(&row), epoch);
            }
            row
        }
    };
    if !caller.may_read(row.distribution.organisation_id) {
        return Err(not_found());
    }
    answer(&row).map(Json)
}

fn answer(row: &StatusRow) -> Result<TicketDistributionStatus, ApiError> {
    let td = &row.distribution;
    let v = row
        .validity(Utc::now())
        .map_err(|e| ApiError::internal(format!("ticket {}: {e}", td.id)))?;
    Ok(TicketDistributionStatus {
        ticket_distribution_id: td.id,
        ticket_distribution_group_id: td.group_id,
        order_id: td.order_id.clone(),
        order_version: row.group_order_version,
        status: td.status.clone(),
        valid: v.valid,
        reason: v.reason.map(|r| r.as_str().to_owned()),
        start_of_validity: td.start_of_validity,
        end_of_validity: td.end_of_validity,
        updated_at: td.updated_at,
    })
}
