//! One contract suite for both queues: every behaviour below runs against `RedisQueue` on a
//! real Redis (`TD_TEST_REDIS`, a URL or host:port, default 127.0.0.1:6379) and against
//! `InMemoryQueue`, so the embedded default keeps production's semantics.
//!
//! Timeouts are milliseconds so the suite stays fast; every wait polls against a deadline
//! and asserts bounds measured from before the cause, so a slow machine makes a test
//! slower, never red.

use std::collections::HashSet;
use std::time::Duration;
use td_jobs::{
    DeadLetter, Delivery, Enqueued, InMemoryQueue, Job, JobError, JobQueue, QueueConfig,
    RedisQueue, RetryOutcome,
};
use tokio::time::Instant;

const GROUP: &str = "workers";
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
/// How long a test waits for something that should happen, at most.
const PATIENCE: Duration = Duration::from_secs(10);
/// Redis keeps time in whole milliseconds; a due time may round down by one.
const CLOCK_SLACK: Duration = Duration::from_millis(2);

#[derive(Clone, Copy)]
enum Backend {
    Redis,
    InMemory,
}

/// A queue under test and a stream of its own; removes the stream's keys when dropped.
struct Fixture {
    queue: Box<dyn JobQueue>,
    stream: String,
    redis_cleanup: Option<(String, String)>,
}

fn redis_url() -> String {
    let target = std::env::var("TD_TEST_REDIS").unwrap_or_else(|_| "127.0.0.1:6379".into());
    if target.contains("://") {
        target
    } else {
        format!("redis://{target}")
    }
}

/// Milliseconds everywhere, so that the suite runs in seconds.
fn fast() -> QueueConfig {
    QueueConfig {
        retry_base_ms: 400,
        retry_max_ms: 2_000,
        max_attempts: 3,
        visibility_timeout_ms: 300,
        ..QueueConfig::default()
    }
}

impl Backend {
    async fn fixture(self, config: QueueConfig) -> Fixture {
        let prefix = format!("jobs-contract:{}", uuid::Uuid::new_v4().simple());
        let stream = format!("{prefix}:work");
        match self {
            Backend::Redis => {
                let url = redis_url();
                let queue = RedisQueue::connect(&url, config)
                    .await
                    .expect("Redis is reachable (TD_TEST_REDIS)");
                Fixture {
                    queue: Box::new(queue),
                    stream,
                    redis_cleanup: Some((url, prefix)),
                }
            }
            Backend::InMemory => Fixture {
                queue: Box::new(InMemoryQueue::new(config).unwrap()),
                stream,
                redis_cleanup: None,
            },
        }
    }
}

