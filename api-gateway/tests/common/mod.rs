#![allow(dead_code)]

use chrono::Utc;
use std::net::SocketAddr;
use td_settings::Settings;
use td_store::record::{record_order_event, Origin};
use td_store::DatabaseConnection;
use td_store::TransactionTrait;
use tokio_util::sync::CancellationToken;

pub const EXAMPLES: &[&str] = &[
    include_str!("../../../examples/orders/zone-ticket.json"),
    include_str!("../../../examples/orders/rail-with-change.json"),
    include_str!("../../../examples/orders/family-with-supplement.json"),
];

pub struct TestApp {
    pub addr: SocketAddr,
    /// The operations port (`/health/*`, `/metrics`).
    pub ops: SocketAddr,
    pub db: DatabaseConnection,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET with the client name every /v1 call needs.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("ET-Client-Name", "test-suite")
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        let body = response.json().await.expect("json body");
        (status, body)
    }

    pub async fn record(&self, json: &str) {
        let event = td_domain::parse_order_event(json.as_bytes()).expect("valid order");
        let txn = self.db.begin().await.unwrap();
        record_order_event(&txn, &event, &Origin::default(), Utc::now())
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }
}

pub async fn spawn_with(db: DatabaseConnection) -> TestApp {
    spawn_with_env(db, &[]).await
}

/// The gateway without authorisation, with `env` on top of the tests' settings.
pub async fn spawn_with_env(db: DatabaseConnection, env: &[(&str, &str)]) -> TestApp {
    // Later entries win: `env` overrides the tests' settings.
    let settings: Vec<(String, String)> = [
        ("TD__GATEWAY__ADDR", "127.0.0.1:0"),
        ("TD__GATEWAY__OPS_ADDR", "127.0.0.1:0"),
        // Long enough that only an invalidation can explain a fresh answer.
        ("TD__GATEWAY__STATUS_CACHE_TTL_MS", "600000"),
        // The generated-request tests call fast; the limit has its own test (auth.rs).
        ("TD__GATEWAY__RATE_LIMIT_PER_SECOND", "0"),
    ]
    .iter()
    .chain(env)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = Settings::load_from(None, settings).unwrap();
    let app = api_gateway::App::build_with_db(&settings.gateway, db.clone())
        .await
        .unwrap();
    serve(app, db)
}

/// Runs `app` until the returned `TestApp` is dropped.
fn serve(app: api_gateway::App, db: DatabaseConnection) -> TestApp {
    let addr = app.local_addr();
    let ops = app.ops_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        addr,
        ops,
        db,
        client: reqwest::Client::new(),
        shutdown,
    }
}

/// The gateway with authorisation on, its `TD__AUTH__*` settings from `auth`.
pub async fn spawn_with_auth(db: DatabaseConnection, auth: &[(&str, &str)]) -> TestApp {
    let mut env: Vec<(String, String)> = vec![
        ("TD__GATEWAY__ADDR".into(), "127.0.0.1:0".into()),
        ("TD__GATEWAY__OPS_ADDR".into(), "127.0.0.1:0".into()),
        // The tests send many refused tokens on purpose; the limit on them has its own test.
        (
            "TD__GATEWAY__RATE_LIMIT_UNAUTHENTICATED_PER_SECOND".into(),
            "0".into(),
        ),
    ];
    env.extend(auth.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::load_from(None, env).unwrap();
    let authoriser = api_gateway::auth::Authoriser::from_settings(&settings.auth)
        .await
        .unwrap();
    assert!(authoriser.is_some(), "authorisation is on");
    let app = api_gateway::App::build_with(
        &settings.gateway,
        authoriser,
        db.clone(),
        api_gateway::Upstreams::from_settings(&settings).unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    serve(app, db)
}

pub async fn spawn_postgres() -> TestApp {
    spawn_with(td_testkit::postgres().await.db).await
}

pub async fn spawn_sqlite() -> TestApp {
    spawn_with(td_testkit::sqlite().await.db).await
}
