//! NOD distribution end to end: order events through the real broker, the real
//! order-listener, nod-distributor (jobs on the real Redis), the NOD simulator and the
//! gateway. Tickets are placed, followed through NOD's feed, failed with the reason when NOD
//! rejects them, placed again through the distribute endpoint, and two replicas place each
//! ticket once.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use td_e2e::avro;
use td_e2e::stack::{Received, Stack};

const FAMILY: &str = include_str!("../../examples/orders/family-with-supplement.json");
const WAIT: Duration = Duration::from_secs(60);

/// The family order under a fresh id.
fn family_order(id: &str) -> String {
    let mut v: Value = serde_json::from_str(&FAMILY.replace("DEMO0003", id)).unwrap();
    v["eventId"] = json!(uuid::Uuid::new_v4());
    v.to_string()
}

fn decode(received: &[Received], schema_file: &str) -> Vec<Value> {
    let schema = avro::schema(schema_file);
    received
        .iter()
        .map(|m| avro::decode(&schema, &m.payload))
        .collect()
}

fn kind(event: &Value) -> String {
    match &event["type"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The ticket id a group event is about, if any.
fn ticket_of(event: &Value) -> Option<String> {
    let field = {
        let k = kind(event);
        let mut c = k.chars();
        c.next()
            .map(|f| f.to_lowercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    let body = &event[&field];
    // The JSON mapping of an Avro union may wrap the record in its type name.
    let record = match body {
        Value::Object(map) if map.len() == 1 && !map.contains_key("ticketDistributionId") => {
            map.values().next().cloned().unwrap_or(Value::Null)
        }
        other => other.clone(),
    };
    record["ticketDistributionId"].as_str().map(str::to_owned)
}

/// Distinct events (by eventId) of the environment's two topics.
async fn events(stack: &Stack) -> (Vec<Value>, Vec<Value>) {
    let group = stack
        .read(
            &stack.topic("ticket-distribution-group-events"),
            usize::MAX,
            Duration::from_secs(8),
        )
        .await;
    let completed = stack
        .read(
            &stack.topic("all-ticket-distribution-groups-for-order-version-completed"),
            usize::MAX,
            Duration::from_secs(5),
        )
        .await;
    let dedup = |events: Vec<Value>| {
        let mut seen = HashSet::new();
        events
            .into_iter()
            .filter(|e| seen.insert(e["eventId"].as_str().unwrap_or_default().to_owned()))
            .collect::<Vec<_>>()
    };
    (
        dedup(decode(&group, "TicketDistributionGroupEvent.avsc")),
        dedup(decode(
            &completed,
            "AllTicketDistributionGroupsForOrderVersionCompletedEvent.avsc",
        )),
    )
}

async fn status(stack: &Stack, ticket: &str) -> Value {
    stack
        .get(&format!("/v1/ticket-distributions/{ticket}/status"))
        .await
        .1
}

async fn wait_status(stack: &Stack, ticket: &str, wanted: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = status(stack, ticket).await;
        if body["status"] == wanted {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ticket} never became {wanted}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tickets_are_placed_in_nod_and_followed_to_pickup_activation_and_outside_cancellation() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    stack
        .produce(&producer, "NODE2E1", family_order("NODE2E1").as_bytes())
        .await;
    let tickets = stack
        .wait_for_statuses("NODE2E1", "DISTRIBUTED", WAIT)
        .await;
    assert!(tickets.len() >= 2, "the family order has several tickets");
    let nod_ids: HashSet<&str> = tickets
        .iter()
        .map(|t| t["distribution"]["nodOrderGroupId"].as_str().unwrap())
        .collect();
    assert_eq!(
        nod_ids.len(),
        tickets.len(),
        "one NOD order group per ticket"
    );

    // A travel app picks the first ticket up and activates it; customer service cancels the
    // second in NOD.
    let first = tickets[0]["id"].as_str().unwrap();
    let first_nod = tickets[0]["distribution"]["nodOrderGroupId"]
        .as_str()
        .unwrap();
    let second = tickets[1]["id"].as_str().unwrap();
    let second_nod = tickets[1]["distribution"]["nodOrderGroupId"]
        .as_str()
        .unwrap();
    let (code, _) = stack
        .nod_post(
            &format!("/client/order-groups/{first_nod}/pickup"),
            json!({}),
        )
        .await;
    assert!(code < 300, "pickup {code}");
    let picked = wait_status(&stack, first, "PICKED_UP").await;
    assert_eq!(picked["valid"], true, "{picked}");
    stack
        .nod_post(
            &format!("/client/order-groups/{first_nod}/activate"),
            json!({}),
        )
        .await;
    wait_status(&stack, first, "ACTIVATED").await;
    stack
        .nod_post(
            &format!("/simulator/order-groups/{second_nod}/cancel"),
            json!({}),
        )
        .await;
    let cancelled = wait_status(&stack, second, "CANCELLED_EXTERNALLY").await;
    assert_eq!(cancelled["valid"], false, "{cancelled}");
    assert_eq!(cancelled["reason"], "CANCELLED_EXTERNALLY", "{cancelled}");

    // Each change once on Kafka, and the version reported wholly distributed once.
    let (group_events, completed) = events(&stack).await;
    let mut per_ticket: HashMap<String, Vec<String>> = HashMap::new();
    for e in &group_events {
        if let Some(t) = ticket_of(e) {
            per_ticket.entry(t).or_default().push(kind(e));
        }
    }
    for t in &tickets {
        let id = t["id"].as_str().unwrap();
        let kinds = &per_ticket[id];
        let distributed = kinds
            .iter()
            .filter(|k| *k == "TicketDistributionDistributed")
            .count();
        assert_eq!(distributed, 1, "{id}: {kinds:?}");
    }
    assert_eq!(
        per_ticket[first],
        [
            "TicketDistributionAdded",
            "TicketDistributionDistributed",
            "TicketDistributionPickedUp",
            "TicketDistributionActivated"
        ]
    );
    assert_eq!(
        per_ticket[second],
        [
            "TicketDistributionAdded",
            "TicketDistributionDistributed",
            "TicketDistributionCancelledExternally"
        ]
    );
    let all_distributed: Vec<&Value> = completed
        .iter()
        .filter(|e| kind(e) == "AllTicketDistributionGroupsForOrderVersionDistributed")
        .collect();
    assert_eq!(all_distributed.len(), 1, "{completed:?}");
    assert_eq!(all_distributed[0]["orderId"], "NODE2E1");
}

#[tokio::test]
async fn a_rejected_ticket_fails_with_the_reason_and_distribute_places_it_again() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    let (code, _) = stack
        .nod_post("/simulator/faults", json!({ "rejectionRate": 1.0 }))
        .await;
    assert!(code < 300);
    stack
        .produce(&producer, "NODE2E2", family_order("NODE2E2").as_bytes())
        .await;
    let failed = stack.wait_for_statuses("NODE2E2", "FAILED", WAIT).await;
    for t in &failed {
        let reason = t["failureReason"].as_str().unwrap_or_default();
        assert!(reason.starts_with("NOD_REJECTED: 422"), "{t}");
        let st = status(&stack, t["id"].as_str().unwrap()).await;
        assert_eq!(st["valid"], false, "{st}");
        assert_eq!(st["reason"], "FAILED", "{st}");
    }

    // NOD takes tickets again; distribute re-places only the FAILED tickets of the group.
    stack.nod_post("/simulator/faults", json!({})).await;
    let (_, groups) = stack
        .get("/v1/ticket-distribution-groups?orderId=NODE2E2&perPage=100")
        .await;
    let group_ids: Vec<String> = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    let (code, body) = stack
        .post_json(
            "/v1/ticket-distribution-groups/distribute",
            json!({ "ticketDistributionGroupIds": group_ids }),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), group_ids.len());
    stack
        .wait_for_statuses("NODE2E2", "DISTRIBUTED", WAIT)
        .await;

    // Bad input gets a clear error and changes nothing.
    let (code, body) = stack
        .post_json(
            "/v1/ticket-distribution-groups/distribute",
            json!({ "ticketDistributionGroupIds": [uuid::Uuid::new_v4()] }),
        )
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (404, Some("GROUP_NOT_FOUND"))
    );
    let (code, body) = stack
        .post_json(
            "/v1/ticket-distribution-groups/distribute",
            json!({ "ticketDistributionGroupIds": [] }),
        )
        .await;
    assert_eq!((code, body["code"].as_str()), (400, Some("INVALID_BODY")));

    let (group_events, _) = events(&stack).await;
    let kinds: BTreeMap<String, usize> = group_events.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(kind(e)).or_default() += 1;
        m
    });
    assert_eq!(kinds["TicketDistributionFailed"], failed.len(), "{kinds:?}");
    assert_eq!(
        kinds["TicketDistributionDistributed"],
        failed.len(),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn two_distributor_replicas_place_every_ticket_once_and_apply_each_feed_entry_once() {
    let mut stack = Stack::start_with_nod().await;
    stack.start_distributor().await;
    let producer = Stack::producer();
    let orders: Vec<String> = (0..20).map(|n| format!("NODTWO{n:03}")).collect();
    for id in &orders {
        stack
            .produce(&producer, id, family_order(id).as_bytes())
            .await;
    }
    let mut placed = Vec::new();
    for id in &orders {
        placed.extend(stack.wait_for_statuses(id, "DISTRIBUTED", WAIT).await);
    }
    let tickets = placed.len();
    // Every ticket picked up in NOD: both replicas follow the feed, each entry applies once.
    for t in &placed {
        let nod_id = t["distribution"]["nodOrderGroupId"].as_str().unwrap();
        let (code, _) = stack
            .nod_post(&format!("/client/order-groups/{nod_id}/pickup"), json!({}))
            .await;
        assert!(code < 300, "pickup {code}");
    }
    for id in &orders {
        stack.wait_for_statuses(id, "PICKED_UP", WAIT).await;
    }
    let requests = stack.nod_get("/simulator/requests").await;
    assert_eq!(
        requests["POST /backoffice/order-groups"].as_u64(),
        Some(tickets as u64),
        "each ticket placed once: {requests}"
    );
    let (group_events, completed) = events(&stack).await;
    let distributed = group_events
        .iter()
        .filter(|e| kind(e) == "TicketDistributionDistributed")
        .count();
    assert_eq!(distributed, tickets);
    let picked_up = group_events
        .iter()
        .filter(|e| kind(e) == "TicketDistributionPickedUp");
    let distinct: HashSet<String> = picked_up.clone().filter_map(ticket_of).collect();
    assert_eq!((distinct.len(), picked_up.count()), (tickets, tickets));
    let all_distributed = completed
        .iter()
        .filter(|e| kind(e) == "AllTicketDistributionGroupsForOrderVersionDistributed")
        .count();
    assert_eq!(all_distributed, orders.len());
}

#[tokio::test]
async fn cancelling_the_order_cancels_its_tickets_in_nod() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    let confirmed = family_order("NODE2E3");
    stack
        .produce(&producer, "NODE2E3", confirmed.as_bytes())
        .await;
    let tickets = stack
        .wait_for_statuses("NODE2E3", "DISTRIBUTED", WAIT)
        .await;
    let mut cancel: Value = serde_json::from_str(&confirmed).unwrap();
    cancel["type"] = json!("OrderCancelled");
    cancel["eventId"] = json!(uuid::Uuid::new_v4());
    stack
        .produce(&producer, "NODE2E3", cancel.to_string().as_bytes())
        .await;
    stack.wait_for_statuses("NODE2E3", "CANCELLED", WAIT).await;
    for t in &tickets {
        let nod_id = t["distribution"]["nodOrderGroupId"].as_str().unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let group = stack
                .nod_get(&format!("/backoffice/order-groups/{nod_id}"))
                .await;
            if group["state"] == "CANCELLED" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{nod_id} not cancelled in NOD: {group}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let requests = stack.nod_get("/simulator/requests").await;
    assert_eq!(
        requests["POST /backoffice/order-groups/{id}/cancel"].as_u64(),
        Some(tickets.len() as u64),
        "one cancellation per ticket: {requests}"
    );
}

#[tokio::test]
async fn a_ticket_whose_job_was_lost_is_still_placed() {
    let mut stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    // NOD answers slowly, so the job is in flight when the worker dies.
    stack
        .nod_post("/simulator/faults", json!({ "latencyMs": 3000 }))
        .await;
    stack
        .produce(&producer, "NODLOST", family_order("NODLOST").as_bytes())
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let requests = stack.nod_get("/simulator/requests").await;
        if requests["POST /backoffice/order-groups"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no placement began");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The worker is killed and Redis loses the stream with every job and lease on it.
    for p in stack
        .nod_processes
        .iter_mut()
        .filter(|p| p.name == "nod-distributor")
    {
        p.child().kill().unwrap();
        p.child().wait().unwrap();
    }
    let stream = format!("nod-jobs-{}", stack.env);
    let deleted = std::process::Command::new("redis-cli")
        .args(["DEL", &stream])
        .output()
        .expect("redis-cli");
    assert!(deleted.status.success());
    stack.nod_post("/simulator/faults", json!({})).await;

    // A new replica finds the tickets still waiting and enqueues them again.
    stack.distributor_env.push((
        "TD__NOD_DISTRIBUTOR__REDISPATCH_AFTER_MS",
        "1000".to_owned(),
    ));
    stack.start_distributor().await;
    let tickets = stack
        .wait_for_statuses("NODLOST", "DISTRIBUTED", WAIT)
        .await;
    let nod_ids: HashSet<&str> = tickets
        .iter()
        .map(|t| t["distribution"]["nodOrderGroupId"].as_str().unwrap())
        .collect();
    assert_eq!(
        nod_ids.len(),
        tickets.len(),
        "one NOD order group per ticket"
    );
}

#[tokio::test]
async fn a_ticket_expires_in_nod_when_its_validity_ends() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    let mut order: Value = serde_json::from_str(
        &include_str!("../../examples/orders/zone-ticket.json").replace("DEMO0001", "NODEXP"),
    )
    .unwrap();
    let now = chrono::Utc::now();
    let line = &mut order["order"]["orderLines"][0];
    line["startOfValidity"] = json!((now - chrono::Duration::hours(1)).to_rfc3339());
    line["endOfValidity"] = json!((now + chrono::Duration::seconds(15)).to_rfc3339());
    stack
        .produce(&producer, "NODEXP", order.to_string().as_bytes())
        .await;
    // Placed first (on a busy machine it may expire before a poll sees DISTRIBUTED).
    let tickets = stack.wait_for_statuses("NODEXP", "EXPIRED", WAIT).await;
    let id = tickets[0]["id"].as_str().unwrap();
    assert!(
        tickets[0]["distribution"]["distributedAt"].is_string(),
        "placed in NOD before it expired: {}",
        tickets[0]
    );
    let expired = status(&stack, id).await;
    assert_eq!(expired["valid"], false, "{expired}");
    let (group_events, _) = events(&stack).await;
    let lifecycle: Vec<String> = group_events
        .iter()
        .filter(|e| ticket_of(e).as_deref() == Some(id))
        .map(kind)
        .collect();
    assert_eq!(
        lifecycle,
        [
            "TicketDistributionAdded",
            "TicketDistributionDistributed",
            "TicketDistributionExpired"
        ]
    );
}

#[tokio::test]
async fn with_nod_failing_30_percent_and_slow_every_one_of_1000_tickets_is_placed_once() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    stack
        .nod_post(
            "/simulator/faults",
            json!({ "errorRate": 0.3, "latencyMs": 200 }),
        )
        .await;
    let mut orders = Vec::new();
    let mut tickets_expected = 0;
    while tickets_expected < 1000 {
        let id = format!("NODFLT{:04}", orders.len());
        stack
            .produce(&producer, &id, family_order(&id).as_bytes())
            .await;
        orders.push(id);
        tickets_expected += 4;
    }
    let mut placed = Vec::new();
    for id in &orders {
        placed.extend(
            stack
                .wait_for_statuses(id, "DISTRIBUTED", Duration::from_secs(180))
                .await,
        );
    }
    assert_eq!(placed.len(), tickets_expected);
    stack.nod_post("/simulator/faults", json!({})).await;
    // The simulator holds exactly one order group per ticket, and it is that ticket's.
    let mut nod_ids = HashSet::new();
    for t in &placed {
        let nod_id = t["distribution"]["nodOrderGroupId"].as_str().unwrap();
        assert!(nod_ids.insert(nod_id.to_owned()), "{nod_id} twice");
        let group = stack
            .nod_get(&format!("/backoffice/order-groups/{nod_id}"))
            .await;
        assert_eq!(group["clientReference"], t["id"], "{group}");
    }
    let (group_events, _) = events(&stack).await;
    let mut distributed: HashMap<String, usize> = HashMap::new();
    for e in &group_events {
        if kind(e) == "TicketDistributionDistributed" {
            *distributed.entry(ticket_of(e).unwrap()).or_default() += 1;
        }
    }
    assert_eq!(distributed.len(), placed.len());
    assert!(
        distributed.values().all(|n| *n == 1),
        "each ticket one Distributed event"
    );
}
