//! The distributed system for one test: a fresh PostgreSQL database, topics of its own on
//! the real broker (a unique environment suffix), and the real order-listener and
//! api-gateway binaries.

use crate::{free_addr, wait_ok, Process};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message as _;
use std::collections::BTreeMap;
use std::time::Duration;

/// `env` with the entries of `common` it does not set itself.
fn with_common(
    env: &[(&'static str, String)],
    common: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut all = env.to_vec();
    for (k, v) in common {
        if !all.iter().any(|(key, _)| key == k) {
            all.push((k, v.clone()));
        }
    }
    all
}

pub fn kafka() -> String {
    std::env::var("TD_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn producer_for(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .create()
        .expect("producer")
}

/// A message as read back from the broker.
#[derive(Debug, Clone)]
pub struct Received {
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
    pub partition: i32,
    pub offset: i64,
}

/// How to start a [`Stack`].
#[derive(Default)]
pub struct Options {
    /// Run NOD distribution (the NOD simulator and one nod-distributor).
    pub with_nod: bool,
    /// Settings every process of the stack gets.
    pub common: Vec<(&'static str, String)>,
    /// The broker (`host:port`); the shared test broker ([`kafka`]) when `None`.
    pub kafka: Option<String>,
}

/// A worker of the stack, for killing and restarting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Worker {
    OrderListener,
    NodDistributor,
    ApiGateway,
    PdfRenderer,
    Mailer,
}

impl Worker {
    pub const ALL: [Worker; 5] = [
        Worker::OrderListener,
        Worker::NodDistributor,
        Worker::ApiGateway,
        Worker::PdfRenderer,
        Worker::Mailer,
    ];

    pub fn binary(self) -> &'static str {
        match self {
            Worker::OrderListener => "order-listener",
            Worker::NodDistributor => "nod-distributor",
            Worker::ApiGateway => "api-gateway",
            Worker::PdfRenderer => "pdf-renderer",
            Worker::Mailer => "mailer",
        }
    }
}

pub struct Stack {
    pub env: String,
    /// The broker this stack's processes and readers use (`host:port`).
    pub kafka: String,
    /// The NOD simulator's base URL, when the stack runs NOD distribution.
    pub nod: Option<String>,
    pub nod_processes: Vec<Process>,
    pub distributor_env: Vec<(&'static str, String)>,
    pub db: td_testkit::TestDb,
    pub gateway: String,
    pub listener_env: Vec<(&'static str, String)>,
    pub listener: Option<Process>,
    pub gateway_process: Option<Process>,
    pub pdf_renderer: Option<Process>,
    /// pdf-renderer's gRPC address.
    pub pdf_grpc: String,
    pub mailer: Option<Process>,
    /// The settings the gateway, pdf-renderer and mailer were started with (the mailer's
    /// once started), to start them again the same way.
    gateway_env: Vec<(&'static str, String)>,
    pdf_env: Vec<(&'static str, String)>,
    mailer_env: Vec<(&'static str, String)>,
    /// Settings every process of the stack gets (the internal gRPC token, telemetry).
    pub common_env: Vec<(&'static str, String)>,
    /// Where each process serves `/health/*` and `/metrics` (`host:port`), by binary name;
    /// the latest replica of a worker wins.
    pub health: BTreeMap<&'static str, String>,
}

impl Stack {
    pub fn topic(&self, base: &str) -> String {
        format!("{base}-{}", self.env)
    }

    pub async fn start() -> Self {
        Self::start_with_options(Options::default()).await
    }

    /// The stack with NOD distribution: the NOD simulator and one nod-distributor (jobs on
    /// the real Redis, on streams named after this stack's environment).
    pub async fn start_with_nod() -> Self {
        Self::start_with_options(Options {
            with_nod: true,
            ..Options::default()
        })
        .await
    }

    /// The stack, with NOD distribution or not, where every process also gets `common`.
    pub async fn start_with(with_nod: bool, common: Vec<(&'static str, String)>) -> Self {
        Self::start_with_options(Options {
            with_nod,
            common,
            kafka: None,
        })
        .await
    }

    /// Starts `name` with `env` and the settings every process of this stack shares.
    fn process(&self, name: &str, args: &[&str], env: &[(&'static str, String)]) -> Process {
        Process::start(name, args, &with_common(env, &self.common_env))
    }

    pub async fn start_with_options(options: Options) -> Self {
        let Options {
            with_nod,
            mut common,
            kafka,
        } = options;
        let kafka = kafka.unwrap_or_else(self::kafka);
        let env = format!("e2e{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        // The workers authenticate each other's calls, as they do when deployed.
        common.push((
            "TD__GRPC__TOKEN",
            format!("e2e-{}", uuid::Uuid::new_v4().simple()),
        ));
        let db = td_testkit::postgres().await;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &kafka)
            .create()
            .expect("admin client");
        let topics: Vec<String> = [
            "order-events",
            "order-events-dlq-base",
            "ticket-distribution-group-events",
            "all-ticket-distribution-groups-for-order-version-completed",
        ]
        .iter()
        .map(|b| match *b {
            "order-events-dlq-base" => format!("order-events-{env}-dlq"),
            b => format!("{b}-{env}"),
        })
        .collect();
        let new: Vec<NewTopic> = topics
            .iter()
            .map(|t| NewTopic::new(t, 3, TopicReplication::Fixed(1)))
            .collect();
        for result in admin
            .create_topics(&new, &AdminOptions::new())
            .await
            .expect("create topics")
        {
            result.expect("topic created");
        }

        let listener_env = vec![
            ("TD__ENVIRONMENT", env.clone()),
            ("TD__DATABASE__URL", db.url.clone()),
            ("TD__KAFKA__BOOTSTRAP_SERVERS", kafka.clone()),
            ("TD__KAFKA__CONSUMER_GROUP", format!("order-listener-{env}")),
            ("TD__KAFKA__PRODUCER__BATCH_NUM_MESSAGES", "1".to_owned()),
            // Static group membership, as a Kubernetes pod keeps its name when its container
            // is restarted: a listener restarted after SIGKILL takes its predecessor's place
            // in the group at once. (With dynamic membership the broker in use can leave a
            // dead member as group leader, and the successor then gets no partitions.)
            (
                "TD__KAFKA__CONSUMER__GROUP_INSTANCE_ID",
                "listener-0".to_owned(),
            ),
            (
                "TD__KAFKA__CONSUMER__SESSION_TIMEOUT_MS",
                "10000".to_owned(),
            ),
            // The broker in use holds a fetch for its whole maximum wait even when records
            // are there; a short wait keeps intake latency low.
            ("TD__KAFKA__CONSUMER__FETCH_WAIT_MAX_MS", "10".to_owned()),
            ("TD__ORDER_LISTENER__HEALTH_ADDR", free_addr()),
            ("TD__SHUTDOWN__DRAIN_DEADLINE_MS", "5000".to_owned()),
        ];
        let gateway = free_addr();
        let pdf_grpc = free_addr();
        let pdf_health = free_addr();
        let pdf_env = vec![
            ("TD__DATABASE__URL", db.url.clone()),
            ("TD__PDF_RENDERER__GRPC_ADDR", pdf_grpc.clone()),
            ("TD__PDF_RENDERER__HEALTH_ADDR", pdf_health.clone()),
        ];
        let pdf_env = with_common(&pdf_env, &common);
        let pdf_renderer = Process::start("pdf-renderer", &[], &pdf_env);
        let gateway_ops = free_addr();
        let gateway_env = vec![
            ("TD__DATABASE__URL", db.url.clone()),
            ("TD__GATEWAY__ADDR", gateway.clone()),
            ("TD__GATEWAY__OPS_ADDR", gateway_ops.clone()),
            // The end-to-end tests are about the pipeline; authorisation has tests of its own
            // (api-gateway/tests/auth.rs).
            ("TD__AUTH__MODE", "off".to_owned()),
            // Tests of the timeout should not wait the production default of 20 s.
            ("TD__GATEWAY__PDF_WAIT_MS", "3000".to_owned()),
            ("TD__PDF_RENDERER__GRPC_ADDR", pdf_grpc.clone()),
        ];
        let gateway_env = with_common(&gateway_env, &common);
        let mut nod = None;
        let mut nod_processes = Vec::new();
        let mut distributor_env = Vec::new();
        if with_nod {
            let sim_addr = free_addr();
            nod_processes.push(Process::start("nod-simulator", &["--addr", &sim_addr], &[]));
            let base = format!("http://{sim_addr}");
            wait_ok(&format!("{base}/simulator/faults"), Duration::from_secs(30)).await;
            distributor_env = vec![
                ("TD__ENVIRONMENT", env.clone()),
                ("TD__DATABASE__URL", db.url.clone()),
                ("TD__NOD__BASE_URL", base.clone()),
                ("TD__NOD__RETRY__MAX_ATTEMPTS", "2".to_owned()),
                ("TD__NOD__RETRY__INITIAL_DELAY_MS", "20".to_owned()),
                ("TD__JOBS__RETRY_BASE_MS", "100".to_owned()),
                ("TD__JOBS__MAX_ATTEMPTS", "10".to_owned()),
                ("TD__JOBS__VISIBILITY_TIMEOUT_MS", "5000".to_owned()),
                ("TD__NOD_DISTRIBUTOR__DISPATCH_INTERVAL_MS", "50".to_owned()),
                ("TD__NOD_DISTRIBUTOR__FEED_INTERVAL_MS", "100".to_owned()),
                // While NOD is down a ticket waits at most 2 s between attempts.
                (
                    "TD__NOD_DISTRIBUTOR__UNAVAILABLE_RETRY_MAX_MS",
                    "2000".to_owned(),
                ),
                ("TD__SHUTDOWN__DRAIN_DEADLINE_MS", "5000".to_owned()),
            ];
            nod = Some(base);
        }
        let mut stack = Self {
            env,
            kafka,
            nod,
            nod_processes,
            distributor_env,
            db,
            gateway: format!("http://{gateway}"),
            listener_env,
            listener: None,
            gateway_process: Some(Process::start("api-gateway", &[], &gateway_env)),
            pdf_renderer: Some(pdf_renderer),
            pdf_grpc,
            mailer: None,
            gateway_env,
            pdf_env,
            mailer_env: Vec::new(),
            common_env: common,
            health: BTreeMap::from([
                ("pdf-renderer", pdf_health.clone()),
                ("api-gateway", gateway_ops.clone()),
            ]),
        };
        stack.start_listener().await;
        if with_nod {
            stack.start_distributor().await;
        }
        wait_ok(
            &format!("{}/health/ready", stack.gateway),
            Duration::from_secs(30),
        )
        .await;
        wait_ok(
            &format!("http://{pdf_health}/health/ready"),
            Duration::from_secs(30),
        )
        .await;
        stack
    }

    pub async fn start_listener(&mut self) {
        let process = self.process("order-listener", &[], &self.listener_env);
        let health = self
            .listener_env
            .iter()
            .find(|(k, _)| *k == "TD__ORDER_LISTENER__HEALTH_ADDR")
            .map(|(_, v)| v.clone())
            .expect("health addr");
        self.listener = Some(process);
        self.health.insert("order-listener", health.clone());
        wait_ok(
            &format!("http://{health}/health/ready"),
            Duration::from_secs(30),
        )
        .await;
    }

    /// Starts the mailer against the SMTP server at `smtp_url` (jobs on the real Redis, on a
    /// stream named after this stack's environment), with short retries; `extra` settings
    /// override. Returns when it is ready.
    pub async fn start_mailer(&mut self, smtp_url: &str, extra: &[(&'static str, String)]) {
        let health = free_addr();
        let mut env = vec![
            ("TD__ENVIRONMENT", self.env.clone()),
            ("TD__DATABASE__URL", self.db.url.clone()),
            ("TD__MAILER__SMTP_URL", smtp_url.to_owned()),
            ("TD__MAILER__HEALTH_ADDR", health.clone()),
            ("TD__MAILER__FROM_ADDRESS", "billett@example.org".to_owned()),
            ("TD__MAILER__FROM_NAME", "Billettsalg".to_owned()),
            ("TD__MAILER__DISPATCH_INTERVAL_MS", "50".to_owned()),
            ("TD__MAILER__SEND_TIMEOUT_MS", "5000".to_owned()),
            ("TD__MAILER__CONNECT_TIMEOUT_MS", "2000".to_owned()),
            ("TD__PDF_RENDERER__GRPC_ADDR", self.pdf_grpc.clone()),
            ("TD__GATEWAY__PUBLIC_BASE_URL", self.gateway.clone()),
            ("TD__JOBS__RETRY_BASE_MS", "200".to_owned()),
            ("TD__JOBS__RETRY_MAX_MS", "1000".to_owned()),
            ("TD__JOBS__MAX_ATTEMPTS", "20".to_owned()),
            ("TD__SHUTDOWN__DRAIN_DEADLINE_MS", "5000".to_owned()),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k, v.clone()));
        }
        self.mailer_env = env;
        self.restart(Worker::Mailer).await;
    }

    /// Kills `worker` with SIGKILL, as a crash or an OOM kill would (every replica of the
    /// nod-distributor); `restart` starts it again.
    pub fn kill(&mut self, worker: Worker) {
        let mut killed = Vec::new();
        match worker {
            Worker::OrderListener => killed.extend(self.listener.take()),
            Worker::ApiGateway => killed.extend(self.gateway_process.take()),
            Worker::PdfRenderer => killed.extend(self.pdf_renderer.take()),
            Worker::Mailer => killed.extend(self.mailer.take()),
            Worker::NodDistributor => {
                let (distributors, rest) = std::mem::take(&mut self.nod_processes)
                    .into_iter()
                    .partition(|p| p.name == "nod-distributor");
                self.nod_processes = rest;
                killed = distributors;
            }
        }
        for mut process in killed {
            let _ = process.child().kill();
            let _ = process.child().wait();
        }
    }

    /// Starts `worker` again with the settings it was started with (one nod-distributor);
    /// returns when it is ready.
    pub async fn restart(&mut self, worker: Worker) {
        let health = match worker {
            Worker::OrderListener => return self.start_listener().await,
            Worker::NodDistributor => return self.start_distributor().await,
            Worker::ApiGateway => {
                self.gateway_process = Some(Process::start("api-gateway", &[], &self.gateway_env));
                self.health["api-gateway"].clone()
            }
            Worker::PdfRenderer => {
                self.pdf_renderer = Some(Process::start("pdf-renderer", &[], &self.pdf_env));
                self.health["pdf-renderer"].clone()
            }
            Worker::Mailer => {
                let health = self
                    .mailer_env
                    .iter()
                    .find(|(k, _)| *k == "TD__MAILER__HEALTH_ADDR")
                    .map(|(_, v)| v.clone())
                    .expect("the mailer was started before");
                self.mailer = Some(self.process("mailer", &[], &self.mailer_env));
                self.health.insert("mailer", health.clone());
                health
            }
        };
        wait_ok(
            &format!("http://{health}/health/ready"),
            Duration::from_secs(30),
        )
        .await;
    }

    /// Starts one more nod-distributor replica (health on a port of its own).
    pub async fn start_distributor(&mut self) {
        let health = free_addr();
        let mut env = self.distributor_env.clone();
        env.push(("TD__NOD_DISTRIBUTOR__HEALTH_ADDR", health.clone()));
        let process = self.process("nod-distributor", &[], &env);
        self.nod_processes.push(process);
        self.health.insert("nod-distributor", health.clone());
        wait_ok(
            &format!("http://{health}/health/ready"),
            Duration::from_secs(30),
        )
        .await;
    }

    /// POST a JSON body to the NOD simulator.
    pub async fn nod_post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let base = self.nod.as_ref().expect("a stack with NOD");
        let response = reqwest::Client::new()
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .expect("simulator answers");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// GET from the NOD simulator.
    pub async fn nod_get(&self, path: &str) -> serde_json::Value {
        let base = self.nod.as_ref().expect("a stack with NOD");
        reqwest::get(format!("{base}{path}"))
            .await
            .expect("simulator answers")
            .json()
            .await
            .expect("JSON")
    }

    /// POST a JSON body to a /v1 path on the gateway.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.gateway))
            .header("ET-Client-Name", "e2e-test")
            .json(&body)
            .send()
            .await
            .expect("gateway answers");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Polls the order's groups until every ticket is in `status`; returns the tickets.
    pub async fn wait_for_statuses(
        &self,
        order_id: &str,
        status: &str,
        within: Duration,
    ) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (_, body) = self
                .get(&format!(
                    "/v1/ticket-distribution-groups?orderId={order_id}&perPage=100"
                ))
                .await;
            let tickets: Vec<serde_json::Value> = body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| {
                    g["ticketDistributions"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            if !tickets.is_empty() && tickets.iter().all(|t| t["status"] == status) {
                return tickets;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {order_id}: not every ticket {status} within {within:?}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A producer as any outside client would configure it against the shared test broker.
    pub fn producer() -> FutureProducer {
        producer_for(&kafka())
    }

    /// A producer as any outside client would configure it against this stack's broker.
    pub fn kafka_producer(&self) -> FutureProducer {
        producer_for(&self.kafka)
    }

    pub async fn produce(&self, producer: &FutureProducer, key: &str, payload: &[u8]) {
        self.produce_with_headers(producer, key, payload, &[]).await;
    }

    /// Produces an order event with message headers (e.g. a `traceparent`).
    pub async fn produce_with_headers(
        &self,
        producer: &FutureProducer,
        key: &str,
        payload: &[u8],
        headers: &[(&str, &str)],
    ) {
        let topic = self.topic("order-events");
        let mut owned = rdkafka::message::OwnedHeaders::new();
        for (k, v) in headers {
            owned = owned.insert(rdkafka::message::Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        producer
            .send(
                FutureRecord::to(&topic)
                    .key(key)
                    .payload(payload)
                    .headers(owned),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce order event");
    }

    /// Reads `topic` from the beginning until `count` messages arrived or `within` passed.
    pub async fn read(&self, topic: &str, count: usize, within: Duration) -> Vec<Received> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.kafka)
            .set(
                "group.id",
                format!("reader-{}", uuid::Uuid::new_v4().simple()),
            )
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while out.len() < count {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => {
                    let headers = m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    (
                                        h.key.to_owned(),
                                        String::from_utf8_lossy(h.value.unwrap_or_default())
                                            .into_owned(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push(Received {
                        key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                        payload: m.payload().unwrap_or_default().to_vec(),
                        headers,
                        partition: m.partition(),
                        offset: m.offset(),
                    });
                }
                Ok(Err(e)) => panic!("reading {topic}: {e}"),
                Err(_) => break,
            }
        }
        out
    }

    /// GET a /v1 path on the gateway as JSON.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.gateway))
            .header("ET-Client-Name", "e2e-test")
            .send()
            .await
            .expect("gateway answers");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn post(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.gateway))
            .header("ET-Client-Name", "e2e-test")
            .send()
            .await
            .expect("gateway answers");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Polls the search endpoint until the order has `groups` groups.
    pub async fn wait_for_groups(
        &self,
        order_id: &str,
        groups: u64,
        within: Duration,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (_, body) = self
                .get(&format!(
                    "/v1/ticket-distribution-groups?orderId={order_id}&perPage=100"
                ))
                .await;
            if body["totalItems"].as_u64() == Some(groups) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {order_id} did not get {groups} groups within {within:?}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
