//! The ticket distribution domain, shared by every service of the workspace: the order
//! events the sales platform publishes, the rules and limits they must pass, the generation
//! rules that turn an order version into ticket distribution groups (and say what a new
//! version keeps, creates and cancels), and the ticket status machine with its validity
//! answer.
//!
//! It is pure on purpose: no async, no I/O, no clock (callers pass `now`), no database or
//! transport types. Everything here is a plain function of its arguments, so it can be
//! tested exhaustively and every service applies exactly the same rules.

pub mod error;
pub mod generation;
pub mod ids;
pub mod language;
pub mod limits;
pub mod order;
pub mod parse;
pub mod status;
pub mod validate;

#[cfg(test)]
pub(crate) mod testkit;

pub use error::{OrderError, Violation};
pub use generation::{
    generate_group, plan_version, segments, ticket_count, DistributionDetails, ExistingGroup,
    GeneratedDistribution, GeneratedGroup, SupplementProduct, TdLeg, TdSeat, Topology, VersionPlan,
};
pub use ids::{
    CustomerId, FareProductId, OrderId, OrderLineId, OrganisationId, Scope,
    TicketDistributionGroupId, TicketDistributionId, TravellerId,
};
pub use language::Language;
pub use limits::Limits;
pub use order::{
    Contact, ContactInfo, FareProduct, FareProductKind, Leg, Order, OrderEvent, OrderEventType,
    OrderLine, OrderLineStatus, OrderStatus, Seat, StopPlace, Traveller,
};
pub use parse::{
    normalise, normalise_order, parse_order_event, parse_order_event_within, to_micros,
};
pub use status::{
    needs_placement, validity, CancelCause, InvalidReason, RefusedTransition, TdEvent, TdStatus,
    UnknownValue, Validity,
};
pub use validate::{validate, validate_order, validate_within};
