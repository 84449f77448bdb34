//! Benchmarks that need more than one process: servers to measure and a load generator
//! that runs beside them. Run through the scripts in `scripts/bench-*`.

use anyhow::Context;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use td_store::sea_orm::ConnectionTrait;
use tokio_util::sync::CancellationToken;

/// The demo order with legs that benchmarks copy.
const TEMPLATE: &str = include_str!("../../examples/orders/rail-with-change.json");

/// Order event `<prefix><n>` (a valid CONFIRMED order, version 1, with a fresh event id and
/// `lines` order lines, each a copy of the template's line with ids of its own), as
/// `(order id, JSON)`.
pub fn numbered_order(prefix: &str, n: usize, lines: usize) -> (String, String) {
    let id = format!("{prefix}{n:07}");
    let template: Value = serde_json::from_str(TEMPLATE).expect("the template parses");
    let template_id = template["order"]["id"]
        .as_str()
        .expect("the template has an order id")
        .to_owned();
    let mut event: Value =
        serde_json::from_str(&TEMPLATE.replace(&template_id, &id)).expect("still JSON");
    let line = event["order"]["orderLines"][0].to_string();
    event["order"]["orderLines"] = (1..=lines)
        .map(|i| {
            let copy = line
                .replace(&format!("{id}-L1"), &format!("{id}-L{i}"))
                .replace(&format!("{id}-FP"), &format!("{id}-L{i}-FP"));
            serde_json::from_str::<Value>(&copy).expect("still JSON")
        })
        .collect::<Vec<Value>>()
        .into();
    event["eventId"] = json!(uuid::Uuid::new_v4());
    event["correlationId"] = json!(format!("bench-{id}"));
    (id, event.to_string())
}

/// The resident memory (VmRSS) of process `pid`, in KiB.
pub fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// KiB as MiB.
pub fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Samples a process's resident memory every 100 ms in the background, keeping the peak.
pub struct RssSampler {
    stop: CancellationToken,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let stop = CancellationToken::new();
        let peak = Arc::new(AtomicU64::new(rss_kb(pid).unwrap_or(0)));
        let task = tokio::spawn({
            let stop = stop.clone();
            let peak = peak.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                let mut samples = 0u64;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return samples,
                        _ = tick.tick() => {}
                    }
                    if let Ok(kb) = rss_kb(pid) {
                        peak.fetch_max(kb, Ordering::Relaxed);
                        samples += 1;
                    }
                }
            }
        });
        Self { stop, peak, task }
    }

    /// Stops sampling; returns the peak in KiB and how many samples were taken.
    pub async fn stop(self) -> (u64, u64) {
        self.stop.cancel();
        let samples = self.task.await.unwrap_or(0);
        (self.peak.load(Ordering::Relaxed), samples)
    }
}

/// Starts the real pdf-renderer binary on the database at `db_url`; returns it, once
/// ready, with its gRPC address.
pub async fn start_pdf_renderer(db_url: &str) -> (td_e2e::Process, String) {
    let grpc = td_e2e::free_addr();
    let health = td_e2e::free_addr();
    let process = td_e2e::Process::start(
        "pdf-renderer",
        &[],
        &[
            ("TD__DATABASE__URL", db_url.to_owned()),
            ("TD__PDF_RENDERER__GRPC_ADDR", grpc.clone()),
            ("TD__PDF_RENDERER__HEALTH_ADDR", health.clone()),
            ("TD__AUTH__MODE", "off".to_owned()),
        ],
    );
    td_e2e::wait_ok(
        &format!("http://{health}/health/ready"),
        Duration::from_secs(30),
    )
    .await;
    (process, grpc)
}

/// Drops a benchmark's database once the processes using it have stopped.
pub async fn drop_database(test_db: td_testkit::TestDb) -> anyhow::Result<()> {
    let name = test_db
        .url
        .rsplit_once('/')
        .map(|(_, name)| name.to_owned())
        .context("a database URL ends with its name")?;
    test_db.db.close().await?;
    let admin = td_store::connect(
        &td_testkit::postgres_admin_url(),
        1,
        Duration::from_secs(10),
        None,
    )
    .await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_orders_are_valid_and_have_the_asked_lines() {
        for lines in [1, 5] {
            let (id, json) = numbered_order("T", 42, lines);
            assert_eq!(id, "T0000042");
            let event = td_domain::parse_order_event(json.as_bytes()).unwrap();
            assert_eq!(event.order.id.0, id);
            assert_eq!(event.order.order_lines.len(), lines);
            let plan = td_domain::generation::plan_version(&event.order, false, &[]);
            assert_eq!(plan.create.len(), lines);
        }
    }
}
