//! Order intake end to end, against the real broker and PostgreSQL with the real
//! order-listener and api-gateway binaries (release build, started as processes).
//!
//! Phase 1, latency: order events produced at a fixed rate (open loop); for each, the time
//! from handing it to the producer until the search endpoint returns its groups (polled
//! every `--poll-ms`). In the same minute and on the same messages, a plain consumer of the
//! order topic measures the broker's own produce→consume time: the floor no intake can beat.
//!
//! Phase 2, throughput: the listener is stopped, a backlog of multi-line orders is produced,
//! the listener is started again, and the time until every group is searchable (and every
//! outbox event published) gives the sustained orders and order lines per second.

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureRecord;
use rdkafka::Message as _;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use td_bench::numbered_order;
use td_e2e::stack::{kafka, Stack};

#[derive(Parser)]
struct Args {
    /// Order events per second in the latency phase.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Length of the latency phase.
    #[arg(long, default_value_t = 20)]
    seconds: u32,
    /// How often the orders still waiting are searched for.
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
    /// Orders in the throughput phase's backlog.
    #[arg(long, default_value_t = 3000)]
    backlog: usize,
    /// Order lines per order in the throughput phase.
    #[arg(long, default_value_t = 5)]
    lines: usize,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn summary(h: &Histogram<u64>) -> String {
    format!(
        "n={} p50={:.1}ms p90={:.1}ms p99={:.1}ms max={:.1}ms",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One poller watches every order: the per-client rate limit would throttle it.
    let mut stack = Stack::start_with(
        false,
        vec![("TD__GATEWAY__RATE_LIMIT_PER_SECOND", "0".to_owned())],
    )
    .await;
    let producer = Stack::producer();
    let topic = stack.topic("order-events");
    let http = reqwest::Client::new();
    let gateway = stack.gateway.clone();

    // The broker's floor: a consumer of the order topic in its own group.
    let produced_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let broker_floor = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let floor_consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("group.id", format!("bench-floor-{}", stack.env))
        .set("auto.offset.reset", "latest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    floor_consumer.subscribe(&[&topic])?;
    // Let the group settle before anything is produced.
    let _ = tokio::time::timeout(Duration::from_secs(5), floor_consumer.recv()).await;
    let floor_task = {
        let produced_at = produced_at.clone();
        let broker_floor = broker_floor.clone();
        tokio::spawn(async move {
            while let Ok(m) = floor_consumer.recv().await {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                let sent = produced_at.lock().unwrap().get(&key).copied();
                if let Some(sent) = sent {
                    let us = sent.elapsed().as_micros() as u64;
                    broker_floor.lock().unwrap().record(us).ok();
                }
            }
        })
    };

    // Warm-up: connections, prepared statements, caches.
    for n in 0..50 {
        let (id, json) = numbered_order("WARM", n, 1);
        send(&producer, &topic, &id, &json).await?;
    }
    wait_total(&http, &gateway, "WARM", 50, Duration::from_secs(60)).await?;

    // Phase 1: open loop at --rate. One observer asks the search endpoint, every --poll-ms,
    // for the orders still waiting (`orderId=in:…`, oldest first), so that watching adds a
    // light, steady load instead of one poller per order.
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let waiting: Arc<Mutex<BTreeMap<(Instant, String), ()>>> = Arc::default();
    let total = (args.rate * args.seconds) as usize;
    let observer = {
        let waiting = waiting.clone();
        let latency = latency.clone();
        let http = http.clone();
        let gateway = gateway.clone();
        let poll = Duration::from_millis(args.poll_ms);
        tokio::spawn(async move {
            let mut seen = 0usize;
            while seen < total {
                let batch: Vec<(Instant, String)> =
                    waiting.lock().unwrap().keys().take(100).cloned().collect();
                if !batch.is_empty() {
                    let ids: Vec<&str> = batch.iter().map(|(_, id)| id.as_str()).collect();
                    let url = format!(
                        "{gateway}/v1/ticket-distribution-groups?orderId=in:{}&perPage=100",
                        ids.join(",")
                    );
                    let body: serde_json::Value = http
                        .get(&url)
                        .header("ET-Client-Name", "intake-bench")
                        .send()
                        .await?
                        .json()
                        .await?;
                    let found: HashSet<&str> = body["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|g| g["orderId"].as_str())
                        .collect();
                    let mut waiting = waiting.lock().unwrap();
                    let mut latency = latency.lock().unwrap();
                    for (sent, id) in &batch {
                        if found.contains(id.as_str()) {
                            waiting.remove(&(*sent, id.clone()));
                            latency.record(sent.elapsed().as_micros() as u64).ok();
                            seen += 1;
                        } else {
                            anyhow::ensure!(
                                sent.elapsed() < Duration::from_secs(60),
                                "{id} never came"
                            );
                        }
                    }
                }
                tokio::time::sleep(poll).await;
            }
            anyhow::Ok(())
        })
    };
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut late_sends = 0usize;
    for n in 0..total {
        ticker.tick().await;
        let (id, json) = numbered_order("LAT", n, 1);
        let sent = Instant::now();
        produced_at.lock().unwrap().insert(id.clone(), sent);
        if let Err((e, _)) = producer.send_result(FutureRecord::to(&topic).key(&id).payload(&json))
        {
            anyhow::bail!("producing: {e}");
        }
        waiting.lock().unwrap().insert((sent, id), ());
        if started.elapsed()
            > Duration::from_secs_f64((n + 1) as f64 / f64::from(args.rate))
                + Duration::from_millis(5)
        {
            late_sends += 1;
        }
    }
    let offered = total as f64 / started.elapsed().as_secs_f64();
    observer.await??;
    floor_task.abort();
    let latency = latency.lock().unwrap().clone();
    let floor = broker_floor.lock().unwrap().clone();
    println!(
        "latency phase: {total} single-line orders at {offered:.0}/s offered ({late_sends} sent more than 5 ms late)"
    );
    println!("  produce → groups searchable: {}", summary(&latency));
    println!("  produce → consumed (broker floor): {}", summary(&floor));
    println!(
        "  ratio p50 intake/floor: {:.2}; p99 intake/floor: {:.2}",
        latency.value_at_quantile(0.5) as f64 / floor.value_at_quantile(0.5).max(1) as f64,
        latency.value_at_quantile(0.99) as f64 / floor.value_at_quantile(0.99).max(1) as f64
    );
    println!(
        "  p99 {:.1} ms (goal < 100 ms at 200 orders/s)",
        ms(latency.value_at_quantile(0.99))
    );

    // Phase 2: a backlog drained by a freshly started listener.
    stack
        .listener
        .take()
        .context("listener running")?
        .terminate(Duration::from_secs(30));
    let mut deliveries = Vec::with_capacity(args.backlog);
    for n in 0..args.backlog {
        let (id, json) = numbered_order("THR", n, args.lines);
        match producer.send_result(FutureRecord::to(&topic).key(&id).payload(&json)) {
            Ok(d) => deliveries.push(d),
            Err((e, _)) => anyhow::bail!("producing: {e}"),
        }
    }
    for d in deliveries {
        d.await?.map_err(|(e, _)| e)?;
    }
    let groups = (args.backlog * args.lines) as u64;
    let db = stack.db.db.clone();
    let started = Instant::now();
    stack.start_listener().await;
    let ready = started.elapsed();
    wait_total(&http, &gateway, "THR", groups, Duration::from_secs(600)).await?;
    let searchable = started.elapsed();
    while td_store::outbox::backlog(&db).await? > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let published = started.elapsed();
    let secs = searchable.as_secs_f64();
    println!(
        "throughput phase: backlog of {} orders × {} lines ({groups} groups, {} events)",
        args.backlog,
        args.lines,
        groups * 2 + args.backlog as u64
    );
    println!(
        "  listener ready after {:.2}s; all groups searchable after {secs:.2}s; all events published after {:.2}s",
        ready.as_secs_f64(),
        published.as_secs_f64()
    );
    println!(
        "  sustained: {:.0} orders/s, {:.0} order lines/s (goal >= 1000 lines/s); events published {:.0}/s",
        args.backlog as f64 / secs,
        groups as f64 / secs,
        (groups * 2 + args.backlog as u64) as f64 / published.as_secs_f64()
    );
    Ok(())
}

async fn send(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    key: &str,
    payload: &str,
) -> anyhow::Result<()> {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}

/// Waits until the search finds `count` groups of orders whose id starts with `prefix`.
async fn wait_total(
    http: &reqwest::Client,
    gateway: &str,
    prefix: &str,
    count: u64,
    within: Duration,
) -> anyhow::Result<()> {
    // Order ids are `<prefix><digits>`; every such id sorts between these two bounds.
    let url = format!(
        "{gateway}/v1/ticket-distribution-groups?orderId=gte:{prefix}0&orderId=lte:{prefix}9&perPage=1"
    );
    let deadline = Instant::now() + within;
    loop {
        let body: serde_json::Value = http
            .get(&url)
            .header("ET-Client-Name", "intake-bench")
            .send()
            .await?
            .json()
            .await?;
        let found = body["totalItems"].as_u64().unwrap_or(0);
        if found >= count {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {found} of {count} {prefix} groups within {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
