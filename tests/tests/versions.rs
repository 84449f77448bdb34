//! Order changes, credits and cancellations end to end: new order versions produced by an
//! outside Kafka client go through the real order-listener, nod-distributor and NOD
//! simulator, and each scenario ends with exactly the right live tickets (searched by order
//! version, asked for their status), the right cancelled ones (here and in NOD) and exactly
//! the right events on both topics, each once.

use chrono::{DateTime, Utc};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use td_e2e::avro;
use td_e2e::stack::{kafka, Stack};

const WAIT: Duration = Duration::from_secs(30);
/// How long after a change is committed the gateway may still answer from its cache: the
/// delivery of the change notification.
const STALE_AT_MOST: Duration = Duration::from_millis(500);

// --- Orders -------------------------------------------------------------------------------

/// Midnight UTC a month from now: every ticket here is valid for days, in NOD too.
fn day() -> DateTime<Utc> {
    (Utc::now() + chrono::Duration::days(30))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

fn at(hour: i64) -> String {
    (day() + chrono::Duration::hours(hour)).to_rfc3339()
}

/// A train line: one leg departing at `hour`, one MAIN product for each of `travellers`.
fn rail_line(id: &str, version: u32, hour: i64, travellers: &[&str]) -> Value {
    let products: Vec<Value> = travellers
        .iter()
        .map(|t| {
            json!({
                "id": format!("{id}-{t}"), "ref": "VYG:PreassignedFareProduct:Standard",
                "name": "Standard", "kind": "MAIN", "travellerIds": [t],
            })
        })
        .collect();
    json!({
        "id": id, "version": version, "status": "CONFIRMED",
        "fareProducts": products,
        "legs": [{
            "legId": format!("{id}-LEG1"), "mode": "rail", "authorityRef": "VYG:Authority:VYG",
            "departureTime": at(hour), "arrivalTime": at(hour + 2),
            "fromStopPlace": "NSR:StopPlace:337", "toStopPlace": "NSR:StopPlace:420",
        }],
        "fromStopPlace": {"id": "NSR:StopPlace:337", "name": "Oslo S"},
        "toStopPlace": {"id": "NSR:StopPlace:420", "name": "Lillehammer stasjon"},
    })
}

/// A zone ticket for T1, valid all day.
fn zone_line(id: &str, version: u32, status: &str) -> Value {
    json!({
        "id": id, "version": version, "status": status,
        "startOfValidity": at(0), "endOfValidity": at(24),
        "fareZones": ["RUT:FareZone:4"],
        "fareProducts": [{
            "id": format!("{id}-T1"), "ref": "RUT:PreassignedFareProduct:SingleTicket",
            "name": "Enkeltbillett", "kind": "MAIN", "travellerIds": ["T1"],
        }],
    })
}

fn order_event(id: &str, version: u32, kind: &str, lines: &[Value]) -> String {
    let status = if kind == "OrderCancelled" {
        "CANCELLED"
    } else {
        "CONFIRMED"
    };
    json!({
        "eventId": uuid::Uuid::new_v4(), "type": kind,
        "correlationId": format!("versions-{id}-{version}"),
        "timestamp": Utc::now().to_rfc3339(),
        "order": {
            "id": id, "version": version, "status": status, "organisationId": 2,
            "contactInfo": {"contact": {"customerId": "C1", "email": "kari@example.com"}},
            "travellers": [
                {"id": "T1", "name": "Kari Nordmann", "userProfileRef": "ENT:UserProfile:Adult"},
                {"id": "T2", "name": "Ola Nordmann", "userProfileRef": "ENT:UserProfile:Adult"},
            ],
            "orderLines": lines,
        }
    })
    .to_string()
}

fn confirmed(id: &str, version: u32, lines: &[Value]) -> String {
    order_event(id, version, "OrderConfirmed", lines)
}

// --- Reading state ------------------------------------------------------------------------

/// The groups a search for `orderVersion` returns.
async fn version_groups(stack: &Stack, order: &str, version: u32) -> Vec<Value> {
    let (code, body) = stack
        .get(&format!(
            "/v1/ticket-distribution-groups?orderId={order}&orderVersion={version}&perPage=100"
        ))
        .await;
    assert_eq!(code, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

fn tickets_of(groups: &[Value]) -> Vec<Value> {
    groups
        .iter()
        .flat_map(|g| {
            g["ticketDistributions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn start(ticket: &Value) -> DateTime<Utc> {
    ticket["startOfValidity"].as_str().unwrap().parse().unwrap()
}

fn nod_id(ticket: &Value) -> String {
    ticket["distribution"]["nodOrderGroupId"]
        .as_str()
        .unwrap_or_else(|| panic!("not placed in NOD: {ticket}"))
        .to_owned()
}

/// Polls until searching `orderVersion` gives `groups` groups whose tickets are all in
/// `status`; returns the groups.
async fn wait_version(
    stack: &Stack,
    order: &str,
    version: u32,
    groups: usize,
    status: &str,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = version_groups(stack, order, version).await;
        let tickets = tickets_of(&found);
        if found.len() == groups
            && !tickets.is_empty()
            && tickets.iter().all(|t| t["status"] == status)
        {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{order} version {version}: not {groups} groups all {status} within {WAIT:?}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until searching `orderVersion` gives `groups` groups; returns them.
async fn wait_groups(stack: &Stack, order: &str, version: u32, groups: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = version_groups(stack, order, version).await;
        if found.len() == groups {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{order} version {version}: not {groups} groups within {WAIT:?}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status(stack: &Stack, ticket: &str) -> Value {
    let (code, body) = stack
        .get(&format!("/v1/ticket-distributions/{ticket}/status"))
        .await;
    assert_eq!(code, 200, "{body}");
    body
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

/// The status answer of a ticket that is live in the latest version: valid, and naming
/// `order_version` once the gateway has heard of the latest change.
async fn assert_valid(stack: &Stack, ticket: &str, order_version: u32) {
    let deadline = tokio::time::Instant::now() + STALE_AT_MOST;
    loop {
        let body = status(stack, ticket).await;
        assert_eq!(body["valid"], true, "{body}");
        if body["orderVersion"] == order_version {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not version {order_version}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The status answer of a ticket this service cancelled (once the gateway has heard of it).
async fn assert_cancelled(stack: &Stack, ticket: &str, reason: &str) {
    let deadline = tokio::time::Instant::now() + STALE_AT_MOST;
    let mut body = status(stack, ticket).await;
    while body["status"] != "CANCELLED" && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        body = status(stack, ticket).await;
    }
    assert_eq!(
        (&body["status"], &body["valid"], &body["reason"]),
        (&json!("CANCELLED"), &json!(false), &json!(reason)),
        "{body}"
    );
}

async fn nod_state(stack: &Stack, nod_id: &str) -> Value {
    stack
        .nod_get(&format!("/backoffice/order-groups/{nod_id}"))
        .await["state"]
        .clone()
}

async fn wait_nod_state(stack: &Stack, nod_id: &str, wanted: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let state = nod_state(stack, nod_id).await;
        if state == wanted {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "NOD order group {nod_id} is {state}, not {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many times NOD was asked to place order groups and to cancel them.
async fn nod_requests(stack: &Stack) -> (u64, u64) {
    let requests = stack.nod_get("/simulator/requests").await;
    (
        requests["POST /backoffice/order-groups"]
            .as_u64()
            .unwrap_or(0),
        requests["POST /backoffice/order-groups/{id}/cancel"]
            .as_u64()
            .unwrap_or(0),
    )
}

// --- Reading events -----------------------------------------------------------------------

fn kind(event: &Value) -> String {
    match &event["type"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The payload field of a group event's type (the JSON mapping of an Avro union may wrap
/// the record in its type name).
fn payload(event: &Value) -> Value {
    let k = kind(event);
    let mut c = k.chars();
    let field: String = c
        .next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default();
    match &event[&field] {
        Value::Object(map) if map.len() == 1 && !map.contains_key("ticketDistributionId") => {
            map.values().next().cloned().unwrap_or(Value::Null)
        }
        other => other.clone(),
    }
}

/// Every message on the environment's `base` topic, decoded, read once at least `expected`
/// are there (bounded) and the topic stayed quiet for a moment: what is on the topic, not
/// what a consumer group happened to see. Each eventId once, key = orderId, `eventType`
/// header = type.
async fn published(stack: &Stack, base: &str, schema_file: &str, expected: usize) -> Vec<Value> {
    let topic = stack.topic(base);
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set(
            "group.id",
            format!("versions-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let timeout = Duration::from_secs(5);
    let metadata = consumer
        .fetch_metadata(Some(&topic), timeout)
        .expect("topic metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    assert!(partitions > 0, "{topic} has partitions");
    let ends = |consumer: &StreamConsumer| -> Vec<i64> {
        (0..partitions)
            .map(|p| {
                consumer
                    .fetch_watermarks(&topic, p, timeout)
                    .expect("watermarks")
                    .1
            })
            .collect()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut high = ends(&consumer);
    loop {
        let total: i64 = high.iter().sum();
        if total as usize >= expected {
            // Quiet for a moment: anything extra would be published with the rest.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let again = ends(&consumer);
            if again == high {
                break;
            }
            high = again;
            continue;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic}: {total} of {expected} events within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        high = ends(&consumer);
    }

    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(&topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let schema = avro::schema(schema_file);
    let mut read: Vec<i64> = vec![0; partitions as usize];
    let mut events = Vec::new();
    while read.iter().zip(&high).any(|(r, h)| r < h) {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("{topic}: read {read:?} of {high:?}"))
            .expect("message");
        let p = message.partition() as usize;
        read[p] = read[p].max(message.offset() + 1);
        let event = avro::decode(&schema, message.payload().unwrap_or_default());
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        assert_eq!(key, event["orderId"].as_str().unwrap(), "key = orderId");
        let header = rdkafka::message::Headers::iter(message.headers().expect("headers"))
            .find(|h| h.key == "eventType")
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned());
        assert_eq!(header, Some(kind(&event)), "eventType header");
        events.push(event);
    }
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|e| e["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), events.len(), "{topic}: each eventId once");
    events
}

/// What the events of one order came to.
struct Events {
    /// Group events by type.
    counts: BTreeMap<String, usize>,
    /// (ticket, reason) of each TicketDistributionCancelled.
    cancelled: BTreeSet<(String, String)>,
    /// (ticket, group) of each TicketDistributionAdded.
    added: BTreeSet<(String, String)>,
    /// Each ticket's group events, in publishing order.
    per_ticket: BTreeMap<String, Vec<String>>,
    /// (type, version) → the groups listed, for the order-version events.
    completed: BTreeMap<(String, u32), BTreeSet<String>>,
}

/// Reads both topics: `group_events` group events and `completed` order-version events
/// in all, each event once.
async fn events(stack: &Stack, group_events: usize, completed: usize) -> Events {
    let group = published(
        stack,
        "ticket-distribution-group-events",
        "TicketDistributionGroupEvent.avsc",
        group_events,
    )
    .await;
    let versions = published(
        stack,
        "all-ticket-distribution-groups-for-order-version-completed",
        "AllTicketDistributionGroupsForOrderVersionCompletedEvent.avsc",
        completed,
    )
    .await;
    let mut out = Events {
        counts: BTreeMap::new(),
        cancelled: BTreeSet::new(),
        added: BTreeSet::new(),
        per_ticket: BTreeMap::new(),
        completed: BTreeMap::new(),
    };
    for e in &group {
        let k = kind(e);
        *out.counts.entry(k.clone()).or_default() += 1;
        let body = payload(e);
        let ticket = body["ticketDistributionId"].as_str().map(str::to_owned);
        if let Some(ticket) = &ticket {
            out.per_ticket
                .entry(ticket.clone())
                .or_default()
                .push(k.clone());
        }
        match k.as_str() {
            "TicketDistributionCancelled" => {
                out.cancelled.insert((
                    ticket.unwrap(),
                    body["reason"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            "TicketDistributionAdded" => {
                out.added.insert((
                    ticket.unwrap(),
                    e["ticketDistributionGroupId"].as_str().unwrap().to_owned(),
                ));
            }
            _ => {}
        }
    }
    for e in &versions {
        let key = (kind(e), e["orderVersion"].as_u64().unwrap() as u32);
        let groups: BTreeSet<String> = e["ticketDistributionGroupIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap().to_owned())
            .collect();
        assert!(
            out.completed.insert(key.clone(), groups).is_none(),
            "{key:?} twice"
        );
    }
    out
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| ((*k).to_owned(), *n))
        .collect()
}

const GENERATED: &str = "AllTicketDistributionGroupsForOrderVersionGenerated";
const DISTRIBUTED: &str = "AllTicketDistributionGroupsForOrderVersionDistributed";

fn group_set(groups: &[&Value]) -> BTreeSet<String> {
    groups.iter().map(|g| id(g)).collect()
}

fn completed(
    entries: &[(&str, u32, BTreeSet<String>)],
) -> BTreeMap<(String, u32), BTreeSet<String>> {
    entries
        .iter()
        .map(|(k, v, g)| (((*k).to_owned(), *v), g.clone()))
        .collect()
}

fn line<'a>(groups: &'a [Value], line_id: &str) -> &'a Value {
    groups
        .iter()
        .find(|g| g["orderLineId"] == line_id)
        .unwrap_or_else(|| panic!("no group for {line_id}: {groups:?}"))
}

// --- Scenarios ----------------------------------------------------------------------------

#[tokio::test]
async fn crediting_one_of_two_lines_cancels_its_ticket_here_and_in_nod() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    let order = "VERCREDIT";
    let l1 = rail_line("L1", 1, 8, &["T1"]);
    stack
        .produce(
            &producer,
            order,
            confirmed(order, 1, &[l1.clone(), zone_line("L2", 1, "CONFIRMED")]).as_bytes(),
        )
        .await;
    let v1 = wait_version(&stack, order, 1, 2, "DISTRIBUTED").await;
    let (g1, g2) = (line(&v1, "L1"), line(&v1, "L2"));
    let t1 = tickets_of(std::slice::from_ref(g1)).remove(0);
    let t2 = tickets_of(std::slice::from_ref(g2)).remove(0);
    assert_valid(&stack, &id(&t1), 1).await;
    assert_valid(&stack, &id(&t2), 1).await;

    stack
        .produce(
            &producer,
            order,
            confirmed(order, 2, &[l1, zone_line("L2", 2, "CREDITED")]).as_bytes(),
        )
        .await;
    let v2 = wait_version(&stack, order, 2, 1, "DISTRIBUTED").await;
    assert_eq!(id(&v2[0]), id(g1), "the unchanged line keeps its group");
    assert_eq!(
        (&v2[0]["orderVersion"], &v2[0]["updatedForOrderLineVersion"]),
        (&json!(2), &json!(1)),
        "{}",
        v2[0]
    );
    assert_eq!(tickets_of(&v2).len(), 1);
    assert_valid(&stack, &id(&t1), 2).await;
    wait_status(&stack, &id(&t2), "CANCELLED").await;
    assert_cancelled(&stack, &id(&t2), "CANCELLED").await;
    wait_nod_state(&stack, &nod_id(&t2), "CANCELLED").await;
    assert_eq!(nod_state(&stack, &nod_id(&t1)).await, "DISTRIBUTED");
    // Version 1 still lists what it had.
    assert_eq!(version_groups(&stack, order, 1).await.len(), 2);

    let events = events(&stack, 7, 4).await;
    assert_eq!(
        events.counts,
        counts(&[
            ("TicketDistributionGroupCreated", 2),
            ("TicketDistributionAdded", 2),
            ("TicketDistributionDistributed", 2),
            ("TicketDistributionCancelled", 1),
        ])
    );
    assert_eq!(
        events.cancelled,
        BTreeSet::from([(id(&t2), "LINE_CREDITED".to_owned())])
    );
    assert_eq!(
        events.completed,
        completed(&[
            (GENERATED, 1, group_set(&[g1, g2])),
            (DISTRIBUTED, 1, group_set(&[g1, g2])),
            (GENERATED, 2, group_set(&[g1])),
            (DISTRIBUTED, 2, group_set(&[g1])),
        ])
    );
    assert_eq!(
        nod_requests(&stack).await,
        (2, 1),
        "placed twice, cancelled once"
    );
}

#[tokio::test]
async fn changing_a_departure_replaces_the_line_and_cancels_its_picked_up_ticket_in_nod() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    let order = "VERCHANGE";
    let l2 = zone_line("L2", 1, "CONFIRMED");
    stack
        .produce(
            &producer,
            order,
            confirmed(
                order,
                1,
                &[rail_line("L1", 1, 8, &["T1", "T2"]), l2.clone()],
            )
            .as_bytes(),
        )
        .await;
    let v1 = wait_version(&stack, order, 1, 2, "DISTRIBUTED").await;
    let old = tickets_of(std::slice::from_ref(line(&v1, "L1")));
    let kept = tickets_of(std::slice::from_ref(line(&v1, "L2"))).remove(0);
    assert_eq!(old.len(), 2, "one ticket per traveller");
    // A travel app picks up the first ticket of the line that is about to change.
    stack
        .nod_post(
            &format!("/client/order-groups/{}/pickup", nod_id(&old[0])),
            json!({}),
        )
        .await;
    wait_status(&stack, &id(&old[0]), "PICKED_UP").await;
    // Every ticket's answer is valid now (and may sit in the gateway's cache).
    for t in old.iter().chain([&kept]) {
        assert_valid(&stack, &id(t), 1).await;
    }

    stack
        .produce(
            &producer,
            order,
            confirmed(order, 2, &[rail_line("L1", 2, 9, &["T1", "T2"]), l2]).as_bytes(),
        )
        .await;
    // From the moment the store has the change, a replaced ticket's answer is not valid once
    // the gateway has heard of it (the cache is told on commit, and hears it moments later;
    // a cache not told at all would answer from its copy for the whole TTL of 2 s).
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut committed_at = None;
    loop {
        let committed = !version_groups(&stack, order, 2).await.is_empty();
        let answer = status(&stack, &id(&old[1])).await;
        if committed {
            let since = *committed_at.get_or_insert_with(tokio::time::Instant::now);
            if answer["valid"] == false {
                break;
            }
            assert!(
                since.elapsed() < STALE_AT_MOST,
                "still valid {:?} after the change was committed: {answer}",
                since.elapsed()
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "version 2 never recorded"
        );
    }
    for t in &old {
        assert_cancelled(&stack, &id(t), "SUPERSEDED_BY_ORDER_VERSION").await;
    }
    assert_valid(&stack, &id(&kept), 2).await;

    let v2 = wait_version(&stack, order, 2, 2, "DISTRIBUTED").await;
    let new_l1 = line(&v2, "L1");
    assert_ne!(
        id(new_l1),
        id(line(&v1, "L1")),
        "a changed line gets a new group"
    );
    assert_eq!(new_l1["orderLineVersion"], 2);
    assert_eq!(
        id(line(&v2, "L2")),
        id(line(&v1, "L2")),
        "the unchanged line keeps its group"
    );
    let new = tickets_of(std::slice::from_ref(new_l1));
    assert_eq!(new.len(), 2);
    for t in &new {
        assert_eq!(
            start(t) - start(&old[0]),
            chrono::Duration::hours(1),
            "the new departure, an hour later: {t}"
        );
        assert_valid(&stack, &id(t), 2).await;
    }
    for t in &old {
        wait_nod_state(&stack, &nod_id(t), "CANCELLED").await;
    }
    // Cancelled here by this service, not reported back as an outside cancellation.
    assert_eq!(status(&stack, &id(&old[0])).await["status"], "CANCELLED");
    assert_eq!(nod_state(&stack, &nod_id(&kept)).await, "DISTRIBUTED");

    let events = events(&stack, 16, 4).await;
    assert_eq!(
        events.counts,
        counts(&[
            ("TicketDistributionGroupCreated", 3),
            ("TicketDistributionAdded", 5),
            ("TicketDistributionDistributed", 5),
            ("TicketDistributionPickedUp", 1),
            ("TicketDistributionCancelled", 2),
        ])
    );
    assert_eq!(
        events.cancelled,
        old.iter()
            .map(|t| (id(t), "SUPERSEDED_BY_ORDER_VERSION".to_owned()))
            .collect()
    );
    assert_eq!(
        events.per_ticket[&id(&old[0])],
        [
            "TicketDistributionAdded",
            "TicketDistributionDistributed",
            "TicketDistributionPickedUp",
            "TicketDistributionCancelled"
        ]
    );
    for t in &new {
        assert!(events.added.contains(&(id(t), id(new_l1))), "{t}");
    }
    let v1_groups = group_set(&[line(&v1, "L1"), line(&v1, "L2")]);
    let v2_groups = group_set(&[new_l1, line(&v2, "L2")]);
    assert_eq!(
        events.completed,
        completed(&[
            (GENERATED, 1, v1_groups.clone()),
            (DISTRIBUTED, 1, v1_groups),
            (GENERATED, 2, v2_groups.clone()),
            (DISTRIBUTED, 2, v2_groups),
        ])
    );
    assert_eq!(nod_requests(&stack).await, (5, 2));
}

#[tokio::test]
async fn cancelling_the_order_cancels_every_ticket_here_and_in_nod() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    let order = "VERCANCEL";
    let lines = [
        rail_line("L1", 1, 8, &["T1", "T2"]),
        zone_line("L2", 1, "CONFIRMED"),
    ];
    stack
        .produce(&producer, order, confirmed(order, 1, &lines).as_bytes())
        .await;
    let v1 = wait_version(&stack, order, 1, 2, "DISTRIBUTED").await;
    let tickets = tickets_of(&v1);
    assert_eq!(tickets.len(), 3);
    stack
        .nod_post(
            &format!("/client/order-groups/{}/pickup", nod_id(&tickets[0])),
            json!({}),
        )
        .await;
    wait_status(&stack, &id(&tickets[0]), "PICKED_UP").await;

    stack
        .produce(
            &producer,
            order,
            order_event(order, 2, "OrderCancelled", &lines).as_bytes(),
        )
        .await;
    for t in &tickets {
        wait_status(&stack, &id(t), "CANCELLED").await;
        assert_cancelled(&stack, &id(t), "CANCELLED").await;
    }
    for t in &tickets {
        wait_nod_state(&stack, &nod_id(t), "CANCELLED").await;
    }
    assert!(
        version_groups(&stack, order, 2).await.is_empty(),
        "a cancelled version has no groups"
    );

    let events = events(&stack, 12, 2).await;
    assert_eq!(
        events.counts,
        counts(&[
            ("TicketDistributionGroupCreated", 2),
            ("TicketDistributionAdded", 3),
            ("TicketDistributionDistributed", 3),
            ("TicketDistributionPickedUp", 1),
            ("TicketDistributionCancelled", 3),
        ])
    );
    assert_eq!(
        events.cancelled,
        tickets
            .iter()
            .map(|t| (id(t), "ORDER_CANCELLED".to_owned()))
            .collect()
    );
    let groups = group_set(&v1.iter().collect::<Vec<_>>());
    assert_eq!(
        events.completed,
        completed(&[(GENERATED, 1, groups.clone()), (DISTRIBUTED, 1, groups)])
    );
    assert_eq!(nod_requests(&stack).await, (3, 3));
}

/// Versions 2 and 3 of one order after version 1 (L1 on a train, L2 a zone ticket):
/// version 2 moves L1's departure, version 3 also credits L2. Version 4, the same as
/// version 3, marks the end: the events before it on the order's partition are consumed.
fn three_versions(order: &str) -> [String; 4] {
    let l1 = rail_line("L1", 1, 8, &["T1"]);
    let l1_moved = rail_line("L1", 2, 10, &["T1"]);
    let l2 = zone_line("L2", 1, "CONFIRMED");
    let l2_credited = zone_line("L2", 2, "CREDITED");
    [
        confirmed(order, 1, &[l1, l2.clone()]),
        confirmed(order, 2, &[l1_moved.clone(), l2]),
        confirmed(order, 3, &[l1_moved.clone(), l2_credited.clone()]),
        confirmed(order, 4, &[l1_moved, l2_credited]),
    ]
}

/// After `three_versions`: only the moved L1 is live, in versions 3 and 4; the old L1 and
/// L2 are cancelled here and in NOD. Returns the moved L1's group.
async fn assert_version_3_decided(stack: &Stack, order: &str, v1: &[Value]) -> Value {
    let v4 = wait_version(stack, order, 4, 1, "DISTRIBUTED").await;
    let v3 = version_groups(stack, order, 3).await;
    assert_eq!(v3.len(), 1, "{v3:?}");
    assert_eq!(id(&v3[0]), id(&v4[0]), "version 4 keeps version 3's group");
    let moved = v4[0].clone();
    assert_eq!(
        (
            &moved["orderLineId"],
            &moved["orderLineVersion"],
            &moved["orderVersion"]
        ),
        (&json!("L1"), &json!(2), &json!(4))
    );
    let live = tickets_of(std::slice::from_ref(&moved)).remove(0);
    let old_l1 = tickets_of(std::slice::from_ref(line(v1, "L1"))).remove(0);
    assert_eq!(
        start(&live) - start(&old_l1),
        chrono::Duration::hours(2),
        "the moved departure"
    );
    assert_valid(stack, &id(&live), 4).await;
    let old_l2 = tickets_of(std::slice::from_ref(line(v1, "L2"))).remove(0);
    assert_cancelled(stack, &id(&old_l1), "SUPERSEDED_BY_ORDER_VERSION").await;
    assert_cancelled(stack, &id(&old_l2), "CANCELLED").await;
    wait_nod_state(stack, &nod_id(&old_l1), "CANCELLED").await;
    wait_nod_state(stack, &nod_id(&old_l2), "CANCELLED").await;
    assert_eq!(nod_state(stack, &nod_id(&live)).await, "DISTRIBUTED");
    moved
}

#[tokio::test]
async fn version_2_arriving_after_version_3_changes_nothing_version_3_decided() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    let order = "VERLATE";
    let [v1_event, v2_event, v3_event, v4_event] = three_versions(order);
    stack.produce(&producer, order, v1_event.as_bytes()).await;
    let v1 = wait_version(&stack, order, 1, 2, "DISTRIBUTED").await;
    for event in [&v3_event, &v2_event, &v4_event] {
        stack.produce(&producer, order, event.as_bytes()).await;
    }
    let moved = assert_version_3_decided(&stack, order, &v1).await;
    assert!(
        version_groups(&stack, order, 2).await.is_empty(),
        "version 2 came too late to be recorded"
    );

    let old_l1 = id(&tickets_of(std::slice::from_ref(line(&v1, "L1")))[0]);
    let old_l2 = id(&tickets_of(std::slice::from_ref(line(&v1, "L2")))[0]);
    let events = events(&stack, 11, 6).await;
    assert_eq!(
        events.counts,
        counts(&[
            ("TicketDistributionGroupCreated", 3),
            ("TicketDistributionAdded", 3),
            ("TicketDistributionDistributed", 3),
            ("TicketDistributionCancelled", 2),
        ])
    );
    assert_eq!(
        events.cancelled,
        BTreeSet::from([
            (old_l1, "SUPERSEDED_BY_ORDER_VERSION".to_owned()),
            (old_l2, "LINE_CREDITED".to_owned()),
        ])
    );
    let v1_groups = group_set(&v1.iter().collect::<Vec<_>>());
    let later = group_set(&[&moved]);
    assert_eq!(
        events.completed,
        completed(&[
            (GENERATED, 1, v1_groups.clone()),
            (DISTRIBUTED, 1, v1_groups),
            (GENERATED, 3, later.clone()),
            (DISTRIBUTED, 3, later.clone()),
            (GENERATED, 4, later.clone()),
            (DISTRIBUTED, 4, later),
        ])
    );
    assert_eq!(nod_requests(&stack).await, (3, 2));
}

#[tokio::test]
async fn version_2_delivered_again_after_version_3_changes_nothing() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    let order = "VERAGAIN";
    let [v1_event, v2_event, v3_event, v4_event] = three_versions(order);
    stack.produce(&producer, order, v1_event.as_bytes()).await;
    let v1 = wait_version(&stack, order, 1, 2, "DISTRIBUTED").await;
    stack.produce(&producer, order, v2_event.as_bytes()).await;
    let v2 = wait_version(&stack, order, 2, 2, "DISTRIBUTED").await;
    stack.produce(&producer, order, v3_event.as_bytes()).await;
    wait_version(&stack, order, 3, 1, "DISTRIBUTED").await;
    // The same events again, as a redelivery would bring them, then the marker.
    for event in [&v2_event, &v1_event, &v4_event] {
        stack.produce(&producer, order, event.as_bytes()).await;
    }
    let moved = assert_version_3_decided(&stack, order, &v1).await;
    assert_eq!(
        id(line(&v2, "L1")),
        id(&moved),
        "version 3 keeps version 2's new group"
    );
    assert_eq!(id(line(&v2, "L2")), id(line(&v1, "L2")));

    let old_l1 = id(&tickets_of(std::slice::from_ref(line(&v1, "L1")))[0]);
    let old_l2 = id(&tickets_of(std::slice::from_ref(line(&v1, "L2")))[0]);
    let events = events(&stack, 11, 8).await;
    assert_eq!(
        events.counts,
        counts(&[
            ("TicketDistributionGroupCreated", 3),
            ("TicketDistributionAdded", 3),
            ("TicketDistributionDistributed", 3),
            ("TicketDistributionCancelled", 2),
        ])
    );
    assert_eq!(
        events.cancelled,
        BTreeSet::from([
            (old_l1, "SUPERSEDED_BY_ORDER_VERSION".to_owned()),
            (old_l2, "LINE_CREDITED".to_owned()),
        ])
    );
    let v1_groups = group_set(&v1.iter().collect::<Vec<_>>());
    let v2_groups = group_set(&v2.iter().collect::<Vec<_>>());
    let later = group_set(&[&moved]);
    assert_eq!(
        events.completed,
        completed(&[
            (GENERATED, 1, v1_groups.clone()),
            (DISTRIBUTED, 1, v1_groups),
            (GENERATED, 2, v2_groups.clone()),
            (DISTRIBUTED, 2, v2_groups),
            (GENERATED, 3, later.clone()),
            (DISTRIBUTED, 3, later.clone()),
            (GENERATED, 4, later.clone()),
            (DISTRIBUTED, 4, later),
        ])
    );
    assert_eq!(nod_requests(&stack).await, (3, 2));
}

#[tokio::test]
async fn a_change_while_nod_is_failing_is_carried_out_in_nod_once_it_answers() {
    let stack = Stack::start_with_nod().await;
    let producer = Stack::producer();
    let order = "VERNODDOWN";
    let l2 = zone_line("L2", 1, "CONFIRMED");
    stack
        .produce(
            &producer,
            order,
            confirmed(order, 1, &[rail_line("L1", 1, 8, &["T1"]), l2.clone()]).as_bytes(),
        )
        .await;
    let v1 = wait_version(&stack, order, 1, 2, "DISTRIBUTED").await;
    let old = tickets_of(std::slice::from_ref(line(&v1, "L1"))).remove(0);
    let kept = tickets_of(std::slice::from_ref(line(&v1, "L2"))).remove(0);

    let (code, _) = stack
        .nod_post("/simulator/faults", json!({ "errorRate": 1.0 }))
        .await;
    assert!(code < 300);
    stack
        .produce(
            &producer,
            order,
            confirmed(order, 2, &[rail_line("L1", 2, 9, &["T1"]), l2]).as_bytes(),
        )
        .await;
    // Here the change is done at once, whatever NOD does.
    let placing = wait_groups(&stack, order, 2, 2).await;
    let waiting = tickets_of(std::slice::from_ref(line(&placing, "L1")));
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["status"], "GENERATED", "NOD has not taken it");
    assert_eq!(id(line(&placing, "L2")), id(line(&v1, "L2")));
    assert_cancelled(&stack, &id(&old), "SUPERSEDED_BY_ORDER_VERSION").await;
    assert_valid(&stack, &id(&kept), 2).await;
    // NOD is asked, fails, and is asked again.
    let deadline = tokio::time::Instant::now() + WAIT;
    while nod_requests(&stack).await.1 < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cancellation is not retried"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    stack.nod_post("/simulator/faults", json!({})).await;
    let v2 = wait_version(&stack, order, 2, 2, "DISTRIBUTED").await;
    let new = tickets_of(std::slice::from_ref(line(&v2, "L1"))).remove(0);
    assert_valid(&stack, &id(&new), 2).await;
    wait_nod_state(&stack, &nod_id(&old), "CANCELLED").await;
    assert_eq!(nod_state(&stack, &nod_id(&kept)).await, "DISTRIBUTED");
    assert_eq!(status(&stack, &id(&old)).await["status"], "CANCELLED");

    let events = events(&stack, 10, 4).await;
    assert_eq!(
        events.counts,
        counts(&[
            ("TicketDistributionGroupCreated", 3),
            ("TicketDistributionAdded", 3),
            ("TicketDistributionDistributed", 3),
            ("TicketDistributionCancelled", 1),
        ]),
        "NOD's failures leave no trace in the events"
    );
    assert_eq!(
        events.cancelled,
        BTreeSet::from([(id(&old), "SUPERSEDED_BY_ORDER_VERSION".to_owned())])
    );
    let v1_groups = group_set(&v1.iter().collect::<Vec<_>>());
    let v2_groups = group_set(&v2.iter().collect::<Vec<_>>());
    assert_eq!(
        events.completed,
        completed(&[
            (GENERATED, 1, v1_groups.clone()),
            (DISTRIBUTED, 1, v1_groups),
            (GENERATED, 2, v2_groups.clone()),
            (DISTRIBUTED, 2, v2_groups),
        ])
    );
    let (placed, cancelled) = nod_requests(&stack).await;
    assert!(
        placed >= 3 && cancelled >= 2,
        "retried: {placed} placements, {cancelled} cancellations"
    );
}
