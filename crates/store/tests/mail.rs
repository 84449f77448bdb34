//! E-mail sends, one contract suite run against PostgreSQL and SQLite alike: one send per
//! idempotency key (also under concurrency), a reused key with another request refused,
//! the rate-limit counts, what is due for a mail job and when again, and the delivery
//! states, where a send that is SENT or FAILED never starts another attempt.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::EntityTrait;
use td_domain::ids::{OrganisationId, Scope};
use td_store::entity::ticket_distribution as td;
use td_store::mail::{self, CreateOutcome, IdempotencyKey, NewSend};
use td_store::record::{record_order_event, Origin, RecordOutcome};
use td_store::DatabaseConnection;
use uuid::Uuid;

/// How long an attempt may run before another worker takes the send over.
const STALE: Duration = Duration::minutes(1);

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 2, 1, 12, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn new_send(order: &str, address: &str, tickets: Vec<Uuid>) -> NewSend {
    NewSend {
        id: Uuid::new_v4(),
        order_id: order.to_owned(),
        organisation_id: 1,
        email_address: address.to_owned(),
        address_key: address.to_lowercase(),
        language: "eng".to_owned(),
        ticket_distribution_ids: tickets,
        correlation_id: Some("corr-1".to_owned()),
        traceparent: None,
    }
}

fn key(k: &str, hash: &str) -> Option<IdempotencyKey> {
    Some(IdempotencyKey {
        scope: "org-1:e2e".to_owned(),
        key: k.to_owned(),
        request_hash: hash.to_owned(),
    })
}

/// Records the zone-ticket example order and returns its ticket ids.
async fn order_with_tickets(db: &DatabaseConnection, id: &str) -> Vec<Uuid> {
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("../../../examples/orders/zone-ticket.json")).unwrap();
    v["order"]["id"] = serde_json::json!(id);
    let event = td_domain::parse_order_event(v.to_string().as_bytes()).unwrap();
    let outcome = record_order_event(db, &event, &Origin::default(), at(0))
        .await
        .unwrap();
    assert!(matches!(outcome, RecordOutcome::Applied { .. }));
    let tds = td::Entity::find().all(db).await.unwrap();
    tds.into_iter()
        .filter(|t| t.order_id == id)
        .map(|t| t.id)
        .collect()
}

