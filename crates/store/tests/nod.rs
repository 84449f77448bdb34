//! NOD distribution's store functions, one contract suite run against PostgreSQL and SQLite
//! alike: what is due for a job and when again, each NOD change as one transition with one
//! event, the once-per-version completion event, re-placement of FAILED tickets, cancelling
//! in NOD what was cancelled here, and the feed cursor.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde_json::{json, Value};
use td_domain::ids::{
    OrderId, OrganisationId, Scope, TicketDistributionGroupId, TicketDistributionId,
};
use td_domain::order::OrderEvent;
use td_domain::status::{TdEvent, TdStatus};
use td_store::entity::{group, nod_feed, order_version, outbox, ticket_distribution as td};
use td_store::nod::{self, ChangeOutcome, DueJob, JobKind, NodChange};
use td_store::record::{record_order_event, Origin, RecordOutcome};
use td_store::DatabaseConnection;
use uuid::Uuid;

const DISTRIBUTED: &str = "TicketDistributionDistributed";
const FAILED: &str = "TicketDistributionFailed";
const ALL_DISTRIBUTED: &str = "AllTicketDistributionGroupsForOrderVersionDistributed";

/// How long a job may stay enqueued before it is enqueued again.
const REDISPATCH_MINUTES: i64 = 5;

fn redispatch_after() -> Duration {
    Duration::minutes(REDISPATCH_MINUTES)
}

/// The clock of these tests: `at(m)` is `m` minutes after a fixed instant.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 2, 1, 12, 0, 0).unwrap() + Duration::minutes(minutes)
}

// --- Orders, as in contract.rs ------------------------------------------------------------

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, h, 0, 0).unwrap()
}

fn leg(id: &str, authority: &str, dep: u32, arr: u32) -> Value {
    json!({
        "legId": id, "mode": "rail", "authorityRef": authority,
        "departureTime": t(dep), "arrivalTime": t(arr),
        "fromStopPlace": format!("NSR:StopPlace:{dep}"), "toStopPlace": format!("NSR:StopPlace:{arr}"),
    })
}

/// A confirmed order of organisation 1: line L1 (two legs on two authorities, so two
/// tickets) and line L2 (one zone ticket) with status `l2_status`.
fn order(id: &str, version: u32, l2_status: &str) -> OrderEvent {
    let value = json!({
        "eventId": Uuid::new_v4(), "type": "OrderConfirmed", "correlationId": format!("corr-{id}-{version}"),
        "timestamp": t(1),
        "order": {
            "id": id, "version": version, "status": "CONFIRMED", "organisationId": 1,
            "contactInfo": {"contact": {"customerId": "C1", "email": "a@example.com"}},
            "travellers": [{"id": "T1", "name": "Kari", "userProfileRef": "ENT:UserProfile:Adult"}],
            "orderLines": [
                {
                    "id": "L1", "version": 1, "status": "CONFIRMED",
                    "fareProducts": [{"id": "P1", "ref": "VYG:PreassignedFareProduct:Standard", "name": "Standard", "kind": "MAIN", "travellerIds": ["T1"]}],
                    "legs": [leg("leg1", "VYG:Authority:VYG", 8, 10), leg("leg2", "SJN:Authority:SJN", 10, 12)],
                },
                {
                    "id": "L2", "version": 1, "status": l2_status,
                    "startOfValidity": t(6), "endOfValidity": t(20),
                    "fareZones": ["RUT:FareZone:4"],
                    "fareProducts": [{"id": "P2", "ref": "RUT:PreassignedFareProduct:Single", "kind": "MAIN", "travellerIds": ["T1"]}],
                },
            ],
        }
    });
    td_domain::parse_order_event(value.to_string().as_bytes()).expect("valid test order")
}

async fn record(db: &DatabaseConnection, event: &OrderEvent, now: DateTime<Utc>) {
    let txn = db.begin().await.unwrap();
    let outcome = record_order_event(&txn, event, &Origin::default(), now)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert!(
        matches!(outcome, RecordOutcome::Applied { .. }),
        "{outcome:?}"
    );
}

/// A recorded order's line: its group and its tickets in position order.
struct Line {
    group: Uuid,
    tickets: Vec<td::Model>,
}

impl Line {
    fn ids(&self) -> Vec<TicketDistributionId> {
        self.tickets
            .iter()
            .map(|t| TicketDistributionId(t.id))
            .collect()
    }
}

async fn line(db: &DatabaseConnection, order_id: &str, line_id: &str) -> Line {
    let groups = group::Entity::find()
        .filter(group::Column::OrderId.eq(order_id))
        .filter(group::Column::OrderLineId.eq(line_id))
        .all(db)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "one group for {order_id}/{line_id}");
    let tickets = td::Entity::find()
        .filter(td::Column::GroupId.eq(groups[0].id))
        .order_by_asc(td::Column::Position)
        .all(db)
        .await
        .unwrap();
    Line {
        group: groups[0].id,
        tickets,
    }
}

