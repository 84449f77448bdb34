use super::*;
use crate::ids::{FareProductId, OrderId, OrderLineId, OrganisationId, TravellerId};
use crate::testkit::*;

/// The path and reason of the first rule `order` breaks, as a confirmed event.
fn rejection(order: Order) -> (String, Violation) {
    match validate(&event(order)) {
        Err(OrderError::Invalid { path, reason }) => (path, reason),
        other => panic!("expected an invalid order, got {other:?}"),
    }
}

fn rail_order() -> Order {
    let mut first = leg("A", "VYG:Authority:VYG", 8, 10, "S1", "S2");
    first.seats = vec![seat("12", Some("T1")), seat("13", None)];
    order(vec![legs_line(
        "L1",
        1,
        vec![
            main_product("P1", &["T1"]),
            main_product("P2", &["T2"]),
            supplement("S1", &["T2"]),
        ],
        vec![first, leg("B", "SJN:Authority:SJN", 10, 12, "S2", "S3")],
    )])
}

#[test]
fn the_sample_orders_are_valid() {
    assert_eq!(validate(&event(zone_order())), Ok(()));
    assert_eq!(validate(&event(rail_order())), Ok(()));
}

#[test]
fn empty_order_id_is_rejected() {
    let mut o = zone_order();
    o.id = OrderId::from("");
    assert_eq!(rejection(o), ("order.id".into(), Violation::Empty));
}

#[test]
fn order_version_zero_is_rejected() {
    let mut o = zone_order();
    o.version = 0;
    assert_eq!(
        rejection(o),
        ("order.version".into(), Violation::ZeroVersion)
    );
}

#[test]
fn organisation_ids_that_are_not_positive_are_rejected() {
    for raw in [0, -1, i64::MIN] {
        let mut o = zone_order();
        o.organisation_id = OrganisationId(raw);
        assert_eq!(
            rejection(o),
            ("order.organisationId".into(), Violation::NotPositive(raw))
        );
    }
}

#[test]
fn duplicate_traveller_ids_are_rejected() {
    let mut o = zone_order();
    o.travellers
        .push(traveller("T1", "Again", "TST:UserProfile:Adult"));
    assert_eq!(
        rejection(o),
        (
            "order.travellers[2].id".into(),
            Violation::DuplicateTravellerId(TravellerId::from("T1"))
        )
    );
}

#[test]
fn empty_traveller_id_is_rejected() {
    let mut o = zone_order();
    o.travellers[1].id = TravellerId::from("");
    assert_eq!(
        rejection(o),
        ("order.travellers[1].id".into(), Violation::Empty)
    );
}

#[test]
fn empty_line_id_is_rejected() {
    let mut o = zone_order();
    o.order_lines[0].id = OrderLineId::from("");
    assert_eq!(
        rejection(o),
        ("order.orderLines[0].id".into(), Violation::Empty)
    );
}

#[test]
fn duplicate_line_ids_are_rejected() {
    let mut o = zone_order();
    o.order_lines.push(o.order_lines[0].clone());
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[1].id".into(),
            Violation::DuplicateLineId(OrderLineId::from("L1"))
        )
    );
}

#[test]
fn line_version_zero_is_rejected() {
    let mut o = zone_order();
    o.order_lines[0].version = 0;
    assert_eq!(
        rejection(o),
        ("order.orderLines[0].version".into(), Violation::ZeroVersion)
    );
}

#[test]
fn duplicate_fare_product_ids_within_a_line_are_rejected() {
    let mut o = rail_order();
    o.order_lines[0].fare_products[2].id = FareProductId::from("P1");
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].fareProducts[2].id".into(),
            Violation::DuplicateFareProductId(FareProductId::from("P1"))
        )
    );
}

#[test]
fn the_same_fare_product_id_in_two_lines_is_fine() {
    let o = order(vec![
        zone_line("L1", 1, vec![main_product("P1", &["T1"])]),
        zone_line("L2", 1, vec![main_product("P1", &["T1"])]),
    ]);
    assert_eq!(validate(&event(o)), Ok(()));
}

#[test]
fn empty_fare_product_id_is_rejected() {
    let mut o = zone_order();
    o.order_lines[0].fare_products[0].id = FareProductId::from("");
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].fareProducts[0].id".into(),
            Violation::Empty
        )
    );
}

#[test]
fn confirmed_line_without_a_main_product_is_rejected() {
    let o = order(vec![zone_line("L1", 1, vec![supplement("S1", &["T1"])])]);
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].fareProducts".into(),
            Violation::NoMainProduct
        )
    );
    let o = order(vec![zone_line("L1", 1, vec![])]);
    assert_eq!(rejection(o).1, Violation::NoMainProduct);
}

#[test]
fn credited_or_cancelled_line_without_a_main_product_is_fine() {
    for status in [OrderLineStatus::Credited, OrderLineStatus::Cancelled] {
        let mut o = order(vec![zone_line("L1", 1, vec![])]);
        o.order_lines[0].status = status;
        assert_eq!(validate(&event(o)), Ok(()), "{status:?}");
    }
}

#[test]
fn fare_product_for_an_unknown_traveller_is_rejected() {
    let o = order(vec![zone_line(
        "L1",
        1,
        vec![main_product("P1", &["T1", "T9"])],
    )]);
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].fareProducts[0].travellerIds[1]".into(),
            Violation::UnknownTraveller("T9".into())
        )
    );
}

