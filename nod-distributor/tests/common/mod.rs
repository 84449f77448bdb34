//! One distributor on SQLite, the in-memory job queue and the NOD simulator (over HTTP on
//! loopback, so that its faults apply), driven a step at a time: no broker, no Redis.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use nod_distributor::{DueTickets, FeedFollower, NodHandler, Unavailable};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use td_domain::ids::{OrderId, TicketDistributionId};
use td_jobs::{Delivery, InMemoryQueue, JobQueue, Outcome, QueueConfig, Streams};
use td_nod::{Faults, ManualClock, Nod, NodClient, NodClientSettings, RetrySettings, Simulator};
use td_store::entity::ticket_distribution as td;
use td_store::record::{record_order_event, Origin};
use td_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use td_store::{DatabaseConnection, TransactionTrait};

pub const FAMILY: &str = include_str!("../../../examples/orders/family-with-supplement.json");
pub const ZONE: &str = include_str!("../../../examples/orders/zone-ticket.json");

pub struct Rig {
    pub db: DatabaseConnection,
    pub queue: Arc<InMemoryQueue>,
    pub simulator: Simulator,
    pub clock: ManualClock,
    pub running: td_nod::RunningSimulator,
    pub streams: Streams,
    pub dispatcher: nod_distributor::Dispatcher,
    pub worker: nod_distributor::Worker,
    pub feed: FeedFollower,
}

/// Attempts per job in these tests; a short backoff so that a retry comes back at once.
pub const MAX_ATTEMPTS: u32 = 3;

/// The production defaults: waits of at most 5 min, FAILED after 6 h.
pub const UNAVAILABLE: Unavailable = Unavailable {
    retry_max: Duration::from_secs(300),
    horizon: Duration::from_secs(6 * 3600),
};

impl Rig {
    pub async fn start() -> Self {
        Self::with_redispatch_after(Duration::from_secs(300)).await
    }

    pub async fn with_redispatch_after(redispatch_after: Duration) -> Self {
        Self::on(td_testkit::sqlite().await.db, redispatch_after, UNAVAILABLE).await
    }

    /// A rig whose tickets wait for NOD as `unavailable` says.
    pub async fn with_unavailable(unavailable: Unavailable) -> Self {
        Self::on(
            td_testkit::sqlite().await.db,
            Duration::from_secs(300),
            unavailable,
        )
        .await
    }

    /// The same rig on a PostgreSQL database of its own.
    pub async fn on_postgres() -> Self {
        Self::on(
            td_testkit::postgres().await.db,
            Duration::from_secs(300),
            UNAVAILABLE,
        )
        .await
    }

    async fn on(
        db: DatabaseConnection,
        redispatch_after: Duration,
        unavailable: Unavailable,
    ) -> Self {
        let queue = Arc::new(
            InMemoryQueue::new(QueueConfig {
                retry_base_ms: 1,
                retry_max_ms: 2,
                max_attempts: MAX_ATTEMPTS,
                ..QueueConfig::default()
            })
            .unwrap(),
        );
        let clock = ManualClock::new(Utc::now());
        let simulator = Simulator::with_clock(Arc::new(clock.clone()));
        let running = simulator
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        // One attempt per call: a NOD error reaches the job, as it does once the client's
        // own retries are used up.
        let client = NodClient::new(&NodClientSettings {
            base_url: running.base_url(),
            retry: RetrySettings {
                max_attempts: 1,
                ..RetrySettings::default()
            },
            ..NodClientSettings::default()
        })
        .unwrap();
        let nod: Arc<dyn Nod> = Arc::new(client);
        let streams = nod_distributor::streams(&format!("test{}", uuid::Uuid::new_v4().simple()));
        let shared: Arc<dyn JobQueue> = queue.clone();
        let dispatcher = nod_distributor::Dispatcher {
            due: DueTickets {
                db: db.clone(),
                redispatch_after,
            },
            queue: shared.clone(),
            stream: streams.stream.clone(),
            batch: 500,
        };
        let worker = nod_distributor::Worker {
            handler: NodHandler {
                db: db.clone(),
                nod: nod.clone(),
                unavailable,
            },
            queue: shared,
            consumer: streams.consumer("test", 4),
        };
        let feed = FeedFollower {
            db: db.clone(),
            nod,
            page: 100,
        };
        Self {
            db,
            queue,
            simulator,
            clock,
            running,
            streams,
            dispatcher,
            worker,
            feed,
        }
    }