/// Records version 1 of `order_id` at `now`; returns its lines L1 (two tickets) and L2 (one).
async fn recorded(db: &DatabaseConnection, order_id: &str, now: DateTime<Utc>) -> (Line, Line) {
    record(db, &order(order_id, 1, "CONFIRMED"), now).await;
    let (l1, l2) = (
        line(db, order_id, "L1").await,
        line(db, order_id, "L2").await,
    );
    assert_eq!((l1.tickets.len(), l2.tickets.len()), (2, 1));
    (l1, l2)
}

// --- NOD changes ----------------------------------------------------------------------------

fn change(id: Uuid, event: TdEvent, at: DateTime<Utc>) -> NodChange {
    NodChange {
        ticket_distribution_id: TicketDistributionId(id),
        event,
        nod_order_group_id: None,
        reason: None,
        media_serial_number_id: None,
        traceparent: None,
        at,
    }
}

fn distributed(id: Uuid, nod_order_group_id: &str, at: DateTime<Utc>) -> NodChange {
    NodChange {
        nod_order_group_id: Some(nod_order_group_id.to_owned()),
        ..change(id, TdEvent::Distributed, at)
    }
}

fn failed(id: Uuid, reason: &str, at: DateTime<Utc>) -> NodChange {
    NodChange {
        reason: Some(reason.to_owned()),
        ..change(id, TdEvent::Failed, at)
    }
}

/// Applies `c` in a transaction of its own, as the NOD worker and feed follower do.
async fn apply(db: &DatabaseConnection, c: &NodChange) -> ChangeOutcome {
    let txn = db.begin().await.unwrap();
    let outcome = nod::apply_change(&txn, c).await.unwrap();
    txn.commit().await.unwrap();
    outcome
}

fn applied(from: TdStatus, to: TdStatus) -> ChangeOutcome {
    ChangeOutcome::Applied { from, to }
}

// --- Looking at the store -------------------------------------------------------------------

async fn row(db: &DatabaseConnection, id: Uuid) -> td::Model {
    nod::ticket(db, TicketDistributionId(id))
        .await
        .unwrap()
        .expect("ticket exists")
}

async fn events(db: &DatabaseConnection, event_type: &str) -> Vec<outbox::Model> {
    outbox::Entity::find()
        .filter(outbox::Column::EventType.eq(event_type))
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await
        .unwrap()
}

async fn count(db: &DatabaseConnection, event_type: &str) -> usize {
    events(db, event_type).await.len()
}

/// Everything a NOD change may touch, to show that a refused one touched nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    tickets: Vec<td::Model>,
    outbox: Vec<outbox::Model>,
    versions: Vec<order_version::Model>,
}

async fn snapshot(db: &DatabaseConnection) -> Snapshot {
    Snapshot {
        tickets: td::Entity::find()
            .order_by_asc(td::Column::Id)
            .all(db)
            .await
            .unwrap(),
        outbox: outbox::Entity::find()
            .order_by_asc(outbox::Column::Id)
            .all(db)
            .await
            .unwrap(),
        versions: order_version::Entity::find()
            .order_by_asc(order_version::Column::OrderId)
            .order_by_asc(order_version::Column::Version)
            .all(db)
            .await
            .unwrap(),
    }
}

async fn due(db: &DatabaseConnection, now: DateTime<Utc>) -> Vec<DueJob> {
    nod::due_jobs(db, now, redispatch_after(), 100)
        .await
        .unwrap()
}

fn sorted(mut ids: Vec<TicketDistributionId>) -> Vec<TicketDistributionId> {
    ids.sort_by_key(|i| i.0);
    ids
}

fn job_ids(jobs: &[DueJob]) -> Vec<TicketDistributionId> {
    sorted(jobs.iter().map(|j| j.ticket_distribution_id).collect())
}

