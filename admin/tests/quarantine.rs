//! `td-admin` against the real PostgreSQL, Redis and broker: each stage's quarantined item
//! is listed with its stage, reason and age, a replay runs it through the stage's normal
//! path once, and replaying it again changes nothing.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use td_admin::{Item, Quarantine, Replayed, Stage};
use td_bus::{BusError, KafkaSink, Message, MessageSink};
use td_domain::ids::{OrderId, TicketDistributionId};
use td_domain::status::{TdEvent, TdStatus};
use td_jobs::{Job, JobQueue, RedisQueue};
use td_settings::Settings;
use td_store::entity::ticket_distribution as td;
use td_store::record::{record_order_event, Origin};
use td_store::sea_orm::EntityTrait;
use td_store::DatabaseConnection;

const RAIL: &str = include_str!("../../examples/orders/rail-with-change.json");

fn kafka() -> String {
    std::env::var("TD_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// The settings of one test's environment, as the workers and td-admin would load them.
struct Env {
    name: String,
    vars: Vec<(String, String)>,
}

impl Env {
    async fn new(db_url: &str) -> Self {
        let name = format!("adm{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let vars = [
            ("TD__ENVIRONMENT", name.clone()),
            ("TD__DATABASE__URL", db_url.to_owned()),
            ("TD__KAFKA__BOOTSTRAP_SERVERS", kafka()),
            ("TD__KAFKA__PRODUCER__BATCH_NUM_MESSAGES", "1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let env = Self { name, vars };
        env.create_topics().await;
        env
    }

    fn settings(&self, extra: &[(&str, &str)]) -> Settings {
        let mut vars = self.vars.clone();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Settings::load_from(None, vars).unwrap()
    }

    async fn create_topics(&self) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", kafka())
            .create()
            .unwrap();
        let names = [
            format!("order-events-{}-dlq", self.name),
            format!("ticket-distribution-group-events-{}", self.name),
            format!(
                "all-ticket-distribution-groups-for-order-version-completed-{}",
                self.name
            ),
        ];
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

    /// `td-admin` itself, with this environment's settings.
    fn cli(&self, args: &[&str]) -> (bool, serde_json::Value, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_td-admin"))
            .args(args)
            .envs(self.vars.iter().cloned())
            .output()
            .expect("td-admin runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
        (output.status.success(), json, format!("{stdout}{stderr}"))
    }
}

async fn redis(settings: &Settings) -> Arc<dyn JobQueue> {
    use secrecy::ExposeSecret;
    Arc::new(
        RedisQueue::connect(settings.redis.url.expose_secret(), settings.jobs.clone())
            .await
            .unwrap(),
    )
}

async fn quarantine(db: &DatabaseConnection, settings: &Settings) -> Quarantine {
    let sink: Arc<dyn MessageSink> = Arc::new(KafkaSink::new(&settings.kafka).unwrap());
    Quarantine::new(db.clone(), redis(settings).await, sink, settings)
}

fn rail(order_id: &str) -> String {
    RAIL.replace("DEMO0002", order_id)
}

async fn record(db: &DatabaseConnection, order_id: &str) {
    let event = td_domain::parse_order_event(rail(order_id).as_bytes()).unwrap();
    record_order_event(db, &event, &Origin::default(), chrono::Utc::now())
        .await
        .unwrap();
}

fn assert_fresh(item: &Item, stage: Stage) {
    assert_eq!(item.stage, stage, "{item:?}");
    let age = chrono::Utc::now() - item.quarantined_at;
    assert!(
        age >= -chrono::Duration::seconds(5) && age < chrono::Duration::seconds(120),
        "{item:?}"
    );
}

#[tokio::test]
async fn a_dead_lettered_order_is_replayed_once_after_the_limit_is_raised() {
    let db = td_testkit::postgres().await;
    let env = Env::new(&db.url).await;
    // The listener ran with a limit the order passes: one leg per line.
    let strict = env.settings(&[("TD__INTAKE__MAX_LEGS_PER_LINE", "1")]);
    let sink: Arc<dyn MessageSink> = Arc::new(KafkaSink::new(&strict.kafka).unwrap());
    let intake = order_listener::Intake::new(
        db.db.clone(),
        sink,
        strict.topic("order-events") + "-dlq",
        strict.intake.clone(),
    );
    let payload = rail("ADM0001");
    let outcome = intake
        .process(order_listener::Incoming {
            key: Some(b"ADM0001"),
            payload: Some(payload.as_bytes()),
            traceparent: None,
            source: "order-events/0@7".to_owned(),
        })
        .await
        .unwrap();
    assert!(
        matches!(outcome, order_listener::IntakeOutcome::DeadLettered { .. }),
        "{outcome:?}"
    );

    // The operator raised the limit back to its default.
    let settings = env.settings(&[]);
    let admin = quarantine(&db.db, &settings).await;
    let items = admin.list(&[Stage::OrderIntake]).await.unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_fresh(item, Stage::OrderIntake);
    assert!(item.id.starts_with("dlq:"), "{item:?}");
    assert!(item.reason.contains("legs"), "{item:?}");
    assert!(item.subject.contains("ADM0001"), "{item:?}");
    // The command line lists the same.
    let (ok, listed, output) = env.cli(&["quarantine", "list", "--json"]);
    assert!(ok, "{output}");
    assert_eq!(listed[0]["id"], item.id.as_str(), "{output}");
    assert_eq!(listed[0]["stage"], "order-intake", "{output}");

    let order = OrderId("ADM0001".into());
    assert!(td_store::outbox::events_of_order(&db.db, &order)
        .await
        .unwrap()
        .is_empty());
    let replayed = admin.replay(&item.id).await.unwrap();
    assert!(
        matches!(&replayed, Replayed::Done { outcome } if outcome.starts_with("recorded")),
        "{replayed:?}"
    );
    let events = td_store::outbox::events_of_order(&db.db, &order)
        .await
        .unwrap();
    assert!(!events.is_empty());

    // Replayed once: again does nothing, and the letter is no longer listed.
    let again = admin.replay(&item.id).await.unwrap();
    assert!(matches!(again, Replayed::Already { .. }), "{again:?}");
    let (ok, _, output) = env.cli(&["quarantine", "replay", &item.id]);
    assert!(ok && output.contains("already replayed"), "{output}");
    assert_eq!(
        td_store::outbox::events_of_order(&db.db, &order)
            .await
            .unwrap()
            .len(),
        events.len()
    );
    assert!(admin.list(&[Stage::OrderIntake]).await.unwrap().is_empty());
}

/// The broker refuses the first message of every batch for what it is.
struct Refusing;

impl MessageSink for Refusing {
    fn publish<'a>(
        &'a self,
        _batch: &'a [Message],
    ) -> futures::future::BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async {
            Err(BusError::Rejected {
                index: 0,
                reason: "Broker: Message size too large".into(),
            })
        })
    }
}

#[tokio::test]
async fn a_parked_outbox_event_is_published_in_its_place_after_its_replay() {
    let db = td_testkit::postgres().await;
    let env = Env::new(&db.url).await;
    let settings = env.settings(&[]);
    record(&db.db, "ADM0002").await;
    let order = OrderId("ADM0002".into());
    let refusing = order_listener::Relay::new(db.db.clone(), Arc::new(Refusing), env.name.clone());
    refusing.step().await.unwrap();

    let admin = quarantine(&db.db, &settings).await;
    let items = admin.list(&[Stage::Outbox]).await.unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_fresh(item, Stage::Outbox);
    assert!(item.reason.contains("too large"), "{item:?}");
    assert!(item.subject.contains("ADM0002"), "{item:?}");

    // The broker's limit was raised: the replay un-parks it and the relay publishes the
    // order's events, the parked one first.
    let replayed = admin.replay(&item.id).await.unwrap();
    assert!(matches!(replayed, Replayed::Done { .. }), "{replayed:?}");
    let sink: Arc<dyn MessageSink> = Arc::new(KafkaSink::new(&settings.kafka).unwrap());
    let relay = order_listener::Relay::new(db.db.clone(), sink, env.name.clone());
    for _ in 0..10 {
        relay.step().await.unwrap();
    }
    let events = td_store::outbox::events_of_order(&db.db, &order)
        .await
        .unwrap();
    assert!(
        events.iter().all(|e| e.published_at.is_some()),
        "{events:?}"
    );
    assert_eq!(format!("outbox:{}", events[0].event_id), item.id);
    assert!(events
        .windows(2)
        .all(|w| w[0].published_at <= w[1].published_at));

    let again = admin.replay(&item.id).await.unwrap();
    assert!(matches!(again, Replayed::Already { .. }), "{again:?}");
    assert!(admin.list(&[Stage::Outbox]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_parked_feed_entry_is_applied_once_by_its_replay() {
    let db = td_testkit::postgres().await;
    let env = Env::new(&db.url).await;
    let settings = env.settings(&[]);
    record(&db.db, "ADM0003").await;
    let ticket = td::Entity::find().all(&db.db).await.unwrap().remove(0);
    let id = TicketDistributionId(ticket.id);
    let at = chrono::Utc::now();
    td_store::nod::apply_change(
        &db.db,
        &td_store::nod::NodChange {
            ticket_distribution_id: id,
            event: TdEvent::Distributed,
            nod_order_group_id: Some("OG-1".into()),
            reason: None,
            media_serial_number_id: None,
            traceparent: None,
            at,
        },
    )
    .await
    .unwrap();
    // The follower parked a pickup it could not apply then.
    let entry = td_nod::Transaction {
        cursor: td_nod::Cursor::new("c-1".to_owned()),
        order_group_id: td_nod::OrderGroupId::new("OG-1".to_owned()),
        client_reference: ticket.id.to_string(),
        kind: td_nod::TransactionKind::PickedUp,
        at,
    };
    td_store::nod::quarantine_feed_entry(
        &db.db,
        serde_json::to_value(&entry).unwrap(),
        "the ticket's stored state cannot be read",
        at,
    )
    .await
    .unwrap();

    let admin = quarantine(&db.db, &settings).await;
    let items = admin.list(&[Stage::NodFeed]).await.unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_fresh(item, Stage::NodFeed);
    assert!(item.subject.contains(&ticket.id.to_string()), "{item:?}");

    let replayed = admin.replay(&item.id).await.unwrap();
    assert!(matches!(replayed, Replayed::Done { .. }), "{replayed:?}");
    let status = |db: DatabaseConnection| async move {
        td_store::nod::ticket(&db, id)
            .await
            .unwrap()
            .unwrap()
            .status()
            .unwrap()
    };
    assert_eq!(status(db.db.clone()).await, TdStatus::PickedUp);
    let events = td_store::outbox::events_of_order(&db.db, &OrderId("ADM0003".into()))
        .await
        .unwrap()
        .len();

    let again = admin.replay(&item.id).await.unwrap();
    assert!(matches!(again, Replayed::Already { .. }), "{again:?}");
    assert!(admin.list(&[Stage::NodFeed]).await.unwrap().is_empty());
    assert_eq!(
        td_store::outbox::events_of_order(&db.db, &OrderId("ADM0003".into()))
            .await
            .unwrap()
            .len(),
        events
    );
}

#[tokio::test]
async fn a_dead_job_is_enqueued_again_once_by_its_replay() {
    let db = td_testkit::postgres().await;
    let env = Env::new(&db.url).await;
    let settings = env.settings(&[]);
    let queue = redis(&settings).await;
    let stream = nod_distributor::streams(&env.name);
    let job = Job::new("nod.place", serde_json::json!({ "n": 1 }));
    queue.enqueue(&stream.stream, &job).await.unwrap();
    let leased = queue
        .receive(
            &stream.stream,
            &stream.group,
            "c1",
            1,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    queue
        .fail(&leased[0], "NOD_REJECTED: 400 BAD_REQUEST")
        .await
        .unwrap();

    let (ok, listed, output) = env.cli(&["quarantine", "list", "--stage", "nod-jobs", "--json"]);
    assert!(ok, "{output}");
    let listed = listed.as_array().expect("a JSON array").clone();
    assert_eq!(listed.len(), 1, "{output}");
    assert_eq!(listed[0]["stage"], "nod-jobs");
    assert_eq!(listed[0]["reason"], "NOD_REJECTED: 400 BAD_REQUEST");
    let id = listed[0]["id"].as_str().unwrap().to_owned();

    let (ok, replayed, output) = env.cli(&["quarantine", "replay", "--all", "--json"]);
    assert!(ok, "{output}");
    assert_eq!(replayed[0]["id"], id.as_str(), "{output}");
    assert_eq!(replayed[0]["replayed"]["result"], "done", "{output}");

    // Back on the stream as a first attempt of the same job; the letter is gone.
    let again = queue
        .receive(
            &stream.stream,
            &stream.group,
            "c1",
            10,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].job.id.as_str(), again[0].job.attempt),
        (job.id.as_str(), 1)
    );
    assert_eq!(again[0].job.payload, job.payload);
    let admin = quarantine(&db.db, &settings).await;
    assert!(admin.list(&[Stage::NodJobs]).await.unwrap().is_empty());
    let twice = admin.replay(&id).await.unwrap();
    assert!(matches!(twice, Replayed::Already { .. }), "{twice:?}");
    let none = queue
        .receive(
            &stream.stream,
            &stream.group,
            "c1",
            10,
            Duration::from_millis(300),
        )
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    // Ids that name nothing are refused with the reason.
    let (ok, _, output) = env.cli(&["quarantine", "replay", "feed:999999", "nod-jobs:1-1"]);
    assert!(!ok && output.contains("is not quarantined"), "{output}");
}
