//! The generation rules of CONTRACT.md section 3 as pure functions: which groups and tickets
//! an order version calls for, and what a new version keeps, creates and cancels.

use crate::ids::{
    CustomerId, FareProductId, OrderLineId, TicketDistributionGroupId, TicketDistributionId,
    TravellerId,
};
use crate::order::{
    FareProduct, FareProductKind, Leg, Order, OrderLine, OrderLineStatus, OrderStatus, StopPlace,
};
use crate::status::{CancelCause, TdEvent, TdStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// A group to create: one per CONFIRMED order line.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedGroup {
    pub id: TicketDistributionGroupId,
    pub order_line_id: OrderLineId,
    pub order_line_version: u32,
    pub distribution_holder_customer_id: Option<CustomerId>,
    pub distributions: Vec<GeneratedDistribution>,
}

/// A ticket to create: one MAIN product on one ticketing segment.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedDistribution {
    pub id: TicketDistributionId,
    /// Index of the ticketing segment within the line (0 for a line without legs).
    pub segment: usize,
    pub main_product_id: FareProductId,
    pub start_of_validity: DateTime<Utc>,
    pub end_of_validity: DateTime<Utc>,
    pub fare_product_ref: String,
    pub fare_product_name: Option<String>,
    pub user_profile_ref: Option<String>,
    pub traveller_id: Option<TravellerId>,
    pub details: DistributionDetails,
}

/// The descriptive part of a ticket, stored as one JSON document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DistributionDetails {
    pub topology: Topology,
    pub legs: Vec<TdLeg>,
    pub seats: Vec<TdSeat>,
    pub supplement_products: Vec<SupplementProduct>,
    /// The traveller's name, for printed tickets.
    #[serde(default)]
    pub traveller_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    pub from_stop_place: Option<String>,
    pub from_stop_place_name: Option<String>,
    pub to_stop_place: Option<String>,
    pub to_stop_place_name: Option<String>,
    pub fare_zones: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TdLeg {
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TdSeat {
    pub seat_number: String,
    pub railcar_number: Option<String>,
    pub leg_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupplementProduct {
    pub id: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub name: Option<String>,
}

/// A group that exists from an earlier version of the order, as the planner needs to see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingGroup {
    pub id: TicketDistributionGroupId,
    pub order_line_id: OrderLineId,
    pub order_line_version: u32,
    pub distributions: Vec<(TicketDistributionId, TdStatus)>,
}

/// What one order version does to the order's groups.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VersionPlan {
    /// Existing groups that belong to the new version unchanged.
    pub keep: Vec<TicketDistributionGroupId>,
    /// Groups to create for new or changed lines.
    pub create: Vec<GeneratedGroup>,
    /// Tickets to cancel, each with why. Only tickets whose status allows cancellation.
    pub cancel: Vec<(TicketDistributionId, CancelCause)>,
}

/// The ticketing segments of a line: maximal runs of consecutive legs with the same
/// `authorityRef`. A line without legs is one segment (an empty range at 0).
pub fn segments(legs: &[Leg]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for n in 1..legs.len() {
        if legs[n].authority_ref != legs[n - 1].authority_ref {
            out.push(start..n);
            start = n;
        }
    }
    out.push(start..legs.len());
    out
}

/// How many tickets the groups of the version hold, created or kept: one per MAIN product
/// and ticketing segment of each CONFIRMED line; none for a cancellation or an order that
/// is not CONFIRMED. Counted without building them, so an oversized order is refused
/// before it costs anything.
pub fn ticket_count(order: &Order, cancelled_event: bool) -> usize {
    if cancelled_event || order.status != OrderStatus::Confirmed {
        return 0;
    }
    order
        .order_lines
        .iter()
        .filter(|line| line.status == OrderLineStatus::Confirmed)
        .map(|line| {
            let mains = line
                .fare_products
                .iter()
                .filter(|p| p.kind == FareProductKind::Main)
                .count();
            mains.saturating_mul(segments(&line.legs).len())
        })
        .fold(0, usize::saturating_add)
}

