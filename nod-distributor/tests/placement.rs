//! Placing tickets in NOD, job by job: each ticket once with its own order group, a NOD that
//! does not answer holding the ticket GENERATED until it does, a new ticket FAILED only past
//! the horizon and then placed automatically, a final rejection FAILED with NOD's reason,
//! FAILED tickets placed again on request, a job delivered twice or lost in the queue
//! changing nothing.

mod common;

use common::*;
use std::collections::HashSet;
use std::time::Duration;
use td_domain::ids::TicketDistributionGroupId;
use td_jobs::{JobQueue, Outcome};
use td_nod::{Faults, Nod};

const DISTRIBUTED: &str = "TicketDistributionDistributed";
const FAILED: &str = "TicketDistributionFailed";
const ALL_DISTRIBUTED: &str = "AllTicketDistributionGroupsForOrderVersionDistributed";

#[tokio::test]
async fn every_ticket_is_placed_once_in_an_order_group_of_its_own_and_the_version_completes_once() {
    let rig = Rig::start().await;
    rig.record(&family("PLACE1")).await;
    assert!(rig.dispatcher.pass().await.unwrap() >= 2);
    let outcomes = rig.work().await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Done), "{outcomes:?}");

    let tickets = rig.tickets("PLACE1").await;
    assert!(tickets.len() >= 2, "the family order has several tickets");
    let mut nod_ids = HashSet::new();
    for t in &tickets {
        assert_eq!(t.status, "DISTRIBUTED", "{t:?}");
        let nod_id = t.nod_order_group_id.clone().expect("placed in NOD");
        let group = rig
            .simulator
            .get(&td_nod::OrderGroupId::new(nod_id.clone()))
            .await
            .unwrap();
        assert_eq!(group.client_reference, t.id.to_string());
        assert!(nod_ids.insert(nod_id), "one NOD order group per ticket");
    }
    assert_eq!(rig.placements(), tickets.len() as u64);
    assert_eq!(rig.count("PLACE1", DISTRIBUTED).await, tickets.len());
    assert_eq!(rig.count("PLACE1", ALL_DISTRIBUTED).await, 1);
    // Nothing is due any more.
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 0);
}

#[tokio::test]
async fn a_job_delivered_again_places_nothing_twice() {
    let rig = Rig::start().await;
    rig.record(&family("REDELIVER")).await;
    rig.dispatcher.pass().await.unwrap();
    let first = rig.leased().await;
    for delivery in &first {
        assert_eq!(rig.worker.process_one(delivery).await, Outcome::Done);
    }
    // The same jobs again (a consumer that crashed after acting, before acking).
    for delivery in &first {
        rig.queue
            .enqueue(&rig.streams.stream, &delivery.job)
            .await
            .unwrap();
    }
    let outcomes = rig.work().await;
    assert_eq!(outcomes.len(), first.len());
    assert!(outcomes.iter().all(|o| *o == Outcome::Done), "{outcomes:?}");
    assert_eq!(rig.placements(), first.len() as u64);
    assert_eq!(rig.count("REDELIVER", DISTRIBUTED).await, first.len());
    assert_eq!(rig.count("REDELIVER", ALL_DISTRIBUTED).await, 1);
}

#[tokio::test]
async fn a_job_lost_in_the_queue_is_dispatched_again_once_redispatch_after_has_passed() {
    let rig = Rig::with_redispatch_after(Duration::from_millis(300)).await;
    rig.record(&family("LOST")).await;
    let enqueued = rig.dispatcher.pass().await.unwrap();
    assert!(enqueued >= 2);
    // The jobs vanish: leased and never settled, and the queue forgets them.
    let lost = rig.leased().await;
    for delivery in &lost {
        rig.queue.fail(delivery, "lost").await.unwrap();
    }
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 0, "not yet due again");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rig.dispatcher.pass().await.unwrap(), enqueued);
    rig.work().await;
    let tickets = rig.tickets("LOST").await;
    assert!(
        tickets.iter().all(|t| t.status == "DISTRIBUTED"),
        "{tickets:?}"
    );
}

