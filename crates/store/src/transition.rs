//! A ticket changes status: the one place that writes the ticket's row, its status
//! notification and its lifecycle event for a domain transition, and that then asks
//! [`completion`](crate::completion) whether the change completed an order version. Callers
//! say *that* something happened (a new order version cancels a ticket, NOD reports on it);
//! the status machine of `td-domain` says whether it may.

use crate::entity::ticket_distribution as td;
use crate::outbox::EventBatch;
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use td_domain::ids::TicketDistributionId;
use td_domain::status::{CancelCause, RefusedTransition, TdEvent, TdStatus};
use td_events::TicketDistributionGroupEvent as GroupEvent;

/// What happened to a ticket, with what its event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Distributed {
        nod_order_group_id: Option<String>,
    },
    Failed {
        reason: Option<String>,
    },
    PickedUp {
        media_serial_number_id: Option<String>,
    },
    Activated,
    /// `cause` when this service cancels; `None` when NOD reports it, and the ticket keeps
    /// the cause it has.
    Cancelled {
        cause: Option<CancelCause>,
    },
    CancelledExternally,
    Expired,
}

impl Change {
    pub(crate) fn event(&self) -> TdEvent {
        match self {
            Self::Distributed { .. } => TdEvent::Distributed,
            Self::Failed { .. } => TdEvent::Failed,
            Self::PickedUp { .. } => TdEvent::PickedUp,
            Self::Activated => TdEvent::Activated,
            Self::Cancelled { .. } => TdEvent::Cancelled,
            Self::CancelledExternally => TdEvent::CancelledExternally,
            Self::Expired => TdEvent::Expired,
        }
    }
}

/// A change the status machine accepted for one ticket, not written yet.
pub(crate) struct Accepted<'a> {
    row: &'a td::Model,
    change: &'a Change,
    pub(crate) from: TdStatus,
    pub(crate) to: TdStatus,
}

/// Asks the status machine whether `change` may happen to the ticket of `row`.
pub(crate) fn accept<'a>(
    row: &'a td::Model,
    change: &'a Change,
) -> Result<Result<Accepted<'a>, RefusedTransition>, StoreError> {
    let from = row.status()?;
    Ok(from.apply(change.event()).map(|to| Accepted {
        row,
        change,
        from,
        to,
    }))
}

impl Accepted<'_> {
    /// Writes the transition at `at` in the caller's transaction: the row, the status
    /// notification, the event (appended to `events`, whose header names the version the
    /// ticket's group belongs to) and any order-version milestone it completes.
    pub(crate) async fn write<C: ConnectionTrait>(
        self,
        conn: &C,
        at: DateTime<Utc>,
        events: &mut EventBatch,
    ) -> Result<(), StoreError> {
        let Self {
            row, change, to, ..
        } = self;
        let mut update = td::ActiveModel {
            id: Set(row.id),
            status: Set(to.as_str().to_owned()),
            updated_at: Set(at),
            ..Default::default()
        };
        match change {
            Change::Distributed { nod_order_group_id } => {
                update.nod_order_group_id = Set(nod_order_group_id.clone());
                update.distributed_at = Set(Some(at));
                update.failure_reason = Set(None);
                update.nod_replace_requested = Set(false);
                crate::nod::end_placement_effort(&mut update);
            }
            Change::Failed { reason } => {
                update.failure_reason = Set(reason.clone());
                update.nod_replace_requested = Set(false);
                crate::nod::end_placement_effort(&mut update);
            }
            Change::PickedUp {
                media_serial_number_id,
            } => {
                update.picked_up_at = Set(Some(at));
                if media_serial_number_id.is_some() {
                    update.media_serial_number_id = Set(media_serial_number_id.clone());
                }
            }
            Change::Cancelled { cause: Some(cause) } => {
                update.cancel_cause = Set(Some(cause.as_str().to_owned()));
                // A ticket NOD has (or may have) must be cancelled there too: due for a job
                // at once, whatever hold its placement was under.
                update.nod_enqueued_at = Set(None);
                update.nod_retry_at = Set(None);
            }
            Change::Cancelled { cause: None }
            | Change::Activated
            | Change::CancelledExternally
            | Change::Expired => {}
        }
        td::Entity::update(update).exec(conn).await?;
        crate::notify::status_changed(conn, &[TicketDistributionId(row.id)]).await?;

        let header = events.header().clone();
        let (group, id) = (row.group_id, row.id);
        let event = match change {
            // NOD always names the order group it placed the ticket in.
            Change::Distributed { nod_order_group_id } => GroupEvent::distributed(
                &header,
                group,
                id,
                nod_order_group_id.clone().unwrap_or_default(),
            ),
            Change::Failed { reason } => {
                GroupEvent::failed(&header, group, id, reason.clone().unwrap_or_default())
            }
            Change::PickedUp {
                media_serial_number_id,
            } => GroupEvent::picked_up(&header, group, id, media_serial_number_id.clone()),
            Change::Activated => GroupEvent::activated(&header, group, id),
            Change::Cancelled { cause } => {
                let reason = match cause {
                    Some(cause) => cause.as_str().to_owned(),
                    None => row.cancel_cause.clone().unwrap_or_default(),
                };
                GroupEvent::cancelled(&header, group, id, reason)
            }
            Change::CancelledExternally => GroupEvent::cancelled_externally(&header, group, id),
            Change::Expired => GroupEvent::expired(&header, group, id),
        };
        events.push(event)?;
        if to.is_in_nod_or_beyond() {
            crate::completion::distributed_versions_of_group(
                conn,
                &row.order_id,
                row.group_id,
                at,
                events,
            )
            .await?;
        }
        Ok(())
    }
}
