//! The status answer never outlives the committed state: a cancellation committed in
//! PostgreSQL evicts the cached answer long before the cache's time-to-live (10 minutes in
//! these tests) would.

mod common;

use common::{spawn_postgres, EXAMPLES};
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_committed_cancellation_evicts_the_cached_valid_answer() {
    let app = spawn_postgres().await;
    app.record(EXAMPLES[0]).await;
    // Let the cache's listener connect, so that answers are cached from here on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = app
        .get_json("/v1/ticket-distribution-groups?orderId=DEMO0001")
        .await;
    let td_id = body["items"][0]["ticketDistributions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/ticket-distributions/{td_id}/status");
    for _ in 0..3 {
        let (_, answer) = app.get_json(&path).await;
        assert_eq!(answer["valid"], true);
    }

    // Version 2 credits the only line: its ticket is cancelled in the same transaction.
    let mut v2: Value = serde_json::from_str(EXAMPLES[0]).unwrap();
    v2["eventId"] = Value::String(uuid::Uuid::new_v4().to_string());
    v2["order"]["version"] = 2.into();
    v2["order"]["orderLines"][0]["version"] = 2.into();
    v2["order"]["orderLines"][0]["status"] = "CREDITED".into();
    app.record(&v2.to_string()).await;

    let started = Instant::now();
    loop {
        let (_, answer) = app.get_json(&path).await;
        if answer["valid"] == false {
            assert_eq!(answer["status"], "CANCELLED");
            assert_eq!(answer["reason"], "CANCELLED");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the cached valid answer outlived the cancellation"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
