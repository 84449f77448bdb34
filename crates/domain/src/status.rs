//! The TicketDistribution status machine (CONTRACT.md section 1) and the validity answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TdStatus {
    Generated,
    Distributed,
    PickedUp,
    Activated,
    Failed,
    Cancelled,
    CancelledExternally,
    Expired,
}

/// What happened to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TdEvent {
    /// NOD accepted the placement (also a re-placement after FAILED).
    Distributed,
    /// NOD rejected it for good, or retries ran out.
    Failed,
    PickedUp,
    Activated,
    /// This service cancelled it (credit, change, order cancelled).
    Cancelled,
    /// NOD reports a cancellation this service did not ask for.
    CancelledExternally,
    Expired,
}

/// Why this service cancelled a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CancelCause {
    /// The line changed in a newer order version; a new group replaces it.
    SupersededByOrderVersion,
    LineCredited,
    LineCancelled,
    /// The line is missing from the newer order version.
    LineRemoved,
    OrderCancelled,
}

/// Why a ticket is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvalidReason {
    Cancelled,
    CancelledExternally,
    SupersededByOrderVersion,
    Expired,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("transition refused: {event:?} is not allowed in status {from:?}")]
pub struct RefusedTransition {
    pub from: TdStatus,
    pub event: TdEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub valid: bool,
    pub reason: Option<InvalidReason>,
}

/// A status, cause or reason string that is not one of the known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

impl TdStatus {
    pub const ALL: [TdStatus; 8] = [
        TdStatus::Generated,
        TdStatus::Distributed,
        TdStatus::PickedUp,
        TdStatus::Activated,
        TdStatus::Failed,
        TdStatus::Cancelled,
        TdStatus::CancelledExternally,
        TdStatus::Expired,
    ];

    /// The status after `event`, or the refusal when the lifecycle does not allow it. A
    /// refusal leaves the ticket as it was: the caller logs it and keeps `self`.
    pub fn apply(self, event: TdEvent) -> Result<TdStatus, RefusedTransition> {
        use TdEvent as E;
        use TdStatus as S;
        let next = match (self, event) {
            (S::Generated | S::Failed, E::Distributed) => S::Distributed,
            (S::Generated, E::Failed) => S::Failed,
            (S::Distributed, E::PickedUp) => S::PickedUp,
            (S::Distributed | S::PickedUp, E::Activated) => S::Activated,
            (
                S::Generated | S::Distributed | S::PickedUp | S::Activated | S::Failed,
                E::Cancelled,
            ) => S::Cancelled,
            // Only a ticket that is in NOD can be cancelled there behind our back.
            (S::Distributed | S::PickedUp | S::Activated, E::CancelledExternally) => {
                S::CancelledExternally
            }
            (
                S::Generated | S::Distributed | S::PickedUp | S::Activated | S::Failed,
                E::Expired,
            ) => S::Expired,
            _ => return Err(RefusedTransition { from: self, event }),
        };
        Ok(next)
    }

    /// Placed in NOD, or past that: what "distributed or further" means for an order
    /// version's completion.
    pub fn is_in_nod_or_beyond(self) -> bool {
        matches!(
            self,
            Self::Distributed
                | Self::PickedUp
                | Self::Activated
                | Self::Expired
                | Self::CancelledExternally
        )
    }

    /// Whether `event` would be accepted in this status.
    pub fn accepts(self, event: TdEvent) -> bool {
        self.apply(event).is_ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generated => "GENERATED",
            Self::Distributed => "DISTRIBUTED",
            Self::PickedUp => "PICKED_UP",
            Self::Activated => "ACTIVATED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::CancelledExternally => "CANCELLED_EXTERNALLY",
            Self::Expired => "EXPIRED",
        }
    }

    /// The statuses in which a ticket can be valid (CONTRACT.md section 1).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Self::Generated | Self::Distributed | Self::PickedUp | Self::Activated
        )
    }

    /// No event leaves these statuses.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Cancelled | Self::CancelledExternally | Self::Expired
        )
    }
}

