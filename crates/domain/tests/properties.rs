//! Property tests over random valid orders and random ticket lifecycles.
//!
//! The expected answers come from models written out below from CONTRACT.md (the status
//! machine, validity and the generation rules), never from the functions under test, so a
//! property fails when the code drifts from the contract rather than agreeing with itself.

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

// ---- Models of the contract, written from CONTRACT.md, not from the code under test ----

use TdEvent as E;
use TdStatus as S;

/// "A TD is valid when it is GENERATED, DISTRIBUTED, PICKED_UP or ACTIVATED, ..."
const LIVE: [TdStatus; 4] = [S::Generated, S::Distributed, S::PickedUp, S::Activated];

/// "CANCELLED / CANCELLED_EXTERNALLY / EXPIRED (terminal, ...)"
const TERMINAL: [TdStatus; 3] = [S::Cancelled, S::CancelledExternally, S::Expired];

/// Every transition the contract's status machine allows, one row each; "any other
/// transition is refused by the domain".
const TRANSITIONS: [(TdStatus, TdEvent, TdStatus); 19] = [
    // "GENERATED -> DISTRIBUTED when NOD accepted it; -> FAILED when NOD rejected it for
    // good or retries ran out; FAILED -> DISTRIBUTED by the distribute endpoint."
    (S::Generated, E::Distributed, S::Distributed),
    (S::Generated, E::Failed, S::Failed),
    (S::Failed, E::Distributed, S::Distributed),
    // The main line DISTRIBUTED -> PICKED_UP -> ACTIVATED; NOD may report an activation
    // whose pickup this service never saw.
    (S::Distributed, E::PickedUp, S::PickedUp),
    (S::PickedUp, E::Activated, S::Activated),
    (S::Distributed, E::Activated, S::Activated),
    // "CANCELLED is this service's own cancellation (credit, change)": whatever the ticket
    // has not ended yet, a failed one included (its line can still be credited).
    (S::Generated, E::Cancelled, S::Cancelled),
    (S::Distributed, E::Cancelled, S::Cancelled),
    (S::PickedUp, E::Cancelled, S::Cancelled),
    (S::Activated, E::Cancelled, S::Cancelled),
    (S::Failed, E::Cancelled, S::Cancelled),
    // "CANCELLED_EXTERNALLY is a cancellation seen in NOD": only a ticket that is in NOD.
    (
        S::Distributed,
        E::CancelledExternally,
        S::CancelledExternally,
    ),
    (S::PickedUp, E::CancelledExternally, S::CancelledExternally),
    (S::Activated, E::CancelledExternally, S::CancelledExternally),
    // "EXPIRED when validity ended": whatever the ticket has not ended yet.
    (S::Generated, E::Expired, S::Expired),
    (S::Distributed, E::Expired, S::Expired),
    (S::PickedUp, E::Expired, S::Expired),
    (S::Activated, E::Expired, S::Expired),
    (S::Failed, E::Expired, S::Expired),
];

fn contract_next(from: TdStatus, event: TdEvent) -> Option<TdStatus> {
    TRANSITIONS
        .iter()
        .find(|(f, e, _)| *f == from && *e == event)
        .map(|(_, _, to)| *to)
}

fn contract_cancellable(status: TdStatus) -> bool {
    contract_next(status, E::Cancelled).is_some()
}

