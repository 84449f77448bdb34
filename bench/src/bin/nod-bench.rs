//! NOD distribution throughput: tickets placed per second by the distributor (dispatcher,
//! jobs on the real Redis, workers, transitions with outbox events in the real PostgreSQL)
//! against the NOD simulator over HTTP, at 0 ms and at `--latency-ms` NOD latency. Beside
//! each, the baseline of the same minute: the NOD client alone placing as many tickets with
//! the same concurrency (what NOD itself allows), and the ratio of the two.

use clap::Parser;
use futures::stream::{self, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use td_bench::numbered_order;
use td_jobs::{JobQueue, QueueConfig, RedisQueue};
use td_nod::{Faults, Nod, NodClient, NodClientSettings, Order, PlaceRequest, Simulator};
use td_store::entity::ticket_distribution as td;
use td_store::record::{record_order_event, Origin};
use td_store::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Orders per run (each has `--lines` tickets).
    #[arg(long, default_value_t = 400)]
    orders: usize,
    #[arg(long, default_value_t = 5)]
    lines: usize,
    /// NOD latency of the second run.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Jobs at once (`TD__NOD_DISTRIBUTOR__CONCURRENCY`).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The distributor's database pool (`TD__DATABASE__MAX_CONNECTIONS`; 20 is what the
    /// README recommends for nod-distributor).
    #[arg(long, default_value_t = 20)]
    db_connections: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let redis = std::env::var("TD_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    for latency in [0, args.latency_ms] {
        let tickets = args.orders * args.lines;
        let baseline = baseline(tickets, latency, args.concurrency).await?;
        let rate = distributor(&args, &redis, latency).await?;
        println!(
            "NOD latency {latency} ms: {tickets} tickets; distributor {rate:.0} tickets/s; \
             NOD client alone {baseline:.0} placements/s; ratio {:.2}",
            rate / baseline
        );
        if latency > 0 {
            println!("  goal at 50 ms: >= 500 tickets/s");
        }
    }
    Ok(())
}

async fn simulator(latency_ms: u64) -> anyhow::Result<(td_nod::RunningSimulator, NodClient)> {
    let sim = Simulator::new();
    sim.set_faults(Faults {
        latency_ms,
        ..Faults::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let running = sim.serve("127.0.0.1:0".parse()?).await?;
    let settings = NodClientSettings {
        base_url: running.base_url(),
        ..NodClientSettings::default()
    };
    let client = NodClient::new(&settings)?;
    Ok((running, client))
}

/// The NOD client alone: `count` placements, `concurrency` at a time.
async fn baseline(count: usize, latency_ms: u64, concurrency: usize) -> anyhow::Result<f64> {
    let (running, client) = simulator(latency_ms).await?;
    let started = Instant::now();
    let now = chrono::Utc::now();
    let results: Vec<_> = stream::iter(0..count)
        .map(|_| {
            let client = &client;
            async move {
                client
                    .place(&PlaceRequest {
                        client_reference: uuid::Uuid::new_v4().to_string(),
                        orders: vec![Order::mobile_single_ticket(b"bench")],
                        valid_from: now,
                        valid_to: now + chrono::Duration::days(1),
                    })
                    .await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let rate = count as f64 / started.elapsed().as_secs_f64();
    for r in results {
        r?;
    }
    running.shutdown().await?;
    Ok(rate)
}

/// The distributor placing every ticket of `--orders` recorded orders.
async fn distributor(args: &Args, redis: &str, latency_ms: u64) -> anyhow::Result<f64> {
    let db = td_testkit::postgres().await;
    for n in 0..args.orders {
        let (_, json) = numbered_order("NB", n, args.lines);
        let event = td_domain::parse_order_event(json.as_bytes())?;
        record_order_event(&db.db, &event, &Origin::default(), chrono::Utc::now()).await?;
    }
    let tickets = (args.orders * args.lines) as u64;
    let (running, client) = simulator(latency_ms).await?;
    let queue: Arc<dyn JobQueue> =
        Arc::new(RedisQueue::connect(redis, QueueConfig::default()).await?);
    let mut settings = td_settings::Settings::load_from(None, std::iter::empty())?.nod_distributor;
    settings.concurrency = args.concurrency;
    settings.dispatch_interval_ms = 20;
    let pool =
        td_store::connect(&db.url, args.db_connections, Duration::from_secs(5), None).await?;
    let distributor = nod_distributor::Distributor {
        db: pool,
        queue,
        nod: Arc::new(client),
        streams: nod_distributor::streams(&format!("bench{}", uuid::Uuid::new_v4().simple())),
        settings,
        consumer: "bench".to_owned(),
    };
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let running_distributor = tokio::spawn(distributor.run(shutdown.clone()));
    loop {
        let done = td::Entity::find()
            .filter(td::Column::Status.eq("DISTRIBUTED"))
            .count(&db.db)
            .await?;
        if done >= tickets {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "only {done} of {tickets} distributed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = tickets as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    running_distributor.await?;
    running.shutdown().await?;
    Ok(rate)
}