impl fmt::Display for TdStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TdStatus {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "ticket distribution status",
                value: s.to_owned(),
            })
    }
}

impl TdEvent {
    pub const ALL: [TdEvent; 7] = [
        TdEvent::Distributed,
        TdEvent::Failed,
        TdEvent::PickedUp,
        TdEvent::Activated,
        TdEvent::Cancelled,
        TdEvent::CancelledExternally,
        TdEvent::Expired,
    ];
}

impl CancelCause {
    pub const ALL: [CancelCause; 5] = [
        CancelCause::SupersededByOrderVersion,
        CancelCause::LineCredited,
        CancelCause::LineCancelled,
        CancelCause::LineRemoved,
        CancelCause::OrderCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SupersededByOrderVersion => "SUPERSEDED_BY_ORDER_VERSION",
            Self::LineCredited => "LINE_CREDITED",
            Self::LineCancelled => "LINE_CANCELLED",
            Self::LineRemoved => "LINE_REMOVED",
            Self::OrderCancelled => "ORDER_CANCELLED",
        }
    }
}

impl fmt::Display for CancelCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CancelCause {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|cause| cause.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "cancel cause",
                value: s.to_owned(),
            })
    }
}

impl InvalidReason {
    pub const ALL: [InvalidReason; 5] = [
        InvalidReason::Cancelled,
        InvalidReason::CancelledExternally,
        InvalidReason::SupersededByOrderVersion,
        InvalidReason::Expired,
        InvalidReason::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "CANCELLED",
            Self::CancelledExternally => "CANCELLED_EXTERNALLY",
            Self::SupersededByOrderVersion => "SUPERSEDED_BY_ORDER_VERSION",
            Self::Expired => "EXPIRED",
            Self::Failed => "FAILED",
        }
    }
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvalidReason {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "invalid reason",
                value: s.to_owned(),
            })
    }
}

/// Whether a ticket should be placed in NOD now: it was generated and never placed, or it
/// failed and was asked to be placed again (`replace_requested`). The store selects due
/// placements with SQL built from this rule.
pub fn needs_placement(status: TdStatus, replace_requested: bool) -> bool {
    match status {
        TdStatus::Generated => true,
        TdStatus::Failed => replace_requested,
        TdStatus::Distributed
        | TdStatus::PickedUp
        | TdStatus::Activated
        | TdStatus::Cancelled
        | TdStatus::CancelledExternally
        | TdStatus::Expired => false,
    }
}

/// The validity answer of the status endpoint (CONTRACT.md section 1): valid when the ticket
/// is live, belongs to the order's latest confirmed version and has not ended yet.
///
/// When it is not valid, the reason that explains most wins: a ticket cancelled because a
/// newer version replaced it says so rather than just CANCELLED, a terminal or failed status
/// beats the version check, and the clock comes last.
pub fn validity(
    status: TdStatus,
    cancel_cause: Option<CancelCause>,
    in_latest_confirmed_version: bool,
    end_of_validity: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Validity {
    let reason = match status {
        TdStatus::Cancelled if cancel_cause == Some(CancelCause::SupersededByOrderVersion) => {
            Some(InvalidReason::SupersededByOrderVersion)
        }
        TdStatus::Cancelled => Some(InvalidReason::Cancelled),
        TdStatus::CancelledExternally => Some(InvalidReason::CancelledExternally),
        TdStatus::Expired => Some(InvalidReason::Expired),
        TdStatus::Failed => Some(InvalidReason::Failed),
        TdStatus::Generated | TdStatus::Distributed | TdStatus::PickedUp | TdStatus::Activated => {
            if !in_latest_confirmed_version {
                Some(InvalidReason::SupersededByOrderVersion)
            } else if now >= end_of_validity {
                Some(InvalidReason::Expired)
            } else {
                None
            }
        }
    };
    Validity {
        valid: reason.is_none(),
        reason,
    }
}

#[cfg(test)]
mod tests;
