//! The consuming side every worker shares: keep a bounded number of jobs in flight, take a
//! new one as soon as one ends, and at shutdown take no more and let those in flight finish.

use crate::{Delivery, JobQueue};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Which stream a worker reads, as which group and consumer, and how many jobs it holds at once.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub stream: String,
    pub group: String,
    /// Unique among live replicas: a lease belongs to a consumer name.
    pub name: String,
    /// Jobs handled at once.
    pub concurrency: usize,
}

/// Runs `handle` for every job leased from `queue`, with at most `consumer.concurrency` in
/// flight, until `shutdown`; then waits until every job in flight has been handled.
/// `handle` settles the delivery itself (ack, retry or fail); one that does not leaves the
/// job to be reclaimed after the visibility timeout.
pub async fn consume<F, Fut>(
    queue: Arc<dyn JobQueue>,
    consumer: Consumer,
    shutdown: CancellationToken,
    handle: F,
) where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let concurrency = consumer.concurrency.max(1);
    let sampling = tokio::spawn(sample_depth(
        queue.clone(),
        consumer.clone(),
        shutdown.clone(),
    ));
    let handle = Arc::new(handle);
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    loop {
        // Wait for a free slot, then ask for as many jobs as there are free slots.
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let free = slots.available_permits() + 1;
        let received = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = queue.receive(
                &consumer.stream,
                &consumer.group,
                &consumer.name,
                free,
                Duration::from_secs(1),
            ) => r,
        };
        let deliveries = match received {
            Ok(d) => d,
            Err(err) => {
                tracing::warn!(error = %err, stream = %consumer.stream, "receiving jobs failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut first = Some(first);
        for delivery in deliveries {
            let permit = match first.take() {
                Some(p) => p,
                None => match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                handle(delivery).await;
                drop(permit);
            });
        }
    }
    // Drain: every slot back means every job in flight has been handled.
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    let _ = sampling.await;
}

/// How often the queue's depth is read for the metrics.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Publishes the stream's depth by state and its dead letters as gauges until `shutdown`.
async fn sample_depth(queue: Arc<dyn JobQueue>, consumer: Consumer, shutdown: CancellationToken) {
    loop {
        match queue.stats(&consumer.stream, &consumer.group).await {
            Ok(stats) => {
                for (state, n) in [
                    ("ready", stats.ready),
                    ("pending", stats.pending),
                    ("delayed", stats.delayed),
                ] {
                    metrics::gauge!("td_job_queue_depth", "stream" => consumer.stream.clone(), "state" => state)
                        .set(n as f64);
                }
                metrics::gauge!("td_job_dead_letters", "stream" => consumer.stream.clone())
                    .set(stats.dead as f64);
            }
            Err(err) => {
                tracing::debug!(error = %err, stream = %consumer.stream, "reading queue depth failed")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
    }
}