fn group_ids(payload: &Value) -> Vec<String> {
    let mut ids: Vec<String> = payload["ticketDistributionGroupIds"]
        .as_array()
        .expect("group ids")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn strings(groups: &[Uuid]) -> Vec<String> {
    let mut ids: Vec<String> = groups.iter().map(Uuid::to_string).collect();
    ids.sort();
    ids
}

// --- The suite ------------------------------------------------------------------------------

/// 1. GENERATED tickets are due as Place jobs; an enqueued one is due again only once
///    `redispatch_after` has passed.
async fn generated_tickets_are_due_until_enqueued_and_again_after_redispatch(
    db: &DatabaseConnection,
) {
    let (l1, l2) = recorded(db, "O1", at(0)).await;
    let all = sorted([l1.ids(), l2.ids()].concat());

    let jobs = due(db, at(1)).await;
    assert_eq!(job_ids(&jobs), all);
    assert!(jobs.iter().all(|j| j.kind == JobKind::Place));
    assert!(jobs.iter().all(|j| j.order_id == OrderId("O1".into())));
    assert_eq!(
        nod::due_jobs(db, at(1), redispatch_after(), 2)
            .await
            .unwrap()
            .len(),
        2,
        "at most `limit`"
    );

    // Only what was stamped stops being due.
    nod::mark_enqueued(db, &l1.ids(), at(1)).await.unwrap();
    assert_eq!(job_ids(&due(db, at(1)).await), l2.ids());
    nod::mark_enqueued(db, &l2.ids(), at(2)).await.unwrap();
    nod::mark_enqueued(db, &[], at(2)).await.unwrap();
    assert!(due(db, at(2)).await.is_empty());
    assert_eq!(row(db, l1.tickets[0].id).await.nod_enqueued_at, Some(at(1)));

    // Exactly `redispatch_after` later is not yet stale; a moment after, it is.
    assert!(due(db, at(1 + REDISPATCH_MINUTES)).await.is_empty());
    let later = at(1 + REDISPATCH_MINUTES) + Duration::seconds(1);
    assert_eq!(
        job_ids(&due(db, later).await),
        sorted(l1.ids()),
        "a job that never finished is enqueued again"
    );
    let jobs = due(db, at(2 + REDISPATCH_MINUTES) + Duration::seconds(1)).await;
    assert_eq!(job_ids(&jobs), all);
    assert!(jobs.iter().all(|j| j.kind == JobKind::Place));

    // Re-enqueueing restarts the clock; a placed ticket is never due again.
    nod::mark_enqueued(db, &l1.ids(), later).await.unwrap();
    assert!(due(db, later).await.is_empty());
    assert_eq!(
        job_ids(&due(db, later + redispatch_after()).await),
        l2.ids()
    );
    assert_eq!(
        apply(db, &distributed(l2.tickets[0].id, "NOD-L2", later)).await,
        applied(TdStatus::Generated, TdStatus::Distributed)
    );
    assert!(due(db, later + redispatch_after()).await.is_empty());
    assert_eq!(
        job_ids(&due(db, at(24 * 60)).await),
        sorted(l1.ids()),
        "the DISTRIBUTED ticket is never due"
    );
}

/// 2. Distributed: DISTRIBUTED with NOD's id and the time, one event; a repeat is refused.
async fn distributed_records_nods_group_and_writes_one_event(db: &DatabaseConnection) {
    let (l1, _) = recorded(db, "O1", at(0)).await;
    let ticket = &l1.tickets[0];

    assert_eq!(
        apply(db, &distributed(ticket.id, "NOD-1", at(2))).await,
        applied(TdStatus::Generated, TdStatus::Distributed)
    );
    let placed = row(db, ticket.id).await;
    assert_eq!(placed.status, "DISTRIBUTED");
    assert_eq!(placed.nod_order_group_id.as_deref(), Some("NOD-1"));
    assert_eq!(placed.distributed_at, Some(at(2)));
    assert_eq!(placed.updated_at, at(2));
    assert_eq!(
        row(db, l1.tickets[1].id).await.status,
        "GENERATED",
        "its sibling is untouched"
    );

    let written = events(db, DISTRIBUTED).await;
    assert_eq!(written.len(), 1);
    let event = &written[0];
    assert_eq!(event.topic, td_events::GROUP_EVENTS);
    assert_eq!(event.message_key, "O1");
    assert_eq!(event.correlation_id.as_deref(), Some("corr-O1-1"));
    assert_eq!(event.created_at, at(2));
    let payload = &event.payload;
    assert_eq!(payload["type"], DISTRIBUTED);
    assert_eq!(payload["orderId"], "O1");
    assert_eq!(payload["orderVersion"], 1);
    assert_eq!(payload["ticketDistributionGroupId"], l1.group.to_string());
    let body = &payload["ticketDistributionDistributed"];
    assert_eq!(body["nodOrderGroupId"], "NOD-1");
    assert_eq!(body["ticketDistributionId"], ticket.id.to_string());
    assert_eq!(body["status"], "DISTRIBUTED");

    // The same change again (a redelivered job, a re-read feed entry): refused, no trace.
    let before = snapshot(db).await;
    assert_eq!(
        apply(db, &distributed(ticket.id, "NOD-1", at(3))).await,
        ChangeOutcome::Refused {
            status: TdStatus::Distributed
        }
    );
    assert_eq!(
        apply(db, &distributed(ticket.id, "NOD-OTHER", at(4))).await,
        ChangeOutcome::Refused {
            status: TdStatus::Distributed
        }
    );
    assert_eq!(snapshot(db).await, before);
    assert_eq!(count(db, DISTRIBUTED).await, 1);
}

/// 3. The last ticket of a version to reach NOD writes the version's one completion event.
async fn the_last_ticket_in_nod_completes_its_version_once(db: &DatabaseConnection) {
    let (l1, l2) = recorded(db, "O1", at(0)).await;
    let last = l2.tickets[0].id;
    for (n, ticket) in l1.tickets.iter().enumerate() {
        apply(db, &distributed(ticket.id, &format!("NOD-{n}"), at(1))).await;
        assert_eq!(count(db, ALL_DISTRIBUTED).await, 0, "not before the last");
    }
    // Progress past DISTRIBUTED on the others does not complete the version either.
    apply(db, &change(l1.tickets[0].id, TdEvent::PickedUp, at(2))).await;
    assert_eq!(count(db, ALL_DISTRIBUTED).await, 0);

    assert_eq!(
        apply(db, &distributed(last, "NOD-L2", at(3))).await,
        applied(TdStatus::Generated, TdStatus::Distributed)
    );
    let completed = events(db, ALL_DISTRIBUTED).await;
    assert_eq!(completed.len(), 1);
    let event = &completed[0];
    assert_eq!(event.topic, td_events::ORDER_VERSION_COMPLETED);
    assert_eq!(event.message_key, "O1");
    assert_eq!(event.payload["orderId"], "O1");
    assert_eq!(event.payload["orderVersion"], 1);
    assert_eq!(
        group_ids(&event.payload),
        strings(&[l1.group, l2.group]),
        "lists the version's groups"
    );
    // It follows the ticket's own event in the outbox.
    let last_distributed = events(db, DISTRIBUTED).await.pop().unwrap();
    assert!(last_distributed.id < event.id);
    let version = order_version::Entity::find()
        .filter(order_version::Column::OrderId.eq("O1"))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version.all_distributed_at, Some(at(3)));

    // Never twice: later changes keep every ticket in NOD or beyond.
    assert_eq!(
        apply(db, &change(last, TdEvent::PickedUp, at(4))).await,
        applied(TdStatus::Distributed, TdStatus::PickedUp)
    );
    assert_eq!(
        apply(db, &change(last, TdEvent::Activated, at(5))).await,
        applied(TdStatus::PickedUp, TdStatus::Activated)
    );
    assert_eq!(
        apply(db, &change(l1.tickets[1].id, TdEvent::Activated, at(6))).await,
        applied(TdStatus::Distributed, TdStatus::Activated)
    );
    assert_eq!(
        apply(
            db,
            &change(l1.tickets[0].id, TdEvent::CancelledExternally, at(7))
        )
        .await,
        applied(TdStatus::PickedUp, TdStatus::CancelledExternally)
    );
    assert_eq!(count(db, ALL_DISTRIBUTED).await, 1, "never twice");
}

