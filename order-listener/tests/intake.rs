//! The intake on the real PostgreSQL: an order whose lifecycle events the event schema
//! cannot carry is dead-lettered with the reason, alone, and the events beside it in the
//! same run are recorded.

use futures::future::BoxFuture;
use order_listener::{Incoming, Intake, IntakeOutcome};
use std::sync::{Arc, Mutex};
use td_bus::{BusError, Message, MessageSink};
use td_store::entity::{order, outbox};
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
    let intake = Intake::new(db.db.clone(), dead_letters.clone(), "dlq".to_owned());
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
