//! The OpenAPI document, generated from the handlers' own annotations and types.

use crate::dto;
use crate::error::ApiErrorBody;
use crate::routes;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The errors every `/v1` operation can answer besides its own, described on each so that
/// a client (and a generated one) knows them all.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let common = [
            ("400", "a missing `ET-Client-Name` (MISSING_CLIENT_NAME) or a malformed parameter"),
            ("401", "no valid bearer token, when authorisation is on (UNAUTHENTICATED)"),
            ("408", "the request outlived its deadline (REQUEST_TIMEOUT)"),
            ("429", "over the caller's rate (TOO_MANY_REQUESTS); see Retry-After"),
            ("503", "the database is out of reach or the query ran too long (SERVICE_UNAVAILABLE); see Retry-After"),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                for (status, description) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(description)
                                    .content(
                                        "application/json",
                                        ContentBuilder::new()
                                            .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                                            .build(),
                                    )
                                    .build(),
                            )
                        });
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&CommonErrors),
    info(
        title = "Ticket Distribution",
        description = "Turns confirmed orders into tickets, places them in NOD, renders and e-mails PDF tickets, and answers whether a ticket is valid. Every /v1 call needs the ET-Client-Name header; errors are ApiError bodies with a stable `code`.",
    ),
    paths(
        routes::groups::search,
        routes::status::status,
        routes::summary::summary,
        routes::generate::generate,
        routes::distribute::distribute,
        routes::pdf::create_or_get,
        routes::pdf::search,
        routes::pdf::content,
        routes::send::send,
        routes::send::send_status,
    ),
    components(schemas(
        ApiErrorBody,
        routes::distribute::DistributeBody,
        routes::pdf::CreateOrGetBody,
        dto::PdfTicket,
        dto::PdfTicketPage,
        dto::PdfSend,
        routes::send::SendBody,
        routes::send::SendAccepted,
        dto::TicketDistributionGroupPage,
        dto::TicketDistributionGroup,
        dto::TicketDistribution,
        dto::Topology,
        dto::Leg,
        dto::Seat,
        dto::SupplementProduct,
        dto::Distribution,
        dto::TicketDistributionStatus,
        dto::OrderDistributionSummary,
        dto::DistributionSummary,
    )),
    tags(
        (name = "ticket-distribution-groups", description = "Groups: one per order line"),
        (name = "ticket-distributions", description = "Tickets and their validity"),
        (name = "pdf-tickets", description = "Printable PDF tickets: one per group, one sheet and QR code per ticket"),
    )
)]
pub struct ApiDoc;
