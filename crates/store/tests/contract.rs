//! One contract suite for the store, run against PostgreSQL and SQLite alike, so that the
//! embedded default cannot drift from production.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{EntityTrait, PaginatorTrait, TransactionTrait};
use serde_json::{json, Value};
use td_domain::ids::{OrderId, OrganisationId, Scope, TicketDistributionId};
use td_domain::order::OrderEvent;
use td_events::EventError;
use td_store::entity::{group, ticket_distribution as td};
use td_store::query::{self, Filter, FilterValue, GroupField, Op, PageRequest};
use td_store::record::{record_order_event, Origin, RecordOutcome};
use td_store::{outbox, DatabaseConnection, StoreError};

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

/// A confirmed order: line L1 (two legs on two authorities, one adult) at `l1_version`,
/// and line L2 (zone ticket) unless `without_l2`.
fn order(
    id: &str,
    version: u32,
    l1_version: u32,
    l2_status: &str,
    kind: &str,
    status: &str,
) -> OrderEvent {
    let mut lines = vec![json!({
        "id": "L1", "version": l1_version, "status": "CONFIRMED",
        "fareProducts": [{"id": "P1", "ref": "VYG:PreassignedFareProduct:Standard", "name": "Standard", "kind": "MAIN", "travellerIds": ["T1"]}],
        "legs": [leg("leg1", "VYG:Authority:VYG", 8, 10), leg("leg2", "SJN:Authority:SJN", 10, 12)],
    })];
    if l2_status != "MISSING" {
        lines.push(json!({
            "id": "L2", "version": 1, "status": l2_status,
            "startOfValidity": t(6), "endOfValidity": t(20),
            "fareZones": ["RUT:FareZone:4"],
            "fareProducts": [{"id": "P2", "ref": "RUT:PreassignedFareProduct:Single", "kind": "MAIN", "travellerIds": ["T1"]}],
        }));
    }
    let value = json!({
        "eventId": uuid::Uuid::new_v4(), "type": kind, "correlationId": format!("corr-{id}-{version}"),
        "timestamp": t(1),
        "order": {
            "id": id, "version": version, "status": status, "organisationId": 1,
            "contactInfo": {"contact": {"customerId": "C1", "email": "a@example.com"}},
            "travellers": [{"id": "T1", "name": "Kari", "userProfileRef": "ENT:UserProfile:Adult"}],
            "orderLines": lines,
        }
    });
    td_domain::parse_order_event(value.to_string().as_bytes()).expect("valid test order")
}

fn confirmed(id: &str, version: u32, l1_version: u32) -> OrderEvent {
    order(
        id,
        version,
        l1_version,
        "CONFIRMED",
        "OrderConfirmed",
        "CONFIRMED",
    )
}

async fn record(db: &DatabaseConnection, event: &OrderEvent) -> RecordOutcome {
    let txn = db.begin().await.unwrap();
    let outcome = record_order_event(&txn, event, &Origin::default(), Utc::now())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    outcome
}

fn eq(field: GroupField, value: FilterValue) -> Filter {
    Filter {
        field,
        op: Op::Eq,
        values: vec![value],
    }
}

fn page() -> PageRequest {
    PageRequest {
        page: 1,
        per_page: 100,
    }
}

async fn search(
    db: &DatabaseConnection,
    filters: Vec<Filter>,
) -> Vec<query::GroupWithDistributions> {
    query::search_groups(db, Scope::AllOrganisations, filters, page())
        .await
        .unwrap()
        .items
}

async fn counts(db: &DatabaseConnection) -> (u64, u64, u64) {
    (
        group::Entity::find().count(db).await.unwrap(),
        td::Entity::find().count(db).await.unwrap(),
        td_store::entity::outbox::Entity::find()
            .count(db)
            .await
            .unwrap(),
    )
}

