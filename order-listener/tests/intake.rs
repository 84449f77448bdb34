//! The intake on the real PostgreSQL: an event beyond the limits, or one the store refuses
//! (an order whose lifecycle events the event schema cannot carry, an order that would
//! change organisation), is dead-lettered with the reason, alone, and the events beside it
//! in the same run are recorded.

use futures::future::BoxFuture;
use order_listener::{Incoming, Intake, IntakeOutcome};
use std::sync::{Arc, Mutex};
use td_bus::{BusError, Message, MessageSink};
use td_domain::Limits;
use td_store::entity::{order, outbox, ticket_distribution};
use td_store::record::RecordOutcome;
use td_store::sea_orm::{EntityTrait, PaginatorTrait};

/// Keeps what is published, as a dead-letter topic would.
#[derive(Default)]
struct Collect(Mutex<Vec<Message>>);

impl MessageSink for Collect {
    fn publish<'a>(&'a self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), BusError>> {
        self.0.lock().unwrap().extend_from_slice(batch);
        Box::pin(async { Ok(()) })
    }
}

/// The zone-ticket example as order `id`, version `version`.
fn event(id: &str, version: u64) -> Vec<u8> {
    let mut event: serde_json::Value =
        serde_json::from_str(include_str!("../../examples/orders/zone-ticket.json")).unwrap();
    event["eventId"] = uuid::Uuid::new_v4().to_string().into();
    event["order"]["id"] = id.into();
    event["order"]["version"] = version.into();
    serde_json::to_vec(&event).unwrap()
}

#[tokio::test]
async fn a_version_the_event_schema_cannot_hold_is_dead_lettered_and_the_rest_recorded() {
    let db = td_testkit::postgres().await;
    let dead_letters = Arc::new(Collect::default());
    let intake = Intake::new(
        db.db.clone(),
        dead_letters.clone(),
        "dlq".to_owned(),
        Limits::default(),
    );
    let too_big = event("BIG1", i32::MAX as u64 + 1);
    let fine = event("FINE1", 1);
    let incoming: Vec<Incoming<'_>> = [("BIG1", &too_big), ("FINE1", &fine)]
        .into_iter()
        .map(|(key, payload)| Incoming {
            key: Some(key.as_bytes()),
            payload: Some(payload),
            source: format!("orders/0@{key}"),
            ..Default::default()
        })
        .collect();

    let outcomes = intake.process_all(&incoming).await.expect("not a retry");

    match &outcomes[0] {
        IntakeOutcome::DeadLettered { reason } => {
            assert!(reason.contains("2147483648"), "{reason}")
        }
        other => panic!("expected a dead letter, got {other:?}"),
    }
    assert!(
        matches!(
            &outcomes[1],
            IntakeOutcome::Recorded(RecordOutcome::Applied { created, .. }) if created.len() == 1
        ),
        "{:?}",
        outcomes[1]
    );
    let published = dead_letters.0.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].key, "BIG1");
    assert_eq!(published[0].payload, too_big);
    // Nothing of the refused order is kept; the other order is.
    let orders: Vec<String> = order::Entity::find()
        .all(&db.db)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.order_id)
        .collect();
    assert_eq!(orders, ["FINE1"]);
    assert!(outbox::Entity::find().count(&db.db).await.unwrap() > 0);
}

fn incoming<'a>(key: &'a str, payload: &'a [u8]) -> Incoming<'a> {
    Incoming {
        key: Some(key.as_bytes()),
        payload: Some(payload),
        source: format!("orders/0@{key}"),
        ..Default::default()
    }
}

fn reason_header(message: &Message) -> &str {
    message
        .headers
        .iter()
        .find(|(name, _)| name == "reason")
        .map(|(_, value)| value.as_str())
        .expect("a reason header")
}

#[tokio::test]
async fn an_event_beyond_the_limits_is_dead_lettered_with_its_path_and_the_rest_recorded() {
    let db = td_testkit::postgres().await;
    let dead_letters = Arc::new(Collect::default());
    let limits = Limits {
        max_travellers: 3,
        ..Limits::default()
    };
    let intake = Intake::new(
        db.db.clone(),
        dead_letters.clone(),
        "dlq".to_owned(),
        limits,
    );
    let mut nul: serde_json::Value = serde_json::from_slice(&event("NUL1", 1)).unwrap();
    nul["order"]["travellers"][0]["name"] = "Kari\u{0}".into();
    let nul = serde_json::to_vec(&nul).unwrap();
    let mut crowd: serde_json::Value = serde_json::from_slice(&event("CROWD1", 1)).unwrap();
    let traveller = crowd["order"]["travellers"][0].clone();
    crowd["order"]["travellers"] = vec![traveller; 4].into();
    let crowd = serde_json::to_vec(&crowd).unwrap();
    let fine = event("FINE2", 1);
    let traced = event("TRACE1", 1);
    let mut bad_trace = incoming("TRACE1", &traced);
    bad_trace.traceparent = Some("00-\u{0}".to_owned());
    let batch = [
        incoming("NUL1", &nul),
        incoming("FINE2", &fine),
        incoming("CROWD1", &crowd),
        bad_trace,
    ];

    let outcomes = intake.process_all(&batch).await.expect("not a retry");

    let expected = [
        "invalid order event: order.travellers[0].name: contains the control character U+0000 at character 4",
        "",
        "invalid order event: order.travellers: has 4 entries, more than the 3 allowed (intake.max_travellers)",
        "invalid order event: header traceparent: contains the control character U+0000 at character 3",
    ];
    for (outcome, expected) in outcomes.iter().zip(expected) {
        match outcome {
            IntakeOutcome::DeadLettered { reason } => {
                assert!(reason.starts_with(expected), "{reason}")
            }
            IntakeOutcome::Recorded(RecordOutcome::Applied { .. }) => {
                assert!(expected.is_empty(), "{expected} was recorded")
            }
            other => panic!("{other:?}"),
        }
    }
    let published = dead_letters.0.lock().unwrap().clone();
    let keys: Vec<&str> = published.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["NUL1", "CROWD1", "TRACE1"]);
    assert!(reason_header(&published[0]).starts_with(expected[0]));
    assert!(reason_header(&published[1]).starts_with(expected[2]));
    assert_eq!(published[0].payload, nul);
    let orders: Vec<String> = order::Entity::find()
        .all(&db.db)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.order_id)
        .collect();
    assert_eq!(orders, ["FINE2"]);
}

