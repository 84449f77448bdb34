//! Order versions as a property. Random histories of one order (lines added, changed,
//! credited, cancelled and removed; sometimes the order cancelled at the end) are delivered
//! out of order and with repeats, each event in a transaction of its own as the intake does,
//! with NOD placing and picking up tickets and cancelling what it was asked to in between.
//! After every step:
//!
//! - the live tickets of the order are exactly those the newest recorded version calls for
//!   (worked out here from that version's lines with `generate_group`, not read back), each
//!   in a group of the latest confirmed version, and every other ticket is CANCELLED with
//!   the cause its version change gives;
//! - searching `orderVersion=N` gives exactly the groups of version N, for every version
//!   recorded;
//! - the status answer is valid for exactly the live tickets;
//! - the outbox holds each event once: one `TicketDistributionGroupCreated` per group, one
//!   `TicketDistributionAdded` per ticket, one `TicketDistributionCancelled` per cancelled
//!   ticket and one `AllTicketDistributionGroupsForOrderVersionGenerated` per recorded
//!   confirmed version, listing that version's groups;
//! - every ticket NOD still holds that is not live here is due for cancellation in NOD, and
//!   nothing live is.
//!
//! Runs on PostgreSQL and SQLite, each case a fresh order in one database per backend.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use td_domain::ids::{OrderId, Scope, TicketDistributionId};
use td_domain::order::{OrderEvent, OrderEventType, OrderLineStatus};
use td_domain::status::{validity, CancelCause, InvalidReason, TdEvent, TdStatus};
use td_store::entity::{group, group_order_version, ticket_distribution as td};
use td_store::nod::{self, ChangeOutcome, JobKind, NodChange};
use td_store::query::{self, Filter, FilterValue, GroupField, Op, PageRequest};
use td_store::record::{record_order_event, Origin, RecordOutcome};
use td_store::{outbox, DatabaseConnection};
use uuid::Uuid;

// --- Histories ----------------------------------------------------------------------------

/// What a line holds: its legs (each on authority 0 or 1; none for a zone ticket), how many
/// travellers have a MAIN product on it, and when it runs.
#[derive(Debug, Clone, PartialEq)]
struct Shape {
    legs: Vec<u8>,
    mains: u8,
    hour: u32,
}

#[derive(Debug, Clone)]
enum LineOp {
    /// A new line version with this content (the same content is still a new version).
    Change(Index, Shape),
    Credit(Index),
    Cancel(Index),
    Remove(Index),
    Add(Shape),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    /// The last version is confirmed.
    Open,
    /// `OrderCancelled` for the last version.
    CancelledAtLast,
    /// `OrderCancelled` as a version of its own after the last.
    CancelledAfter,
}

#[derive(Debug, Clone)]
struct History {
    base: Vec<Shape>,
    /// The line changes of versions 2, 3, ...
    changes: Vec<Vec<LineOp>>,
    ending: Ending,
}

#[derive(Debug, Clone)]
struct Line {
    id: u32,
    version: u32,
    status: OrderLineStatus,
    shape: Shape,
}

/// What NOD does between deliveries.
#[derive(Debug, Clone)]
enum NodAction {
    /// NOD accepts one of the tickets a placement job would have sent (a GENERATED one, or
    /// one cancelled here while its placement was on the way).
    Place(Index),
    /// A travel app picks up one DISTRIBUTED ticket.
    PickUp(Index),
    /// The worker cancels in NOD every ticket due for cancellation there.
    CancelDue,
}

#[derive(Debug, Clone)]
enum Step {
    Deliver(usize),
    Nod(NodAction),
}

#[derive(Debug, Clone)]
struct Case {
    history: History,
    steps: Vec<Step>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (prop::collection::vec(0u8..2, 0..=3), 1u8..=2, 0u32..6).prop_map(|(legs, mains, hour)| Shape {
        legs,
        mains,
        hour,
    })
}

