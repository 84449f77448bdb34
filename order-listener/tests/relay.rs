//! The outbox relay against the real broker and PostgreSQL: two relays (two replicas)
//! publish every event once and in order per order; with the broker stopped nothing is
//! lost, and the relay catches up when the broker is back.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message as _;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use td_bus::{KafkaSink, MessageSink};
use td_settings::Settings;
use td_store::entity::outbox as row;
use td_store::record::{record_order_event, Origin};
use td_store::sea_orm::{EntityTrait, QueryOrder};
use td_store::DatabaseConnection;
use tokio_util::sync::CancellationToken;

const TOPICS: [&str; 2] = [
    "ticket-distribution-group-events",
    "all-ticket-distribution-groups-for-order-version-completed",
];

fn kafka() -> String {
    std::env::var("TD_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn settings(servers: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars = vec![
        (
            "TD__KAFKA__BOOTSTRAP_SERVERS".to_owned(),
            servers.to_owned(),
        ),
        (
            "TD__KAFKA__PRODUCER__BATCH_NUM_MESSAGES".to_owned(),
            "1".to_owned(),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::load_from(None, vars).unwrap()
}

async fn create_topics(servers: &str, env: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .unwrap();
    let names: Vec<String> = TOPICS.iter().map(|t| format!("{t}-{env}")).collect();
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|t| NewTopic::new(t, 3, TopicReplication::Fixed(1)))
        .collect();
    for result in admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .unwrap()
    {
        result.unwrap();
    }
}

/// Records `count` one-line orders; returns their ids.
async fn record_orders(db: &DatabaseConnection, prefix: &str, count: usize) -> Vec<String> {
    let template = include_str!("../../examples/orders/rail-with-change.json");
    let mut ids = Vec::new();
    for n in 0..count {
        let id = format!("{prefix}{n:04}");
        let json = template.replace("DEMO0002", &id);
        let event = td_domain::parse_order_event(json.as_bytes()).unwrap();
        record_order_event(db, &event, &Origin::default(), chrono::Utc::now())
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// (order id, event id) of every message on the environment's topics, in partition order.
async fn read_all(servers: &str, env: &str, expected: usize) -> Vec<(String, String)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set(
            "group.id",
            format!("reader-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let topics: Vec<String> = TOPICS.iter().map(|t| format!("{t}-{env}")).collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).unwrap();
    let mut out = Vec::new();
    // Read until the expected count, then a little longer to see any duplicate.
    let mut quiet = Duration::from_secs(60);
    while let Ok(Ok(m)) = tokio::time::timeout(quiet, consumer.recv()).await {
        let base = TOPICS
            .iter()
            .find(|t| m.topic().starts_with(*t))
            .expect("one of ours");
        let event = td_events::decode(base, m.payload().unwrap()).unwrap();
        let json = serde_json::to_value(&event).unwrap();
        out.push((
            String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
            json["eventId"].as_str().unwrap().to_owned(),
        ));
        if out.len() >= expected {
            quiet = Duration::from_secs(2);
        }
    }
    out
}

/// The outbox as written: per order, its event ids in commit order.
async fn outbox_order(db: &DatabaseConnection) -> HashMap<String, Vec<String>> {
    let mut per_order: HashMap<String, Vec<String>> = HashMap::new();
    for e in row::Entity::find()
        .order_by_asc(row::Column::Id)
        .all(db)
        .await
        .unwrap()
    {
        per_order
            .entry(e.message_key)
            .or_default()
            .push(e.event_id.to_string());
    }
    per_order
}

/// Per order, the distinct event ids in the order they were first read. Messages of one
/// order on one topic share a partition; across the two topics only the order within each
/// topic is promised, so compare per topic via the written order filtered to what was read.
fn assert_in_order_once(
    written: &HashMap<String, Vec<String>>,
    read: &[(String, String)],
    allow_duplicates: bool,
) {
    let mut seen = HashSet::new();
    let mut per_order: HashMap<&str, Vec<&str>> = HashMap::new();
    for (order, event) in read {
        if seen.insert(event.as_str()) {
            per_order.entry(order).or_default().push(event);
        } else {
            assert!(allow_duplicates, "event {event} of {order} published twice");
        }
    }
    for (order, events) in written {
        let got = per_order.get(order.as_str()).cloned().unwrap_or_default();
        let mut expected_set: Vec<&str> = events.iter().map(String::as_str).collect();
        let mut got_set = got.clone();
        expected_set.sort();
        got_set.sort();
        assert_eq!(got_set, expected_set, "every event of {order}, once");
        // The group events of an order (all but the completion, which is last and on its
        // own topic) arrive in commit order.
        let group_events: Vec<&str> = events[..events.len() - 1]
            .iter()
            .map(String::as_str)
            .collect();
        let got_group: Vec<&str> = got
            .iter()
            .copied()
            .filter(|e| group_events.contains(e))
            .collect();
        assert_eq!(got_group, group_events, "commit order kept for {order}");
    }
}

#[tokio::test]
async fn two_relays_publish_every_event_once_and_in_order() {
    let db = td_testkit::postgres().await;
    let env = format!("relay{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    create_topics(&kafka(), &env).await;
    let settings = settings(&kafka(), &[]);
    let shutdown = CancellationToken::new();
    let mut relays = Vec::new();
    for _ in 0..2 {
        let sink: Arc<dyn MessageSink> = Arc::new(KafkaSink::new(&settings.kafka).unwrap());
        let relay = order_listener::Relay::new(db.db.clone(), sink, env.clone());
        relays.push(tokio::spawn(
            relay.run(Duration::from_millis(5), shutdown.clone()),
        ));
    }
    // Orders recorded while both relays run, so both compete for every batch.
    record_orders(&db.db, "TWO", 60).await;
    let written = outbox_order(&db.db).await;
    let total: usize = written.values().map(Vec::len).sum();
    let read = read_all(&kafka(), &env, total).await;
    shutdown.cancel();
    for r in relays {
        r.await.unwrap();
    }
    assert_in_order_once(&written, &read, false);
    assert_eq!(td_store::outbox::backlog(&db.db).await.unwrap(), 0);
}

/// A broker of this test's own, so that stopping it disturbs no other test.
struct PrivateBroker {
    child: Child,
    addr: String,
}

impl PrivateBroker {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let bin = std::env::var("TD_TEST_TANSU").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            let installed = format!("{home}/.cargo/bin/tansu");
            if std::path::Path::new(&installed).exists() {
                installed
            } else {
                "tansu".to_owned()
            }
        });
        let url = format!("tcp://{addr}");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu is installed (scripts/test installs it)");
        for _ in 0..150 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, addr }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn with_the_broker_stopped_nothing_is_lost_and_the_relay_catches_up() {
    let broker = PrivateBroker::start();
    let db = td_testkit::postgres().await;
    let env = "outage";
    create_topics(&broker.addr, env).await;
    // Deliveries give up after 2 s, so the relay sees the outage and retries.
    let settings = settings(
        &broker.addr,
        &[("TD__KAFKA__PRODUCER__MESSAGE_TIMEOUT_MS", "2000")],
    );
    let sink: Arc<dyn MessageSink> = Arc::new(KafkaSink::new(&settings.kafka).unwrap());
    let relay = order_listener::Relay::new(db.db.clone(), sink, env.to_owned());
    let shutdown = CancellationToken::new();
    let relaying = tokio::spawn(relay.run(Duration::from_millis(5), shutdown.clone()));

    record_orders(&db.db, "UP", 5).await;
    broker.signal("-STOP");
    record_orders(&db.db, "DOWN", 20).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        td_store::outbox::backlog(&db.db).await.unwrap() > 0,
        "while the broker is stopped the outbox keeps what is not published"
    );
    broker.signal("-CONT");
    record_orders(&db.db, "BACK", 5).await;

    let written = outbox_order(&db.db).await;
    let total: usize = written.values().map(Vec::len).sum();
    let read = read_all(&broker.addr, env, total).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while td_store::outbox::backlog(&db.db).await.unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "relay caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    relaying.await.unwrap();
    // A batch that timed out may have been partly delivered and is published again:
    // consumers de-duplicate on eventId. Nothing may be missing or out of order.
    assert_in_order_once(&written, &read, true);
}

/// Records `order`'s events after a row of the same order that the relay can never
/// publish (planted by `poison`), and three other orders after that; runs the relay until
/// the other orders' events are read. Returns what was read and the events of `order`.
async fn relay_past_a_poisoned_row(
    db: &DatabaseConnection,
    env: &str,
    order: &str,
    poison: impl AsyncFnOnce(&DatabaseConnection),
) -> (Vec<(String, String)>, HashMap<String, Vec<String>>) {
    create_topics(&kafka(), env).await;
    let prefix = &order[..order.len() - 4];
    poison(db).await;
    record_orders(db, prefix, 1).await;
    record_orders(db, "OTHER", 3).await;
    let mut written = outbox_order(db).await;
    let of_order: Vec<String> = written.remove(order).expect("the order's events");
    let settings = settings(&kafka(), &[]);
    let sink: Arc<dyn MessageSink> = Arc::new(KafkaSink::new(&settings.kafka).unwrap());
    let relay = order_listener::Relay::new(db.clone(), sink, env.to_owned());
    let shutdown = CancellationToken::new();
    let relaying = tokio::spawn(relay.run(Duration::from_millis(5), shutdown.clone()));
    let total: usize = written.values().map(Vec::len).sum();
    let read = read_all(&kafka(), env, total).await;
    shutdown.cancel();
    relaying.await.unwrap();
    assert_in_order_once(&written, &read, false);
    let mut rest = HashMap::new();
    rest.insert(order.to_owned(), of_order);
    (read, rest)
}

/// The parked row is the one planted, with its reason; the order's later events are
/// neither published nor parked, they wait.
async fn assert_parked_and_waiting(
    db: &DatabaseConnection,
    read: &[(String, String)],
    order: &str,
    reason_contains: &str,
) -> row::Model {
    assert!(
        read.iter().all(|(key, _)| key != order),
        "no event of {order} is published past its parked one"
    );
    let parked = td_store::outbox::parked(db).await.unwrap();
    assert_eq!(parked.len(), 1, "one event parked: {parked:?}");
    let parked = parked.into_iter().next().unwrap();
    assert_eq!(parked.message_key, order);
    assert!(parked.published_at.is_none());
    let reason = parked.park_reason.clone().unwrap_or_default();
    assert!(
        reason.contains(reason_contains),
        "the reason names the error: {reason}"
    );
    let order_id = td_domain::ids::OrderId(order.to_owned());
    for event in td_store::outbox::events_of_order(db, &order_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.id > parked.id)
    {
        assert!(event.published_at.is_none() && event.parked_at.is_none());
    }
    parked
}

#[tokio::test]
async fn an_event_that_cannot_be_encoded_is_parked_and_only_its_order_waits() {
    let db = td_testkit::postgres().await;
    let env = format!("park{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let poison = async |db: &DatabaseConnection| {
        use td_store::sea_orm::{ActiveModelTrait, ActiveValue::Set};
        row::ActiveModel {
            event_id: Set(uuid::Uuid::new_v4()),
            topic: Set(TOPICS[0].to_owned()),
            message_key: Set("PZN0000".to_owned()),
            event_type: Set("TicketDistributionGroupCreated".to_owned()),
            payload: Set(serde_json::json!({"not": "an event"})),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    };
    let (read, _) = relay_past_a_poisoned_row(&db.db, &env, "PZN0000", poison).await;
    let parked = assert_parked_and_waiting(&db.db, &read, "PZN0000", "").await;
    assert_eq!(parked.payload, serde_json::json!({"not": "an event"}));
    assert!(!parked.park_reason.unwrap().is_empty());
}

#[tokio::test]
async fn an_event_the_producer_refuses_as_too_large_is_parked_and_only_its_order_waits() {
    let db = td_testkit::postgres().await;
    let env = format!("big{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    // A valid event whose message exceeds what the producer sends (1 MB by default).
    let poison = async |db: &DatabaseConnection| {
        use td_store::sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
        record_orders(db, "HUGE", 1).await;
        let first = row::Entity::find()
            .order_by_asc(row::Column::Id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        let mut payload = first.payload.clone();
        payload["correlationId"] = serde_json::json!("x".repeat(1_100_000));
        assert!(td_events::encode(&first.topic, &payload).is_ok());
        let mut huge = first.into_active_model();
        huge.message_key = Set("BIG0000".to_owned());
        huge.event_id = Set(uuid::Uuid::new_v4());
        huge.payload = Set(payload);
        huge.update(db).await.unwrap();
    };
    let (read, _) = relay_past_a_poisoned_row(&db.db, &env, "BIG0000", poison).await;
    assert_parked_and_waiting(&db.db, &read, "BIG0000", "MessageSizeTooLarge").await;
}
