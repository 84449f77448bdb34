//! The OpenAPI document, generated from the handlers' own annotations and types.

use crate::dto;
use crate::error::ApiErrorBody;
use crate::routes;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
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
