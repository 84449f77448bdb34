use super::*;
use crate::ids::OrderId;
use crate::testkit::*;

const VY: &str = "VYG:Authority:VYG";
const SJ: &str = "SJN:Authority:SJN";

fn authorities(list: &[&str]) -> Vec<Leg> {
    list.iter()
        .enumerate()
        .map(|(n, a)| leg(&format!("leg{n}"), a, 8 + n as u32, 9 + n as u32, "X", "Y"))
        .collect()
}

#[test]
fn a_line_without_legs_is_one_empty_segment() {
    assert_eq!(segments(&[]), vec![0..0]);
}

#[test]
fn consecutive_legs_of_one_authority_are_one_segment() {
    assert_eq!(segments(&authorities(&[VY])), vec![0..1]);
    assert_eq!(segments(&authorities(&[VY, VY, VY])), vec![0..3]);
}

#[test]
fn a_change_of_authority_starts_a_new_segment_even_back_to_an_earlier_one() {
    assert_eq!(
        segments(&authorities(&[VY, VY, SJ, VY])),
        vec![0..2, 2..3, 3..4]
    );
}

#[test]
fn zone_ticket_gives_one_ticket_valid_as_the_line() {
    let o = zone_order();
    let group = generate_group(&o, &o.order_lines[0]);
    assert_eq!(
        group.id,
        TicketDistributionGroupId::derive(&OrderId::from("ORD1"), &"L1".into(), 1)
    );
    assert_eq!(group.order_line_id.as_str(), "L1");
    assert_eq!(group.order_line_version, 1);
    assert_eq!(group.distributions.len(), 1);
    let td = &group.distributions[0];
    assert_eq!(
        td.id,
        TicketDistributionId::derive(group.id, 0, &"P1".into())
    );
    assert_eq!(td.segment, 0);
    assert_eq!(td.main_product_id.as_str(), "P1");
    assert_eq!(td.start_of_validity, ts("2027-03-01T00:00:00Z"));
    assert_eq!(td.end_of_validity, ts("2027-04-01T00:00:00Z"));
    assert_eq!(td.fare_product_ref, "TST:PreassignedFareProduct:P1");
    assert_eq!(td.fare_product_name.as_deref(), Some("Product P1"));
    assert!(td.details.legs.is_empty() && td.details.seats.is_empty());
}

#[test]
fn ticket_carries_the_first_traveller_of_its_main_product() {
    let o = order(vec![zone_line(
        "L1",
        1,
        vec![main_product("P1", &["T2", "T1"])],
    )]);
    let td = &generate_group(&o, &o.order_lines[0]).distributions[0];
    assert_eq!(td.traveller_id, Some("T2".into()));
    assert_eq!(
        td.user_profile_ref.as_deref(),
        Some("TST:UserProfile:Child")
    );
    assert_eq!(td.details.traveller_name.as_deref(), Some("Bo"));
}

#[test]
fn main_product_without_travellers_gives_a_ticket_without_traveller() {
    let o = order(vec![zone_line("L1", 1, vec![main_product("P1", &[])])]);
    let td = &generate_group(&o, &o.order_lines[0]).distributions[0];
    assert_eq!(
        (
            td.traveller_id.clone(),
            td.user_profile_ref.clone(),
            td.details.traveller_name.clone()
        ),
        (None, None, None)
    );
}

#[test]
fn zone_ticket_topology_is_the_lines() {
    let mut o = zone_order();
    o.order_lines[0].from_stop_place = stop("NSR:StopPlace:1", "Here");
    o.order_lines[0].to_stop_place = stop("NSR:StopPlace:2", "There");
    let td = &generate_group(&o, &o.order_lines[0]).distributions[0];
    assert_eq!(
        td.details.topology,
        Topology {
            from_stop_place: Some("NSR:StopPlace:1".into()),
            from_stop_place_name: Some("Here".into()),
            to_stop_place: Some("NSR:StopPlace:2".into()),
            to_stop_place_name: Some("There".into()),
            fare_zones: vec!["TST:FareZone:1".into()],
        }
    );
}

