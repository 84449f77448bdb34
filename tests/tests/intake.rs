//! Order intake end to end: order events produced by an outside Kafka client reach the
//! real order-listener through the real broker, become groups visible through the real
//! gateway, and come out as Avro events that an outside Avro reader decodes with the
//! repository's `.avsc` files alone.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use td_e2e::avro;
use td_e2e::stack::{Received, Stack};

const EXAMPLES: &[&str] = &[
    include_str!("../../examples/orders/zone-ticket.json"),
    include_str!("../../examples/orders/rail-with-change.json"),
    include_str!("../../examples/orders/family-with-supplement.json"),
];

fn order_id(json: &str) -> String {
    let v: Value = serde_json::from_str(json).unwrap();
    v["order"]["id"].as_str().unwrap().to_owned()
}

/// A zone-ticket order with its own id.
fn numbered_order(n: usize) -> (String, String) {
    let mut v: Value = serde_json::from_str(EXAMPLES[0]).unwrap();
    let id = format!("BULK{n:05}");
    v["eventId"] = json!(uuid::Uuid::new_v4());
    v["order"]["id"] = json!(id);
    (id, v.to_string())
}

fn decode_group_events(received: &[Received]) -> Vec<Value> {
    let schema = avro::schema("TicketDistributionGroupEvent.avsc");
    received
        .iter()
        .map(|m| avro::decode(&schema, &m.payload))
        .collect()
}

fn decode_completed(received: &[Received]) -> Vec<Value> {
    let schema = avro::schema("AllTicketDistributionGroupsForOrderVersionCompletedEvent.avsc");
    received
        .iter()
        .map(|m| avro::decode(&schema, &m.payload))
        .collect()
}

