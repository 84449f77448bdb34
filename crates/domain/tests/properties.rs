//! Property tests over random valid orders and random ticket lifecycles.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use td_domain::*;

const AUTHORITIES: [&str; 3] = [
    "VYG:Authority:VYG",
    "SJN:Authority:SJN",
    "RUT:Authority:RUT",
];

#[derive(Debug, Clone)]
struct LegSpec {
    authority: usize,
    gap_minutes: i64,
    duration_minutes: i64,
    seats: Vec<(u16, Option<usize>)>,
}

#[derive(Debug, Clone)]
struct LineSpec {
    version: u32,
    status: OrderLineStatus,
    authorities: usize,
    legs: Vec<LegSpec>,
    mains: Vec<Vec<usize>>,
    supplements: Vec<Vec<usize>>,
}

fn leg_spec() -> impl Strategy<Value = LegSpec> {
    (
        0usize..3,
        0i64..120,
        0i64..300,
        vec((1u16..90, proptest::option::of(0usize..6)), 0..4),
    )
        .prop_map(
            |(authority, gap_minutes, duration_minutes, seats)| LegSpec {
                authority,
                gap_minutes,
                duration_minutes,
                seats,
            },
        )
}

fn line_spec() -> impl Strategy<Value = LineSpec> {
    let status = prop_oneof![
        6 => Just(OrderLineStatus::Confirmed),
        1 => Just(OrderLineStatus::Credited),
        1 => Just(OrderLineStatus::Cancelled),
    ];
    (
        1u32..4,
        status,
        1usize..=3,
        vec(leg_spec(), 0..6),
        vec(vec(0usize..6, 1..3), 1..=3),
        vec(vec(0usize..6, 0..3), 0..=2),
    )
        .prop_map(
            |(version, status, authorities, legs, mains, supplements)| LineSpec {
                version,
                status,
                authorities,
                legs,
                mains,
                supplements,
            },
        )
}