async fn idempotency(db: &DatabaseConnection) {
    let first = match mail::create_send(
        db,
        new_send("O1", "a@example.com", vec![]),
        key("k1", "h1"),
        None,
        at(0),
    )
    .await
    .unwrap()
    {
        CreateOutcome::Created(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(first.status, mail::QUEUED);
    for _ in 0..4 {
        let again = mail::create_send(
            db,
            new_send("O1", "a@example.com", vec![]),
            key("k1", "h1"),
            None,
            at(1),
        )
        .await
        .unwrap();
        assert_eq!(again, CreateOutcome::Replayed(first.clone()));
    }
    let reused = mail::create_send(
        db,
        new_send("O1", "b@example.com", vec![]),
        key("k1", "h2"),
        None,
        at(1),
    )
    .await
    .unwrap();
    assert_eq!(reused, CreateOutcome::KeyReused);
    let (per_order, per_address) = mail::recent_sends(db, "O1", "a@example.com", at(-10))
        .await
        .unwrap();
    assert_eq!(
        (per_order.count, per_address.count),
        (1, 1),
        "one send recorded"
    );
    assert_eq!(per_order.oldest, Some(at(0)), "recorded at(0)");
    let (later, _) = mail::recent_sends(db, "O1", "a@example.com", at(1))
        .await
        .unwrap();
    assert_eq!(later, mail::Recent::default(), "outside the window");

    // Concurrent requests with one key record one send.
    let racers = (0..6).map(|_| {
        let db = db.clone();
        async move {
            mail::create_send(
                &db,
                new_send("O2", "c@example.com", vec![]),
                key("k2", "h"),
                None,
                at(0),
            )
            .await
            .unwrap()
        }
    });
    let outcomes = futures::future::join_all(racers).await;
    let created: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            CreateOutcome::Created(s) => Some(s.id),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    for o in &outcomes {
        if let CreateOutcome::Replayed(s) = o {
            assert_eq!(s.id, created[0]);
        }
    }
    let (per_order, _) = mail::recent_sends(db, "O2", "c@example.com", at(-10))
        .await
        .unwrap();
    assert_eq!(per_order.count, 1);
}

async fn dispatch_and_delivery(db: &DatabaseConnection) {
    let tickets = order_with_tickets(db, "MAIL1").await;
    assert!(!tickets.is_empty());
    let CreateOutcome::Created(send) = mail::create_send(
        db,
        new_send("MAIL1", "d@example.com", tickets.clone()),
        None,
        None,
        at(0),
    )
    .await
    .unwrap() else {
        panic!("created")
    };
    assert_eq!(mail::ticket_ids(&send), tickets);
    let due = mail::due(db, at(0), Duration::minutes(5), 100)
        .await
        .unwrap();
    assert!(due.contains(&send.id));
    mail::mark_enqueued(db, &[send.id], at(0)).await.unwrap();
    let due = mail::due(db, at(1), Duration::minutes(5), 100)
        .await
        .unwrap();
    assert!(!due.contains(&send.id), "enqueued, not due again yet");
    let due = mail::due(db, at(6), Duration::minutes(5), 100)
        .await
        .unwrap();
    assert!(due.contains(&send.id), "a lost job is enqueued again");

    let attempt = mail::begin_attempt(db, send.id, at(6), STALE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (attempt.status.as_str(), attempt.attempts),
        (mail::SENDING, 1)
    );
    assert_eq!(
        mail::begin_attempt(db, send.id, at(6), STALE)
            .await
            .unwrap(),
        None,
        "a second job for the send does not attempt it while the first does"
    );
    mail::record_error(db, send.id, "connection refused", at(6))
        .await
        .unwrap();
    let waiting = mail::send(db, Scope::AllOrganisations, send.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (waiting.status.as_str(), waiting.last_error.as_deref()),
        (mail::QUEUED, Some("connection refused")),
        "queued again until the retry"
    );
    let attempt = mail::begin_attempt(db, send.id, at(7), STALE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.attempts, 2);
    let taken_over = mail::begin_attempt(db, send.id, at(9), STALE)
        .await
        .unwrap()
        .expect("an attempt older than stale_after is taken over (its worker died)");
    assert_eq!(taken_over.attempts, 3);
    assert_eq!(attempt.last_error.as_deref(), Some("connection refused"));
    assert!(mail::mark_sent(db, send.id, Some("Q123"), "<m@x>", at(7))
        .await
        .unwrap());
    let sent = mail::send(db, Scope::Organisation(OrganisationId(1)), send.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.status, mail::SENT);
    assert_eq!(sent.smtp_queue_id.as_deref(), Some("Q123"));
    for id in &tickets {
        let t = td::Entity::find_by_id(*id).one(db).await.unwrap().unwrap();
        assert!(
            t.distributed_as_pdf,
            "ticket {id} is marked distributed as PDF"
        );
    }
    // A redelivered job finds it SENT: no new attempt, no second SENT.
    assert_eq!(
        mail::begin_attempt(db, send.id, at(8), STALE)
            .await
            .unwrap(),
        None
    );
    assert!(!mail::mark_sent(db, send.id, None, "<m2@x>", at(8))
        .await
        .unwrap());
    assert!(!mail::due(db, at(60), Duration::minutes(5), 100)
        .await
        .unwrap()
        .contains(&send.id));
    assert_eq!(
        mail::send(db, Scope::Organisation(OrganisationId(2)), send.id)
            .await
            .unwrap(),
        None,
        "another organisation does not see it"
    );

    // A permanent refusal ends FAILED with the reply.
    let CreateOutcome::Created(refused) = mail::create_send(
        db,
        new_send("MAIL1", "nobody@example.com", tickets.clone()),
        None,
        None,
        at(10),
    )
    .await
    .unwrap() else {
        panic!("created")
    };
    mail::begin_attempt(db, refused.id, at(10), STALE)
        .await
        .unwrap()
        .unwrap();
    mail::mark_failed(db, refused.id, "550 5.1.1 mailbox unavailable", at(10))
        .await
        .unwrap();
    let failed = mail::send(db, Scope::AllOrganisations, refused.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.status, mail::FAILED);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("550 5.1.1 mailbox unavailable")
    );
    assert_eq!(
        mail::begin_attempt(db, refused.id, at(11), STALE)
            .await
            .unwrap(),
        None
    );
}

async fn suite(db: &DatabaseConnection) {
    idempotency(db).await;
    dispatch_and_delivery(db).await;
}

#[tokio::test]
async fn mail_sends_on_postgres() {
    let t = td_testkit::postgres().await;
    suite(&t.db).await;
}

#[tokio::test]
async fn mail_sends_on_sqlite() {
    let t = td_testkit::sqlite().await;
    suite(&t.db).await;
}
