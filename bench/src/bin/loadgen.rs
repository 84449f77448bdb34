//! A small HTTP/1.1 load generator: `connections` keep-alive connections send GET requests
//! for `duration`, either as fast as answers come back (closed loop) or at a fixed total
//! `rate` (open loop, latency counted from each request's scheduled time so that a stall
//! is not hidden). Prints one line: `rps=… p50_us=… p99_us=… max_us=… errors=…`.

use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// Host and port, e.g. 127.0.0.1:8080.
    #[arg(long)]
    addr: String,
    #[arg(long)]
    path: String,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Total requests per second; absent = as fast as possible.
    #[arg(long)]
    rate: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread: the generator's own cost is the same for every server it measures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let duration = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.connections {
        let args_addr = args.addr.clone();
        let path = args.path.clone();
        let histogram = Arc::clone(&histogram);
        let errors = Arc::clone(&errors);
        let interval = args
            .rate
            .map(|r| Duration::from_secs_f64(args.connections as f64 / r));
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&args_addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            // Spread open-loop connections over one interval so they do not fire together.
            let mut next =
                interval.map(|iv| started + iv.mul_f64(i as f64 / args.connections as f64));
            while started.elapsed() < duration {
                let scheduled = match (next, interval) {
                    (Some(at), Some(iv)) => {
                        tokio::time::sleep_until(at.into()).await;
                        next = Some(at + iv);
                        at
                    }
                    _ => Instant::now(),
                };
                let req = Request::get(path.as_str())
                    .header("host", args_addr.as_str())
                    .header("et-client-name", "bench-loadgen")
                    .body(Empty::<Bytes>::new())?;
                match sender.send_request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        if !ok {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        let us = scheduled.elapsed().as_micros().max(1) as u64;
                        local.record(us.min(60_000_000))?;
                    }
                    Err(_) => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                }
            }
            histogram
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .add(&local)?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let h = histogram.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    println!(
        "rps={:.0} p50_us={} p99_us={} max_us={} requests={} errors={}",
        h.len() as f64 / elapsed,
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.max(),
        h.len(),
        errors.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}