#[test]
fn distribution_holder_is_the_lines_else_the_contacts() {
    let mut o = zone_order();
    assert_eq!(
        generate_group(&o, &o.order_lines[0]).distribution_holder_customer_id,
        Some("C1".into())
    );
    o.order_lines[0].distribution_holder_customer_id = Some("C2".into());
    assert_eq!(
        generate_group(&o, &o.order_lines[0]).distribution_holder_customer_id,
        Some("C2".into())
    );
    o.order_lines[0].distribution_holder_customer_id = None;
    o.contact_info = None;
    assert_eq!(
        generate_group(&o, &o.order_lines[0]).distribution_holder_customer_id,
        None
    );
}

/// Oslo → Lillehammer → Hamar → Otta: VY, VY, then SJ, two travellers, a bicycle for T2.
fn rail_order() -> Order {
    let mut line = legs_line(
        "L1",
        3,
        vec![
            main_product("P1", &["T1"]),
            supplement("BIKE", &["T2"]),
            main_product("P2", &["T2"]),
        ],
        vec![
            leg("A", VY, 8, 10, "OSL", "LHM"),
            leg("B", VY, 10, 11, "LHM", "HMR"),
            leg("C", SJ, 11, 13, "HMR", "OTA"),
        ],
    );
    line.from_stop_place = stop("OSL", "Oslo S");
    line.to_stop_place = stop("OTA", "Otta");
    line.fare_zones = vec!["Z1".into()];
    order(vec![line])
}

#[test]
fn one_ticket_per_main_product_and_segment_in_segment_then_product_order() {
    let o = rail_order();
    let group = generate_group(&o, &o.order_lines[0]);
    let shape: Vec<_> = group
        .distributions
        .iter()
        .map(|td| (td.segment, td.main_product_id.as_str()))
        .collect();
    assert_eq!(shape, [(0, "P1"), (0, "P2"), (1, "P1"), (1, "P2")]);
    for td in &group.distributions {
        assert_eq!(
            td.id,
            TicketDistributionId::derive(group.id, td.segment, &td.main_product_id)
        );
    }
}

#[test]
fn ticket_validity_is_its_segments_first_departure_to_last_arrival() {
    let o = rail_order();
    let group = generate_group(&o, &o.order_lines[0]);
    let first = &group.distributions[0];
    let second = &group.distributions[2];
    assert_eq!(
        (first.start_of_validity, first.end_of_validity),
        (ts("2027-03-01T08:00:00Z"), ts("2027-03-01T11:00:00Z"))
    );
    assert_eq!(
        (second.start_of_validity, second.end_of_validity),
        (ts("2027-03-01T11:00:00Z"), ts("2027-03-01T13:00:00Z"))
    );
}