    pub fn faults(&self, faults: Faults) {
        self.simulator.set_faults(faults).unwrap();
    }

    /// Records an order event (JSON) as order-listener would.
    pub async fn record(&self, event: &Value) {
        let event = td_domain::parse_order_event(event.to_string().as_bytes()).unwrap();
        let txn = self.db.begin().await.unwrap();
        record_order_event(&txn, &event, &Origin::default(), Utc::now())
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }

    /// Jobs waiting in the queue now, leased.
    pub async fn leased(&self) -> Vec<Delivery> {
        self.queue
            .receive(
                &self.streams.stream,
                &self.streams.group,
                "test",
                1000,
                Duration::from_millis(50),
            )
            .await
            .unwrap()
    }

    /// Every job waiting in the queue through the worker, once; the outcomes.
    pub async fn work(&self) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for delivery in self.leased().await {
            outcomes.push(self.worker.process_one(&delivery).await);
        }
        outcomes
    }

    /// Dispatches and works until the queue is empty (retries included).
    pub async fn settle_all(&self) {
        self.dispatcher.pass().await.unwrap();
        for _ in 0..20 {
            let outcomes = self.work().await;
            let stats = self
                .queue
                .stats(&self.streams.stream, &self.streams.group)
                .await
                .unwrap();
            if outcomes.is_empty() && stats.depth() == 0 {
                return;
            }
        }
        panic!("the queue did not empty");
    }

    pub async fn tickets(&self, order: &str) -> Vec<td::Model> {
        td::Entity::find()
            .filter(td::Column::OrderId.eq(order))
            .order_by_asc(td::Column::Id)
            .all(&self.db)
            .await
            .unwrap()
    }

    pub async fn ticket(&self, id: uuid::Uuid) -> td::Model {
        td_store::nod::ticket(&self.db, TicketDistributionId(id))
            .await
            .unwrap()
            .unwrap()
    }

    /// The outbox's event types of an order, oldest first.
    pub async fn events(&self, order: &str) -> Vec<String> {
        td_store::outbox::events_of_order(&self.db, &OrderId(order.to_owned()))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    pub async fn count(&self, order: &str, event_type: &str) -> usize {
        self.events(order)
            .await
            .iter()
            .filter(|e| *e == event_type)
            .count()
    }

    pub async fn dead_letters(&self) -> Vec<td_jobs::DeadLetter> {
        self.queue
            .dead_letters(&self.streams.stream, None, 100)
            .await
            .unwrap()
    }

    pub fn placements(&self) -> u64 {
        self.simulator
            .request_count("POST /backoffice/order-groups")
    }
}

/// The family order (several tickets) under id `id`.
pub fn family(id: &str) -> Value {
    let mut v: Value = serde_json::from_str(&FAMILY.replace("DEMO0003", id)).unwrap();
    v["eventId"] = json!(uuid::Uuid::new_v4());
    v
}

/// The zone ticket order under id `id`, valid from `from` to `to`.
pub fn zone(id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    let mut v: Value = serde_json::from_str(&ZONE.replace("DEMO0001", id)).unwrap();
    v["eventId"] = json!(uuid::Uuid::new_v4());
    let line = &mut v["order"]["orderLines"][0];
    line["startOfValidity"] = json!(from.to_rfc3339());
    line["endOfValidity"] = json!(to.to_rfc3339());
    v
}

/// The cancellation of a recorded order event.
pub fn cancelled(event: &Value) -> Value {
    let mut v = event.clone();
    v["type"] = json!("OrderCancelled");
    v["eventId"] = json!(uuid::Uuid::new_v4());
    v
}