/// The group one CONFIRMED line calls for. The order must have passed `validate`.
///
/// Tickets come segment by segment, and within a segment in the order of the line's MAIN
/// products; their ids derive from the group, segment and product, so generating the same
/// line version again yields the same ids.
///
/// # Panics
///
/// When the line has no legs and lacks `startOfValidity` or `endOfValidity`, which
/// `validate` rejects.
pub fn generate_group(order: &Order, line: &OrderLine) -> GeneratedGroup {
    let id = TicketDistributionGroupId::derive(&order.id, &line.id, line.version);
    let mains: Vec<&FareProduct> = line
        .fare_products
        .iter()
        .filter(|p| p.kind == FareProductKind::Main)
        .collect();
    let supplements: Vec<&FareProduct> = line
        .fare_products
        .iter()
        .filter(|p| p.kind == FareProductKind::Supplement)
        .collect();

    let mut distributions = Vec::new();
    for (segment, range) in segments(&line.legs).into_iter().enumerate() {
        let legs = &line.legs[range];
        distributions.extend(segment_distributions(
            order,
            line,
            id,
            segment,
            legs,
            &mains,
            &supplements,
        ));
    }

    let holder = line.distribution_holder_customer_id.clone().or_else(|| {
        order
            .contact_info
            .as_ref()
            .and_then(|c| c.contact.as_ref())
            .and_then(|c| c.customer_id.clone())
    });
    GeneratedGroup {
        id,
        order_line_id: line.id.clone(),
        order_line_version: line.version,
        distribution_holder_customer_id: holder,
        distributions,
    }
}

/// One ticket per MAIN product on one segment, with the segment's supplements and seats
/// shared out among them.
fn segment_distributions(
    order: &Order,
    line: &OrderLine,
    group: TicketDistributionGroupId,
    segment: usize,
    legs: &[Leg],
    mains: &[&FareProduct],
    supplements: &[&FareProduct],
) -> Vec<GeneratedDistribution> {
    let (start_of_validity, end_of_validity) = match (legs.first(), legs.last()) {
        (Some(first), Some(last)) => (first.departure_time, last.arrival_time),
        _ => (
            line.start_of_validity
                .expect("validated: a line without legs has startOfValidity"),
            line.end_of_validity
                .expect("validated: a line without legs has endOfValidity"),
        ),
    };
    let topology = topology(line, legs);
    let td_legs: Vec<TdLeg> = legs.iter().map(td_leg).collect();

    let mut out: Vec<GeneratedDistribution> = mains
        .iter()
        .map(|main| {
            let traveller_id = main.traveller_ids.first().cloned();
            let traveller = traveller_id
                .as_ref()
                .and_then(|t| order.travellers.iter().find(|tr| &tr.id == t));
            GeneratedDistribution {
                id: TicketDistributionId::derive(group, segment, &main.id),
                segment,
                main_product_id: main.id.clone(),
                start_of_validity,
                end_of_validity,
                fare_product_ref: main.reference.clone(),
                fare_product_name: main.name.clone(),
                user_profile_ref: traveller.and_then(|t| t.user_profile_ref.clone()),
                traveller_id,
                details: DistributionDetails {
                    topology: topology.clone(),
                    legs: td_legs.clone(),
                    seats: Vec::new(),
                    supplement_products: Vec::new(),
                    traveller_name: traveller.and_then(|t| t.name.clone()),
                },
            }
        })
        .collect();
    if out.is_empty() {
        return out;
    }

    // A supplement is line-wide: it rides on every segment, with the traveller it is for.
    for supplement in supplements {
        let target = holder_of(mains, &supplement.traveller_ids).unwrap_or(0);
        out[target]
            .details
            .supplement_products
            .push(SupplementProduct {
                id: supplement.id.0.clone(),
                reference: supplement.reference.clone(),
                name: supplement.name.clone(),
            });
    }

    // A reserved seat goes to its traveller's ticket; the others are dealt out round-robin
    // per leg, in product order, so each leg's free seats spread over the travellers.
    for leg in legs {
        let mut unassigned = 0;
        for seat in &leg.seats {
            let holder = seat
                .traveller_id
                .as_ref()
                .and_then(|t| holder_of(mains, std::slice::from_ref(t)));
            let target = holder.unwrap_or_else(|| {
                let target = unassigned % out.len();
                unassigned += 1;
                target
            });
            out[target].details.seats.push(TdSeat {
                seat_number: seat.seat_number.clone(),
                railcar_number: seat.railcar_number.clone(),
                leg_id: leg.leg_id.clone(),
            });
        }
    }
    out
}

/// The ticket for one of `travellers`: the first MAIN product whose ticket is in one of
/// their names, else the first that covers one of them at all.
fn holder_of(mains: &[&FareProduct], travellers: &[TravellerId]) -> Option<usize> {
    mains
        .iter()
        .position(|main| {
            main.traveller_ids
                .first()
                .is_some_and(|t| travellers.contains(t))
        })
        .or_else(|| {
            mains
                .iter()
                .position(|main| main.traveller_ids.iter().any(|t| travellers.contains(t)))
        })
}

