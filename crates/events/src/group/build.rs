//! One constructor per event type, so that whoever writes an event fills every field the
//! record has (or it does not compile) and cannot pair a type with another type's payload.
//! The payload's `status` is the one its event type leads to.

use super::*;
use crate::header::{checked_int, checked_timestamp, EventHeader};

impl TicketDistributionGroupEvent {
    fn with_header(
        header: &EventHeader,
        event_type: TicketDistributionGroupEventType,
        group_id: Uuid,
    ) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            event_type,
            correlation_id: header.correlation_id.clone(),
            timestamp: header.timestamp,
            organisation_id: header.organisation_id,
            order_id: header.order_id.clone(),
            order_version: header.order_version,
            ticket_distribution_group_id: group_id,
            ticket_distribution_group_created: None,
            ticket_distribution_added: None,
            ticket_distribution_distributed: None,
            ticket_distribution_picked_up: None,
            ticket_distribution_activated: None,
            ticket_distribution_expired: None,
            ticket_distribution_cancelled: None,
            ticket_distribution_cancelled_externally: None,
            ticket_distribution_failed: None,
        }
    }

    pub fn group_created(
        header: &EventHeader,
        group_id: Uuid,
        order_line_id: String,
        order_line_version: u32,
        ticket_distribution_ids: Vec<Uuid>,
    ) -> Result<Self, EventError> {
        let payload = TicketDistributionGroupCreated {
            order_line_id,
            order_line_version: checked_int("orderLineVersion", order_line_version)?,
            ticket_distribution_ids,
        };
        Ok(Self {
            ticket_distribution_group_created: Some(payload),
            ..Self::with_header(
                header,
                TicketDistributionGroupEventType::TicketDistributionGroupCreated,
                group_id,
            )
        })
    }

    /// A ticket generated in the group (its status is GENERATED).
    pub fn added(
        header: &EventHeader,
        group_id: Uuid,
        ticket_distribution_id: Uuid,
        start_of_validity: DateTime<Utc>,
        end_of_validity: DateTime<Utc>,
        fare_product_ref: String,
    ) -> Result<Self, EventError> {
        let payload = TicketDistributionAdded {
            ticket_distribution_id,
            status: TicketDistributionStatus::Generated,
            start_of_validity: checked_timestamp("startOfValidity", start_of_validity)?,
            end_of_validity: checked_timestamp("endOfValidity", end_of_validity)?,
            fare_product_ref,
        };
        Ok(Self {
            ticket_distribution_added: Some(payload),
            ..Self::with_header(
                header,
                TicketDistributionGroupEventType::TicketDistributionAdded,
                group_id,
            )
        })
    }

    pub fn distributed(
        header: &EventHeader,
        group_id: Uuid,
        ticket_distribution_id: Uuid,
        nod_order_group_id: String,
    ) -> Self {
        Self {
            ticket_distribution_distributed: Some(TicketDistributionDistributed {
                ticket_distribution_id,
                status: TicketDistributionStatus::Distributed,
                nod_order_group_id,
            }),
            ..Self::with_header(
                header,
                TicketDistributionGroupEventType::TicketDistributionDistributed,
                group_id,
            )
        }
    }

    pub fn picked_up(
        header: &EventHeader,
        group_id: Uuid,
        ticket_distribution_id: Uuid,
        media_serial_number_id: Option<String>,
    ) -> Self {
        Self {
            ticket_distribution_picked_up: Some(TicketDistributionPickedUp {
                ticket_distribution_id,
                status: TicketDistributionStatus::PickedUp,
                media_serial_number_id,
            }),
            ..Self::with_header(
                header,
                TicketDistributionGroupEventType::TicketDistributionPickedUp,
                group_id,
            )
        }
    }

    pub fn activated(header: &EventHeader, group_id: Uuid, ticket_distribution_id: Uuid) -> Self {
        Self {
            ticket_distribution_activated: Some(TicketDistributionStatusChange {
                ticket_distribution_id,
                status: TicketDistributionStatus::Activated,
            }),
            ..Self::with_header(
                header,
                TicketDistributionGroupEventType::TicketDistributionActivated,
                group_id,
            )
        }
    }

    pub fn expired(header: &EventHeader, group_id: Uuid, ticket_distribution_id: Uuid) -> Self {
        Self {
            ticket_distribution_expired: Some(TicketDistributionStatusChange {
                ticket_distribution_id,
                status: TicketDistributionStatus::Expired,
            }),
            ..Self::with_header(
                header,
                TicketDistributionGroupEventType::TicketDistributionExpired,
                group_id,
            )
        }
    }

    pub fn cancelled_externally(
        header: &EventHeader,
        group_id: Uuid,
        ticket_distribution_id: Uuid,
    ) -> Self {
        Self {
            ticket_distribution_cancelled_externally: Some(TicketDistributionStatusChange {
                ticket_distribution_id,
                status: TicketDistributionStatus::CancelledExternally,
            }),
            ..Self::with_header(
                header,
                TicketDistributionGroupEventType::TicketDistributionCancelledExternally,
                group_id,
            )
        }
    }

    pub fn cancelled(
        header: &EventHeader,
        group_id: Uuid,
        ticket_distribution_id: Uuid,
        reason: String,
    ) -> Self {
        Self {
            ticket_distribution_cancelled: Some(TicketDistributionStatusChangeWithReason {
                ticket_distribution_id,
                status: TicketDistributionStatus::Cancelled,
                reason,
            }),
            ..Self::with_header(
                header,
                TicketDistributionGroupEventType::TicketDistributionCancelled,
                group_id,
            )
        }
    }

    pub fn failed(
        header: &EventHeader,
        group_id: Uuid,
        ticket_distribution_id: Uuid,
        reason: String,
    ) -> Self {
        Self {
            ticket_distribution_failed: Some(TicketDistributionStatusChangeWithReason {
                ticket_distribution_id,
                status: TicketDistributionStatus::Failed,
                reason,
            }),
            ..Self::with_header(
                header,
                TicketDistributionGroupEventType::TicketDistributionFailed,
                group_id,
            )
        }
    }
}