#[tokio::test]
async fn an_event_naming_another_organisation_is_dead_lettered_and_the_rest_recorded() {
    let db = td_testkit::postgres().await;
    let dead_letters = Arc::new(Collect::default());
    let intake = Intake::new(
        db.db.clone(),
        dead_letters.clone(),
        "dlq".to_owned(),
        Limits::default(),
    );
    let first = event("OWNED1", 1);
    intake
        .process(incoming("OWNED1", &first))
        .await
        .expect("recorded");
    let mut takeover: serde_json::Value = serde_json::from_slice(&event("OWNED1", 2)).unwrap();
    takeover["type"] = "OrderCancelled".into();
    takeover["order"]["status"] = "CANCELLED".into();
    takeover["order"]["organisationId"] = 99.into();
    let takeover = serde_json::to_vec(&takeover).unwrap();
    let fine = event("FINE3", 1);

    let outcomes = intake
        .process_all(&[incoming("OWNED1", &takeover), incoming("FINE3", &fine)])
        .await
        .expect("not a retry");

    let expected = "the order cannot change organisation: order OWNED1 belongs to organisation 1 \
                    (fixed by its first version); this event names organisation 99";
    assert_eq!(
        outcomes[0],
        IntakeOutcome::DeadLettered {
            reason: expected.to_owned()
        }
    );
    assert!(
        matches!(
            &outcomes[1],
            IntakeOutcome::Recorded(RecordOutcome::Applied { created, .. }) if created.len() == 1
        ),
        "{:?}",
        outcomes[1]
    );
    let published = dead_letters.0.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].key, "OWNED1");
    assert_eq!(reason_header(&published[0]), expected);
    // The first organisation's order and tickets are as they were.
    let owned = order::Entity::find_by_id("OWNED1".to_owned())
        .one(&db.db)
        .await
        .unwrap()
        .expect("kept");
    assert_eq!((owned.organisation_id, owned.latest_version), (1, 1));
    let tickets = ticket_distribution::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert_eq!(tickets.len(), 2);
    assert!(
        tickets.iter().all(|t| t.status == "GENERATED"),
        "{tickets:?}"
    );
}

/// Refuses what the Kafka producer refuses: a message whose key, payload and headers pass
/// `limit` bytes.
struct Bounded {
    limit: usize,
    kept: Mutex<Vec<Message>>,
}

impl MessageSink for Bounded {
    fn publish<'a>(&'a self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            for m in batch {
                let headers: usize = m.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
                let size = m.key.len() + m.payload.len() + headers;
                if size > self.limit {
                    return Err(BusError::Kafka(format!(
                        "Broker: Message size too large ({size} bytes)"
                    )));
                }
            }
            self.kept.lock().unwrap().extend_from_slice(batch);
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_dead_letter_that_would_pass_the_producers_limit_is_truncated_and_the_rest_recorded() {
    let db = td_testkit::postgres().await;
    let dead_letters = Arc::new(Bounded {
        limit: 1_000_000,
        kept: Mutex::default(),
    });
    // librdkafka's default limit, since the producer properties set none.
    let intake = Intake::new(
        db.db.clone(),
        dead_letters.clone(),
        "dlq".to_owned(),
        Limits::default(),
    );
    // An event as large as the producer takes, refused for its correlation id's length:
    // its dead letter's headers would take it past the limit.
    let mut huge: serde_json::Value = serde_json::from_slice(&event("HUGE1", 1)).unwrap();
    huge["correlationId"] = "".into();
    let base = serde_json::to_vec(&huge).unwrap().len();
    huge["correlationId"] = "x".repeat(999_950 - base).into();
    let huge = serde_json::to_vec(&huge).unwrap();
    assert_eq!(huge.len(), 999_950);
    let fine = event("FINE4", 1);

    let outcomes = intake
        .process_all(&[incoming("HUGE1", &huge), incoming("FINE4", &fine)])
        .await
        .expect("the dead letter is published, not retried");

    assert!(
        matches!(&outcomes[0], IntakeOutcome::DeadLettered { reason } if reason.contains("correlationId")),
        "{:?}",
        outcomes[0]
    );
    assert!(
        matches!(
            &outcomes[1],
            IntakeOutcome::Recorded(RecordOutcome::Applied { .. })
        ),
        "{:?}",
        outcomes[1]
    );
    let published = dead_letters.kept.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    let letter = &published[0];
    assert_eq!(letter.key, "HUGE1");
    let truncated = letter
        .headers
        .iter()
        .find(|(name, _)| name == "truncated")
        .map(|(_, value)| value.as_str());
    assert_eq!(truncated, Some("999950"));
    assert!(reason_header(letter).contains("correlationId"));
    assert!(letter.payload.len() > 990_000, "{}", letter.payload.len());
    assert_eq!(letter.payload[..], huge[..letter.payload.len()]);
}