#[test]
fn seat_for_an_unknown_traveller_is_rejected() {
    let mut o = rail_order();
    o.order_lines[0].legs[0].seats[1].traveller_id = Some("T9".into());
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].legs[0].seats[1].travellerId".into(),
            Violation::UnknownTraveller("T9".into())
        )
    );
}

#[test]
fn leg_departing_after_it_arrives_is_rejected() {
    let mut o = rail_order();
    o.order_lines[0].legs[1] = leg("B", "SJN:Authority:SJN", 12, 11, "S2", "S3");
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].legs[1].departureTime".into(),
            Violation::DepartureAfterArrival {
                departure: ts("2027-03-01T12:00:00Z"),
                arrival: ts("2027-03-01T11:00:00Z")
            }
        )
    );
}

#[test]
fn leg_departing_when_it_arrives_is_fine() {
    let mut o = rail_order();
    o.order_lines[0].legs[1] = leg("B", "SJN:Authority:SJN", 11, 11, "S2", "S3");
    assert_eq!(validate(&event(o)), Ok(()));
}

#[test]
fn legs_out_of_travel_order_are_rejected() {
    let mut o = rail_order();
    o.order_lines[0].legs[1] = leg("B", "SJN:Authority:SJN", 7, 12, "S2", "S3");
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].legs[1].departureTime".into(),
            Violation::LegsOutOfOrder {
                previous: ts("2027-03-01T08:00:00Z"),
                departure: ts("2027-03-01T07:00:00Z")
            }
        )
    );
}

#[test]
fn overlapping_legs_in_departure_order_are_fine() {
    // The next leg may leave before the previous one arrives (a tight or planned overlap).
    let mut o = rail_order();
    o.order_lines[0].legs[1] = leg("B", "SJN:Authority:SJN", 9, 12, "S2", "S3");
    assert_eq!(validate(&event(o)), Ok(()));
}

#[test]
fn empty_leg_authority_is_rejected() {
    let mut o = rail_order();
    o.order_lines[0].legs[1].authority_ref = String::new();
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].legs[1].authorityRef".into(),
            Violation::Empty
        )
    );
}

#[test]
fn empty_or_duplicate_leg_id_is_rejected() {
    let mut o = rail_order();
    o.order_lines[0].legs[0].leg_id = String::new();
    assert_eq!(
        rejection(o),
        ("order.orderLines[0].legs[0].legId".into(), Violation::Empty)
    );
    let mut o = rail_order();
    o.order_lines[0].legs[1].leg_id = "A".into();
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].legs[1].legId".into(),
            Violation::DuplicateLegId("A".into())
        )
    );
}

#[test]
fn line_without_legs_needs_start_of_validity() {
    let mut o = zone_order();
    o.order_lines[0].start_of_validity = None;
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].startOfValidity".into(),
            Violation::MissingValidity
        )
    );
}

#[test]
fn line_without_legs_needs_end_of_validity() {
    let mut o = zone_order();
    o.order_lines[0].end_of_validity = None;
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].endOfValidity".into(),
            Violation::MissingValidity
        )
    );
}

#[test]
fn line_validity_must_not_be_empty() {
    let mut o = zone_order();
    o.order_lines[0].end_of_validity = o.order_lines[0].start_of_validity;
    let start = ts("2027-03-01T00:00:00Z");
    assert_eq!(
        rejection(o),
        (
            "order.orderLines[0].startOfValidity".into(),
            Violation::EmptyValidity { start, end: start }
        )
    );
}

#[test]
fn line_with_legs_needs_no_validity_but_a_given_one_must_not_be_empty() {
    let o = rail_order();
    assert!(o.order_lines[0].start_of_validity.is_none());
    assert_eq!(validate(&event(o.clone())), Ok(()));
    let mut o = o;
    o.order_lines[0].start_of_validity = Some(ts("2027-03-02T00:00:00Z"));
    o.order_lines[0].end_of_validity = Some(ts("2027-03-01T00:00:00Z"));
    assert!(matches!(rejection(o).1, Violation::EmptyValidity { .. }));
}

#[test]
fn order_confirmed_event_with_a_cancelled_order_is_rejected() {
    let mut o = zone_order();
    o.status = OrderStatus::Cancelled;
    assert_eq!(
        rejection(o),
        (
            "order.status".into(),
            Violation::ConfirmedEventForCancelledOrder
        )
    );
}

#[test]
fn order_cancelled_event_with_any_status_is_fine() {
    for status in [
        OrderStatus::Draft,
        OrderStatus::Confirmed,
        OrderStatus::Cancelled,
    ] {
        let mut e = event(zone_order());
        e.kind = OrderEventType::OrderCancelled;
        e.order.status = status;
        assert_eq!(validate(&e), Ok(()), "{status:?}");
    }
}

#[test]
fn order_confirmed_event_with_a_draft_order_is_fine() {
    let mut o = zone_order();
    o.status = OrderStatus::Draft;
    assert_eq!(validate(&event(o)), Ok(()));
}

#[test]
fn the_reason_reads_well_in_a_dead_letter_header() {
    let o = order(vec![zone_line("L1", 1, vec![main_product("P1", &["T9"])])]);
    let err = validate(&event(o)).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid order event: order.orderLines[0].fareProducts[0].travellerIds[0]: traveller "T9" is not one of order.travellers"#
    );
}
