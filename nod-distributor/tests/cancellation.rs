//! Cancelling here what NOD has: an order cancelled after its tickets were placed has each
//! of them cancelled in NOD, once.

mod common;

use common::*;
use td_jobs::Outcome;
use td_nod::{Nod, OrderGroupId, OrderGroupState};

#[tokio::test]
async fn cancelling_the_order_cancels_each_placed_ticket_in_nod_once() {
    let rig = Rig::start().await;
    let confirmed = family("CANCEL1");
    rig.record(&confirmed).await;
    rig.settle_all().await;
    let placed = rig.tickets("CANCEL1").await;
    assert!(placed.iter().all(|t| t.status == "DISTRIBUTED"));

    rig.record(&cancelled(&confirmed)).await;
    assert!(rig
        .tickets("CANCEL1")
        .await
        .iter()
        .all(|t| t.status == "CANCELLED"));
    assert_eq!(rig.dispatcher.pass().await.unwrap(), placed.len());
    let outcomes = rig.work().await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Done), "{outcomes:?}");

    for t in &placed {
        let nod_id = OrderGroupId::new(t.nod_order_group_id.clone().unwrap());
        let group = rig.simulator.get(&nod_id).await.unwrap();
        assert_eq!(group.state, OrderGroupState::Cancelled, "{group:?}");
        assert!(rig.ticket(t.id).await.nod_cancelled_at.is_some());
    }
    assert_eq!(
        rig.simulator
            .request_count("POST /backoffice/order-groups/{id}/cancel"),
        placed.len() as u64
    );
    // Cancelled in NOD: nothing is due any more.
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 0);
}

#[tokio::test]
async fn a_cancellation_nod_cannot_take_now_is_retried() {
    let rig = Rig::start().await;
    let confirmed = zone(
        "CANCEL2",
        chrono::Utc::now(),
        chrono::Utc::now() + chrono::Duration::days(1),
    );
    rig.record(&confirmed).await;
    rig.settle_all().await;
    rig.record(&cancelled(&confirmed)).await;
    rig.faults(td_nod::Faults {
        fail_next: 1,
        ..td_nod::Faults::default()
    });
    rig.dispatcher.pass().await.unwrap();
    let outcomes = rig.work().await;
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Retry(_)]),
        "{outcomes:?}"
    );
    let ticket = &rig.tickets("CANCEL2").await[0];
    assert!(rig.ticket(ticket.id).await.nod_cancelled_at.is_none());
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(rig.work().await, vec![Outcome::Done]);
    assert!(rig.ticket(ticket.id).await.nod_cancelled_at.is_some());
}

#[tokio::test]
async fn a_ticket_cancelled_while_its_placement_outcome_is_unknown_is_cancelled_in_nod() {
    let rig = Rig::start().await;
    let confirmed = zone(
        "UNKNOWN",
        chrono::Utc::now(),
        chrono::Utc::now() + chrono::Duration::days(1),
    );
    rig.record(&confirmed).await;
    // NOD makes the order group, but its answer is lost.
    rig.faults(td_nod::Faults {
        lose_answer_next: 1,
        ..td_nod::Faults::default()
    });
    rig.dispatcher.pass().await.unwrap();
    assert_eq!(rig.work().await, vec![Outcome::Done]);
    let ticket = rig.tickets("UNKNOWN").await.remove(0);
    assert_eq!(ticket.status, "GENERATED");
    assert_eq!(ticket.nod_order_group_id, None);
    let in_nod = rig.simulator.order_groups();
    assert_eq!(in_nod.len(), 1);
    assert_eq!(in_nod[0].state, OrderGroupState::Distributed);

    // Cancelled before the placement is tried again.
    rig.record(&cancelled(&confirmed)).await;
    assert_eq!(rig.ticket(ticket.id).await.status, "CANCELLED");
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 1);
    assert_eq!(rig.work().await, vec![Outcome::Done]);
    let groups = rig.simulator.order_groups();
    assert_eq!(groups.len(), 1, "no second group: {groups:?}");
    assert_eq!(groups[0].state, OrderGroupState::Cancelled);
    let done = rig.ticket(ticket.id).await;
    assert!(done.nod_cancelled_at.is_some());
    assert_eq!(
        done.nod_order_group_id.as_deref(),
        Some(groups[0].id.as_str())
    );
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 0);
}

#[tokio::test]
async fn a_cancellation_nod_refuses_for_good_is_recorded_and_not_tried_again() {
    let rig = Rig::start().await;
    let confirmed = zone(
        "REFUSED",
        chrono::Utc::now(),
        chrono::Utc::now() + chrono::Duration::days(1),
    );
    rig.record(&confirmed).await;
    rig.settle_all().await;
    rig.record(&cancelled(&confirmed)).await;
    rig.faults(td_nod::Faults {
        reject_next: 1,
        ..td_nod::Faults::default()
    });
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 1);
    assert_eq!(rig.work().await, vec![Outcome::Done]);
    let ticket = rig.tickets("REFUSED").await.remove(0);
    assert_eq!(ticket.status, "CANCELLED");
    assert_eq!(ticket.nod_cancelled_at, None);
    assert!(ticket.nod_cancel_refused_at.is_some());
    let reason = ticket.nod_cancel_refused_reason.unwrap_or_default();
    assert!(reason.starts_with("NOD_REJECTED: 422"), "{reason}");
    // Recorded: nothing is due, however long one waits.
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 0);
    assert!(rig.dead_letters().await.is_empty());
}
