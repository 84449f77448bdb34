use super::*;
use crate::generation::plan_version;
use crate::ids::CustomerId;
use crate::order::{FareProduct, Leg, OrderStatus};
use crate::testkit::*;
use crate::validate::validate_within;

/// A rail line and a zone line with every optional string set, so each field can be bent.
fn rich_event() -> OrderEvent {
    let mut first = leg("A", "VYG:Authority:VYG", 8, 10, "S1", "S2");
    first.sub_mode = Some("regionalRail".to_owned());
    first.dated_service_journey_ref = Some("VYG:DatedServiceJourney:A".to_owned());
    first.seats = vec![seat("12", Some("T1")), seat("13", None)];
    let mut rail = legs_line(
        "L1",
        1,
        vec![
            main_product("P1", &["T1"]),
            main_product("P2", &["T2"]),
            supplement("S1", &["T2"]),
        ],
        vec![first, leg("B", "SJN:Authority:SJN", 10, 12, "S2", "S3")],
    );
    rail.from_stop_place = stop("S1", "Oslo S");
    rail.to_stop_place = stop("S3", "Trondheim S");
    rail.distribution_holder_customer_id = Some(CustomerId::from("C2"));
    let zone = zone_line("L2", 1, vec![main_product("P3", &["T1"])]);
    event(order(vec![rail, zone]))
}

/// A journey of `legs` legs, each with its own operator (so each is a ticketing segment of
/// its own, the most tickets legs can make), for `travellers` travellers with a MAIN product,
/// a supplement and a reserved seat on every leg each.
fn journey(legs: usize, travellers: usize) -> OrderEvent {
    let ids: Vec<String> = (1..=travellers).map(|t| format!("T{t}")).collect();
    let mut products: Vec<FareProduct> = Vec::new();
    for id in &ids {
        products.push(main_product(&format!("P-{id}"), &[id]));
        products.push(supplement(&format!("S-{id}"), &[id]));
    }
    let legs: Vec<Leg> = (0..legs)
        .map(|n| {
            let hour = u32::try_from(n).unwrap();
            let mut leg = leg(
                &format!("LEG{n}"),
                &format!("OP{n}:Authority:OP{n}"),
                hour,
                hour,
                &format!("NSR:StopPlace:{n}"),
                &format!("NSR:StopPlace:{}", n + 1),
            );
            leg.seats = ids
                .iter()
                .map(|id| seat(&format!("{n}-{id}"), Some(id)))
                .collect();
            leg
        })
        .collect();
    let mut order = order(vec![legs_line("L1", 1, products, legs)]);
    order.travellers = ids
        .iter()
        .map(|id| traveller(id, &format!("Traveller {id}"), "TST:UserProfile:Adult"))
        .collect();
    event(order)
}