/// The decoded `type` of an event (an enum symbol, possibly wrapped by the JSON mapping).
fn kind(event: &Value) -> String {
    match &event["type"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn order_events_become_groups_and_avro_events_in_the_promised_order() {
    let stack = Stack::start().await;
    let producer = Stack::producer();
    for json in EXAMPLES {
        stack
            .produce(&producer, &order_id(json), json.as_bytes())
            .await;
    }
    stack
        .wait_for_groups("DEMO0001", 1, Duration::from_secs(30))
        .await;
    stack
        .wait_for_groups("DEMO0002", 1, Duration::from_secs(30))
        .await;
    let family = stack
        .wait_for_groups("DEMO0003", 2, Duration::from_secs(30))
        .await;
    assert_eq!(
        family["items"][0]["ticketDistributions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // 4 groups, 7 tickets: 4 Created + 7 Added; 3 order versions completed.
    let group_events = stack
        .read(
            &stack.topic("ticket-distribution-group-events"),
            11,
            Duration::from_secs(30),
        )
        .await;
    let completed = stack
        .read(
            &stack.topic("all-ticket-distribution-groups-for-order-version-completed"),
            3,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(group_events.len(), 11);
    assert_eq!(completed.len(), 3);

    let decoded = decode_group_events(&group_events);
    let mut ids = BTreeSet::new();
    for (m, e) in group_events.iter().zip(&decoded) {
        assert!(
            ids.insert(e["eventId"].as_str().unwrap().to_owned()),
            "each eventId once"
        );
        assert_eq!(m.key, e["orderId"].as_str().unwrap(), "key = orderId");
        assert_eq!(
            m.headers.get("eventType"),
            Some(&kind(e)),
            "eventType header"
        );
        assert!(
            e["correlationId"].as_str().unwrap().starts_with("demo-"),
            "{e}"
        );
    }
    // Per order (one partition each), a group's Created precedes its Added events.
    let mut by_order: BTreeMap<String, Vec<(i64, &Value)>> = BTreeMap::new();
    for (m, e) in group_events.iter().zip(&decoded) {
        by_order
            .entry(m.key.clone())
            .or_default()
            .push((m.offset, e));
    }
    for (order, mut events) in by_order {
        events.sort_by_key(|(offset, _)| *offset);
        let mut created = BTreeSet::new();
        for (_, e) in events {
            let group = e["ticketDistributionGroupId"].as_str().unwrap().to_owned();
            match kind(e).as_str() {
                "TicketDistributionGroupCreated" => {
                    created.insert(group);
                }
                "TicketDistributionAdded" => {
                    assert!(created.contains(&group), "{order}: Added before Created")
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    let completed = decode_completed(&completed);
    let family = completed
        .iter()
        .find(|e| e["orderId"] == "DEMO0003")
        .unwrap();
    assert_eq!(
        kind(family),
        "AllTicketDistributionGroupsForOrderVersionGenerated"
    );
    assert_eq!(
        family["ticketDistributionGroupIds"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn the_same_event_five_times_gives_one_set_of_groups_and_events() {
    let stack = Stack::start().await;
    let producer = Stack::producer();
    let json = EXAMPLES[1];
    for _ in 0..5 {
        stack.produce(&producer, "DEMO0002", json.as_bytes()).await;
    }
    // A marker order after the repeats: once it is in, the repeats were all consumed.
    stack
        .produce(&producer, "DEMO0001", EXAMPLES[0].as_bytes())
        .await;
    stack
        .wait_for_groups("DEMO0001", 1, Duration::from_secs(30))
        .await;
    stack
        .wait_for_groups("DEMO0002", 1, Duration::from_secs(30))
        .await;
    // 1 Created + 2 Added for DEMO0002, 1 + 1 for DEMO0001; read a little longer for extras.
    let events = stack
        .read(
            &stack.topic("ticket-distribution-group-events"),
            100,
            Duration::from_secs(5),
        )
        .await;
    let rail: Vec<_> = events.iter().filter(|m| m.key == "DEMO0002").collect();
    assert_eq!(rail.len(), 3, "one set of events for five deliveries");
}

#[tokio::test]
async fn garbage_goes_to_the_dead_letter_topic_and_the_next_event_is_processed() {
    let stack = Stack::start().await;
    let producer = Stack::producer();
    stack
        .produce(&producer, "GARBAGE", b"\x00\xffnot json at all")
        .await;
    let mut invalid: Value = serde_json::from_str(EXAMPLES[0]).unwrap();
    invalid["order"]["orderLines"][0]["fareProducts"] = json!([]);
    stack
        .produce(&producer, "DEMO0001", invalid.to_string().as_bytes())
        .await;
    stack
        .produce(&producer, "DEMO0002", EXAMPLES[1].as_bytes())
        .await;
    stack
        .wait_for_groups("DEMO0002", 1, Duration::from_secs(30))
        .await;

    let dlq = stack
        .read(
            &format!("order-events-{}-dlq", stack.env),
            2,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(dlq.len(), 2, "both unusable events are dead-lettered");
    let garbage = dlq
        .iter()
        .find(|m| m.key == "GARBAGE")
        .expect("garbage in the DLQ");
    assert_eq!(
        garbage.payload, b"\x00\xffnot json at all",
        "kept as it came"
    );
    assert!(!garbage.headers["reason"].is_empty());
    let invalid = dlq
        .iter()
        .find(|m| m.key == "DEMO0001")
        .expect("invalid order in the DLQ");
    assert!(
        invalid.headers["reason"].contains("fareProducts")
            || invalid.headers["reason"].contains("MAIN"),
        "{:?}",
        invalid.headers
    );
    let (_, none) = stack
        .get("/v1/ticket-distribution-groups?orderId=DEMO0001")
        .await;
    assert_eq!(none["totalItems"], 0);
}

#[tokio::test]
async fn an_unusable_event_of_the_largest_size_is_dead_lettered_truncated_and_the_next_processed() {
    let stack = Stack::start().await;
    let producer = Stack::producer();
    // As large as the producer sends, so its dead letter's headers take it past the limit.
    let huge = vec![b'x'; 999_900];
    stack.produce(&producer, "HUGE", &huge).await;

    let dlq = stack
        .read(
            &format!("order-events-{}-dlq", stack.env),
            1,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(dlq.len(), 1, "dead-lettered, not retried for ever");
    assert_eq!(dlq[0].key, "HUGE");
    assert_eq!(dlq[0].headers["truncated"], "999900");
    assert!(!dlq[0].headers["reason"].is_empty());
    assert!(dlq[0].payload.len() > 990_000 && dlq[0].payload.len() < huge.len());
    assert!(dlq[0].payload.iter().all(|&b| b == b'x'));
    // The consumer moved on: an order produced afterwards is recorded.
    stack
        .produce(&producer, "DEMO0002", EXAMPLES[1].as_bytes())
        .await;
    stack
        .wait_for_groups("DEMO0002", 1, Duration::from_secs(30))
        .await;
}

#[tokio::test]
async fn generate_returns_the_groups_or_says_why_not() {
    let stack = Stack::start().await;
    let producer = Stack::producer();
    stack
        .produce(&producer, "DEMO0003", EXAMPLES[2].as_bytes())
        .await;
    let search = stack
        .wait_for_groups("DEMO0003", 2, Duration::from_secs(30))
        .await;

    let (status, groups) = stack
        .post("/v1/ticket-distributions/DEMO0003/generate")
        .await;
    assert_eq!(status, 200, "{groups}");
    let mut generated: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    let mut searched: Vec<&str> = search["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    generated.sort();
    searched.sort();
    assert_eq!(generated, searched, "idempotent: the existing groups");

    let (status, body) = stack
        .post("/v1/ticket-distributions/UNKNOWN/generate")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("ORDER_NOT_FOUND")),
        "{body}"
    );

    let mut cancelled: Value = serde_json::from_str(EXAMPLES[2]).unwrap();
    cancelled["type"] = json!("OrderCancelled");
    cancelled["eventId"] = json!(uuid::Uuid::new_v4());
    cancelled["order"]["version"] = json!(2);
    cancelled["order"]["status"] = json!("CANCELLED");
    stack
        .produce(&producer, "DEMO0003", cancelled.to_string().as_bytes())
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = stack
            .post("/v1/ticket-distributions/DEMO0003/generate")
            .await;
        if status == 409 {
            assert_eq!(body["code"], "ORDER_NOT_CONFIRMED");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never 409: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_sigkilled_listener_loses_and_doubles_nothing_over_1000_orders() {
    let mut stack = Stack::start().await;
    let producer = Stack::producer();
    let orders: Vec<(String, String)> = (0..1000).map(numbered_order).collect();
    let sending = {
        let orders = orders.clone();
        let env = stack.env.clone();
        tokio::spawn(async move {
            let producer = Stack::producer();
            let topic = format!("order-events-{env}");
            for (id, json) in &orders {
                producer
                    .send(
                        rdkafka::producer::FutureRecord::to(&topic)
                            .key(id)
                            .payload(json.as_bytes()),
                        Duration::from_secs(10),
                    )
                    .await
                    .map_err(|(e, _)| e)
                    .unwrap();
            }
        })
    };
    drop(producer);
    // Kill it in the middle of the stream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = stack
            .get("/v1/ticket-distribution-groups?orderId=gte:BULK&perPage=1")
            .await;
        let done = body["totalItems"].as_u64().unwrap_or(0);
        if done >= 150 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "intake too slow: {done}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut listener = stack.listener.take().unwrap();
    listener.child().kill().unwrap();
    listener.child().wait().unwrap();
    drop(listener);
    sending.await.unwrap();
    stack.start_listener().await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, body) = stack
            .get("/v1/ticket-distribution-groups?orderId=gte:BULK&perPage=1")
            .await;
        if body["totalItems"].as_u64() == Some(1000) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every order got its group: {}",
            body["totalItems"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Exactly one group per order, each with its one ticket.
    let (_, page) = stack
        .get("/v1/ticket-distribution-groups?orderId=gte:BULK&perPage=100&page=10")
        .await;
    assert_eq!(page["totalPages"], 10);

    // Every order's events, each eventId counted once: Created + Added, and one completion.
    let events = stack
        .read(
            &stack.topic("ticket-distribution-group-events"),
            usize::MAX,
            Duration::from_secs(20),
        )
        .await;
    let completed = stack
        .read(
            &stack.topic("all-ticket-distribution-groups-for-order-version-completed"),
            usize::MAX,
            Duration::from_secs(10),
        )
        .await;
    let mut per_order: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for e in decode_group_events(&events)
        .iter()
        .chain(decode_completed(&completed).iter())
    {
        per_order
            .entry(e["orderId"].as_str().unwrap().to_owned())
            .or_default()
            .insert(e["eventId"].as_str().unwrap().to_owned(), kind(e));
    }
    for (id, _) in &orders {
        let kinds: Vec<&String> = per_order
            .get(id)
            .map(|m| m.values().collect())
            .unwrap_or_default();
        let mut kinds: Vec<&str> = kinds.iter().map(|s| s.as_str()).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                "AllTicketDistributionGroupsForOrderVersionGenerated",
                "TicketDistributionAdded",
                "TicketDistributionGroupCreated"
            ],
            "order {id}"
        );
    }
    let duplicates = events.len() + completed.len() - 3 * orders.len();
    eprintln!(
        "published {} messages for 3000 events: {duplicates} redelivered duplicates (same eventId)",
        events.len() + completed.len()
    );
}
