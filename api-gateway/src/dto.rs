//! The public resources (CONTRACT.md section 1) as they go over the wire, with their
//! OpenAPI schemas. Mapping from stored rows happens here and nowhere else.

use chrono::{DateTime, Utc};
use serde::Serialize;
use td_domain::generation::DistributionDetails;
use td_store::entity::{group, ticket_distribution as td};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketDistributionGroup {
    pub id: Uuid,
    pub order_id: String,
    /// The latest order version this group belongs to.
    pub order_version: i32,
    pub order_line_id: String,
    pub order_line_version: i32,
    pub updated_for_order_line_version: i32,
    pub organisation_id: i64,
    pub order_owner_customer_id: Option<String>,
    pub distribution_holder_customer_id: Option<String>,
    pub created_by_distribution_channel: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ticket_distributions: Vec<TicketDistribution>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketDistribution {
    pub id: Uuid,
    pub ticket_distribution_group_id: Uuid,
    /// GENERATED, DISTRIBUTED, PICKED_UP, ACTIVATED, FAILED, CANCELLED, CANCELLED_EXTERNALLY or EXPIRED.
    #[schema(example = "GENERATED")]
    pub status: String,
    /// Why NOD did not take it, when FAILED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub start_of_validity: DateTime<Utc>,
    pub end_of_validity: DateTime<Utc>,
    pub fare_product_ref: String,
    pub fare_product_name: Option<String>,
    pub user_profile_ref: Option<String>,
    pub traveller_id: Option<String>,
    pub topology: Topology,
    pub legs: Vec<Leg>,
    pub seats: Vec<Seat>,
    pub supplement_products: Vec<SupplementProduct>,
    pub distribution: Distribution,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    pub from_stop_place: Option<String>,
    pub from_stop_place_name: Option<String>,
    pub to_stop_place: Option<String>,
    pub to_stop_place_name: Option<String>,
    pub fare_zones: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Leg {
    pub leg_id: String,
    pub mode: String,
    pub sub_mode: Option<String>,
    pub authority_ref: String,
    pub service_journey_ref: Option<String>,
    pub dated_service_journey_ref: Option<String>,
    pub departure_time: DateTime<Utc>,
    pub arrival_time: DateTime<Utc>,
    pub from_stop_place: String,
    pub to_stop_place: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Seat {
    pub seat_number: String,
    pub railcar_number: Option<String>,
    pub leg_id: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupplementProduct {
    pub id: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub name: Option<String>,
}

/// Where and how the ticket was distributed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Distribution {
    pub nod_order_group_id: Option<String>,
    pub media_serial_number_id: Option<String>,
    pub distributed_at: Option<DateTime<Utc>>,
    pub picked_up_at: Option<DateTime<Utc>>,
    pub distributed_as_pdf: bool,
}

/// A page of search results.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketDistributionGroupPage {
    pub items: Vec<TicketDistributionGroup>,
    pub total_items: u64,
    pub total_pages: u64,
    pub page: u64,
    pub per_page: u64,
}

/// The validity answer for one ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketDistributionStatus {
    pub ticket_distribution_id: Uuid,
    pub ticket_distribution_group_id: Uuid,
    pub order_id: String,
    pub order_version: i32,
    #[schema(example = "DISTRIBUTED")]
    pub status: String,
    pub valid: bool,
    /// Why not valid: CANCELLED, CANCELLED_EXTERNALLY, SUPERSEDED_BY_ORDER_VERSION, EXPIRED or FAILED.
    pub reason: Option<String>,
    pub start_of_validity: DateTime<Utc>,
    pub end_of_validity: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The distinct distribution details of an order's tickets.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderDistributionSummary {
    pub order_id: String,
    pub distributions: Vec<DistributionSummary>,
}

/// One distinct combination of distribution details and the tickets that share it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DistributionSummary {
    pub nod_order_group_id: Option<String>,
    pub media_serial_number_id: Option<String>,
    pub distributed_as_pdf: bool,
    pub ticket_distribution_ids: Vec<Uuid>,
}

