//! NOD's transaction feed: pickups, activations, outside cancellations and expiry become
//! status changes with their events, and a page read again changes nothing.

mod common;

use common::*;
use td_nod::OrderGroupId;
use td_store::entity::nod_feed;
use td_store::sea_orm::EntityTrait;

#[tokio::test]
async fn pickup_activation_and_outside_cancellation_are_recorded_once_each() {
    let rig = Rig::start().await;
    rig.record(&family("FEED1")).await;
    rig.settle_all().await;
    let tickets = rig.tickets("FEED1").await;
    let nod = |i: usize| OrderGroupId::new(tickets[i].nod_order_group_id.clone().unwrap());
    rig.simulator.pickup(&nod(0)).unwrap();
    rig.simulator.activate(&nod(0)).unwrap();
    rig.simulator.cancel_outside(&nod(1)).unwrap();

    let applied = rig.feed.step().await.unwrap();
    assert!(applied.unwrap_or(0) >= 3, "{applied:?}");
    let first = rig.ticket(tickets[0].id).await;
    assert_eq!(first.status, "ACTIVATED");
    assert!(first.picked_up_at.is_some());
    assert_eq!(
        rig.ticket(tickets[1].id).await.status,
        "CANCELLED_EXTERNALLY"
    );
    assert_eq!(rig.ticket(tickets[2].id).await.status, "DISTRIBUTED");
    let events = rig.events("FEED1").await;
    let changes = |kind: &str| events.iter().filter(|e| *e == kind).count();
    assert_eq!(changes("TicketDistributionPickedUp"), 1);
    assert_eq!(changes("TicketDistributionActivated"), 1);
    assert_eq!(changes("TicketDistributionCancelledExternally"), 1);

    // Up to date: the next page is empty.
    assert_eq!(rig.feed.step().await.unwrap(), Some(0));
    // A crash before the cursor was saved reads the page again: nothing changes.
    nod_feed::Entity::delete_many().exec(&rig.db).await.unwrap();
    assert!(rig.feed.step().await.unwrap().unwrap_or(0) >= 3);
    assert_eq!(rig.events("FEED1").await, events);
    assert_eq!(rig.ticket(tickets[0].id).await.status, "ACTIVATED");
}

#[tokio::test]
async fn a_ticket_expires_when_nod_says_its_validity_ended() {
    let rig = Rig::start().await;
    let now = chrono::Utc::now();
    rig.record(&zone(
        "FEEDEXP",
        now - chrono::Duration::hours(1),
        now + chrono::Duration::hours(1),
    ))
    .await;
    rig.settle_all().await;
    let ticket = &rig.tickets("FEEDEXP").await[0];
    assert_eq!(ticket.status, "DISTRIBUTED");
    assert_eq!(rig.feed.step().await.unwrap(), Some(0), "not expired yet");

    rig.clock.advance(chrono::Duration::hours(2));
    rig.feed.step().await.unwrap();
    assert_eq!(rig.ticket(ticket.id).await.status, "EXPIRED");
    assert_eq!(
        rig.events("FEEDEXP").await,
        [
            "TicketDistributionGroupCreated",
            "TicketDistributionAdded",
            "AllTicketDistributionGroupsForOrderVersionGenerated",
            "TicketDistributionDistributed",
            "AllTicketDistributionGroupsForOrderVersionDistributed",
            "TicketDistributionExpired"
        ]
    );
}

#[tokio::test]
async fn an_entry_that_cannot_be_applied_is_parked_and_the_feed_goes_on() {
    an_entry_that_cannot_be_applied_is_parked(Rig::start().await).await;
}

/// The same on PostgreSQL, where the page runs under the feed's advisory lock and each entry
/// under a savepoint of the page's transaction.
#[tokio::test]
async fn on_postgres_an_entry_that_cannot_be_applied_is_parked_and_the_feed_goes_on() {
    an_entry_that_cannot_be_applied_is_parked(Rig::on_postgres().await).await;
}

async fn an_entry_that_cannot_be_applied_is_parked(rig: Rig) {
    use td_store::sea_orm::sea_query::Expr;
    use td_store::sea_orm::{ColumnTrait, QueryFilter};
    rig.record(&family("FEEDQ")).await;
    rig.settle_all().await;
    let tickets = rig.tickets("FEEDQ").await;
    let nod = |i: usize| OrderGroupId::new(tickets[i].nod_order_group_id.clone().unwrap());
    rig.simulator.pickup(&nod(0)).unwrap();
    rig.simulator.pickup(&nod(1)).unwrap();
    rig.simulator.cancel_outside(&nod(2)).unwrap();
    // The first entry's ticket holds a status no version of the service wrote.
    td_store::entity::ticket_distribution::Entity::update_many()
        .col_expr(
            td_store::entity::ticket_distribution::Column::Status,
            Expr::value("NOT_A_STATUS"),
        )
        .filter(td_store::entity::ticket_distribution::Column::Id.eq(tickets[0].id))
        .exec(&rig.db)
        .await
        .unwrap();

    let applied = rig.feed.step().await.unwrap();
    assert!(applied.unwrap_or(0) >= 3, "{applied:?}");
    assert_eq!(rig.ticket(tickets[1].id).await.status, "PICKED_UP");
    assert_eq!(
        rig.ticket(tickets[2].id).await.status,
        "CANCELLED_EXTERNALLY"
    );
    let parked = td_store::nod::quarantined_feed_entries(&rig.db)
        .await
        .unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(
        parked[0].entry["clientReference"],
        tickets[0].id.to_string().as_str()
    );
    assert_eq!(parked[0].entry["kind"], "PICKED_UP");
    assert!(
        parked[0].reason.contains("NOT_A_STATUS"),
        "{}",
        parked[0].reason
    );
    assert_eq!(rig.ticket(tickets[0].id).await.status, "NOT_A_STATUS");
    // The cursor moved past the page: the next one is empty and nothing is parked again.
    assert_eq!(rig.feed.step().await.unwrap(), Some(0));
    assert_eq!(
        td_store::nod::quarantined_feed_entries(&rig.db)
            .await
            .unwrap()
            .len(),
        1
    );
}