fn line_op() -> impl Strategy<Value = LineOp> {
    prop_oneof![
        3 => (any::<Index>(), shape()).prop_map(|(i, s)| LineOp::Change(i, s)),
        2 => any::<Index>().prop_map(LineOp::Credit),
        1 => any::<Index>().prop_map(LineOp::Cancel),
        2 => any::<Index>().prop_map(LineOp::Remove),
        2 => shape().prop_map(LineOp::Add),
    ]
}

fn history() -> impl Strategy<Value = History> {
    (
        prop::collection::vec(shape(), 1..=3),
        prop::collection::vec(prop::collection::vec(line_op(), 0..=2), 1..=4),
        prop_oneof![
            4 => Just(Ending::Open),
            1 => Just(Ending::CancelledAtLast),
            1 => Just(Ending::CancelledAfter),
        ],
    )
        .prop_map(|(base, changes, ending)| History {
            base,
            changes,
            ending,
        })
}

fn nod_action() -> impl Strategy<Value = NodAction> {
    prop_oneof![
        3 => any::<Index>().prop_map(NodAction::Place),
        1 => any::<Index>().prop_map(NodAction::PickUp),
        2 => Just(NodAction::CancelDue),
    ]
}

/// A history, its events in a random order, some of them again at random places, and NOD
/// at work in between.
fn case() -> impl Strategy<Value = Case> {
    history()
        .prop_flat_map(|history| {
            let events = history.event_count();
            (
                Just(history),
                Just((0..events).collect::<Vec<usize>>()).prop_shuffle(),
                prop::collection::vec((0..events, any::<Index>()), 0..=4),
                prop::collection::vec((nod_action(), any::<Index>()), 0..=6),
            )
        })
        .prop_map(|(history, order, repeats, nod)| {
            let mut steps: Vec<Step> = order.into_iter().map(Step::Deliver).collect();
            for (event, at) in repeats {
                steps.insert(at.index(steps.len() + 1), Step::Deliver(event));
            }
            for (action, at) in nod {
                steps.insert(at.index(steps.len() + 1), Step::Nod(action));
            }
            Case { history, steps }
        })
}

const AUTHORITIES: [&str; 2] = ["VYG:Authority:VYG", "SJN:Authority:SJN"];

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, h, 0, 0).unwrap()
}

/// The clock of the status answers: before every ticket's validity ends.
fn status_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
}

fn line_json(line: &Line) -> Value {
    let status = match line.status {
        OrderLineStatus::Confirmed => "CONFIRMED",
        OrderLineStatus::Credited => "CREDITED",
        OrderLineStatus::Cancelled => "CANCELLED",
    };
    let products: Vec<Value> = (1..=line.shape.mains)
        .map(|k| {
            json!({
                "id": format!("P{}-{k}", line.id), "ref": format!("TST:PreassignedFareProduct:{k}"),
                "name": "Standard", "kind": "MAIN", "travellerIds": [format!("T{k}")],
            })
        })
        .collect();
    let hour = 6 + line.shape.hour;
    let legs: Vec<Value> = line
        .shape
        .legs
        .iter()
        .enumerate()
        .map(|(n, authority)| {
            let dep = hour + 2 * n as u32;
            json!({
                "legId": format!("L{}-leg{n}", line.id), "mode": "rail",
                "authorityRef": AUTHORITIES[usize::from(*authority)],
                "departureTime": t(dep), "arrivalTime": t(dep + 1),
                "fromStopPlace": format!("NSR:StopPlace:{dep}"),
                "toStopPlace": format!("NSR:StopPlace:{}", dep + 1),
            })
        })
        .collect();
    json!({
        "id": format!("L{}", line.id), "version": line.version, "status": status,
        "startOfValidity": t(hour), "endOfValidity": t(hour + 10),
        "fareZones": ["RUT:FareZone:4"],
        "fareProducts": products, "legs": legs,
    })
}

