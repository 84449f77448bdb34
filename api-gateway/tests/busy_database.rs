//! A database with no connection to spare answers 503 with `Retry-After`, never a 500: the
//! client is told to come back, and nothing about the service failing is implied.

mod common;

use common::spawn_with;
use std::time::Duration;
use td_store::TransactionTrait;

#[tokio::test]
async fn an_exhausted_pool_is_a_503_with_retry_after() {
    let test_db = td_testkit::postgres().await;
    // A small pool whose connections are given up on after 300 ms of waiting.
    let db = td_store::connect(&test_db.url, 3, Duration::from_millis(300), None)
        .await
        .unwrap();
    let app = spawn_with(db.clone()).await;
    let path = "/v1/ticket-distribution-groups?orderId=ORDER1";

    let (status, body) = app.get_json(path).await;
    assert_eq!(status, 200, "a free pool answers: {body}");

    // Every free connection taken (the gateway may hold one of its own, for notifications).
    let mut holders = Vec::new();
    while let Ok(txn) = db.begin().await {
        holders.push(txn);
    }
    assert!(!holders.is_empty());
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{body}");
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!(secs >= 1, "{secs}");
    for txn in holders {
        txn.rollback().await.unwrap();
    }

    let (status, body) = app.get_json(path).await;
    assert_eq!(
        status, 200,
        "answers again once a connection is free: {body}"
    );
}