/// 3b. Concurrent changes to one order's tickets (the worker and the feed follower, two
///     replicas) still complete each version exactly once: never twice, and never missed
///     because two last tickets each saw the other still waiting.
async fn concurrent_changes_complete_each_version_once(db: &DatabaseConnection) {
    const ORDERS: usize = 8;
    let mut ids = Vec::new();
    for o in 0..ORDERS {
        let (l1, l2) = recorded(db, &format!("O{o}"), at(0)).await;
        ids.extend(l1.tickets.iter().chain(&l2.tickets).map(|t| t.id));
    }
    let mut tasks = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let db = db.clone();
        let c = distributed(*id, &format!("NOD-{n}"), at(1));
        tasks.push(tokio::spawn(async move { apply(&db, &c).await }));
    }
    for task in tasks {
        assert_eq!(
            task.await.unwrap(),
            applied(TdStatus::Generated, TdStatus::Distributed)
        );
    }
    assert_eq!(count(db, DISTRIBUTED).await, ids.len());
    let mut orders: Vec<String> = events(db, ALL_DISTRIBUTED)
        .await
        .into_iter()
        .map(|e| e.message_key)
        .collect();
    orders.sort();
    let expected: Vec<String> = (0..ORDERS).map(|o| format!("O{o}")).collect();
    assert_eq!(orders, expected, "one completion per order version");
}