/// Ends a held ticket's hold now, as if its wait had passed: the hold and the start of its
/// placement effort move back by what was left of the wait.
async fn end_hold(rig: &Rig, id: uuid::Uuid) {
    use td_store::entity::ticket_distribution as td;
    use td_store::sea_orm::{ActiveValue::Set, EntityTrait};
    let ticket = rig.ticket(id).await;
    let now = chrono::Utc::now();
    let left = ticket.nod_retry_at.expect("the ticket is held") - now;
    td::Entity::update(td::ActiveModel {
        id: Set(id),
        nod_retry_at: Set(Some(now)),
        nod_placing_since: Set(ticket.nod_placing_since.map(|s| s - left)),
        ..Default::default()
    })
    .exec(&rig.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_nod_that_does_not_answer_holds_the_ticket_generated_and_it_is_placed_once_the_hold_ends()
{
    let rig = Rig::start().await;
    rig.record(&zone(
        "TRANSIENT",
        chrono::Utc::now(),
        chrono::Utc::now() + chrono::Duration::days(1),
    ))
    .await;
    rig.faults(Faults {
        fail_next: 1,
        ..Faults::default()
    });
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 1);
    assert_eq!(rig.work().await, vec![Outcome::Done]);
    let ticket = rig.tickets("TRANSIENT").await.remove(0);
    assert_eq!(ticket.status, "GENERATED");
    let retry_at = ticket.nod_retry_at.expect("held");
    let wait = retry_at - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::milliseconds(500) && wait <= chrono::Duration::seconds(1),
        "the first wait is a second: {wait}"
    );
    // Held: no job before the hold ends, even with the job's stamp written after the hold
    // (the dispatcher stamps once its pass has enqueued, possibly after the worker is done).
    td_store::nod::mark_enqueued(
        &rig.db,
        &[td_domain::ids::TicketDistributionId(ticket.id)],
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 0);
    end_hold(&rig, ticket.id).await;
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 1);
    assert_eq!(rig.work().await, vec![Outcome::Done]);
    let placed = rig.ticket(ticket.id).await;
    assert_eq!(placed.status, "DISTRIBUTED");
    assert_eq!(placed.nod_retry_at, None);
    assert_eq!(rig.placements(), 2);
    assert_eq!(rig.count("TRANSIENT", FAILED).await, 0);
    assert!(rig.dead_letters().await.is_empty());
}