fn event(order_id: &str, version: u32, kind: &str, status: &str, lines: &[Line]) -> OrderEvent {
    let value = json!({
        "eventId": Uuid::new_v4(), "type": kind,
        "correlationId": format!("corr-{order_id}-{version}-{kind}"),
        "timestamp": t(1),
        "order": {
            "id": order_id, "version": version, "status": status, "organisationId": 1,
            "contactInfo": {"contact": {"customerId": "C1", "email": "a@example.com"}},
            "travellers": [
                {"id": "T1", "name": "Kari", "userProfileRef": "ENT:UserProfile:Adult"},
                {"id": "T2", "name": "Ola", "userProfileRef": "ENT:UserProfile:Adult"},
            ],
            "orderLines": lines.iter().map(line_json).collect::<Vec<_>>(),
        }
    });
    td_domain::parse_order_event(value.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("generated an invalid order: {e}: {value}"))
}

impl History {
    fn event_count(&self) -> usize {
        1 + self.changes.len() + usize::from(self.ending != Ending::Open)
    }

    /// The order's events in version order (an `OrderCancelled` last).
    fn events(&self, order_id: &str) -> Vec<OrderEvent> {
        let mut next_id = 1;
        let mut lines: Vec<Line> = self
            .base
            .iter()
            .map(|shape| {
                let line = Line {
                    id: next_id,
                    version: 1,
                    status: OrderLineStatus::Confirmed,
                    shape: shape.clone(),
                };
                next_id += 1;
                line
            })
            .collect();
        let mut events = vec![event(order_id, 1, "OrderConfirmed", "CONFIRMED", &lines)];
        for (n, ops) in self.changes.iter().enumerate() {
            for op in ops {
                let confirmed = |lines: &[Line], i: &Index| {
                    (!lines.is_empty())
                        .then(|| i.index(lines.len()))
                        .filter(|&i| lines[i].status == OrderLineStatus::Confirmed)
                };
                match op {
                    LineOp::Change(i, shape) => {
                        if let Some(i) = confirmed(&lines, i) {
                            lines[i].version += 1;
                            lines[i].shape = shape.clone();
                        }
                    }
                    LineOp::Credit(i) | LineOp::Cancel(i) => {
                        if let Some(i) = confirmed(&lines, i) {
                            lines[i].version += 1;
                            lines[i].status = if matches!(op, LineOp::Credit(_)) {
                                OrderLineStatus::Credited
                            } else {
                                OrderLineStatus::Cancelled
                            };
                        }
                    }
                    LineOp::Remove(i) => {
                        if !lines.is_empty() {
                            lines.remove(i.index(lines.len()));
                        }
                    }
                    LineOp::Add(shape) => {
                        lines.push(Line {
                            id: next_id,
                            version: 1,
                            status: OrderLineStatus::Confirmed,
                            shape: shape.clone(),
                        });
                        next_id += 1;
                    }
                }
            }
            let version = n as u32 + 2;
            events.push(event(
                order_id,
                version,
                "OrderConfirmed",
                "CONFIRMED",
                &lines,
            ));
        }
        let last = self.changes.len() as u32 + 1;
        match self.ending {
            Ending::Open => {}
            Ending::CancelledAtLast => {
                events.push(event(order_id, last, "OrderCancelled", "CANCELLED", &lines))
            }
            Ending::CancelledAfter => events.push(event(
                order_id,
                last + 1,
                "OrderCancelled",
                "CANCELLED",
                &lines,
            )),
        }
        events
    }
}

// --- What the versions call for -----------------------------------------------------------

/// A ticket a version calls for, as generation defines it.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    group: Uuid,
    line_id: String,
    line_version: u32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    fare_product_ref: String,
}