/// 4. FAILED with its reason; placed again on request, only FAILED tickets of the groups
///    asked for, within the organisation.
async fn a_failed_ticket_is_placed_again_on_request(db: &DatabaseConnection) {
    let (l1, l2) = recorded(db, "O1", at(0)).await;
    let (a, b) = (l1.tickets[0].id, l1.tickets[1].id);
    apply(db, &distributed(b, "NOD-B", at(1))).await;
    apply(db, &distributed(l2.tickets[0].id, "NOD-L2", at(1))).await;

    let reason = "NOD_REJECTED: 422 REJECTED: no";
    assert_eq!(
        apply(db, &failed(a, reason, at(2))).await,
        applied(TdStatus::Generated, TdStatus::Failed)
    );
    let failed_row = row(db, a).await;
    assert_eq!(failed_row.status, "FAILED");
    assert_eq!(failed_row.failure_reason.as_deref(), Some(reason));
    assert_eq!(failed_row.nod_order_group_id, None);
    let written = events(db, FAILED).await;
    assert_eq!(written.len(), 1);
    let body = &written[0].payload["ticketDistributionFailed"];
    assert_eq!(body["ticketDistributionId"], a.to_string());
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["reason"], reason);
    assert_eq!(
        count(db, ALL_DISTRIBUTED).await,
        0,
        "a FAILED ticket is not in NOD"
    );
    assert!(
        due(db, at(2)).await.is_empty(),
        "a FAILED ticket waits to be asked for"
    );

    let l1_group = [TicketDistributionGroupId(l1.group)];
    let l2_group = [TicketDistributionGroupId(l2.group)];
    nod::mark_enqueued(db, &[TicketDistributionId(a)], at(2))
        .await
        .unwrap();
    let before = snapshot(db).await;
    for (groups, organisation) in [
        (&l1_group[..], Scope::Organisation(OrganisationId(2))),
        (&l2_group[..], Scope::AllOrganisations),
        (&l2_group[..], Scope::Organisation(OrganisationId(1))),
        (&[][..], Scope::AllOrganisations),
    ] {
        assert!(
            nod::request_replacement(db, groups, organisation, at(3))
                .await
                .unwrap()
                .is_empty(),
            "{groups:?} of {organisation:?}"
        );
    }
    assert_eq!(
        snapshot(db).await,
        before,
        "another organisation's group, or one without FAILED tickets, is left alone"
    );

    assert_eq!(
        nod::request_replacement(db, &l1_group, Scope::Organisation(OrganisationId(1)), at(3))
            .await
            .unwrap(),
        vec![TicketDistributionId(a)],
        "only the FAILED ticket"
    );
    assert_eq!(
        row(db, b).await,
        before.tickets.iter().find(|t| t.id == b).unwrap().clone(),
        "the DISTRIBUTED sibling is untouched"
    );
    let requested = row(db, a).await;
    assert_eq!(requested.status, "FAILED");
    assert!(requested.nod_replace_requested);
    let jobs = due(db, at(3)).await;
    assert_eq!(
        jobs,
        vec![DueJob {
            kind: JobKind::Place,
            ticket_distribution_id: TicketDistributionId(a),
            order_id: OrderId("O1".into()),
            traceparent: None,
            correlation_id: Some("corr-O1-1".into()),
        }],
        "due at once, although its last job was enqueued a minute ago"
    );
    nod::mark_enqueued(db, &[TicketDistributionId(a)], at(3))
        .await
        .unwrap();
    assert!(due(db, at(4)).await.is_empty());
    assert_eq!(
        job_ids(&due(db, at(4 + REDISPATCH_MINUTES)).await),
        vec![TicketDistributionId(a)],
        "a lost re-placement job is enqueued again"
    );

    // The re-placement is rejected again: still FAILED, the newest reason, no longer due.
    let again = "NOD_REJECTED: 409 DUPLICATE";
    let outbox_before = outbox::Entity::find().count(db).await.unwrap();
    assert_eq!(
        apply(db, &failed(a, again, at(5))).await,
        ChangeOutcome::Refused {
            status: TdStatus::Failed
        }
    );
    let rejected = row(db, a).await;
    assert_eq!(rejected.status, "FAILED");
    assert_eq!(rejected.failure_reason.as_deref(), Some(again));
    assert!(!rejected.nod_replace_requested);
    assert!(due(db, at(60)).await.is_empty());
    assert_eq!(
        outbox::Entity::find().count(db).await.unwrap(),
        outbox_before
    );

    // Asked again, and this time NOD places it: FAILED → DISTRIBUTED.
    nod::request_replacement(db, &l1_group, Scope::AllOrganisations, at(61))
        .await
        .unwrap();
    assert_eq!(
        job_ids(&due(db, at(61)).await),
        vec![TicketDistributionId(a)]
    );
    assert_eq!(
        apply(db, &distributed(a, "NOD-A", at(62))).await,
        applied(TdStatus::Failed, TdStatus::Distributed)
    );
    let placed = row(db, a).await;
    assert_eq!(placed.status, "DISTRIBUTED");
    assert_eq!(placed.nod_order_group_id.as_deref(), Some("NOD-A"));
    assert_eq!(placed.distributed_at, Some(at(62)));
    assert_eq!(placed.failure_reason, None);
    assert!(!placed.nod_replace_requested);
    assert!(due(db, at(24 * 60)).await.is_empty());
    assert_eq!(count(db, DISTRIBUTED).await, 3);
    assert_eq!(
        count(db, ALL_DISTRIBUTED).await,
        1,
        "the re-placed ticket completes the version"
    );
    assert!(
        nod::request_replacement(db, &l1_group, Scope::AllOrganisations, at(63))
            .await
            .unwrap()
            .is_empty()
    );
}