/// The status endpoint's answer. `valid` is the contract's sentence word for word; the
/// reason is the first explanation that applies, in the documented order: a cancellation
/// by a newer version says so, a status that ended or failed beats the version check, and
/// the clock comes last.
fn contract_validity(
    status: TdStatus,
    cause: Option<CancelCause>,
    latest: bool,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Validity {
    let valid = LIVE.contains(&status) && latest && now < end;
    let explanations = [
        (
            status == S::Cancelled && cause == Some(CancelCause::SupersededByOrderVersion),
            InvalidReason::SupersededByOrderVersion,
        ),
        (status == S::Cancelled, InvalidReason::Cancelled),
        (
            status == S::CancelledExternally,
            InvalidReason::CancelledExternally,
        ),
        (status == S::Expired, InvalidReason::Expired),
        (status == S::Failed, InvalidReason::Failed),
        (!latest, InvalidReason::SupersededByOrderVersion),
        (now >= end, InvalidReason::Expired),
    ];
    let reason = explanations
        .iter()
        .find(|(applies, _)| *applies)
        .map(|(_, reason)| *reason);
    Validity { valid, reason }
}

/// "A ticketing segment: a maximal run of consecutive legs with the same authorityRef. A
/// line without legs (zone ticket) is one segment."
fn contract_segments(legs: &[Leg]) -> Vec<Vec<&Leg>> {
    let mut out: Vec<Vec<&Leg>> = Vec::new();
    for leg in legs {
        match out.last_mut() {
            Some(run) if run[0].authority_ref == leg.authority_ref => run.push(leg),
            _ => out.push(vec![leg]),
        }
    }
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

/// What one ticket must be, as far as the generation rules say.
#[derive(Debug, Clone, PartialEq)]
struct ContractTicket {
    segment: usize,
    main: FareProductId,
    legs: Vec<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// "One TD per MAIN fare product and per ticketing segment", segment by segment and within
/// one in product order; "TD validity: the segment's first departure to last arrival when
/// the line has legs, else the line's startOfValidity/endOfValidity."
fn contract_tickets(line: &OrderLine) -> Vec<ContractTicket> {
    let mut out = Vec::new();
    for (segment, legs) in contract_segments(&line.legs).iter().enumerate() {
        let (start, end) = match (legs.first(), legs.last()) {
            (Some(first), Some(last)) => (first.departure_time, last.arrival_time),
            _ => (
                line.start_of_validity.unwrap(),
                line.end_of_validity.unwrap(),
            ),
        };
        for product in &line.fare_products {
            if product.kind == FareProductKind::Main {
                out.push(ContractTicket {
                    segment,
                    main: product.id.clone(),
                    legs: legs.iter().map(|l| l.leg_id.clone()).collect(),
                    start,
                    end,
                });
            }
        }
    }
    out
}

fn tickets_of(group: &GeneratedGroup) -> Vec<ContractTicket> {
    group
        .distributions
        .iter()
        .map(|td| ContractTicket {
            segment: td.segment,
            main: td.main_product_id.clone(),
            legs: td.details.legs.iter().map(|l| l.leg_id.clone()).collect(),
            start: td.start_of_validity,
            end: td.end_of_validity,
        })
        .collect()
}

/// What a new order version does to one existing group, by the contract's wording.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Keep,
    Cancel(CancelCause),
}

/// "Lines whose version is unchanged keep their groups; lines that changed get new groups
/// and the old groups' TDs are CANCELLED; lines that are CREDITED or CANCELLED, or missing,
/// have their TDs CANCELLED. OrderCancelled cancels every TD."
fn contract_fate(next: &Order, cancelled_event: bool, group: &ExistingGroup) -> Fate {
    if cancelled_event || next.status == OrderStatus::Cancelled {
        return Fate::Cancel(CancelCause::OrderCancelled);
    }
    match next
        .order_lines
        .iter()
        .find(|l| l.id == group.order_line_id)
    {
        None => Fate::Cancel(CancelCause::LineRemoved),
        Some(line) => match line.status {
            OrderLineStatus::Credited => Fate::Cancel(CancelCause::LineCredited),
            OrderLineStatus::Cancelled => Fate::Cancel(CancelCause::LineCancelled),
            OrderLineStatus::Confirmed if line.version == group.order_line_version => Fate::Keep,
            OrderLineStatus::Confirmed => Fate::Cancel(CancelCause::SupersededByOrderVersion),
        },
    }
}

/// "One TDG per order line with status CONFIRMED", for the lines that have none of their
/// current version yet; "a DRAFT order produces nothing", nor does a cancelled one.
fn contract_new_groups(
    order: &Order,
    cancelled_event: bool,
    existing: &[ExistingGroup],
) -> Vec<(OrderLineId, u32)> {
    if cancelled_event || order.status != OrderStatus::Confirmed {
        return Vec::new();
    }
    order
        .order_lines
        .iter()
        .filter(|l| l.status == OrderLineStatus::Confirmed)
        .filter(|l| {
            !existing
                .iter()
                .any(|g| g.order_line_id == l.id && g.order_line_version == l.version)
        })
        .map(|l| (l.id.clone(), l.version))
        .collect()
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
            let segments = contract_segments(&line.legs);
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
    fn segments_are_the_maximal_runs_of_one_authority(order in order_strategy()) {
        for line in &order.order_lines {
            let got: Vec<Vec<&str>> = segments(&line.legs)
                .into_iter()
                .map(|range| line.legs[range].iter().map(|l| l.leg_id.as_str()).collect())
                .collect();
            let expected: Vec<Vec<&str>> = contract_segments(&line.legs)
                .iter()
                .map(|run| run.iter().map(|l| l.leg_id.as_str()).collect())
                .collect();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn each_line_gets_the_tickets_the_generation_rules_call_for(order in order_strategy()) {
        for line in confirmed_lines(&order) {
            let group = generate_group(&order, line);
            prop_assert_eq!(tickets_of(&group), contract_tickets(line));
        }
    }

    #[test]
    fn a_first_version_creates_one_group_per_confirmed_line_with_the_rules_tickets(
        order in order_strategy(),
        status in proptest::sample::select(vec![
            OrderStatus::Confirmed,
            OrderStatus::Confirmed,
            OrderStatus::Draft,
            OrderStatus::Cancelled,
        ]),
        cancelled_event in proptest::bool::weighted(0.1),
    ) {
        let order = Order { status, ..order };
        let plan = plan_version(&order, cancelled_event, &[]);
        prop_assert!(plan.keep.is_empty() && plan.cancel.is_empty());
        let created: Vec<(OrderLineId, u32)> = plan
            .create
            .iter()
            .map(|g| (g.order_line_id.clone(), g.order_line_version))
            .collect();
        prop_assert_eq!(created, contract_new_groups(&order, cancelled_event, &[]));
        for group in &plan.create {
            let line = order.order_lines.iter().find(|l| l.id == group.order_line_id).unwrap();
            prop_assert_eq!(tickets_of(group), contract_tickets(line));
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
            for segment in 0..contract_segments(&line.legs).len() {
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
        cancelled_order in proptest::bool::weighted(0.1),
    ) {
        let existing: Vec<ExistingGroup> =
            plan_version(&order, false, &[]).create.iter().map(|g| existing_from(g, &statuses)).collect();
        let mut next = order.clone();
        next.version += 1;
        if cancelled_order {
            next.status = OrderStatus::Cancelled;
        }
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
                    prop_assert_eq!(cancelled_set.contains(id), contract_cancellable(*status));
                }
            }
        }
        let existing_ids: HashSet<_> = existing.iter().map(|g| g.id).collect();
        prop_assert!(plan.create.iter().all(|g| !existing_ids.contains(&g.id)));
        if cancelled_event {
            prop_assert!(plan.keep.is_empty() && plan.create.is_empty());
            prop_assert!(plan.cancel.iter().all(|(_, c)| *c == CancelCause::OrderCancelled));
        }

        // Against the contract's wording: which groups stay, which tickets go and why, and
        // which lines get a new group.
        let mut expected_keep = HashSet::new();
        let mut expected_cancel = HashMap::new();
        for group in &existing {
            match contract_fate(&next, cancelled_event, group) {
                Fate::Keep => {
                    expected_keep.insert(group.id);
                }
                Fate::Cancel(cause) => {
                    for (id, status) in &group.distributions {
                        if contract_cancellable(*status) {
                            expected_cancel.insert(*id, cause);
                        }
                    }
                }
            }
        }
        prop_assert_eq!(plan.keep.iter().copied().collect::<HashSet<_>>(), expected_keep);
        prop_assert_eq!(plan.cancel.iter().copied().collect::<HashMap<_, _>>(), expected_cancel);
        let created: Vec<(OrderLineId, u32)> = plan
            .create
            .iter()
            .map(|g| (g.order_line_id.clone(), g.order_line_version))
            .collect();
        prop_assert_eq!(created, contract_new_groups(&next, cancelled_event, &existing));
    }

    #[test]
    fn every_transition_is_the_contracts(pairs in vec((any_status(), any_event()), 1..16)) {
        for (status, event) in pairs {
            let expected = contract_next(status, event);
            prop_assert_eq!(status.accepts(event), expected.is_some(), "{} + {:?}", status, event);
            match status.apply(event) {
                Ok(next) => {
                    prop_assert_eq!(Some(next), expected, "{} + {:?}", status, event);
                    prop_assert!(!TERMINAL.contains(&status));
                    prop_assert!(!status.is_terminal());
                    prop_assert_ne!(next, TdStatus::Generated);
                }
                Err(refused) => {
                    prop_assert_eq!(expected, None, "{} + {:?} refused", status, event);
                    prop_assert_eq!(refused, RefusedTransition { from: status, event });
                    // Asking again gives the same answer: nothing moved.
                    prop_assert_eq!(status.apply(event), Err(refused));
                }
            }
        }
    }

    #[test]
    fn no_event_sequence_leaves_a_terminal_state(start in any_status(), events in vec(any_event(), 0..30)) {
        let mut status = start;
        let mut model = start;
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
            model = contract_next(model, event).unwrap_or(model);
            prop_assert_eq!(status, model, "after {:?}", event);
            prop_assert_eq!(status.is_terminal(), TERMINAL.contains(&status));
            if let Some(t) = terminal {
                prop_assert_eq!(status, t);
            } else if TERMINAL.contains(&status) {
                terminal = Some(status);
            }
        }
    }

    #[test]
    fn validity_is_the_contracts_answer(
        status in any_status(),
        cause in proptest::option::of(proptest::sample::select(CancelCause::ALL.to_vec())),
        latest in any::<bool>(),
        end_offset in -5i64..5,
    ) {
        let now = Utc.with_ymd_and_hms(2027, 6, 1, 12, 0, 0).unwrap();
        let end = now + Duration::hours(end_offset);
        let expected = contract_validity(status, cause, latest, end, now);
        // The model's two halves, the contract's sentence and the reasons, must agree.
        prop_assert_eq!(expected.valid, expected.reason.is_none());
        prop_assert_eq!(validity(status, cause, latest, end, now), expected);
    }
}
