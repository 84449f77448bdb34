//! `GET /v1/ticket-distribution-groups`: search groups.

use crate::caller::Caller;
use crate::dto::{TicketDistributionGroup, TicketDistributionGroupPage};
use crate::error::{ApiError, ApiErrorBody};
use crate::search::{self, FilterSpec, ValueKind};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use td_store::query::{self, GroupField};

const STATUSES: &[&str] = &[
    "GENERATED",
    "DISTRIBUTED",
    "PICKED_UP",
    "ACTIVATED",
    "FAILED",
    "CANCELLED",
    "CANCELLED_EXTERNALLY",
    "EXPIRED",
];

pub const FILTERS: &[FilterSpec<GroupField>] = &[
    FilterSpec {
        name: "id",
        field: GroupField::Id,
        kind: ValueKind::Uuid,
    },
    FilterSpec {
        name: "orderId",
        field: GroupField::OrderId,
        kind: ValueKind::Text,
    },
    FilterSpec {
        name: "orderVersion",
        field: GroupField::OrderVersion,
        kind: ValueKind::Int,
    },
    FilterSpec {
        name: "orderLineId",
        field: GroupField::OrderLineId,
        kind: ValueKind::Text,
    },
    FilterSpec {
        name: "organisationId",
        field: GroupField::OrganisationId,
        kind: ValueKind::Int,
    },
    FilterSpec {
        name: "ticketDistributionId",
        field: GroupField::TicketDistributionId,
        kind: ValueKind::Uuid,
    },
    FilterSpec {
        name: "distributionStatus",
        field: GroupField::DistributionStatus,
        kind: ValueKind::OneOf(STATUSES),
    },
    FilterSpec {
        name: "createdAt",
        field: GroupField::CreatedAt,
        kind: ValueKind::Time,
    },
    FilterSpec {
        name: "updatedAt",
        field: GroupField::UpdatedAt,
        kind: ValueKind::Time,
    },
    FilterSpec {
        name: "startOfValidity",
        field: GroupField::StartOfValidity,
        kind: ValueKind::Time,
    },
    FilterSpec {
        name: "endOfValidity",
        field: GroupField::EndOfValidity,
        kind: ValueKind::Time,
    },
    FilterSpec {
        name: "orderOwnerCustomerId",
        field: GroupField::OrderOwnerCustomerId,
        kind: ValueKind::Text,
    },
    FilterSpec {
        name: "distributionHolderCustomerId",
        field: GroupField::DistributionHolderCustomerId,
        kind: ValueKind::Text,
    },
    FilterSpec {
        name: "mediaSerialNumberId",
        field: GroupField::MediaSerialNumberId,
        kind: ValueKind::Text,
    },
];

/// Search ticket distribution groups.
///
/// Every filter takes `op:value` with `op` one of eq, ne, gt, gte, lt, lte, in, nin (no
/// prefix means eq; in/nin take a comma-separated list). Filters may repeat and are AND-ed.
/// At least one filter is required. Ticket-level filters (`ticketDistributionId`,
/// `distributionStatus`, `startOfValidity`, `endOfValidity`, `mediaSerialNumberId`) select
/// groups containing at least one matching ticket; `orderVersion` selects the groups that
/// belong to a matching order version.
#[utoipa::path(
    get,
    path = "/v1/ticket-distribution-groups",
    operation_id = "searchTicketDistributionGroupsUsingGET",
    tag = "ticket-distribution-groups",
    params(
        ("ET-Client-Name" = String, Header, description = "`<company>-<application>`"),
        ("id" = Option<String>, Query, description = "group id (UUID)"),
        ("orderId" = Option<String>, Query),
        ("orderVersion" = Option<String>, Query, description = "whole number, e.g. `2` or `gte:2`"),
        ("orderLineId" = Option<String>, Query),
        ("organisationId" = Option<String>, Query, description = "only for callers allowed to read across organisations"),
        ("ticketDistributionId" = Option<String>, Query),
        ("distributionStatus" = Option<String>, Query, description = "GENERATED, DISTRIBUTED, PICKED_UP, ACTIVATED, FAILED, CANCELLED, CANCELLED_EXTERNALLY, EXPIRED"),
        ("createdAt" = Option<String>, Query, description = "RFC 3339, e.g. `gte:2027-01-01T00:00:00Z`"),
        ("updatedAt" = Option<String>, Query),
        ("startOfValidity" = Option<String>, Query),
        ("endOfValidity" = Option<String>, Query),
        ("orderOwnerCustomerId" = Option<String>, Query),
        ("distributionHolderCustomerId" = Option<String>, Query),
        ("mediaSerialNumberId" = Option<String>, Query),
        ("page" = Option<u64>, Query, description = "from 1, default 1"),
        ("perPage" = Option<u64>, Query, description = "1 to 100, default 20"),
    ),
    responses(
        (status = 200, body = TicketDistributionGroupPage),
        (status = 400, body = ApiErrorBody, description = "no filter, unknown filter or operator, malformed value, bad paging, missing ET-Client-Name"),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<TicketDistributionGroupPage>, ApiError> {
    let request = search::parse(raw.as_deref(), FILTERS)?;
    let page =
        query::search_groups(&state.db, caller.scope(), request.filters, request.page).await?;
    let total_pages = page.total_pages();
    Ok(Json(TicketDistributionGroupPage {
        items: page
            .items
            .iter()
            .map(|g| TicketDistributionGroup::from_rows(&g.group, &g.distributions))
            .collect(),
        total_items: page.total_items,
        total_pages,
        page: page.page,
        per_page: page.per_page,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use td_domain::status::TdStatus;

    #[test]
    fn the_status_filter_accepts_exactly_the_status_machine() {
        let names: Vec<&str> = TdStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, STATUSES);
    }
}