/// The tickets a confirmed order calls for: one group per CONFIRMED line, one ticket per
/// MAIN product and segment (counted here from the legs, as a check on generation itself).
fn called_for(event: &OrderEvent) -> BTreeMap<Uuid, Expected> {
    let order = &event.order;
    let mut out = BTreeMap::new();
    for line in &order.order_lines {
        if line.status != OrderLineStatus::Confirmed {
            continue;
        }
        let generated = td_domain::generate_group(order, line);
        let segments = 1 + line
            .legs
            .windows(2)
            .filter(|w| w[0].authority_ref != w[1].authority_ref)
            .count();
        let mains = line
            .fare_products
            .iter()
            .filter(|p| p.kind == td_domain::FareProductKind::Main)
            .count();
        assert_eq!(
            generated.distributions.len(),
            segments * mains,
            "one ticket per MAIN product and segment of line {}",
            line.id
        );
        for d in generated.distributions {
            out.insert(
                d.id.0,
                Expected {
                    group: generated.id.0,
                    line_id: line.id.0.clone(),
                    line_version: line.version,
                    start: d.start_of_validity,
                    end: d.end_of_validity,
                    fare_product_ref: d.fare_product_ref,
                },
            );
        }
    }
    out
}

/// What should have happened so far, worked out from the events alone.
#[derive(Debug, Default)]
struct Model {
    latest: u32,
    latest_confirmed: Option<u32>,
    order_cancelled: bool,
    /// The tickets the newest recorded version calls for.
    live: BTreeMap<Uuid, Expected>,
    /// Every ticket ever created, with the version that created it.
    created: BTreeMap<Uuid, u32>,
    /// Every group ever created, with the version that created it.
    groups: BTreeMap<Uuid, u32>,
    /// Cancelled tickets: why, and by which version.
    cancelled: BTreeMap<Uuid, (CancelCause, u32)>,
    /// The groups of each recorded confirmed version.
    versions: BTreeMap<u32, BTreeSet<Uuid>>,
    /// Tickets NOD holds that it was not asked to cancel yet (or did not confirm).
    in_nod: BTreeSet<Uuid>,
}

fn set<T: Ord + Clone>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    items.into_iter().collect()
}

impl Model {
    fn deliver(&mut self, event: &OrderEvent, outcome: &RecordOutcome) {
        let version = event.order.version;
        let cancel = event.kind == OrderEventType::OrderCancelled;
        let applies =
            version > self.latest || (cancel && version == self.latest && !self.order_cancelled);
        if !applies {
            assert_eq!(
                outcome,
                &RecordOutcome::AlreadyRecorded {
                    latest_version: self.latest
                },
                "version {version} ({:?}) after {} must change nothing",
                event.kind,
                self.latest
            );
            return;
        }
        let next = if cancel {
            BTreeMap::new()
        } else {
            called_for(event)
        };
        let old_groups = set(self.live.values().map(|e| e.group));
        let new_groups = set(next.values().map(|e| e.group));
        let gone: Vec<Uuid> = self
            .live
            .keys()
            .filter(|id| !next.contains_key(id))
            .copied()
            .collect();
        for id in &gone {
            let line_id = &self.live[id].line_id;
            let cause = if cancel {
                CancelCause::OrderCancelled
            } else {
                match event.order.order_lines.iter().find(|l| &l.id.0 == line_id) {
                    None => CancelCause::LineRemoved,
                    Some(l) if l.status == OrderLineStatus::Credited => CancelCause::LineCredited,
                    Some(l) if l.status == OrderLineStatus::Cancelled => CancelCause::LineCancelled,
                    Some(_) => CancelCause::SupersededByOrderVersion,
                }
            };
            self.cancelled.insert(*id, (cause, version));
        }

        let RecordOutcome::Applied {
            order_version,
            created,
            kept,
            cancelled,
        } = outcome
        else {
            panic!(
                "version {version} ({:?}) must be applied: {outcome:?}",
                event.kind
            );
        };
        assert_eq!(*order_version, version);
        assert_eq!(
            set(created.iter().map(|g| g.0)),
            set(new_groups.difference(&old_groups).copied()),
            "version {version} creates the groups of new and changed lines"
        );
        assert_eq!(
            set(kept.iter().map(|g| g.0)),
            set(new_groups.intersection(&old_groups).copied()),
            "version {version} keeps the groups of unchanged lines"
        );
        assert_eq!(
            set(cancelled.iter().map(|t| t.0)),
            set(gone.iter().copied()),
            "version {version} cancels the tickets it no longer calls for"
        );

        for (id, expected) in &next {
            self.created.entry(*id).or_insert(version);
            self.groups.entry(expected.group).or_insert(version);
        }
        self.latest = version;
        if cancel {
            self.order_cancelled = true;
        } else {
            self.latest_confirmed = Some(version);
            self.versions.insert(version, new_groups);
        }
        self.live = next;
    }
}