/// 5. A transition the status machine refuses changes nothing.
async fn refused_transitions_change_nothing(db: &DatabaseConnection) {
    let (l1, _) = recorded(db, "O1", at(0)).await;
    let (a, b) = (l1.tickets[0].id, l1.tickets[1].id);
    nod::mark_enqueued(db, &[TicketDistributionId(a)], at(1))
        .await
        .unwrap();

    let before = snapshot(db).await;
    for event in [
        TdEvent::PickedUp,
        TdEvent::Activated,
        TdEvent::CancelledExternally,
    ] {
        assert_eq!(
            apply(db, &change(a, event, at(2))).await,
            ChangeOutcome::Refused {
                status: TdStatus::Generated
            },
            "{event:?} on GENERATED"
        );
    }
    assert_eq!(snapshot(db).await, before);

    apply(db, &distributed(b, "NOD-B", at(3))).await;
    let before = snapshot(db).await;
    assert_eq!(
        apply(db, &failed(b, "late rejection", at(4))).await,
        ChangeOutcome::Refused {
            status: TdStatus::Distributed
        }
    );
    assert_eq!(snapshot(db).await, before, "Failed on DISTRIBUTED");

    assert_eq!(
        apply(db, &change(b, TdEvent::CancelledExternally, at(5))).await,
        applied(TdStatus::Distributed, TdStatus::CancelledExternally)
    );
    let before = snapshot(db).await;
    for event in [
        TdEvent::Activated,
        TdEvent::PickedUp,
        TdEvent::CancelledExternally,
        TdEvent::Failed,
    ] {
        assert_eq!(
            apply(db, &change(b, event, at(6))).await,
            ChangeOutcome::Refused {
                status: TdStatus::CancelledExternally
            },
            "{event:?} after CancelledExternally"
        );
    }
    assert_eq!(
        apply(db, &distributed(b, "NOD-B2", at(6))).await,
        ChangeOutcome::Refused {
            status: TdStatus::CancelledExternally
        }
    );
    assert_eq!(snapshot(db).await, before);
    assert_eq!(
        row(db, b).await.nod_order_group_id.as_deref(),
        Some("NOD-B")
    );
}

/// 6. A ticket NOD has that a newer order version cancels is cancelled in NOD too — also
///    when NOD's placement arrives after the cancellation.
async fn a_cancelled_ticket_nod_has_is_due_for_cancellation(db: &DatabaseConnection) {
    // Distributed, then credited by version 2.
    let (l1, l2) = recorded(db, "O1", at(0)).await;
    let c = l2.tickets[0].id;
    nod::mark_enqueued(db, &[l1.ids(), l2.ids()].concat(), at(1))
        .await
        .unwrap();
    apply(db, &distributed(c, "NOD-C", at(1))).await;
    record(db, &order("O1", 2, "CREDITED"), at(2)).await;
    let cancelled = row(db, c).await;
    assert_eq!(cancelled.status, "CANCELLED");
    assert_eq!(cancelled.cancel_cause.as_deref(), Some("LINE_CREDITED"));
    assert_eq!(
        due(db, at(2)).await,
        vec![DueJob {
            kind: JobKind::Cancel,
            ticket_distribution_id: TicketDistributionId(c),
            order_id: OrderId("O1".into()),
            traceparent: None,
            correlation_id: Some("corr-O1-2".into()),
        }],
        "due at once, although a placement job was enqueued a minute ago"
    );
    nod::mark_enqueued(db, &[TicketDistributionId(c)], at(2))
        .await
        .unwrap();
    assert!(due(db, at(3)).await.is_empty());
    let jobs = due(db, at(3 + REDISPATCH_MINUTES)).await;
    assert!(
        jobs.iter()
            .any(|j| j.ticket_distribution_id == TicketDistributionId(c)
                && j.kind == JobKind::Cancel),
        "a lost cancellation job is enqueued again: {jobs:?}"
    );
    nod::mark_cancelled_in_nod(db, TicketDistributionId(c), at(4))
        .await
        .unwrap();
    assert_eq!(row(db, c).await.nod_cancelled_at, Some(at(4)));
    assert!(due(db, at(24 * 60))
        .await
        .iter()
        .all(|j| j.ticket_distribution_id != TicketDistributionId(c)));

    // Cancelled while its placement was under way: NOD's answer is refused, but remembered.
    let (m1, m2) = recorded(db, "O2", at(10)).await;
    let late = m2.tickets[0].id;
    // O1's placement jobs are stamped again too, so that only O2 can be due below.
    nod::mark_enqueued(db, &[l1.ids(), m1.ids(), m2.ids()].concat(), at(10))
        .await
        .unwrap();
    record(db, &order("O2", 2, "CREDITED"), at(11)).await;
    assert_eq!(row(db, late).await.status, "CANCELLED");
    assert!(
        due(db, at(11)).await.is_empty(),
        "NOD does not have it (yet): nothing to cancel there"
    );
    let outbox_before = outbox::Entity::find().count(db).await.unwrap();
    assert_eq!(
        apply(db, &distributed(late, "NOD-LATE", at(12))).await,
        ChangeOutcome::Refused {
            status: TdStatus::Cancelled
        }
    );
    let remembered = row(db, late).await;
    assert_eq!(remembered.status, "CANCELLED");
    assert_eq!(remembered.nod_order_group_id.as_deref(), Some("NOD-LATE"));
    assert_eq!(remembered.distributed_at, None);
    assert_eq!(
        outbox::Entity::find().count(db).await.unwrap(),
        outbox_before,
        "no event for a refused change"
    );
    assert_eq!(
        due(db, at(12)).await,
        vec![DueJob {
            kind: JobKind::Cancel,
            ticket_distribution_id: TicketDistributionId(late),
            order_id: OrderId("O2".into()),
            traceparent: None,
            correlation_id: Some("corr-O2-2".into()),
        }]
    );
    nod::mark_cancelled_in_nod(db, TicketDistributionId(late), at(13))
        .await
        .unwrap();
    assert!(due(db, at(13)).await.is_empty());

    // A repeat of NOD's answer after that does not make it due again.
    assert_eq!(
        apply(db, &distributed(late, "NOD-LATE", at(14))).await,
        ChangeOutcome::Refused {
            status: TdStatus::Cancelled
        }
    );
    assert!(due(db, at(24 * 60)).await.iter().all(
        |j| j.kind == JobKind::Place && j.ticket_distribution_id != TicketDistributionId(late)
    ));
}