/// Picks travellers by index, without repeats, in first-seen order.
fn pick(travellers: &[TravellerId], picks: &[usize]) -> Vec<TravellerId> {
    let mut out: Vec<TravellerId> = Vec::new();
    for p in picks {
        let id = &travellers[p % travellers.len()];
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

fn build_line(index: usize, spec: &LineSpec, travellers: &[TravellerId]) -> OrderLine {
    let base: DateTime<Utc> =
        Utc.with_ymd_and_hms(2027, 1, 1, 6, 0, 0).unwrap() + Duration::days(index as i64);
    let mut departure = base;
    let legs: Vec<Leg> = spec
        .legs
        .iter()
        .enumerate()
        .map(|(n, l)| {
            departure += Duration::minutes(l.gap_minutes);
            Leg {
                leg_id: format!("L{index}-leg{n}"),
                mode: "rail".to_owned(),
                sub_mode: None,
                authority_ref: AUTHORITIES[l.authority % spec.authorities].to_owned(),
                service_journey_ref: Some(format!("TST:ServiceJourney:{n}")),
                dated_service_journey_ref: None,
                departure_time: departure,
                arrival_time: departure + Duration::minutes(l.duration_minutes),
                from_stop_place: format!("NSR:StopPlace:{n}"),
                to_stop_place: format!("NSR:StopPlace:{}", n + 1),
                seats: l
                    .seats
                    .iter()
                    .map(|(number, t)| Seat {
                        seat_number: number.to_string(),
                        railcar_number: Some("4".to_owned()),
                        traveller_id: t.map(|t| travellers[t % travellers.len()].clone()),
                    })
                    .collect(),
            }
        })
        .collect();
    let product = |k: usize, kind: FareProductKind, picks: &Vec<usize>| FareProduct {
        id: FareProductId(format!("FP{k}")),
        reference: format!("TST:PreassignedFareProduct:{k}"),
        name: None,
        kind,
        traveller_ids: pick(travellers, picks),
    };
    let mut fare_products: Vec<FareProduct> = spec
        .mains
        .iter()
        .enumerate()
        .map(|(k, p)| product(k, FareProductKind::Main, p))
        .collect();
    let mains = fare_products.len();
    fare_products.extend(
        spec.supplements
            .iter()
            .enumerate()
            .map(|(k, p)| product(mains + k, FareProductKind::Supplement, p)),
    );
    let stop = |id: String| {
        Some(StopPlace {
            id,
            name: Some("Somewhere".to_owned()),
        })
    };
    OrderLine {
        id: OrderLineId(format!("L{index}")),
        version: spec.version,
        status: spec.status,
        start_of_validity: legs.is_empty().then_some(base),
        end_of_validity: legs.is_empty().then(|| base + Duration::days(30)),
        from_stop_place: stop("NSR:StopPlace:0".to_owned()),
        to_stop_place: stop(format!("NSR:StopPlace:{}", legs.len())),
        legs,
        fare_products,
        fare_zones: vec!["TST:FareZone:1".to_owned()],
        distribution_holder_customer_id: None,
    }
}

fn order_strategy() -> impl Strategy<Value = Order> {
    (1usize..=4, vec(line_spec(), 1..4), 1u32..5).prop_map(|(n_travellers, lines, version)| {
        let travellers: Vec<TravellerId> = (0..n_travellers)
            .map(|t| TravellerId(format!("T{t}")))
            .collect();
        Order {
            id: OrderId("PROP0001".to_owned()),
            version,
            status: OrderStatus::Confirmed,
            organisation_id: OrganisationId(1),
            last_confirmed_at: None,
            contact_info: Some(ContactInfo {
                contact: Some(Contact {
                    customer_id: Some(CustomerId("C1".to_owned())),
                    email: None,
                }),
            }),
            travellers: travellers
                .iter()
                .map(|id| Traveller {
                    id: id.clone(),
                    name: Some(format!("Name of {id}")),
                    user_profile_ref: Some("ENT:UserProfile:Adult".to_owned()),
                })
                .collect(),
            order_lines: lines
                .iter()
                .enumerate()
                .map(|(i, spec)| build_line(i, spec, &travellers))
                .collect(),
        }
    })
}

fn confirmed_lines(order: &Order) -> impl Iterator<Item = &OrderLine> {
    order
        .order_lines
        .iter()
        .filter(|l| l.status == OrderLineStatus::Confirmed)
}

fn mains(line: &OrderLine) -> Vec<&FareProduct> {
    line.fare_products
        .iter()
        .filter(|p| p.kind == FareProductKind::Main)
        .collect()
}

fn existing_from(group: &GeneratedGroup, statuses: &[TdStatus]) -> ExistingGroup {
    ExistingGroup {
        id: group.id,
        order_line_id: group.order_line_id.clone(),
        order_line_version: group.order_line_version,
        distributions: group
            .distributions
            .iter()
            .enumerate()
            .map(|(n, td)| {
                (
                    td.id,
                    statuses
                        .get(n % statuses.len().max(1))
                        .copied()
                        .unwrap_or(TdStatus::Generated),
                )
            })
            .collect(),
    }
}

fn any_status() -> impl Strategy<Value = TdStatus> {
    proptest::sample::select(TdStatus::ALL.to_vec())
}

fn any_event() -> impl Strategy<Value = TdEvent> {
    proptest::sample::select(TdEvent::ALL.to_vec())
}

proptest! {
    #[test]
    fn generated_orders_are_valid(order in order_strategy()) {
        prop_assert_eq!(validate_order(&order), Ok(()));
    }

    #[test]
    fn an_event_survives_json_and_parsing_unchanged(order in order_strategy()) {
        let event = OrderEvent {
            event_id: uuid::Uuid::from_u128(7),
            kind: OrderEventType::OrderConfirmed,
            correlation_id: Some("c".to_owned()),
            timestamp: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
            order,
        };
        let bytes = serde_json::to_vec(&event).unwrap();
        prop_assert_eq!(parse_order_event(&bytes), Ok(event));
    }

    #[test]
    fn every_main_product_covers_every_leg_exactly_once(order in order_strategy()) {
        for line in confirmed_lines(&order) {
            let group = generate_group(&order, line);
            let all_legs: Vec<&str> = line.legs.iter().map(|l| l.leg_id.as_str()).collect();
            for main in mains(line) {
                let covered: Vec<&str> = group
                    .distributions
                    .iter()
                    .filter(|td| td.main_product_id == main.id)
                    .flat_map(|td| td.details.legs.iter().map(|l| l.leg_id.as_str()))
                    .collect();
                prop_assert_eq!(&covered, &all_legs);
            }
        }
    }

    #[test]
    fn every_main_product_of_every_segment_gets_exactly_one_ticket(order in order_strategy()) {
        for line in confirmed_lines(&order) {
            let group = generate_group(&order, line);
            let segments = segments(&line.legs);
            let mains = mains(line);
            prop_assert_eq!(group.distributions.len(), segments.len() * mains.len());
            let mut count: HashMap<(usize, &FareProductId), usize> = HashMap::new();
            for td in &group.distributions {
                *count.entry((td.segment, &td.main_product_id)).or_default() += 1;
            }
            for segment in 0..segments.len() {
                for main in &mains {
                    prop_assert_eq!(count.get(&(segment, &main.id)), Some(&1));
                }
            }
        }
    }

    #[test]
    fn ticket_ids_are_unique_across_the_order(order in order_strategy()) {
        let mut seen = HashSet::new();
        for line in confirmed_lines(&order) {
            for td in generate_group(&order, line).distributions {
                prop_assert!(seen.insert(td.id), "duplicate ticket id {}", td.id);
            }
        }
    }

    #[test]
    fn every_seat_lands_on_exactly_one_ticket_of_its_leg(order in order_strategy()) {
        for line in confirmed_lines(&order) {
            let group = generate_group(&order, line);
            let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
            for leg in &line.legs {
                for seat in &leg.seats {
                    *expected.entry((leg.leg_id.clone(), seat.seat_number.clone())).or_default() += 1;
                }
            }
            let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
            for td in &group.distributions {
                for seat in &td.details.seats {
                    prop_assert!(td.details.legs.iter().any(|l| l.leg_id == seat.leg_id));
                    *got.entry((seat.leg_id.clone(), seat.seat_number.clone())).or_default() += 1;
                }
            }
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn every_supplement_rides_once_on_every_segment(order in order_strategy()) {
        for line in confirmed_lines(&order) {
            let group = generate_group(&order, line);
            for segment in 0..segments(&line.legs).len() {
                for supplement in line.fare_products.iter().filter(|p| p.kind == FareProductKind::Supplement) {
                    let rides = group
                        .distributions
                        .iter()
                        .filter(|td| td.segment == segment)
                        .flat_map(|td| &td.details.supplement_products)
                        .filter(|s| s.id == supplement.id.0)
                        .count();
                    prop_assert_eq!(rides, 1);
                }
            }
        }
    }

    #[test]
    fn ticket_validity_never_ends_before_it_starts(order in order_strategy()) {
        for line in confirmed_lines(&order) {
            for td in generate_group(&order, line).distributions {
                prop_assert!(td.start_of_validity <= td.end_of_validity);
            }
        }
    }

    #[test]
    fn generating_the_same_order_twice_gives_equal_results(order in order_strategy()) {
        let once = plan_version(&order, false, &[]);
        let again = plan_version(&order.clone(), false, &[]);
        prop_assert_eq!(once, again);
    }

    #[test]
    fn planning_an_order_against_its_own_groups_keeps_everything(
        order in order_strategy(),
        statuses in vec(any_status(), 1..8),
    ) {
        let created = plan_version(&order, false, &[]).create;
        let existing: Vec<ExistingGroup> = created.iter().map(|g| existing_from(g, &statuses)).collect();
        let plan = plan_version(&order, false, &existing);
        prop_assert_eq!(plan.keep, existing.iter().map(|g| g.id).collect::<Vec<_>>());
        prop_assert!(plan.create.is_empty());
        prop_assert!(plan.cancel.is_empty());
    }

    #[test]
    fn a_new_version_never_keeps_and_cancels_the_same_ticket(
        order in order_strategy(),
        changes in vec(0u8..5, 4),
        statuses in vec(any_status(), 1..8),
        cancelled_event in proptest::bool::weighted(0.1),
    ) {
        let existing: Vec<ExistingGroup> =
            plan_version(&order, false, &[]).create.iter().map(|g| existing_from(g, &statuses)).collect();
        let mut next = order.clone();
        next.version += 1;
        for (line, change) in next.order_lines.iter_mut().zip(&changes) {
            match change {
                1 => line.version += 1,
                2 => line.status = OrderLineStatus::Credited,
                3 => line.status = OrderLineStatus::Cancelled,
                _ => {}
            }
        }
        let mut index = 0;
        next.order_lines.retain(|_| {
            index += 1;
            changes.get(index - 1) != Some(&4)
        });

        let plan = plan_version(&next, cancelled_event, &existing);

        let kept: HashSet<_> = plan.keep.iter().collect();
        let cancelled: Vec<TicketDistributionId> = plan.cancel.iter().map(|(id, _)| *id).collect();
        let cancelled_set: HashSet<_> = cancelled.iter().collect();
        prop_assert_eq!(cancelled_set.len(), cancelled.len(), "a ticket cancelled twice");
        for group in &existing {
            for (id, status) in &group.distributions {
                if kept.contains(&group.id) {
                    prop_assert!(!cancelled_set.contains(id), "kept and cancelled: {}", id);
                } else {
                    // A group that is not kept is over: each ticket that can be cancelled is.
                    prop_assert_eq!(cancelled_set.contains(id), status.accepts(TdEvent::Cancelled));
                }
            }
        }
        let existing_ids: HashSet<_> = existing.iter().map(|g| g.id).collect();
        prop_assert!(plan.create.iter().all(|g| !existing_ids.contains(&g.id)));
        if cancelled_event {
            prop_assert!(plan.keep.is_empty() && plan.create.is_empty());
            prop_assert!(plan.cancel.iter().all(|(_, c)| *c == CancelCause::OrderCancelled));
        }
    }

    #[test]
    fn a_refused_transition_changes_nothing(status in any_status(), event in any_event()) {
        match status.apply(event) {
            Ok(next) => {
                prop_assert!(status.accepts(event));
                prop_assert!(!status.is_terminal());
                prop_assert_ne!(next, TdStatus::Generated);
            }
            Err(refused) => {
                prop_assert_eq!(refused, RefusedTransition { from: status, event });
                prop_assert!(!status.accepts(event));
                // Asking again gives the same answer: nothing moved.
                prop_assert_eq!(status.apply(event), Err(refused));
            }
        }
    }

    #[test]
    fn no_event_sequence_leaves_a_terminal_state(start in any_status(), events in vec(any_event(), 0..30)) {
        let mut status = start;
        let mut terminal: Option<TdStatus> = None;
        for event in events {
            // The way a worker uses the machine: a refusal is logged and the status kept.
            status = match status.apply(event) {
                Ok(next) => next,
                Err(refused) => {
                    prop_assert_eq!(refused.from, status);
                    status
                }
            };
            if let Some(t) = terminal {
                prop_assert_eq!(status, t);
            } else if status.is_terminal() {
                terminal = Some(status);
            }
        }
    }

    #[test]
    fn only_a_live_current_unexpired_ticket_is_valid(
        status in any_status(),
        cause in proptest::option::of(proptest::sample::select(CancelCause::ALL.to_vec())),
        latest in any::<bool>(),
        end_offset in -5i64..5,
    ) {
        let now = Utc.with_ymd_and_hms(2027, 6, 1, 12, 0, 0).unwrap();
        let end = now + Duration::hours(end_offset);
        let answer = validity(status, cause, latest, end, now);
        prop_assert_eq!(answer.valid, status.is_live() && latest && now < end);
        prop_assert_eq!(answer.valid, answer.reason.is_none());
    }
}