#[test]
fn ticket_lists_its_segments_legs() {
    let o = rail_order();
    let group = generate_group(&o, &o.order_lines[0]);
    let legs = |td: &GeneratedDistribution| {
        td.details
            .legs
            .iter()
            .map(|l| l.leg_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(legs(&group.distributions[0]), ["A", "B"]);
    assert_eq!(legs(&group.distributions[3]), ["C"]);
    let c = &group.distributions[3].details.legs[0];
    assert_eq!(
        (
            c.authority_ref.as_str(),
            c.from_stop_place.as_str(),
            c.to_stop_place.as_str()
        ),
        (SJ, "HMR", "OTA")
    );
    assert_eq!(
        c.service_journey_ref.as_deref(),
        Some("TST:ServiceJourney:C")
    );
}

#[test]
fn segment_topology_names_only_the_lines_own_ends() {
    let o = rail_order();
    let group = generate_group(&o, &o.order_lines[0]);
    let first = &group.distributions[0].details.topology;
    assert_eq!(
        (
            first.from_stop_place.as_deref(),
            first.from_stop_place_name.as_deref()
        ),
        (Some("OSL"), Some("Oslo S"))
    );
    assert_eq!(
        (
            first.to_stop_place.as_deref(),
            first.to_stop_place_name.as_deref()
        ),
        (Some("HMR"), None)
    );
    let second = &group.distributions[2].details.topology;
    assert_eq!(
        (
            second.from_stop_place.as_deref(),
            second.from_stop_place_name.as_deref()
        ),
        (Some("HMR"), None)
    );
    assert_eq!(
        (
            second.to_stop_place.as_deref(),
            second.to_stop_place_name.as_deref()
        ),
        (Some("OTA"), Some("Otta"))
    );
    assert_eq!(second.fare_zones, ["Z1"]);
}

fn supplements_of(td: &GeneratedDistribution) -> Vec<&str> {
    td.details
        .supplement_products
        .iter()
        .map(|s| s.id.as_str())
        .collect()
}

#[test]
fn supplement_rides_on_its_travellers_ticket_on_every_segment() {
    let o = rail_order();
    let group = generate_group(&o, &o.order_lines[0]);
    let on: Vec<_> = group.distributions.iter().map(supplements_of).collect();
    assert_eq!(on, [vec![], vec!["BIKE"], vec![], vec!["BIKE"]]);
    let bike = &group.distributions[1].details.supplement_products[0];
    assert_eq!(
        (bike.reference.as_str(), bike.name.as_deref()),
        ("TST:PreassignedFareProduct:BIKE", Some("Product BIKE"))
    );
}

#[test]
fn supplement_without_a_matching_traveller_rides_on_the_first_ticket() {
    let mut o = rail_order();
    o.order_lines[0].fare_products[1].traveller_ids.clear();
    let group = generate_group(&o, &o.order_lines[0]);
    let on: Vec<_> = group.distributions.iter().map(supplements_of).collect();
    assert_eq!(on, [vec!["BIKE"], vec![], vec!["BIKE"], vec![]]);
}

#[test]
fn supplement_prefers_the_ticket_in_its_travellers_name() {
    // P1 covers both travellers, but P2's ticket is in T2's name.
    let o = order(vec![zone_line(
        "L1",
        1,
        vec![
            main_product("P1", &["T1", "T2"]),
            main_product("P2", &["T2"]),
            supplement("DOG", &["T2"]),
        ],
    )]);
    let group = generate_group(&o, &o.order_lines[0]);
    assert_eq!(
        group
            .distributions
            .iter()
            .map(supplements_of)
            .collect::<Vec<_>>(),
        [vec![], vec!["DOG"]]
    );
}

#[test]
fn supplement_for_a_co_traveller_rides_on_the_product_covering_them() {
    let o = order(vec![zone_line(
        "L1",
        1,
        vec![
            main_product("P1", &["T1", "T2"]),
            supplement("DOG", &["T2"]),
        ],
    )]);
    let group = generate_group(&o, &o.order_lines[0]);
    assert_eq!(supplements_of(&group.distributions[0]), ["DOG"]);
}

fn seats_of(td: &GeneratedDistribution) -> Vec<(&str, &str)> {
    td.details
        .seats
        .iter()
        .map(|s| (s.leg_id.as_str(), s.seat_number.as_str()))
        .collect()
}

#[test]
fn reserved_seats_go_to_their_travellers_ticket_and_stay_in_their_segment() {
    let mut o = rail_order();
    let legs = &mut o.order_lines[0].legs;
    legs[0].seats = vec![seat("11", Some("T2")), seat("12", Some("T1"))];
    legs[2].seats = vec![seat("51", Some("T2"))];
    let group = generate_group(&o, &o.order_lines[0]);
    let seats: Vec<_> = group.distributions.iter().map(seats_of).collect();
    assert_eq!(
        seats,
        [
            vec![("A", "12")],
            vec![("A", "11")],
            vec![],
            vec![("C", "51")]
        ]
    );
    assert_eq!(
        group.distributions[0].details.seats[0]
            .railcar_number
            .as_deref(),
        Some("3")
    );
}

#[test]
fn unreserved_seats_are_dealt_out_per_leg_in_product_order() {
    let mut o = rail_order();
    let legs = &mut o.order_lines[0].legs;
    legs[0].seats = vec![seat("1", None), seat("2", None), seat("3", None)];
    legs[1].seats = vec![seat("7", Some("T1")), seat("8", None)];
    let group = generate_group(&o, &o.order_lines[0]);
    let seats: Vec<_> = group.distributions.iter().map(seats_of).collect();
    assert_eq!(
        seats,
        [
            vec![("A", "1"), ("A", "3"), ("B", "7"), ("B", "8")],
            vec![("A", "2")],
            vec![],
            vec![]
        ]
    );
}

#[test]
fn seat_for_a_traveller_without_a_ticket_is_dealt_out_like_an_unreserved_one() {
    let mut o = order(vec![legs_line(
        "L1",
        1,
        vec![main_product("P1", &["T1"])],
        vec![leg("A", VY, 8, 9, "X", "Y")],
    )]);
    o.order_lines[0].legs[0].seats = vec![seat("1", Some("T2"))];
    let group = generate_group(&o, &o.order_lines[0]);
    assert_eq!(seats_of(&group.distributions[0]), [("A", "1")]);
}

#[test]
fn generating_twice_gives_the_same_ids() {
    let o = rail_order();
    assert_eq!(
        generate_group(&o, &o.order_lines[0]),
        generate_group(&o, &o.order_lines[0])
    );
}

#[test]
fn a_new_line_version_gives_new_ids() {
    let o = rail_order();
    let mut o2 = o.clone();
    o2.order_lines[0].version += 1;
    let a = generate_group(&o, &o.order_lines[0]);
    let b = generate_group(&o2, &o2.order_lines[0]);
    assert_ne!(a.id, b.id);
    assert!(a
        .distributions
        .iter()
        .all(|x| b.distributions.iter().all(|y| x.id != y.id)));
}

// ---- plan_version ----

fn existing(group: &GeneratedGroup, status: TdStatus) -> ExistingGroup {
    ExistingGroup {
        id: group.id,
        order_line_id: group.order_line_id.clone(),
        order_line_version: group.order_line_version,
        distributions: group
            .distributions
            .iter()
            .map(|td| (td.id, status))
            .collect(),
    }
}

/// Two lines, each with one ticket, generated and DISTRIBUTED as version 1.
fn two_lines() -> (Order, Vec<ExistingGroup>) {
    let o = order(vec![
        zone_line("L1", 1, vec![main_product("P1", &["T1"])]),
        zone_line("L2", 1, vec![main_product("P1", &["T2"])]),
    ]);
    let groups = o
        .order_lines
        .iter()
        .map(|l| existing(&generate_group(&o, l), TdStatus::Distributed))
        .collect();
    (o, groups)
}

fn td(group: &ExistingGroup) -> TicketDistributionId {
    group.distributions[0].0
}

#[test]
fn first_version_creates_a_group_per_confirmed_line_only() {
    let mut o = order(vec![
        zone_line("L1", 1, vec![main_product("P1", &["T1"])]),
        zone_line("L2", 1, vec![main_product("P1", &["T1"])]),
        zone_line("L3", 1, vec![main_product("P1", &["T1"])]),
    ]);
    o.order_lines[1].status = OrderLineStatus::Credited;
    let plan = plan_version(&o, false, &[]);
    let created: Vec<_> = plan
        .create
        .iter()
        .map(|g| g.order_line_id.as_str())
        .collect();
    assert_eq!(created, ["L1", "L3"]);
    assert_eq!(plan.create[0], generate_group(&o, &o.order_lines[0]));
    assert!(plan.keep.is_empty() && plan.cancel.is_empty());
}

#[test]
fn same_order_again_keeps_every_group() {
    let (o, groups) = two_lines();
    let plan = plan_version(&o, false, &groups);
    assert_eq!(
        plan,
        VersionPlan {
            keep: vec![groups[0].id, groups[1].id],
            create: vec![],
            cancel: vec![]
        }
    );
}

#[test]
fn unchanged_line_is_kept_when_the_order_version_moves_on() {
    let (mut o, groups) = two_lines();
    o.version = 2;
    assert_eq!(
        plan_version(&o, false, &groups).keep,
        [groups[0].id, groups[1].id]
    );
}

#[test]
fn changed_line_gets_a_new_group_and_the_old_one_is_superseded() {
    let (mut o, groups) = two_lines();
    o.version = 2;
    o.order_lines[1].version = 2;
    let plan = plan_version(&o, false, &groups);
    assert_eq!(plan.keep, [groups[0].id]);
    assert_eq!(plan.create, [generate_group(&o, &o.order_lines[1])]);
    assert_eq!(
        plan.cancel,
        [(td(&groups[1]), CancelCause::SupersededByOrderVersion)]
    );
}

#[test]
fn credited_line_is_cancelled_as_credited() {
    let (mut o, groups) = two_lines();
    o.order_lines[0].status = OrderLineStatus::Credited;
    o.order_lines[0].version = 2;
    let plan = plan_version(&o, false, &groups);
    assert_eq!(plan.keep, [groups[1].id]);
    assert!(plan.create.is_empty());
    assert_eq!(plan.cancel, [(td(&groups[0]), CancelCause::LineCredited)]);
}

#[test]
fn cancelled_line_is_cancelled_as_cancelled() {
    let (mut o, groups) = two_lines();
    o.order_lines[1].status = OrderLineStatus::Cancelled;
    let plan = plan_version(&o, false, &groups);
    assert_eq!(plan.cancel, [(td(&groups[1]), CancelCause::LineCancelled)]);
}

#[test]
fn missing_line_is_cancelled_as_removed() {
    let (mut o, groups) = two_lines();
    o.order_lines.remove(0);
    let plan = plan_version(&o, false, &groups);
    assert_eq!(plan.keep, [groups[1].id]);
    assert_eq!(plan.cancel, [(td(&groups[0]), CancelCause::LineRemoved)]);
}

#[test]
fn order_cancelled_event_cancels_every_ticket_whatever_the_status() {
    let (o, groups) = two_lines();
    let plan = plan_version(&o, true, &groups);
    assert!(plan.keep.is_empty() && plan.create.is_empty());
    assert_eq!(
        plan.cancel,
        [
            (td(&groups[0]), CancelCause::OrderCancelled),
            (td(&groups[1]), CancelCause::OrderCancelled)
        ]
    );
}

#[test]
fn cancelled_order_status_cancels_every_ticket() {
    let (mut o, groups) = two_lines();
    o.status = OrderStatus::Cancelled;
    let plan = plan_version(&o, false, &groups);
    assert!(plan.keep.is_empty() && plan.create.is_empty());
    assert_eq!(plan.cancel.len(), 2);
    assert!(plan
        .cancel
        .iter()
        .all(|(_, cause)| *cause == CancelCause::OrderCancelled));
}

#[test]
fn draft_order_plans_nothing() {
    let (mut o, groups) = two_lines();
    o.status = OrderStatus::Draft;
    assert_eq!(plan_version(&o, false, &groups), VersionPlan::default());
    assert_eq!(plan_version(&o, false, &[]), VersionPlan::default());
}

#[test]
fn only_tickets_that_accept_cancellation_are_listed() {
    let o = rail_order();
    let group = generate_group(&o, &o.order_lines[0]);
    let statuses = [
        TdStatus::Failed,
        TdStatus::Expired,
        TdStatus::CancelledExternally,
        TdStatus::Activated,
    ];
    let mut old = existing(&group, TdStatus::Generated);
    for (slot, status) in old.distributions.iter_mut().zip(statuses) {
        slot.1 = status;
    }
    let plan = plan_version(&o, true, &[old.clone()]);
    let ids: Vec<_> = plan.cancel.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [old.distributions[0].0, old.distributions[3].0]);
}

#[test]
fn cancellations_follow_the_lines_then_the_existing_groups() {
    let o = order(vec![
        zone_line("L1", 1, vec![main_product("P1", &["T1"])]),
        zone_line("L2", 1, vec![main_product("P1", &["T1"])]),
        zone_line("L3", 1, vec![main_product("P1", &["T1"])]),
        zone_line("L4", 1, vec![main_product("P1", &["T1"])]),
    ]);
    let groups: Vec<_> = o
        .order_lines
        .iter()
        .map(|l| existing(&generate_group(&o, l), TdStatus::Generated))
        .collect();
    let mut next = o.clone();
    next.version = 2;
    next.order_lines.remove(0); // L1 removed
    next.order_lines.swap(0, 2); // L4, L3, L2
    next.order_lines[0].status = OrderLineStatus::Credited; // L4
    next.order_lines[2].version = 2; // L2 changed
    let plan = plan_version(&next, false, &groups);
    assert_eq!(
        plan.cancel,
        [
            (td(&groups[3]), CancelCause::LineCredited),
            (td(&groups[1]), CancelCause::SupersededByOrderVersion),
            (td(&groups[0]), CancelCause::LineRemoved),
        ]
    );
    assert_eq!(plan.keep, [groups[2].id]);
    assert_eq!(plan.create.len(), 1);
}