/// 6b. A version whose kept group reaches NOD is completed once per version; a ticket that
///     was in NOD before a newer version cancelled it counts as distributed.
async fn a_kept_group_completes_each_of_its_versions_once(db: &DatabaseConnection) {
    let (l1, l2) = recorded(db, "O1", at(0)).await;
    apply(db, &distributed(l2.tickets[0].id, "NOD-C", at(1))).await;
    record(db, &order("O1", 2, "CREDITED"), at(2)).await;
    apply(db, &distributed(l1.tickets[0].id, "NOD-A", at(3))).await;
    assert_eq!(count(db, ALL_DISTRIBUTED).await, 0);
    apply(db, &distributed(l1.tickets[1].id, "NOD-B", at(4))).await;

    let completed = events(db, ALL_DISTRIBUTED).await;
    let mut versions: Vec<(u64, Vec<String>)> = completed
        .iter()
        .map(|e| {
            (
                e.payload["orderVersion"].as_u64().unwrap(),
                group_ids(&e.payload),
            )
        })
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        vec![
            (1, strings(&[l1.group, l2.group])),
            (2, strings(&[l1.group])),
        ]
    );
    apply(db, &change(l1.tickets[0].id, TdEvent::PickedUp, at(5))).await;
    assert_eq!(count(db, ALL_DISTRIBUTED).await, 2, "never twice");
}

/// A version recorded when every ticket it keeps is in NOD already is complete at once.
async fn a_version_keeping_only_tickets_in_nod_is_complete_when_recorded(db: &DatabaseConnection) {
    let (l1, _l2) = recorded(db, "O1", at(0)).await;
    apply(db, &distributed(l1.tickets[0].id, "NOD-A", at(1))).await;
    apply(db, &distributed(l1.tickets[1].id, "NOD-B", at(2))).await;
    assert_eq!(count(db, ALL_DISTRIBUTED).await, 0, "L2 is not in NOD yet");
    record(db, &order("O1", 2, "CREDITED"), at(3)).await;
    let completed = events(db, ALL_DISTRIBUTED).await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].payload["orderVersion"].as_u64(), Some(2));
    assert_eq!(group_ids(&completed[0].payload), strings(&[l1.group]));
    apply(db, &change(l1.tickets[0].id, TdEvent::PickedUp, at(4))).await;
    assert_eq!(count(db, ALL_DISTRIBUTED).await, 1, "never twice");
}

/// 7. The feed cursor: none at first, then the last one saved, with the changes it covers.
async fn the_feed_cursor_is_kept(db: &DatabaseConnection) {
    assert_eq!(nod::feed_cursor(db).await.unwrap(), None);
    nod::save_feed_cursor(db, "0000000007", at(1))
        .await
        .unwrap();
    assert_eq!(
        nod::feed_cursor(db).await.unwrap().as_deref(),
        Some("0000000007")
    );
    nod::save_feed_cursor(db, "0000000009", at(2))
        .await
        .unwrap();
    assert_eq!(
        nod::feed_cursor(db).await.unwrap().as_deref(),
        Some("0000000009")
    );
    assert_eq!(nod_feed::Entity::find().count(db).await.unwrap(), 1);

    // Saved in the transaction that applies the entries: both or neither.
    let (l1, _) = recorded(db, "O1", at(0)).await;
    let a = l1.tickets[0].id;
    let txn = db.begin().await.unwrap();
    nod::apply_change(&txn, &distributed(a, "NOD-A", at(3)))
        .await
        .unwrap();
    nod::save_feed_cursor(&txn, "0000000012", at(3))
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(
        nod::feed_cursor(db).await.unwrap().as_deref(),
        Some("0000000009")
    );
    assert_eq!(row(db, a).await.status, "GENERATED");
    assert_eq!(count(db, DISTRIBUTED).await, 0);

    let txn = db.begin().await.unwrap();
    nod::apply_change(&txn, &distributed(a, "NOD-A", at(4)))
        .await
        .unwrap();
    nod::save_feed_cursor(&txn, "0000000012", at(4))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        nod::feed_cursor(db).await.unwrap().as_deref(),
        Some("0000000012")
    );
    assert_eq!(row(db, a).await.status, "DISTRIBUTED");
}

