//! NOD distribution's store functions, one suite run against PostgreSQL and SQLite alike:
//! what is due for a job and when again, each NOD change as one transition with one event,
//! the once-per-version completion event, re-placement of FAILED tickets, the feed cursor.

use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use td_domain::ids::{OrganisationId, TicketDistributionGroupId, TicketDistributionId};
use td_domain::status::{TdEvent, TdStatus};
use td_store::entity::{outbox, ticket_distribution as td};
use td_store::nod::{self, ChangeOutcome, JobKind, NodChange};
use td_store::record::{record_order_event, Origin};
use td_store::DatabaseConnection;

const FAMILY: &str = include_str!("../../../examples/orders/family-with-supplement.json");

/// Records the family order (several tickets in two groups); returns its tickets.
async fn recorded(db: &DatabaseConnection) -> Vec<td::Model> {
    let event = td_domain::parse_order_event(FAMILY.as_bytes()).unwrap();
    record_order_event(db, &event, &Origin::default(), Utc::now())
        .await
        .unwrap();
    td::Entity::find().all(db).await.unwrap()
}

async fn events_of_type(db: &DatabaseConnection, event_type: &str) -> u64 {
    outbox::Entity::find()
        .filter(outbox::Column::EventType.eq(event_type))
        .count(db)
        .await
        .unwrap()
}

fn change(id: uuid::Uuid, event: TdEvent) -> NodChange {
    NodChange {
        ticket_distribution_id: TicketDistributionId(id),
        event,
        nod_order_group_id: Some(format!("nod-{id}")),
        reason: (event == TdEvent::Failed).then(|| "NOD_REJECTED: 422 REJECTED: no".to_owned()),
        media_serial_number_id: None,
        traceparent: None,
        at: Utc::now(),
    }
}

async fn apply(db: &DatabaseConnection, c: &NodChange) -> ChangeOutcome {
    let txn = db.begin().await.unwrap();
    let outcome = nod::apply_change(&txn, c).await.unwrap();
    txn.commit().await.unwrap();
    outcome
}

async fn due_and_redispatched(db: &DatabaseConnection) {
    let tickets = recorded(db).await;
    let now = Utc::now();
    let after = Duration::minutes(5);
    let due = nod::due_jobs(db, now, after, 100).await.unwrap();
    assert_eq!(due.len(), tickets.len());
    assert!(due.iter().all(|d| d.kind == JobKind::Place));
    let ids: Vec<_> = due.iter().map(|d| d.ticket_distribution_id).collect();
    nod::mark_enqueued(db, &ids, now).await.unwrap();
    assert!(nod::due_jobs(db, now, after, 100).await.unwrap().is_empty());
    let later = now + after + Duration::seconds(1);
    assert_eq!(
        nod::due_jobs(db, later, after, 100).await.unwrap().len(),
        tickets.len(),
        "a job that never finished is enqueued again"
    );
}

async fn each_change_once_and_the_version_completed_once(db: &DatabaseConnection) {
    let tickets = recorded(db).await;
    let completed = "AllTicketDistributionGroupsForOrderVersionDistributed";
    for (n, t) in tickets.iter().enumerate() {
        assert_eq!(
            events_of_type(db, completed).await,
            0,
            "not before the last"
        );
        let outcome = apply(db, &change(t.id, TdEvent::Distributed)).await;
        assert_eq!(
            outcome,
            ChangeOutcome::Applied {
                from: TdStatus::Generated,
                to: TdStatus::Distributed
            }
        );
        assert_eq!(
            events_of_type(db, "TicketDistributionDistributed").await,
            n as u64 + 1
        );
    }
    assert_eq!(events_of_type(db, completed).await, 1);
    // A repeated change is refused and writes nothing.
    let before = outbox::Entity::find().count(db).await.unwrap();
    let again = apply(db, &change(tickets[0].id, TdEvent::Distributed)).await;
    assert_eq!(
        again,
        ChangeOutcome::Refused {
            status: TdStatus::Distributed
        }
    );
    apply(db, &change(tickets[0].id, TdEvent::PickedUp)).await;
    apply(db, &change(tickets[0].id, TdEvent::PickedUp)).await;
    assert_eq!(outbox::Entity::find().count(db).await.unwrap(), before + 1);
    assert_eq!(events_of_type(db, completed).await, 1, "never twice");
    let row = td::Entity::find_by_id(tickets[1].id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.nod_order_group_id,
        Some(format!("nod-{}", tickets[1].id))
    );
    assert!(row.distributed_at.is_some());
    assert_eq!(
        apply(db, &change(uuid::Uuid::new_v4(), TdEvent::Distributed)).await,
        ChangeOutcome::UnknownTicket
    );
}

async fn failed_tickets_are_placed_again_on_request(db: &DatabaseConnection) {
    let tickets = recorded(db).await;
    let t = &tickets[0];
    apply(db, &change(t.id, TdEvent::Failed)).await;
    let row = td::Entity::find_by_id(t.id).one(db).await.unwrap().unwrap();
    assert_eq!(row.status, "FAILED");
    assert!(row.failure_reason.unwrap().starts_with("NOD_REJECTED"));
    let ids: Vec<_> = tickets.iter().map(|t| TicketDistributionId(t.id)).collect();
    nod::mark_enqueued(db, &ids, Utc::now()).await.unwrap();
    let group = [TicketDistributionGroupId(t.group_id)];
    let other_org = nod::request_replacement(db, &group, Some(OrganisationId(999)), Utc::now())
        .await
        .unwrap();
    assert!(
        other_org.is_empty(),
        "another organisation's tickets are not touched"
    );
    let requested = nod::request_replacement(db, &group, None, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        requested,
        vec![TicketDistributionId(t.id)],
        "only the FAILED one"
    );
    let due = nod::due_jobs(db, Utc::now(), Duration::minutes(5), 100)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].ticket_distribution_id, TicketDistributionId(t.id));
    let outcome = apply(db, &change(t.id, TdEvent::Distributed)).await;
    assert_eq!(
        outcome,
        ChangeOutcome::Applied {
            from: TdStatus::Failed,
            to: TdStatus::Distributed
        }
    );
}

async fn the_feed_cursor_is_kept(db: &DatabaseConnection) {
    assert_eq!(nod::feed_cursor(db).await.unwrap(), None);
    nod::save_feed_cursor(db, "0000000007", Utc::now())
        .await
        .unwrap();
    nod::save_feed_cursor(db, "0000000009", Utc::now())
        .await
        .unwrap();
    assert_eq!(
        nod::feed_cursor(db).await.unwrap().as_deref(),
        Some("0000000009")
    );
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let db = td_testkit::postgres().await;
                super::$name(&db.db).await;
            })*
        }
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let db = td_testkit::sqlite().await;
                super::$name(&db.db).await;
            })*
        }
    };
}

on_both!(
    due_and_redispatched,
    each_change_once_and_the_version_completed_once,
    failed_tickets_are_placed_again_on_request,
    the_feed_cursor_is_kept,
);