fn refusal(event: &OrderEvent, limits: &Limits) -> (String, Violation) {
    match validate_within(event, limits) {
        Err(OrderError::Invalid { path, reason }) => (path, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn line(e: &mut OrderEvent) -> &mut OrderLine {
    &mut e.order.order_lines[0]
}

fn rail_leg(e: &mut OrderEvent) -> &mut Leg {
    &mut e.order.order_lines[0].legs[0]
}

fn repeat<T: Clone>(list: &mut Vec<T>, len: usize) {
    let first = list[0].clone();
    list.resize(len, first);
}

fn too_many(count: usize, max: usize, setting: &'static str) -> Violation {
    Violation::TooMany {
        count,
        max,
        setting,
    }
}

#[test]
fn the_default_limits_accept_a_rich_order_and_a_twenty_leg_journey_for_nine() {
    let limits = Limits::default();
    assert_eq!(validate_within(&rich_event(), &limits), Ok(()));
    let journey = journey(20, 9);
    assert_eq!(ticket_count(&journey.order, false), 180);
    assert_eq!(validate_within(&journey, &limits), Ok(()));
    assert_eq!(limits.first_invalid(), None);
}

#[test]
fn every_count_limit_refuses_one_entry_more_with_the_path_of_the_list() {
    type Mutation = fn(&mut OrderEvent);
    let cases: [(Mutation, &str, Violation); 7] = [
        (
            |e| repeat(&mut e.order.order_lines, 51),
            "order.orderLines",
            too_many(51, 50, "max_order_lines"),
        ),
        (
            |e| repeat(&mut e.order.travellers, 101),
            "order.travellers",
            too_many(101, 100, "max_travellers"),
        ),
        (
            |e| repeat(&mut line(e).fare_products[0].traveller_ids, 101),
            "order.orderLines[0].fareProducts[0].travellerIds",
            too_many(101, 100, "max_travellers"),
        ),
        (
            |e| repeat(&mut line(e).fare_products, 201),
            "order.orderLines[0].fareProducts",
            too_many(201, 200, "max_fare_products_per_line"),
        ),
        (
            |e| repeat(&mut line(e).legs, 51),
            "order.orderLines[0].legs",
            too_many(51, 50, "max_legs_per_line"),
        ),
        (
            |e| repeat(&mut rail_leg(e).seats, 101),
            "order.orderLines[0].legs[0].seats",
            too_many(101, 100, "max_seats_per_leg"),
        ),
        (
            |e| repeat(&mut e.order.order_lines[1].fare_zones, 201),
            "order.orderLines[1].fareZones",
            too_many(201, 200, "max_fare_zones_per_line"),
        ),
    ];
    for (mutate, path, violation) in cases {
        let mut e = rich_event();
        mutate(&mut e);
        assert_eq!(
            refusal(&e, &Limits::default()),
            (path.to_owned(), violation)
        );
    }
}

#[test]
fn the_tickets_an_order_generates_are_bounded() {
    let limits = Limits {
        max_tickets_per_order: 179,
        ..Limits::default()
    };
    assert_eq!(
        refusal(&journey(20, 9), &limits),
        (
            "order.orderLines".to_owned(),
            Violation::TooManyTickets {
                count: 180,
                max: 179
            }
        )
    );
    let at_the_limit = Limits {
        max_tickets_per_order: 180,
        ..limits
    };
    assert_eq!(validate_within(&journey(20, 9), &at_the_limit), Ok(()));
    // A cancellation generates nothing, so it is never refused for its tickets.
    let mut cancel = journey(20, 9);
    cancel.kind = OrderEventType::OrderCancelled;
    cancel.order.status = OrderStatus::Cancelled;
    assert_eq!(validate_within(&cancel, &limits), Ok(()));
}

#[test]
fn the_ticket_count_is_what_generation_creates() {
    // Two legs of one operator are one segment; a credited line generates nothing.
    let mut shared_operator = journey(4, 2);
    shared_operator.order.order_lines[0].legs[1].authority_ref = "OP0:Authority:OP0".to_owned();
    let mut credited = zone_line("L2", 1, vec![main_product("P9", &["T1"])]);
    credited.status = crate::order::OrderLineStatus::Credited;
    shared_operator.order.order_lines.push(credited);
    assert_eq!(ticket_count(&shared_operator.order, false), 3 * 2);
    let orders = [
        rich_event(),
        journey(20, 9),
        journey(1, 1),
        event(zone_order()),
        shared_operator,
    ];
    for e in orders {
        let created: usize = plan_version(&e.order, false, &[])
            .create
            .iter()
            .map(|g| g.distributions.len())
            .sum();
        assert_eq!(ticket_count(&e.order, false), created, "{}", e.order.id);
        assert!(created > 0);
    }
    let mut draft = rich_event().order;
    draft.status = OrderStatus::Draft;
    assert_eq!(ticket_count(&draft, false), 0);
    assert_eq!(ticket_count(&rich_event().order, true), 0);
}

type Field = fn(&mut OrderEvent) -> &mut String;

/// Every string of the event, with its JSON path and its length class.
fn string_fields() -> Vec<(Field, &'static str, &'static str)> {
    fn contact(e: &mut OrderEvent) -> &mut crate::order::Contact {
        e.order
            .contact_info
            .as_mut()
            .unwrap()
            .contact
            .as_mut()
            .unwrap()
    }
    vec![
        (
            |e| e.correlation_id.as_mut().unwrap(),
            "correlationId",
            "max_text_chars",
        ),
        (|e| &mut e.order.id.0, "order.id", "max_id_chars"),
        (
            |e| &mut contact(e).customer_id.as_mut().unwrap().0,
            "order.contactInfo.contact.customerId",
            "max_id_chars",
        ),
        (
            |e| contact(e).email.as_mut().unwrap(),
            "order.contactInfo.contact.email",
            "max_text_chars",
        ),
        (
            |e| &mut e.order.travellers[1].id.0,
            "order.travellers[1].id",
            "max_id_chars",
        ),
        (
            |e| e.order.travellers[0].name.as_mut().unwrap(),
            "order.travellers[0].name",
            "max_name_chars",
        ),
        (
            |e| e.order.travellers[0].user_profile_ref.as_mut().unwrap(),
            "order.travellers[0].userProfileRef",
            "max_id_chars",
        ),
        (
            |e| &mut line(e).id.0,
            "order.orderLines[0].id",
            "max_id_chars",
        ),
        (
            |e| &mut line(e).distribution_holder_customer_id.as_mut().unwrap().0,
            "order.orderLines[0].distributionHolderCustomerId",
            "max_id_chars",
        ),
        (
            |e| &mut line(e).from_stop_place.as_mut().unwrap().id,
            "order.orderLines[0].fromStopPlace.id",
            "max_id_chars",
        ),
        (
            |e| {
                line(e)
                    .to_stop_place
                    .as_mut()
                    .unwrap()
                    .name
                    .as_mut()
                    .unwrap()
            },
            "order.orderLines[0].toStopPlace.name",
            "max_name_chars",
        ),
        (
            |e| &mut e.order.order_lines[1].fare_zones[0],
            "order.orderLines[1].fareZones[0]",
            "max_id_chars",
        ),
        (
            |e| &mut line(e).fare_products[2].id.0,
            "order.orderLines[0].fareProducts[2].id",
            "max_id_chars",
        ),
        (
            |e| &mut line(e).fare_products[0].reference,
            "order.orderLines[0].fareProducts[0].ref",
            "max_id_chars",
        ),
        (
            |e| line(e).fare_products[1].name.as_mut().unwrap(),
            "order.orderLines[0].fareProducts[1].name",
            "max_name_chars",
        ),
        (
            |e| &mut line(e).fare_products[1].traveller_ids[0].0,
            "order.orderLines[0].fareProducts[1].travellerIds[0]",
            "max_id_chars",
        ),
        (
            |e| &mut rail_leg(e).leg_id,
            "order.orderLines[0].legs[0].legId",
            "max_id_chars",
        ),
        (
            |e| &mut rail_leg(e).mode,
            "order.orderLines[0].legs[0].mode",
            "max_id_chars",
        ),
        (
            |e| rail_leg(e).sub_mode.as_mut().unwrap(),
            "order.orderLines[0].legs[0].subMode",
            "max_id_chars",
        ),
        (
            |e| &mut line(e).legs[1].authority_ref,
            "order.orderLines[0].legs[1].authorityRef",
            "max_id_chars",
        ),
        (
            |e| rail_leg(e).service_journey_ref.as_mut().unwrap(),
            "order.orderLines[0].legs[0].serviceJourneyRef",
            "max_id_chars",
        ),
        (
            |e| rail_leg(e).dated_service_journey_ref.as_mut().unwrap(),
            "order.orderLines[0].legs[0].datedServiceJourneyRef",
            "max_id_chars",
        ),
        (
            |e| &mut rail_leg(e).from_stop_place,
            "order.orderLines[0].legs[0].fromStopPlace",
            "max_id_chars",
        ),
        (
            |e| &mut rail_leg(e).to_stop_place,
            "order.orderLines[0].legs[0].toStopPlace",
            "max_id_chars",
        ),
        (
            |e| &mut rail_leg(e).seats[1].seat_number,
            "order.orderLines[0].legs[0].seats[1].seatNumber",
            "max_id_chars",
        ),
        (
            |e| rail_leg(e).seats[0].railcar_number.as_mut().unwrap(),
            "order.orderLines[0].legs[0].seats[0].railcarNumber",
            "max_id_chars",
        ),
        (
            |e| &mut rail_leg(e).seats[0].traveller_id.as_mut().unwrap().0,
            "order.orderLines[0].legs[0].seats[0].travellerId",
            "max_id_chars",
        ),
    ]
}

#[test]
fn no_string_of_the_event_may_hold_a_control_character() {
    for (field, path, _) in string_fields() {
        for (bad, code) in [
            ("ab\u{0}", 0x0),
            ("ab\n", 0xA),
            ("ab\t", 0x9),
            ("ab\u{7f}", 0x7F),
            ("ab\u{9b}", 0x9B),
        ] {
            let mut e = rich_event();
            let value = field(&mut e);
            value.truncate(0);
            value.push_str(bad);
            assert_eq!(
                refusal(&e, &Limits::default()),
                (
                    path.to_owned(),
                    Violation::ControlCharacter { code, position: 2 }
                ),
                "{path} = {bad:?}"
            );
        }
    }
}

#[test]
fn every_string_is_held_to_the_length_of_its_class_in_characters() {
    let limits = Limits::default();
    for (field, path, setting) in string_fields() {
        let max = match setting {
            "max_id_chars" => limits.max_id_chars,
            "max_name_chars" => limits.max_name_chars,
            _ => limits.max_text_chars,
        };
        // Four bytes a character: the limit counts characters, not bytes.
        let mut at_the_limit = rich_event();
        *field(&mut at_the_limit) = "𝄞".repeat(max);
        let accepted = limits.check(&at_the_limit);
        assert_eq!(accepted, Ok(()), "{path}");

        let mut over = rich_event();
        *field(&mut over) = "x".repeat(max + 1);
        assert_eq!(
            refusal(&over, &limits),
            (
                path.to_owned(),
                Violation::TooLong {
                    length: max + 1,
                    max,
                    setting
                }
            ),
            "{path}"
        );
    }
}

#[test]
fn versions_above_what_an_int_column_holds_are_refused() {
    let limits = Limits::default();
    let mut e = rich_event();
    e.order.version = MAX_VERSION;
    line(&mut e).version = MAX_VERSION;
    assert_eq!(validate_within(&e, &limits), Ok(()));

    let mut e = rich_event();
    e.order.version = MAX_VERSION + 1;
    assert_eq!(
        refusal(&e, &limits),
        (
            "order.version".to_owned(),
            Violation::VersionTooLarge {
                version: 2_147_483_648
            }
        )
    );
    let mut e = rich_event();
    e.order.order_lines[1].version = u32::MAX;
    assert_eq!(
        refusal(&e, &limits),
        (
            "order.orderLines[1].version".to_owned(),
            Violation::VersionTooLarge { version: u32::MAX }
        )
    );
}

#[test]
fn every_instant_must_fall_in_the_years_0001_to_9999() {
    type Instant = fn(&mut OrderEvent) -> &mut DateTime<Utc>;
    let instants: [(Instant, &str); 6] = [
        (|e| &mut e.timestamp, "timestamp"),
        (
            |e| e.order.last_confirmed_at.as_mut().unwrap(),
            "order.lastConfirmedAt",
        ),
        (
            |e| e.order.order_lines[1].start_of_validity.as_mut().unwrap(),
            "order.orderLines[1].startOfValidity",
        ),
        (
            |e| e.order.order_lines[1].end_of_validity.as_mut().unwrap(),
            "order.orderLines[1].endOfValidity",
        ),
        (
            |e| &mut rail_leg(e).departure_time,
            "order.orderLines[0].legs[0].departureTime",
        ),
        (
            |e| &mut line(e).legs[1].arrival_time,
            "order.orderLines[0].legs[1].arrivalTime",
        ),
    ];
    let limits = Limits::default();
    for (instant, path) in instants {
        for bad in [
            "0000-12-31T23:59:59Z",
            "+10000-01-01T00:00:00Z",
            "-0001-06-01T00:00:00Z",
        ] {
            let at: DateTime<Utc> = bad.parse().expect(bad);
            let mut e = rich_event();
            *instant(&mut e) = at;
            assert_eq!(
                refusal(&e, &limits),
                (path.to_owned(), Violation::YearOutOfRange { at }),
                "{path} = {bad}"
            );
        }
        for good in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"] {
            let mut e = rich_event();
            *instant(&mut e) = good.parse().expect(good);
            assert_eq!(limits.check(&e), Ok(()), "{path} = {good}");
        }
    }
}

#[test]
fn the_message_key_and_stored_headers_are_held_to_the_rules_of_an_id() {
    let limits = Limits::default();
    assert_eq!(limits.check_message_value("message key", "ORD1"), Ok(()));
    let err = limits
        .check_message_value("header traceparent", "00-ab\u{0}")
        .unwrap_err();
    assert_eq!(err.path(), "header traceparent");
    assert_eq!(
        err,
        OrderError::invalid(
            "header traceparent",
            Violation::ControlCharacter {
                code: 0,
                position: 5
            }
        )
    );
    let long = "k".repeat(limits.max_id_chars + 1);
    assert!(matches!(
        limits.check_message_value("message key", &long),
        Err(OrderError::Invalid {
            reason: Violation::TooLong { .. },
            ..
        })
    ));
}

#[test]
fn a_refusal_reads_on_its_own_in_the_dead_letter_header() {
    let mut e = rich_event();
    e.order.travellers[0].name = Some("Ada\u{0}".to_owned());
    let text = validate_within(&e, &Limits::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        "invalid order event: order.travellers[0].name: contains the control character \
         U+0000 at character 3; control characters (NUL, line breaks, tabs, …) are not allowed"
    );
    let mut e = rich_event();
    repeat(&mut e.order.order_lines, 51);
    assert_eq!(
        validate_within(&e, &Limits::default())
            .unwrap_err()
            .to_string(),
        "invalid order event: order.orderLines: has 51 entries, more than the 50 allowed \
         (intake.max_order_lines)"
    );
}

#[test]
fn a_limit_that_cannot_work_is_named() {
    let zero = Limits {
        max_seats_per_leg: 0,
        ..Limits::default()
    };
    assert_eq!(
        zero.first_invalid().map(|(field, _)| field),
        Some("max_seats_per_leg")
    );
    let wide = Limits {
        max_id_chars: MAX_ID_CHARS_CEILING + 1,
        ..Limits::default()
    };
    assert_eq!(
        wide.first_invalid().map(|(field, _)| field),
        Some("max_id_chars")
    );
    let tickets = Limits {
        max_tickets_per_order: i32::MAX as usize + 1,
        ..Limits::default()
    };
    assert_eq!(
        tickets.first_invalid().map(|(field, _)| field),
        Some("max_tickets_per_order")
    );
}