#[tokio::test]
async fn waits_for_nod_double_up_to_the_most_and_a_new_ticket_fails_only_past_the_horizon() {
    let rig = Rig::with_unavailable(nod_distributor::Unavailable {
        retry_max: Duration::from_secs(8),
        horizon: Duration::from_secs(20),
    })
    .await;
    rig.record(&zone(
        "OUTAGE",
        chrono::Utc::now(),
        chrono::Utc::now() + chrono::Duration::days(1),
    ))
    .await;
    rig.faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let id = rig.tickets("OUTAGE").await[0].id;
    // Attempt after attempt, time moved on by each hold: the waits are about what was
    // already waited (1, 1, 2, 4, 8, 8 s …) and the ticket stays GENERATED for 20 s.
    let mut waits = Vec::new();
    loop {
        assert_eq!(rig.dispatcher.pass().await.unwrap(), 1);
        assert_eq!(rig.work().await, vec![Outcome::Done]);
        let ticket = rig.ticket(id).await;
        if ticket.status != "GENERATED" {
            break;
        }
        let wait = ticket.nod_retry_at.unwrap() - chrono::Utc::now();
        waits.push((wait.num_milliseconds() as f64 / 1000.0).round() as i64);
        assert!(waits.len() < 12, "never FAILED: {waits:?}");
        end_hold(&rig, id).await;
    }
    assert_eq!(waits, vec![1, 1, 2, 4, 8, 8], "waits in seconds");
    let failed = rig.ticket(id).await;
    assert_eq!(failed.status, "FAILED");
    let reason = failed.failure_reason.clone().unwrap_or_default();
    assert!(reason.starts_with("NOD_UNAVAILABLE: "), "{reason}");
    assert_eq!(rig.count("OUTAGE", FAILED).await, 1);

    // Still unavailable: FAILED once, held at the longest wait.
    end_hold(&rig, id).await;
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 1);
    assert_eq!(rig.work().await, vec![Outcome::Done]);
    let still = rig.ticket(id).await;
    assert_eq!(still.status, "FAILED");
    let wait = still.nod_retry_at.unwrap() - chrono::Utc::now();
    assert!(wait > chrono::Duration::seconds(7), "{wait}");
    assert_eq!(rig.count("OUTAGE", FAILED).await, 1);

    // NOD answers again: placed without anyone asking.
    rig.faults(Faults::default());
    end_hold(&rig, id).await;
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 1);
    assert_eq!(rig.work().await, vec![Outcome::Done]);
    let placed = rig.ticket(id).await;
    assert_eq!(placed.status, "DISTRIBUTED");
    assert_eq!(placed.failure_reason, None);
    assert_eq!(rig.count("OUTAGE", DISTRIBUTED).await, 1);
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 0);
    assert!(rig.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_final_rejection_fails_the_ticket_with_the_reason_and_it_is_placed_again_on_request() {
    let rig = Rig::start().await;
    rig.record(&family("REJECTED")).await;
    rig.faults(Faults {
        rejection_rate: 1.0,
        ..Faults::default()
    });
    rig.dispatcher.pass().await.unwrap();
    let outcomes = rig.work().await;
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Done),
        "no retry of a rejection: {outcomes:?}"
    );
    let tickets = rig.tickets("REJECTED").await;
    for t in &tickets {
        assert_eq!(t.status, "FAILED");
        let reason = t.failure_reason.clone().unwrap_or_default();
        assert!(reason.starts_with("NOD_REJECTED: 422"), "{reason}");
    }
    assert_eq!(rig.placements(), tickets.len() as u64);
    assert!(rig.dead_letters().await.is_empty());
    // FAILED stays FAILED until asked: nothing is due.
    assert_eq!(rig.dispatcher.pass().await.unwrap(), 0);

    rig.faults(Faults::default());
    let groups: Vec<TicketDistributionGroupId> = tickets
        .iter()
        .map(|t| TicketDistributionGroupId(t.group_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let asked = td_store::nod::request_replacement(
        &rig.db,
        &groups,
        td_domain::Scope::AllOrganisations,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(asked.len(), tickets.len());
    // The request only marks them: the dispatcher finds them due.
    assert_eq!(rig.dispatcher.pass().await.unwrap(), tickets.len());
    rig.settle_all().await;
    for t in rig.tickets("REJECTED").await {
        assert_eq!(t.status, "DISTRIBUTED", "{t:?}");
        assert_eq!(t.failure_reason, None);
    }
    assert_eq!(rig.count("REJECTED", FAILED).await, tickets.len());
    assert_eq!(rig.count("REJECTED", DISTRIBUTED).await, tickets.len());
}

#[tokio::test]
async fn a_job_the_worker_cannot_read_is_a_dead_letter_at_once() {
    let rig = Rig::start().await;
    let job = td_jobs::Job::new(
        "place",
        serde_json::json!({ "ticketDistributionId": "nope" }),
    );
    rig.queue.enqueue(&rig.streams.stream, &job).await.unwrap();
    let outcomes = rig.work().await;
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Fail(_)]),
        "{outcomes:?}"
    );
    assert_eq!(rig.dead_letters().await.len(), 1);
    assert_eq!(rig.placements(), 0);
}