impl TicketDistribution {
    pub fn from_row(row: &td::Model) -> Self {
        // Details were written from `DistributionDetails`; a row that no longer parses shows
        // its scalar fields with empty details rather than failing the whole search.
        let details: DistributionDetails =
            serde_json::from_value(row.details.clone()).unwrap_or_else(|err| {
                tracing::error!(ticket_distribution_id = %row.id, error = %err, "stored ticket details do not parse");
                DistributionDetails::default()
            });
        Self {
            id: row.id,
            ticket_distribution_group_id: row.group_id,
            status: row.status.clone(),
            failure_reason: row.failure_reason.clone(),
            start_of_validity: row.start_of_validity,
            end_of_validity: row.end_of_validity,
            fare_product_ref: row.fare_product_ref.clone(),
            fare_product_name: row.fare_product_name.clone(),
            user_profile_ref: row.user_profile_ref.clone(),
            traveller_id: row.traveller_id.clone(),
            topology: Topology {
                from_stop_place: details.topology.from_stop_place,
                from_stop_place_name: details.topology.from_stop_place_name,
                to_stop_place: details.topology.to_stop_place,
                to_stop_place_name: details.topology.to_stop_place_name,
                fare_zones: details.topology.fare_zones,
            },
            legs: details
                .legs
                .into_iter()
                .map(|l| Leg {
                    leg_id: l.leg_id,
                    mode: l.mode,
                    sub_mode: l.sub_mode,
                    authority_ref: l.authority_ref,
                    service_journey_ref: l.service_journey_ref,
                    dated_service_journey_ref: l.dated_service_journey_ref,
                    departure_time: l.departure_time,
                    arrival_time: l.arrival_time,
                    from_stop_place: l.from_stop_place,
                    to_stop_place: l.to_stop_place,
                })
                .collect(),
            seats: details
                .seats
                .into_iter()
                .map(|s| Seat {
                    seat_number: s.seat_number,
                    railcar_number: s.railcar_number,
                    leg_id: s.leg_id,
                })
                .collect(),
            supplement_products: details
                .supplement_products
                .into_iter()
                .map(|p| SupplementProduct {
                    id: p.id,
                    reference: p.reference,
                    name: p.name,
                })
                .collect(),
            distribution: Distribution {
                nod_order_group_id: row.nod_order_group_id.clone(),
                media_serial_number_id: row.media_serial_number_id.clone(),
                distributed_at: row.distributed_at,
                picked_up_at: row.picked_up_at,
                distributed_as_pdf: row.distributed_as_pdf,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl TicketDistributionGroup {
    pub fn from_rows(group: &group::Model, distributions: &[td::Model]) -> Self {
        Self {
            id: group.id,
            order_id: group.order_id.clone(),
            order_version: group.order_version,
            order_line_id: group.order_line_id.clone(),
            order_line_version: group.order_line_version,
            updated_for_order_line_version: group.updated_for_order_line_version,
            organisation_id: group.organisation_id,
            order_owner_customer_id: group.order_owner_customer_id.clone(),
            distribution_holder_customer_id: group.distribution_holder_customer_id.clone(),
            created_by_distribution_channel: group.created_by_distribution_channel.clone(),
            created_at: group.created_at,
            updated_at: group.updated_at,
            ticket_distributions: distributions
                .iter()
                .map(TicketDistribution::from_row)
                .collect(),
        }
    }
}

/// Groups tickets by their distinct distribution details, in first-seen order.
pub fn summarise(rows: &[td::Model]) -> Vec<DistributionSummary> {
    let mut out: Vec<DistributionSummary> = Vec::new();
    for row in rows {
        let key = (
            &row.nod_order_group_id,
            &row.media_serial_number_id,
            row.distributed_as_pdf,
        );
        match out.iter_mut().find(|s| {
            (
                &s.nod_order_group_id,
                &s.media_serial_number_id,
                s.distributed_as_pdf,
            ) == key
        }) {
            Some(existing) => existing.ticket_distribution_ids.push(row.id),
            None => out.push(DistributionSummary {
                nod_order_group_id: row.nod_order_group_id.clone(),
                media_serial_number_id: row.media_serial_number_id.clone(),
                distributed_as_pdf: row.distributed_as_pdf,
                ticket_distribution_ids: vec![row.id],
            }),
        }
    }
    out
}

/// A PDF ticket: one per ticket distribution group, one A4 sheet per valid ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PdfTicket {
    pub id: Uuid,
    pub order_id: String,
    pub order_version: i32,
    pub order_line_id: String,
    pub order_line_version: i32,
    pub ticket_distribution_group_id: Uuid,
    /// The tickets that have a sheet in this PDF, in sheet order.
    pub ticket_distribution_ids: Vec<Uuid>,
    pub organisation_id: i64,
    /// nob, nno or eng.
    pub language: String,
    /// True when the PDF holds more than one ticket.
    pub combined_ticket: bool,
    /// The PDF, base64-encoded (also at `GET /v1/pdf-tickets/{id}/content`).
    #[schema(format = Byte)]
    pub pdf: String,
    pub created_at: DateTime<Utc>,
    /// When the PDF is removed (retention).
    pub delete_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PdfTicketPage {
    pub items: Vec<PdfTicket>,
    pub total_items: u64,
    pub total_pages: u64,
    pub page: u64,
    pub per_page: u64,
}

impl PdfTicket {
    pub fn from_stored(p: &td_store::pdf::StoredPdf) -> Self {
        use base64::Engine;
        let m = &p.pdf;
        Self {
            id: m.id,
            order_id: m.order_id.clone(),
            order_version: m.order_version,
            order_line_id: m.order_line_id.clone(),
            order_line_version: m.order_line_version,
            ticket_distribution_group_id: m.group_id,
            ticket_distribution_ids: p.ticket_distribution_ids.clone(),
            organisation_id: m.organisation_id,
            language: m.language.clone(),
            combined_ticket: p.ticket_distribution_ids.len() > 1,
            pdf: base64::engine::general_purpose::STANDARD.encode(&m.content),
            created_at: m.created_at,
            delete_at: m.delete_at,
        }
    }

    /// From the renderer's answer; `None` when it is malformed.
    pub fn from_proto(p: td_proto::v1::PdfTicket) -> Option<Self> {
        use base64::Engine;
        let time = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let ticket_distribution_ids = p
            .ticket_distribution_ids
            .iter()
            .map(|id| Uuid::parse_str(id).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            id: Uuid::parse_str(&p.id).ok()?,
            order_id: p.order_id,
            order_version: i32::try_from(p.order_version).ok()?,
            order_line_id: p.order_line_id,
            order_line_version: i32::try_from(p.order_line_version).ok()?,
            ticket_distribution_group_id: Uuid::parse_str(&p.ticket_distribution_group_id).ok()?,
            combined_ticket: ticket_distribution_ids.len() > 1,
            ticket_distribution_ids,
            organisation_id: p.organisation_id,
            language: p.language,
            pdf: base64::engine::general_purpose::STANDARD.encode(&p.pdf),
            created_at: time(&p.created_at)?,
            delete_at: time(&p.delete_at)?,
        })
    }
}

/// An e-mail send of PDF tickets and where its delivery stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PdfSend {
    pub id: Uuid,
    pub order_id: String,
    pub email_address: String,
    pub ticket_distribution_ids: Vec<Uuid>,
    pub language: String,
    /// QUEUED, SENDING, SENT or FAILED.
    #[schema(example = "SENT")]
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// The last failure (for FAILED: why it failed, e.g. the SMTP server's reply).
    pub last_error: Option<String>,
    /// The SMTP server's queue id for the accepted message, when it gave one.
    pub smtp_queue_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl PdfSend {
    pub fn from_model(m: &td_store::entity::pdf_send::Model) -> Self {
        Self {
            id: m.id,
            order_id: m.order_id.clone(),
            email_address: m.email_address.clone(),
            ticket_distribution_ids: td_store::mail::ticket_ids(m),
            language: m.language.clone(),
            status: m.status.clone(),
            attempts: m.attempts,
            last_error: m.last_error.clone(),
            smtp_queue_id: m.smtp_queue_id.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
            sent_at: m.sent_at,
        }
    }
}