// --- Running a case -----------------------------------------------------------------------

async fn record(db: &DatabaseConnection, event: &OrderEvent) -> RecordOutcome {
    let txn = db.begin().await.unwrap();
    let outcome = record_order_event(&txn, event, &Origin::default(), Utc::now())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    outcome
}

async fn apply(db: &DatabaseConnection, change: &NodChange) -> ChangeOutcome {
    let txn = db.begin().await.unwrap();
    let outcome = nod::apply_change(&txn, change).await.unwrap();
    txn.commit().await.unwrap();
    outcome
}

fn nod_change(id: Uuid, event: TdEvent) -> NodChange {
    NodChange {
        ticket_distribution_id: TicketDistributionId(id),
        event,
        nod_order_group_id: Some(format!("NOD-{id}")),
        reason: None,
        media_serial_number_id: None,
        traceparent: None,
        at: Utc::now(),
    }
}

async fn tickets(db: &DatabaseConnection, order_id: &str) -> Vec<td::Model> {
    let mut rows = td::Entity::find()
        .filter(td::Column::OrderId.eq(order_id))
        .all(db)
        .await
        .unwrap();
    rows.sort_by_key(|r| r.id);
    rows
}

fn status_of(row: &td::Model) -> TdStatus {
    row.status.parse().unwrap()
}

/// The tickets of the order due for a NOD job, by kind.
async fn due(db: &DatabaseConnection, order_id: &str) -> (BTreeSet<Uuid>, BTreeSet<Uuid>) {
    let jobs = nod::due_jobs(db, Utc::now(), Duration::minutes(5), 1_000_000)
        .await
        .unwrap();
    let of = |kind| {
        set(jobs
            .iter()
            .filter(|j| j.order_id.0 == order_id && j.kind == kind)
            .map(|j| j.ticket_distribution_id.0))
    };
    (of(JobKind::Place), of(JobKind::Cancel))
}

async fn act(db: &DatabaseConnection, order_id: &str, action: &NodAction, model: &mut Model) {
    let rows = tickets(db, order_id).await;
    match action {
        NodAction::Place(i) => {
            let candidates: Vec<&td::Model> = rows
                .iter()
                .filter(|r| {
                    let s = status_of(r);
                    s == TdStatus::Generated
                        || (s == TdStatus::Cancelled && r.nod_order_group_id.is_none())
                })
                .collect();
            if candidates.is_empty() {
                return;
            }
            let row = candidates[i.index(candidates.len())];
            let outcome = apply(db, &nod_change(row.id, TdEvent::Distributed)).await;
            let expected = if status_of(row) == TdStatus::Generated {
                ChangeOutcome::Applied {
                    from: TdStatus::Generated,
                    to: TdStatus::Distributed,
                }
            } else {
                ChangeOutcome::Refused {
                    status: TdStatus::Cancelled,
                }
            };
            assert_eq!(outcome, expected, "placing {}", row.id);
            model.in_nod.insert(row.id);
        }
        NodAction::PickUp(i) => {
            let candidates: Vec<&td::Model> = rows
                .iter()
                .filter(|r| status_of(r) == TdStatus::Distributed)
                .collect();
            if candidates.is_empty() {
                return;
            }
            let row = candidates[i.index(candidates.len())];
            let outcome = apply(db, &nod_change(row.id, TdEvent::PickedUp)).await;
            assert_eq!(
                outcome,
                ChangeOutcome::Applied {
                    from: TdStatus::Distributed,
                    to: TdStatus::PickedUp
                }
            );
        }
        NodAction::CancelDue => {
            let (_, cancel) = due(db, order_id).await;
            for id in cancel {
                let txn = db.begin().await.unwrap();
                nod::mark_cancelled_in_nod(&txn, TicketDistributionId(id), Utc::now())
                    .await
                    .unwrap();
                txn.commit().await.unwrap();
                model.in_nod.remove(&id);
            }
        }
    }
}