/// 8. A change for a ticket this service does not know.
async fn an_unknown_ticket_is_reported(db: &DatabaseConnection) {
    recorded(db, "O1", at(0)).await;
    let before = snapshot(db).await;
    let unknown = Uuid::new_v4();
    for c in [
        distributed(unknown, "NOD-X", at(1)),
        failed(unknown, "no", at(1)),
        change(unknown, TdEvent::PickedUp, at(1)),
    ] {
        assert_eq!(apply(db, &c).await, ChangeOutcome::UnknownTicket);
    }
    assert_eq!(snapshot(db).await, before);
    assert!(nod::ticket(db, TicketDistributionId(unknown))
        .await
        .unwrap()
        .is_none());
}

/// The due-jobs SQL places exactly the tickets `td_domain::needs_placement` says, for every
/// status with and without a re-placement request, whether asked by a caller or because NOD
/// was unavailable.
async fn placements_due_are_those_the_domain_rule_names(db: &DatabaseConnection) {
    use sea_orm::ActiveValue::Set;
    let (l1, _) = recorded(db, "O1", at(0)).await;
    let id = l1.ids()[0];
    for status in TdStatus::ALL {
        for (requested, unavailable) in [(false, false), (true, false), (false, true)] {
            let asked = requested || unavailable;
            td::Entity::update(td::ActiveModel {
                id: Set(id.0),
                status: Set(status.as_str().to_owned()),
                nod_replace_requested: Set(requested),
                nod_unavailable: Set(unavailable),
                nod_enqueued_at: Set(None),
                nod_order_group_id: Set(None),
                ..Default::default()
            })
            .exec(db)
            .await
            .unwrap();
            let placed = due(db, at(1))
                .await
                .iter()
                .any(|j| j.ticket_distribution_id == id && j.kind == JobKind::Place);
            assert_eq!(
                placed,
                td_domain::status::needs_placement(status, asked),
                "{status} with replace_requested = {requested}, unavailable = {unavailable}"
            );
            assert_eq!(
                row(db, id.0).await.needs_placement().unwrap(),
                placed,
                "{status}"
            );
        }
    }
}

/// A held ticket is not due before its hold ends, then due even if a job's stamp was written
/// after the hold began (that job was handled: its worker set the hold); a cancelled ticket
/// whose placement was attempted is due for cancellation though its NOD group is unknown,
/// and not after NOD refused the cancellation for good.
async fn holds_unknown_outcomes_and_refusals_decide_what_is_due(db: &DatabaseConnection) {
    let (_, l2) = recorded(db, "O1", at(0)).await;
    let id = l2.ids()[0];
    let this = |jobs: Vec<DueJob>| -> Vec<DueJob> {
        jobs.into_iter()
            .filter(|j| j.ticket_distribution_id == id)
            .collect()
    };
    nod::begin_placement(db, id, at(1)).await.unwrap();
    nod::hold(db, id, at(1), at(3), None).await.unwrap();
    // The pass that enqueued the handled job stamps it after the worker held the ticket.
    nod::mark_enqueued(db, &[id], at(1)).await.unwrap();
    assert!(this(due(db, at(2)).await).is_empty(), "held until 3");
    let again = this(due(db, at(3)).await);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].kind, JobKind::Place);
    nod::mark_enqueued(db, &[id], at(3)).await.unwrap();
    assert!(this(due(db, at(4)).await).is_empty(), "enqueued at 3");
    let held = row(db, id.0).await;
    assert_eq!(held.nod_place_attempted_at, Some(at(1)));
    assert_eq!(held.nod_placing_since, Some(at(1)));

    // Cancelled with its placement outcome unknown: due for cancellation at once.
    record(db, &order("O1", 2, "CREDITED"), at(5)).await;
    assert_eq!(row(db, id.0).await.status, "CANCELLED");
    let cancel = this(due(db, at(5)).await);
    assert_eq!(cancel.len(), 1, "{cancel:?}");
    assert_eq!(cancel[0].kind, JobKind::Cancel);
    nod::record_cancel_refused(db, id, "NOD_REJECTED: 422", at(6))
        .await
        .unwrap();
    assert!(this(due(db, at(60)).await).is_empty());
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let db = td_testkit::postgres().await;
                super::$name(&db.db).await;
            })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let db = td_testkit::sqlite().await;
                super::$name(&db.db).await;
            })*
        }
    };
}

on_both!(
    a_version_keeping_only_tickets_in_nod_is_complete_when_recorded,
    generated_tickets_are_due_until_enqueued_and_again_after_redispatch,
    distributed_records_nods_group_and_writes_one_event,
    the_last_ticket_in_nod_completes_its_version_once,
    concurrent_changes_complete_each_version_once,
    a_failed_ticket_is_placed_again_on_request,
    refused_transitions_change_nothing,
    a_cancelled_ticket_nod_has_is_due_for_cancellation,
    a_kept_group_completes_each_of_its_versions_once,
    the_feed_cursor_is_kept,
    an_unknown_ticket_is_reported,
    placements_due_are_those_the_domain_rule_names,
    holds_unknown_outcomes_and_refusals_decide_what_is_due,
);