pub async fn a_confirmed_order_gets_one_group_per_line_and_one_ticket_per_segment(
    db: DatabaseConnection,
) {
    let outcome = record(&db, &confirmed("O1", 1, 1)).await;
    let RecordOutcome::Applied { created, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(created.len(), 2);
    let groups = search(
        &db,
        vec![eq(GroupField::OrderId, FilterValue::Text("O1".into()))],
    )
    .await;
    assert_eq!(groups.len(), 2);
    let l1 = groups
        .iter()
        .find(|g| g.group.order_line_id == "L1")
        .unwrap();
    assert_eq!(l1.distributions.len(), 2, "two authorities, two segments");
    assert_eq!(l1.distributions[0].start_of_validity, t(8));
    assert_eq!(l1.distributions[1].end_of_validity, t(12));
    assert!(l1.distributions.iter().all(|d| d.status == "GENERATED"));
    assert_eq!(l1.group.order_owner_customer_id.as_deref(), Some("C1"));
}

pub async fn the_same_version_twice_creates_nothing_new(db: DatabaseConnection) {
    let event = confirmed("O2", 1, 1);
    record(&db, &event).await;
    let before = counts(&db).await;
    let again = record(&db, &event).await;
    assert_eq!(again, RecordOutcome::AlreadyRecorded { latest_version: 1 });
    assert_eq!(counts(&db).await, before);
}

pub async fn an_older_version_after_a_newer_one_changes_nothing(db: DatabaseConnection) {
    record(&db, &confirmed("O3", 3, 2)).await;
    let before = counts(&db).await;
    let stale = record(&db, &confirmed("O3", 2, 1)).await;
    assert_eq!(stale, RecordOutcome::AlreadyRecorded { latest_version: 3 });
    assert_eq!(counts(&db).await, before);
}

pub async fn a_draft_order_records_nothing(db: DatabaseConnection) {
    let draft = order("O4", 1, 1, "CONFIRMED", "OrderConfirmed", "DRAFT");
    assert_eq!(record(&db, &draft).await, RecordOutcome::Draft);
    assert_eq!(counts(&db).await, (0, 0, 0));
    assert!(
        query::order(&db, Scope::AllOrganisations, &OrderId("O4".into()))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn events_are_written_in_order_with_the_correlation_id(db: DatabaseConnection) {
    record(&db, &confirmed("O5", 1, 1)).await;
    let events = outbox::events_of_order(&db, &OrderId("O5".into()))
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "TicketDistributionGroupCreated",
            "TicketDistributionAdded",
            "TicketDistributionAdded",
            "TicketDistributionGroupCreated",
            "TicketDistributionAdded",
            "AllTicketDistributionGroupsForOrderVersionGenerated",
        ]
    );
    for e in &events {
        assert_eq!(e.correlation_id.as_deref(), Some("corr-O5-1"));
        assert_eq!(e.payload["orderId"], "O5");
        assert_eq!(e.payload["eventId"], e.event_id.to_string());
        assert!(e.published_at.is_none());
    }
    let created = &events[0].payload["ticketDistributionGroupCreated"];
    assert_eq!(
        created["ticketDistributionIds"].as_array().unwrap().len(),
        2
    );
    let all = &events[5].payload["ticketDistributionGroupIds"];
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(events[5].topic, td_events::ORDER_VERSION_COMPLETED);

    let unpublished = outbox::unpublished(&db, 100).await.unwrap();
    assert_eq!(unpublished.len(), 6);
    let ids: Vec<i64> = unpublished.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    outbox::mark_published(&db, &ids[..2], Utc::now())
        .await
        .unwrap();
    assert_eq!(outbox::unpublished(&db, 100).await.unwrap().len(), 4);
}

pub async fn a_new_version_keeps_unchanged_lines_and_replaces_changed_ones(db: DatabaseConnection) {
    record(&db, &confirmed("O6", 1, 1)).await;
    let v1 = search(
        &db,
        vec![eq(GroupField::OrderId, FilterValue::Text("O6".into()))],
    )
    .await;
    let old_l1 = v1
        .iter()
        .find(|g| g.group.order_line_id == "L1")
        .unwrap()
        .clone();
    let l2 = v1
        .iter()
        .find(|g| g.group.order_line_id == "L2")
        .unwrap()
        .clone();

    let outcome = record(&db, &confirmed("O6", 2, 2)).await;
    let RecordOutcome::Applied {
        created,
        kept,
        cancelled,
        ..
    } = outcome
    else {
        panic!()
    };
    assert_eq!(created.len(), 1);
    assert_eq!(kept.len(), 1);
    assert_eq!(cancelled.len(), 2);

    let by_version = |v: i64| {
        vec![
            eq(GroupField::OrderId, FilterValue::Text("O6".into())),
            eq(GroupField::OrderVersion, FilterValue::Int(v)),
        ]
    };
    let v2: Vec<_> = search(&db, by_version(2)).await;
    assert_eq!(v2.len(), 2);
    assert!(v2
        .iter()
        .any(|g| g.group.id == l2.group.id && g.group.order_version == 2));
    assert!(v2.iter().all(|g| g.group.id != old_l1.group.id));
    let v1_again = search(&db, by_version(1)).await;
    let ids: Vec<_> = v1_again.iter().map(|g| g.group.id).collect();
    assert!(ids.contains(&old_l1.group.id) && ids.contains(&l2.group.id));

    for d in &old_l1.distributions {
        let row =
            query::distribution_status(&db, Scope::AllOrganisations, TicketDistributionId(d.id))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(row.distribution.status, "CANCELLED");
        assert_eq!(
            row.distribution.cancel_cause.as_deref(),
            Some("SUPERSEDED_BY_ORDER_VERSION")
        );
        assert!(!row.in_latest_confirmed_version);
    }
    let kept_td = &l2.distributions[0];
    let row = query::distribution_status(
        &db,
        Scope::AllOrganisations,
        TicketDistributionId(kept_td.id),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(row.in_latest_confirmed_version);
    assert_eq!(row.distribution.status, "GENERATED");
}

pub async fn credited_lines_and_cancelled_orders_cancel_their_tickets(db: DatabaseConnection) {
    record(&db, &confirmed("O7", 1, 1)).await;
    record(
        &db,
        &order("O7", 2, 1, "CREDITED", "OrderConfirmed", "CONFIRMED"),
    )
    .await;
    let statuses = |rows: Vec<query::GroupWithDistributions>| {
        rows.into_iter()
            .flat_map(|g| {
                g.distributions
                    .into_iter()
                    .map(move |d| (g.group.order_line_id.clone(), d.status, d.cancel_cause))
            })
            .collect::<Vec<_>>()
    };
    let all = statuses(
        search(
            &db,
            vec![eq(GroupField::OrderId, FilterValue::Text("O7".into()))],
        )
        .await,
    );
    assert!(all
        .iter()
        .any(|(l, s, c)| l == "L2" && s == "CANCELLED" && c.as_deref() == Some("LINE_CREDITED")));
    assert!(all
        .iter()
        .filter(|(l, _, _)| l == "L1")
        .all(|(_, s, _)| s == "GENERATED"));

    record(
        &db,
        &order("O7", 3, 1, "MISSING", "OrderCancelled", "CANCELLED"),
    )
    .await;
    let all = statuses(
        search(
            &db,
            vec![eq(GroupField::OrderId, FilterValue::Text("O7".into()))],
        )
        .await,
    );
    assert!(all.iter().all(|(_, s, _)| s == "CANCELLED"), "{all:?}");
}

pub async fn search_operators_paging_and_scope(db: DatabaseConnection) {
    for (i, id) in ["S1", "S2", "S3"].iter().enumerate() {
        record(&db, &confirmed(id, 1 + i as u32, 1)).await;
    }
    let text = |s: &str| FilterValue::Text(s.into());
    let f = |field, op, values| Filter { field, op, values };
    let n = |filters| async {
        query::search_groups(&db, Scope::AllOrganisations, filters, page())
            .await
            .unwrap()
            .total_items
    };

    assert_eq!(
        n(vec![f(
            GroupField::OrderId,
            Op::In,
            vec![text("S1"), text("S3")]
        )])
        .await,
        4
    );
    assert_eq!(
        n(vec![f(
            GroupField::OrderId,
            Op::Nin,
            vec![text("S1"), text("S3")]
        )])
        .await,
        2
    );
    assert_eq!(
        n(vec![f(GroupField::OrderId, Op::Ne, vec![text("S1")])]).await,
        4
    );
    assert_eq!(
        n(vec![f(
            GroupField::OrderVersion,
            Op::Gte,
            vec![FilterValue::Int(2)]
        )])
        .await,
        4
    );
    assert_eq!(
        n(vec![f(
            GroupField::OrderVersion,
            Op::Gt,
            vec![FilterValue::Int(2)]
        )])
        .await,
        2
    );
    assert_eq!(
        n(vec![f(
            GroupField::OrderVersion,
            Op::Lt,
            vec![FilterValue::Int(2)]
        )])
        .await,
        2
    );
    assert_eq!(
        n(vec![f(
            GroupField::OrderVersion,
            Op::Lte,
            vec![FilterValue::Int(2)]
        )])
        .await,
        4
    );
    // Repeats are AND-ed.
    assert_eq!(
        n(vec![
            f(GroupField::OrderVersion, Op::Gte, vec![FilterValue::Int(2)]),
            f(GroupField::OrderVersion, Op::Lte, vec![FilterValue::Int(2)]),
        ])
        .await,
        2
    );
    // Ticket-level filters select groups containing a matching ticket.
    assert_eq!(
        n(vec![f(
            GroupField::StartOfValidity,
            Op::Eq,
            vec![FilterValue::Time(t(8))]
        )])
        .await,
        3
    );
    assert_eq!(
        n(vec![f(
            GroupField::EndOfValidity,
            Op::Gt,
            vec![FilterValue::Time(t(12))]
        )])
        .await,
        3
    );
    assert_eq!(
        n(vec![f(
            GroupField::DistributionStatus,
            Op::Eq,
            vec![text("GENERATED")]
        )])
        .await,
        6
    );
    assert_eq!(
        n(vec![f(
            GroupField::DistributionStatus,
            Op::Eq,
            vec![text("CANCELLED")]
        )])
        .await,
        0
    );
    assert_eq!(
        n(vec![f(
            GroupField::CreatedAt,
            Op::Lt,
            vec![FilterValue::Time(Utc::now() + Duration::hours(1))]
        )])
        .await,
        6
    );
    let any = search(&db, vec![eq(GroupField::OrderId, text("S2"))]).await;
    let td_id = any[0].distributions[0].id;
    let by_td = search(
        &db,
        vec![eq(
            GroupField::TicketDistributionId,
            FilterValue::Uuid(td_id),
        )],
    )
    .await;
    assert_eq!(by_td.len(), 1);
    assert_eq!(by_td[0].group.id, any[0].group.id);
    let by_id = search(
        &db,
        vec![eq(GroupField::Id, FilterValue::Uuid(any[0].group.id))],
    )
    .await;
    assert_eq!(by_id.len(), 1);
    assert_eq!(n(vec![eq(GroupField::OrderLineId, text("L2"))]).await, 3);
    assert_eq!(
        n(vec![eq(GroupField::OrderOwnerCustomerId, text("C1"))]).await,
        6
    );
    assert_eq!(
        n(vec![eq(
            GroupField::DistributionHolderCustomerId,
            text("C1")
        )])
        .await,
        6
    );
    assert_eq!(
        n(vec![eq(GroupField::MediaSerialNumberId, text("nothing"))]).await,
        0
    );
    assert_eq!(
        n(vec![eq(GroupField::OrganisationId, FilterValue::Int(1))]).await,
        6
    );

    // Paging: stable order, honest totals.
    let all = vec![eq(GroupField::OrganisationId, FilterValue::Int(1))];
    let p1 = query::search_groups(
        &db,
        Scope::AllOrganisations,
        all.clone(),
        PageRequest {
            page: 1,
            per_page: 4,
        },
    )
    .await
    .unwrap();
    let p2 = query::search_groups(
        &db,
        Scope::AllOrganisations,
        all.clone(),
        PageRequest {
            page: 2,
            per_page: 4,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            p1.items.len(),
            p2.items.len(),
            p1.total_items,
            p1.total_pages()
        ),
        (4, 2, 6, 2)
    );
    let mut ids: Vec<_> = p1
        .items
        .iter()
        .chain(&p2.items)
        .map(|g| g.group.id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);

    // Scope: another organisation sees nothing.
    let other = query::search_groups(&db, Scope::Organisation(OrganisationId(2)), all, page())
        .await
        .unwrap();
    assert_eq!(other.total_items, 0);
    assert!(query::distribution_status(
        &db,
        Scope::Organisation(OrganisationId(2)),
        TicketDistributionId(td_id)
    )
    .await
    .unwrap()
    .is_none());
    assert!(query::order_distributions(
        &db,
        Scope::Organisation(OrganisationId(2)),
        &OrderId("S2".into())
    )
    .await
    .unwrap()
    .is_none());
}

pub async fn a_rolled_back_transaction_leaves_nothing(db: DatabaseConnection) {
    let txn = db.begin().await.unwrap();
    record_order_event(&txn, &confirmed("O8", 1, 1), &Origin::default(), Utc::now())
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(counts(&db).await, (0, 0, 0));
    assert!(matches!(
        record(&db, &confirmed("O8", 1, 1)).await,
        RecordOutcome::Applied { .. }
    ));
}

/// The event schema's ranges are checked where the store builds an event: a version above
/// the schema's `int`, or a clock past year 9999, is a clear error and records nothing.
pub async fn a_value_the_event_schema_cannot_hold_is_refused_and_records_nothing(
    db: DatabaseConnection,
) {
    // Past the intake's limits, which refuse it first; the store refuses it on its own too.
    let mut too_new = confirmed("O9", 1, 1);
    too_new.order.version = i32::MAX as u32 + 1;
    let far_future = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
    for (event, now) in [(too_new, Utc::now()), (confirmed("O9", 1, 1), far_future)] {
        let txn = db.begin().await.unwrap();
        let err = record_order_event(&txn, &event, &Origin::default(), now)
            .await
            .expect_err("refused");
        assert!(
            matches!(err, StoreError::Event(EventError::OutOfRange { .. })),
            "{err}"
        );
        txn.commit().await.unwrap();
        assert_eq!(counts(&db).await, (0, 0, 0));
        assert!(
            query::order(&db, Scope::AllOrganisations, &OrderId("O9".into()))
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// The organisation of an order is fixed by its first version: a later event naming
/// another one, newer or not, is refused with nothing written, and the first
/// organisation's tickets stay as they were.
pub async fn an_event_naming_another_organisation_is_refused_and_writes_nothing(
    db: DatabaseConnection,
) {
    record(&db, &confirmed("O10", 1, 1)).await;
    let before = counts(&db).await;
    let versions = || async {
        td_store::entity::order_version::Entity::find()
            .count(&db)
            .await
            .unwrap()
    };
    let recorded_versions = versions().await;
    let takeover = order("O10", 2, 1, "MISSING", "OrderCancelled", "CANCELLED");
    for mut event in [takeover, confirmed("O10", 1, 1), confirmed("O10", 3, 2)] {
        event.order.organisation_id = OrganisationId(2);
        let txn = db.begin().await.unwrap();
        let err = record_order_event(&txn, &event, &Origin::default(), Utc::now())
            .await
            .expect_err("another organisation");
        txn.commit().await.unwrap();
        assert!(
            matches!(
                &err,
                StoreError::OtherOrganisation { order_id, recorded: 1, received: 2 }
                    if order_id == "O10"
            ),
            "{err}"
        );
        assert_eq!(counts(&db).await, before);
        assert_eq!(versions().await, recorded_versions);
    }
    let groups = search(
        &db,
        vec![eq(GroupField::OrderId, FilterValue::Text("O10".into()))],
    )
    .await;
    assert!(groups.iter().all(|g| g.group.organisation_id == 1));
    assert!(groups
        .iter()
        .flat_map(|g| &g.distributions)
        .all(|d| d.status == "GENERATED"));
    // The order's own organisation still moves it on.
    assert!(matches!(
        record(&db, &confirmed("O10", 2, 1)).await,
        RecordOutcome::Applied { .. }
    ));
}

macro_rules! contract_suite {
    ($backend:ident, $make:path) => {
        mod $backend {
            contract_suite!(@tests $make;
                a_confirmed_order_gets_one_group_per_line_and_one_ticket_per_segment,
                the_same_version_twice_creates_nothing_new,
                an_older_version_after_a_newer_one_changes_nothing,
                a_draft_order_records_nothing,
                events_are_written_in_order_with_the_correlation_id,
                a_new_version_keeps_unchanged_lines_and_replaces_changed_ones,
                credited_lines_and_cancelled_orders_cancel_their_tickets,
                search_operators_paging_and_scope,
                a_rolled_back_transaction_leaves_nothing,
                a_value_the_event_schema_cannot_hold_is_refused_and_records_nothing,
                an_event_naming_another_organisation_is_refused_and_writes_nothing,
            );
        }
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                super::$name($make().await.db).await;
            }
        )*
    };
}

contract_suite!(postgres, td_testkit::postgres);
contract_suite!(sqlite, td_testkit::sqlite);