/// Every invariant, against what the store holds now.
async fn check(db: &DatabaseConnection, order_id: &str, model: &Model) {
    let rows = tickets(db, order_id).await;
    let groups: BTreeMap<Uuid, group::Model> = group::Entity::find()
        .filter(group::Column::OrderId.eq(order_id))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.id, g))
        .collect();

    // Exactly the tickets and groups the versions created, and exactly those live that the
    // newest version calls for, as generation defines them; every other one CANCELLED.
    assert_eq!(
        set(rows.iter().map(|r| r.id)),
        set(model.created.keys().copied())
    );
    assert_eq!(
        set(groups.keys().copied()),
        set(model.groups.keys().copied())
    );
    let live: Vec<&td::Model> = rows.iter().filter(|r| status_of(r).is_live()).collect();
    assert_eq!(
        set(live.iter().map(|r| r.id)),
        set(model.live.keys().copied()),
        "the live tickets are those of the newest version"
    );
    for row in &live {
        let expected = &model.live[&row.id];
        let group = &groups[&row.group_id];
        assert_eq!(row.group_id, expected.group);
        assert_eq!(
            (group.order_line_id.as_str(), group.order_line_version),
            (expected.line_id.as_str(), expected.line_version as i32)
        );
        assert_eq!(
            (
                row.start_of_validity,
                row.end_of_validity,
                row.fare_product_ref.as_str()
            ),
            (
                expected.start,
                expected.end,
                expected.fare_product_ref.as_str()
            )
        );
    }
    for row in rows.iter().filter(|r| !status_of(r).is_live()) {
        let (cause, _) = model
            .cancelled
            .get(&row.id)
            .unwrap_or_else(|| panic!("{} is {} but was never cancelled", row.id, row.status));
        assert_eq!(status_of(row), TdStatus::Cancelled);
        assert_eq!(
            row.cancel_cause.as_deref(),
            Some(cause.as_str()),
            "{}",
            row.id
        );
    }

    // The order row, and no live ticket outside the latest confirmed version.
    let order = query::order(db, Scope::AllOrganisations, &OrderId(order_id.to_owned()))
        .await
        .unwrap();
    assert_eq!(
        order
            .as_ref()
            .map(|o| (o.latest_version, o.latest_confirmed_version)),
        (model.latest > 0).then(|| {
            (
                model.latest as i32,
                model.latest_confirmed.map(|v| v as i32),
            )
        }),
        "the order's latest and latest confirmed version"
    );
    for row in &live {
        let version = model.latest_confirmed.expect("live tickets need a version") as i32;
        assert!(
            group_order_version::Entity::find_by_id((row.group_id, version))
                .one(db)
                .await
                .unwrap()
                .is_some(),
            "live ticket {} is not in a group of version {version}",
            row.id
        );
    }

    // Searching a version gives exactly that version's groups.
    for (version, expected) in &model.versions {
        let filters = vec![
            Filter {
                field: GroupField::OrderId,
                op: Op::Eq,
                values: vec![FilterValue::Text(order_id.to_owned())],
            },
            Filter {
                field: GroupField::OrderVersion,
                op: Op::Eq,
                values: vec![FilterValue::Int(i64::from(*version))],
            },
        ];
        let page = PageRequest {
            page: 1,
            per_page: 100,
        };
        let found = query::search_groups(db, Scope::AllOrganisations, filters, page)
            .await
            .unwrap();
        assert_eq!(
            set(found.items.iter().map(|g| g.group.id)),
            *expected,
            "orderVersion={version}"
        );
    }

    // The status answer: valid exactly for the live tickets; a superseded ticket says so.
    for row in &rows {
        let answer =
            query::distribution_status(db, Scope::AllOrganisations, TicketDistributionId(row.id))
                .await
                .unwrap()
                .expect("a status for every ticket");
        let status = status_of(&answer.distribution);
        let cause = answer
            .distribution
            .cancel_cause
            .as_deref()
            .map(|c| c.parse::<CancelCause>().unwrap());
        let v = validity(
            status,
            cause,
            answer.in_latest_confirmed_version,
            answer.distribution.end_of_validity,
            status_now(),
        );
        match model.cancelled.get(&row.id) {
            None => {
                assert!(v.valid, "{} is live but not valid: {v:?}", row.id);
                assert_eq!(
                    Some(answer.group_order_version as u32),
                    model.latest_confirmed,
                    "a live ticket answers with the latest version"
                );
            }
            Some((cause, _)) => {
                assert!(!v.valid, "{} is cancelled but valid", row.id);
                let reason = if *cause == CancelCause::SupersededByOrderVersion {
                    InvalidReason::SupersededByOrderVersion
                } else {
                    InvalidReason::Cancelled
                };
                assert_eq!(v.reason, Some(reason), "{}", row.id);
            }
        }
    }

    check_events(db, order_id, model).await;

    // NOD: what it holds and is not live here is due for cancellation there; nothing live is.
    let (place, cancel) = due(db, order_id).await;
    for id in &model.in_nod {
        if !model.live.contains_key(id) {
            assert!(
                cancel.contains(id),
                "{id} is in NOD but not due to be cancelled"
            );
        }
    }
    for id in &cancel {
        assert!(
            !model.live.contains_key(id),
            "live {id} due to be cancelled"
        );
        assert!(
            model.in_nod.contains(id),
            "{id} due to be cancelled but not in NOD"
        );
    }
    for id in &place {
        assert!(
            model.live.contains_key(id),
            "{id} due to be placed but not live"
        );
    }
}