impl Drop for Fixture {
    /// Synchronous on purpose: it also runs when a test panics.
    fn drop(&mut self) {
        let Some((url, prefix)) = &self.redis_cleanup else {
            return;
        };
        let Ok(mut conn) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let mut cursor = 0u64;
        loop {
            let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
            else {
                return;
            };
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

fn job(n: u32) -> Job {
    Job::new("test.work", serde_json::json!({ "n": n })).with_traceparent(TRACEPARENT)
}

/// Receives for `consumer` until `want` jobs came or `PATIENCE` ran out.
async fn receive_until(f: &Fixture, consumer: &str, want: usize) -> Vec<Delivery> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        let batch = f
            .queue
            .receive(
                &f.stream,
                GROUP,
                consumer,
                want - got.len(),
                Duration::from_millis(100),
            )
            .await
            .unwrap();
        got.extend(batch);
    }
    got
}

/// Asserts that `consumer` receives nothing for `span`.
async fn assert_nothing_for(f: &Fixture, consumer: &str, span: Duration) {
    let until = Instant::now() + span;
    while Instant::now() < until {
        let batch = f
            .queue
            .receive(&f.stream, GROUP, consumer, 10, Duration::from_millis(50))
            .await
            .unwrap();
        assert!(batch.is_empty(), "unexpected delivery: {batch:?}");
    }
}

async fn dead_letters(f: &Fixture) -> Vec<DeadLetter> {
    f.queue.dead_letters(&f.stream, None, 100).await.unwrap()
}

async fn an_acked_job_is_not_delivered_again(backend: Backend) {
    let f = backend.fixture(fast()).await;
    let sent = job(1);
    assert_eq!(
        f.queue.enqueue(&f.stream, &sent).await.unwrap(),
        Enqueued::Added
    );
    assert_eq!(f.queue.stats(&f.stream, GROUP).await.unwrap().ready, 1);

    let got = receive_until(&f, "c1", 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job, sent);
    assert_eq!(got[0].deliveries, 1);
    assert_eq!(f.queue.stats(&f.stream, GROUP).await.unwrap().pending, 1);
    f.queue.ack(&got[0]).await.unwrap();

    // Longer than the visibility timeout: an acked job is not reclaimed either.
    assert_nothing_for(&f, "c2", Duration::from_millis(600)).await;
    let stats = f.queue.stats(&f.stream, GROUP).await.unwrap();
    assert_eq!(stats.depth(), 0, "{stats:?}");
    assert_eq!(stats.dead, 0);
}

async fn trace_context_and_payload_survive_the_round_trip(backend: Backend) {
    let f = backend.fixture(fast()).await;
    let traced = Job::new(
        "mail.send",
        serde_json::json!({ "to": "Åse <ase@example.no>", "pdfs": [1, 2], "note": "line\nbreak" }),
    )
    .with_traceparent(TRACEPARENT);
    let untraced = Job::new("mail.send", serde_json::json!(null));
    f.queue.enqueue(&f.stream, &traced).await.unwrap();
    f.queue.enqueue(&f.stream, &untraced).await.unwrap();

    let got = receive_until(&f, "c1", 2).await;
    let jobs: Vec<&Job> = got.iter().map(|d| &d.job).collect();
    assert_eq!(jobs, [&traced, &untraced], "in order, field for field");
    assert_eq!(got[0].job.traceparent.as_deref(), Some(TRACEPARENT));
    assert_eq!(got[1].job.traceparent, None);
}

async fn consumers_of_one_group_get_distinct_jobs(backend: Backend) {
    let f = backend.fixture(fast()).await;
    let sent: Vec<Job> = (0..10).map(job).collect();
    for j in &sent {
        f.queue.enqueue(&f.stream, j).await.unwrap();
    }
    let block = Duration::from_millis(200);
    let (a, b) = tokio::join!(
        f.queue.receive(&f.stream, GROUP, "c1", 4, block),
        f.queue.receive(&f.stream, GROUP, "c2", 4, block),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 8, "both batches full");
    let rest = receive_until(&f, "c3", 2).await;

    let mut seen = HashSet::new();
    for d in a.iter().chain(&b).chain(&rest) {
        assert!(
            seen.insert(d.job.id.clone()),
            "{} handed out twice",
            d.job.id
        );
    }
    let expected: HashSet<String> = sent.iter().map(|j| j.id.clone()).collect();
    assert_eq!(seen, expected);
    assert_eq!(f.queue.stats(&f.stream, GROUP).await.unwrap().pending, 10);
}

async fn receive_hands_out_at_most_max(backend: Backend) {
    let f = backend.fixture(fast()).await;
    for n in 0..5 {
        f.queue.enqueue(&f.stream, &job(n)).await.unwrap();
    }
    let none = f
        .queue
        .receive(&f.stream, GROUP, "c1", 0, Duration::from_millis(50))
        .await
        .unwrap();
    assert!(none.is_empty());
    let two = f
        .queue
        .receive(&f.stream, GROUP, "c1", 2, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(two.len(), 2);
    let rest = receive_until(&f, "c1", 3).await;
    assert_eq!(rest.len(), 3);
    let ns: Vec<u64> = two
        .iter()
        .chain(&rest)
        .map(|d| d.job.payload["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, [0, 1, 2, 3, 4], "oldest first");
}

async fn an_empty_receive_waits_for_its_timeout_and_wakes_for_a_new_job(backend: Backend) {
    let f = backend.fixture(fast()).await;
    let start = Instant::now();
    let none = f
        .queue
        .receive(&f.stream, GROUP, "c1", 10, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(start.elapsed() < PATIENCE);

    let start = Instant::now();
    let (got, _) = tokio::join!(
        f.queue
            .receive(&f.stream, GROUP, "c1", 10, Duration::from_secs(30)),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            f.queue.enqueue(&f.stream, &job(1)).await.unwrap();
        },
    );
    assert_eq!(got.unwrap().len(), 1);
    assert!(
        start.elapsed() < PATIENCE,
        "woke for the job, not the timeout"
    );
}

async fn a_crashed_consumers_job_is_reclaimed_after_the_visibility_timeout(backend: Backend) {
    let f = backend.fixture(fast()).await;
    let sent = job(1);
    f.queue.enqueue(&f.stream, &sent).await.unwrap();
    let leased_at = Instant::now();
    let crashed = receive_until(&f, "crashed", 1).await.remove(0);

    let taken = receive_until(&f, "survivor", 1).await;
    assert_eq!(taken.len(), 1, "reclaimed within {PATIENCE:?}");
    assert!(
        leased_at.elapsed() + CLOCK_SLACK >= Duration::from_millis(300),
        "not before the visibility timeout"
    );
    let taken = &taken[0];
    assert_eq!(taken.job, sent);
    assert_eq!(taken.entry_id, crashed.entry_id);
    assert_eq!(taken.deliveries, 2);

    // The consumer that went silent has lost the job and cannot settle it.
    assert!(matches!(
        f.queue.ack(&crashed).await,
        Err(JobError::LeaseLost { .. })
    ));
    assert!(matches!(
        f.queue.retry(&crashed, "late").await,
        Err(JobError::LeaseLost { .. })
    ));
    f.queue.ack(taken).await.unwrap();
    let stats = f.queue.stats(&f.stream, GROUP).await.unwrap();
    assert_eq!((stats.depth(), stats.dead), (0, 0), "{stats:?}");
}

async fn a_job_that_keeps_crashing_its_consumers_is_dead_lettered(backend: Backend) {
    let f = backend
        .fixture(QueueConfig {
            max_attempts: 2,
            visibility_timeout_ms: 150,
            ..fast()
        })
        .await;
    let sent = job(1);
    f.queue.enqueue(&f.stream, &sent).await.unwrap();
    assert_eq!(receive_until(&f, "first", 1).await[0].deliveries, 1);
    assert_eq!(receive_until(&f, "second", 1).await[0].deliveries, 2);

    // A third lease would exceed max_attempts: the next receive dead-letters instead.
    let deadline = Instant::now() + PATIENCE;
    while dead_letters(&f).await.is_empty() && Instant::now() < deadline {
        let batch = f
            .queue
            .receive(&f.stream, GROUP, "third", 10, Duration::from_millis(50))
            .await
            .unwrap();
        assert!(batch.is_empty(), "handed out again: {batch:?}");
    }
    let dead = dead_letters(&f).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job, sent);
    assert!(dead[0].error.contains("abandoned"), "{}", dead[0].error);
    assert_eq!(f.queue.stats(&f.stream, GROUP).await.unwrap().depth(), 0);
}

async fn a_retried_job_waits_its_backoff_and_comes_back_with_the_next_attempt(backend: Backend) {
    let f = backend.fixture(fast()).await;
    let sent = job(1);
    f.queue.enqueue(&f.stream, &sent).await.unwrap();
    let first = receive_until(&f, "c1", 1).await.remove(0);
    assert_eq!(first.job.attempt, 1);

    let failed_at = Instant::now();
    let outcome = f.queue.retry(&first, "NOD unavailable").await.unwrap();
    let RetryOutcome::Scheduled { attempt, delay } = outcome else {
        panic!("expected a retry, got {outcome:?}");
    };
    assert_eq!(attempt, 2);
    // retry_base_ms 400, jittered into its upper half.
    assert!(
        (Duration::from_millis(200)..=Duration::from_millis(400)).contains(&delay),
        "{delay:?}"
    );
    let stats = f.queue.stats(&f.stream, GROUP).await.unwrap();
    assert_eq!((stats.delayed, stats.pending, stats.ready), (1, 0, 0));

    let again = receive_until(&f, "c2", 1).await;
    assert_eq!(again.len(), 1, "came back within {PATIENCE:?}");
    assert!(
        failed_at.elapsed() + CLOCK_SLACK >= delay,
        "came back after {:?}, before its delay {delay:?}",
        failed_at.elapsed()
    );
    let again = &again[0];
    assert_eq!(again.job.attempt, 2);
    assert_eq!(again.deliveries, 1);
    assert_eq!(
        Job {
            attempt: 1,
            ..again.job.clone()
        },
        sent,
        "the same job, same id, payload and trace context"
    );
    assert_eq!(f.queue.stats(&f.stream, GROUP).await.unwrap().delayed, 0);
}

async fn after_the_last_attempt_a_job_is_a_dead_letter_with_its_error(backend: Backend) {
    let f = backend
        .fixture(QueueConfig {
            retry_base_ms: 20,
            retry_max_ms: 40,
            ..fast()
        })
        .await;
    let sent = job(7);
    f.queue.enqueue(&f.stream, &sent).await.unwrap();
    for attempt in 1..=3 {
        let got = receive_until(&f, "c1", 1).await;
        assert_eq!(got.len(), 1, "attempt {attempt} delivered");
        assert_eq!(got[0].job.attempt, attempt);
        let outcome = f
            .queue
            .retry(&got[0], &format!("boom {attempt}"))
            .await
            .unwrap();
        if attempt < 3 {
            assert!(matches!(outcome, RetryOutcome::Scheduled { .. }));
        } else {
            assert_eq!(outcome, RetryOutcome::DeadLettered);
        }
    }

    let dead = dead_letters(&f).await;
    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(letter.error, "boom 3", "the last error");
    assert_eq!(letter.group, GROUP);
    assert_eq!(letter.job.attempt, 3);
    assert_eq!(letter.job.payload, sent.payload);
    assert_eq!(letter.job.id, sent.id);
    assert_eq!(letter.job.traceparent.as_deref(), Some(TRACEPARENT));
    let stats = f.queue.stats(&f.stream, GROUP).await.unwrap();
    assert_eq!((stats.depth(), stats.dead), (0, 1), "{stats:?}");
    assert_nothing_for(&f, "c1", Duration::from_millis(200)).await;
}

async fn a_failed_job_goes_straight_to_the_dead_letters(backend: Backend) {
    let f = backend.fixture(fast()).await;
    for n in 0..3 {
        f.queue.enqueue(&f.stream, &job(n)).await.unwrap();
    }
    for d in receive_until(&f, "c1", 3).await {
        let error = format!("unknown product in job {}", d.job.payload["n"]);
        f.queue.fail(&d, &error).await.unwrap();
    }

    // Read in pages.
    let page = f.queue.dead_letters(&f.stream, None, 2).await.unwrap();
    assert_eq!(page.len(), 2);
    let rest = f
        .queue
        .dead_letters(&f.stream, Some(&page[1].id), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    let errors: Vec<&str> = page.iter().chain(&rest).map(|l| l.error.as_str()).collect();
    assert_eq!(
        errors,
        [
            "unknown product in job 0",
            "unknown product in job 1",
            "unknown product in job 2"
        ]
    );
    assert!(page.iter().chain(&rest).all(|l| l.job.attempt == 1));
    assert_eq!(f.queue.stats(&f.stream, GROUP).await.unwrap().dead, 3);
}

async fn a_removed_dead_letter_is_gone_and_the_others_stay(backend: Backend) {
    let f = backend.fixture(fast()).await;
    for n in 0..2 {
        f.queue.enqueue(&f.stream, &job(n)).await.unwrap();
    }
    for d in receive_until(&f, "c1", 2).await {
        f.queue.fail(&d, "refused").await.unwrap();
    }
    let before = dead_letters(&f).await;
    assert_eq!(before.len(), 2);
    assert!(f
        .queue
        .remove_dead_letter(&f.stream, &before[0].id)
        .await
        .unwrap());
    // Removing it again finds nothing, and the other letter is untouched.
    assert!(!f
        .queue
        .remove_dead_letter(&f.stream, &before[0].id)
        .await
        .unwrap());
    assert_eq!(dead_letters(&f).await, before[1..]);
    assert_eq!(f.queue.stats(&f.stream, GROUP).await.unwrap().dead, 1);
}

async fn a_repeated_dedup_key_is_enqueued_once(backend: Backend) {
    let f = backend.fixture(fast()).await;
    let first = job(1).with_dedup_key("td-42:place");
    let second = job(2).with_dedup_key("td-42:place");
    assert_eq!(
        f.queue.enqueue(&f.stream, &first).await.unwrap(),
        Enqueued::Added
    );
    assert_eq!(
        f.queue.enqueue(&f.stream, &second).await.unwrap(),
        Enqueued::Duplicate {
            job_id: first.id.clone()
        }
    );
    let got = receive_until(&f, "c1", 1).await;
    assert_eq!(got[0].job, first);
    assert_nothing_for(&f, "c1", Duration::from_millis(100)).await;
}

async fn a_full_stream_refuses_new_jobs(backend: Backend) {
    let f = backend
        .fixture(QueueConfig {
            max_depth: 2,
            ..fast()
        })
        .await;
    f.queue.enqueue(&f.stream, &job(1)).await.unwrap();
    f.queue.enqueue(&f.stream, &job(2)).await.unwrap();
    assert!(matches!(
        f.queue.enqueue(&f.stream, &job(3)).await,
        Err(JobError::Full { depth: 2, .. })
    ));
    let got = receive_until(&f, "c1", 1).await;
    f.queue.ack(&got[0]).await.unwrap();
    assert_eq!(
        f.queue.enqueue(&f.stream, &job(3)).await.unwrap(),
        Enqueued::Added,
        "room again once a job is done"
    );
}

async fn a_job_too_large_for_the_queue_is_skipped_and_the_later_ones_enqueued(backend: Backend) {
    let f = backend
        .fixture(QueueConfig {
            max_payload_bytes: 64,
            ..fast()
        })
        .await;
    let huge = Job::new("test.work", serde_json::json!({ "blob": "x".repeat(100) }));
    let report = td_jobs::enqueue_all(
        f.queue.as_ref(),
        &f.stream,
        [(1, job(1)), (2, huge), (3, job(3))],
    )
    .await;
    assert_eq!(report.enqueued, [1, 3]);
    assert_eq!(report.refused, [2]);
    let got = receive_until(&f, "c1", 2).await;
    let ns: Vec<&serde_json::Value> = got.iter().map(|d| &d.job.payload["n"]).collect();
    assert_eq!(ns, [1, 3]);
    assert_nothing_for(&f, "c1", Duration::from_millis(100)).await;
}

async fn a_full_queue_pauses_enqueue_all_and_skips_nothing(backend: Backend) {
    let f = backend
        .fixture(QueueConfig {
            max_depth: 1,
            ..fast()
        })
        .await;
    let report = td_jobs::enqueue_all(
        f.queue.as_ref(),
        &f.stream,
        [(1, job(1)), (2, job(2)), (3, job(3))],
    )
    .await;
    assert_eq!(report.enqueued, [1], "the rest waits for the next pass");
    assert!(report.refused.is_empty(), "{:?}", report.refused);
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod redis_queue {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Redis).await;
            })*
        }
        mod in_memory_queue {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::InMemory).await;
            })*
        }
    };
}

contract!(
    an_acked_job_is_not_delivered_again,
    trace_context_and_payload_survive_the_round_trip,
    consumers_of_one_group_get_distinct_jobs,
    receive_hands_out_at_most_max,
    an_empty_receive_waits_for_its_timeout_and_wakes_for_a_new_job,
    a_crashed_consumers_job_is_reclaimed_after_the_visibility_timeout,
    a_job_that_keeps_crashing_its_consumers_is_dead_lettered,
    a_retried_job_waits_its_backoff_and_comes_back_with_the_next_attempt,
    after_the_last_attempt_a_job_is_a_dead_letter_with_its_error,
    a_failed_job_goes_straight_to_the_dead_letters,
    a_removed_dead_letter_is_gone_and_the_others_stay,
    a_repeated_dedup_key_is_enqueued_once,
    a_full_stream_refuses_new_jobs,
    a_job_too_large_for_the_queue_is_skipped_and_the_later_ones_enqueued,
    a_full_queue_pauses_enqueue_all_and_skips_nothing,
);