fn topology(line: &OrderLine, legs: &[Leg]) -> Topology {
    let (Some(first), Some(last)) = (legs.first(), legs.last()) else {
        return Topology {
            from_stop_place: line.from_stop_place.as_ref().map(|s| s.id.clone()),
            from_stop_place_name: line.from_stop_place.as_ref().and_then(|s| s.name.clone()),
            to_stop_place: line.to_stop_place.as_ref().map(|s| s.id.clone()),
            to_stop_place_name: line.to_stop_place.as_ref().and_then(|s| s.name.clone()),
            fare_zones: line.fare_zones.clone(),
        };
    };
    // The line only names its own ends; a segment that starts or ends elsewhere gets ids only.
    let name_of = |stop: &Option<StopPlace>, id: &str| {
        stop.as_ref()
            .filter(|s| s.id == id)
            .and_then(|s| s.name.clone())
    };
    Topology {
        from_stop_place: Some(first.from_stop_place.clone()),
        from_stop_place_name: name_of(&line.from_stop_place, &first.from_stop_place),
        to_stop_place: Some(last.to_stop_place.clone()),
        to_stop_place_name: name_of(&line.to_stop_place, &last.to_stop_place),
        fare_zones: line.fare_zones.clone(),
    }
}

fn td_leg(leg: &Leg) -> TdLeg {
    TdLeg {
        leg_id: leg.leg_id.clone(),
        mode: leg.mode.clone(),
        sub_mode: leg.sub_mode.clone(),
        authority_ref: leg.authority_ref.clone(),
        service_journey_ref: leg.service_journey_ref.clone(),
        dated_service_journey_ref: leg.dated_service_journey_ref.clone(),
        departure_time: leg.departure_time,
        arrival_time: leg.arrival_time,
        from_stop_place: leg.from_stop_place.clone(),
        to_stop_place: leg.to_stop_place.clone(),
    }
}

/// What a newly recorded order version does, given the groups that are live from the
/// previous latest version. The order must have passed `validate`.
///
/// A CONFIRMED line whose version is unchanged keeps its group; a changed one gets a new
/// group and the old one's tickets are cancelled as superseded. CREDITED, CANCELLED and
/// missing lines have their tickets cancelled; so does every ticket when the order is
/// cancelled. Only tickets that accept [`TdEvent::Cancelled`] are listed. The output
/// follows the order's lines, then `existing`.
pub fn plan_version(
    order: &Order,
    cancelled_event: bool,
    existing: &[ExistingGroup],
) -> VersionPlan {
    let mut plan = VersionPlan::default();
    if cancelled_event || order.status == OrderStatus::Cancelled {
        for group in existing {
            cancel_group(group, CancelCause::OrderCancelled, &mut plan.cancel);
        }
        return plan;
    }
    if order.status == OrderStatus::Draft {
        return plan;
    }

    for line in &order.order_lines {
        let line_groups = existing.iter().filter(|g| g.order_line_id == line.id);
        match line.status {
            OrderLineStatus::Confirmed => {
                let mut kept = None;
                for group in line_groups {
                    if kept.is_none() && group.order_line_version == line.version {
                        kept = Some(group.id);
                    } else {
                        cancel_group(
                            group,
                            CancelCause::SupersededByOrderVersion,
                            &mut plan.cancel,
                        );
                    }
                }
                match kept {
                    Some(id) => plan.keep.push(id),
                    None => plan.create.push(generate_group(order, line)),
                }
            }
            OrderLineStatus::Credited => {
                line_groups
                    .for_each(|g| cancel_group(g, CancelCause::LineCredited, &mut plan.cancel));
            }
            OrderLineStatus::Cancelled => {
                line_groups
                    .for_each(|g| cancel_group(g, CancelCause::LineCancelled, &mut plan.cancel));
            }
        }
    }

    for group in existing {
        if !order
            .order_lines
            .iter()
            .any(|line| line.id == group.order_line_id)
        {
            cancel_group(group, CancelCause::LineRemoved, &mut plan.cancel);
        }
    }
    plan
}

fn cancel_group(
    group: &ExistingGroup,
    cause: CancelCause,
    cancel: &mut Vec<(TicketDistributionId, CancelCause)>,
) {
    let cancellable = group
        .distributions
        .iter()
        .filter(|(_, status)| status.accepts(TdEvent::Cancelled));
    cancel.extend(cancellable.map(|(id, _)| (*id, cause)));
}

#[cfg(test)]
mod tests;