fn body<'a>(payload: &'a Value, event_type: &str) -> &'a Value {
    let mut chars = event_type.chars();
    let field: String = chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default();
    &payload[field]
}

fn uuid_of(value: &Value) -> Uuid {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a uuid: {value}"))
}

async fn check_events(db: &DatabaseConnection, order_id: &str, model: &Model) {
    let events = outbox::events_of_order(db, &OrderId(order_id.to_owned()))
        .await
        .unwrap();
    let ids = set(events.iter().map(|e| e.event_id));
    assert_eq!(ids.len(), events.len(), "each event id once");

    let mut created: BTreeMap<Uuid, Vec<u32>> = BTreeMap::new();
    let mut added: BTreeMap<Uuid, Vec<u32>> = BTreeMap::new();
    let mut cancelled: BTreeMap<Uuid, Vec<(String, u32)>> = BTreeMap::new();
    let mut distributed: BTreeMap<Uuid, usize> = BTreeMap::new();
    let mut generated: BTreeMap<u32, Vec<BTreeSet<Uuid>>> = BTreeMap::new();
    let mut all_distributed: BTreeMap<u32, usize> = BTreeMap::new();
    for e in &events {
        let p = &e.payload;
        assert_eq!(p["eventId"], e.event_id.to_string());
        let version = p["orderVersion"].as_u64().unwrap() as u32;
        let b = body(p, &e.event_type);
        match e.event_type.as_str() {
            "TicketDistributionGroupCreated" => created
                .entry(uuid_of(&p["ticketDistributionGroupId"]))
                .or_default()
                .push(version),
            "TicketDistributionAdded" => added
                .entry(uuid_of(&b["ticketDistributionId"]))
                .or_default()
                .push(version),
            "TicketDistributionCancelled" => cancelled
                .entry(uuid_of(&b["ticketDistributionId"]))
                .or_default()
                .push((b["reason"].as_str().unwrap().to_owned(), version)),
            "TicketDistributionDistributed" => {
                *distributed
                    .entry(uuid_of(&b["ticketDistributionId"]))
                    .or_default() += 1
            }
            "AllTicketDistributionGroupsForOrderVersionGenerated" => generated
                .entry(version)
                .or_default()
                .push(set(p["ticketDistributionGroupIds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(uuid_of))),
            "AllTicketDistributionGroupsForOrderVersionDistributed" => {
                *all_distributed.entry(version).or_default() += 1
            }
            "TicketDistributionPickedUp" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    let once = |m: &BTreeMap<Uuid, u32>| m.iter().map(|(k, v)| (*k, vec![*v])).collect();
    let created_expected: BTreeMap<Uuid, Vec<u32>> = once(&model.groups);
    assert_eq!(created, created_expected, "one GroupCreated per group");
    let added_expected: BTreeMap<Uuid, Vec<u32>> = once(&model.created);
    assert_eq!(
        added, added_expected,
        "one TicketDistributionAdded per ticket"
    );
    let cancelled_expected: BTreeMap<Uuid, Vec<(String, u32)>> = model
        .cancelled
        .iter()
        .map(|(id, (cause, v))| (*id, vec![(cause.as_str().to_owned(), *v)]))
        .collect();
    assert_eq!(
        cancelled, cancelled_expected,
        "one TicketDistributionCancelled per cancelled ticket, by the version that did it"
    );
    let generated_expected: BTreeMap<u32, Vec<BTreeSet<Uuid>>> = model
        .versions
        .iter()
        .map(|(v, groups)| (*v, vec![groups.clone()]))
        .collect();
    assert_eq!(
        generated, generated_expected,
        "one AllTicketDistributionGroupsForOrderVersionGenerated per recorded confirmed version"
    );
    assert!(distributed.values().all(|n| *n == 1), "{distributed:?}");
    assert!(
        all_distributed.values().all(|n| *n == 1),
        "{all_distributed:?}"
    );
}

async fn run_case(db: &DatabaseConnection, order_id: &str, case: &Case) {
    let events = case.history.events(order_id);
    let mut model = Model::default();
    for step in &case.steps {
        match step {
            Step::Deliver(i) => {
                let event = &events[*i];
                let outcome = record(db, event).await;
                model.deliver(event, &outcome);
            }
            Step::Nod(action) => act(db, order_id, action, &mut model).await,
        }
        check(db, order_id, &model).await;
    }
    // Every version was delivered: the newest one decides.
    let newest = events.iter().map(|e| e.order.version).max().unwrap();
    assert_eq!(model.latest, newest);
    // Leave nothing due for the next case's scans.
    let ids: Vec<TicketDistributionId> = tickets(db, order_id)
        .await
        .into_iter()
        .map(|r| TicketDistributionId(r.id))
        .collect();
    nod::mark_enqueued(db, &ids, Utc::now() + Duration::days(1))
        .await
        .unwrap();
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

fn property(db: td_testkit::TestDb, rt: &tokio::runtime::Runtime, prefix: &str) {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    let next = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| {
        let order_id = format!("{prefix}{:05}", next.fetch_add(1, Ordering::Relaxed));
        rt.block_on(run_case(&db.db, &order_id, &case));
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn live_tickets_follow_the_newest_version_on_postgres() {
    let rt = runtime();
    let db = rt.block_on(td_testkit::postgres());
    property(db, &rt, "PGV");
}

#[test]
fn live_tickets_follow_the_newest_version_on_sqlite() {
    let rt = runtime();
    let db = rt.block_on(td_testkit::sqlite());
    property(db, &rt, "SQV");
}
