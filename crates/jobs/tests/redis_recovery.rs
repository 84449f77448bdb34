//! Redis-only behaviour that the in-process queue has no counterpart for: state that
//! vanishes under a running worker (Redis restarted without persistence, a stream deleted
//! by hand).

use std::time::Duration;
use td_jobs::{Job, JobQueue, QueueConfig, RedisQueue};

fn redis_url() -> String {
    let target = std::env::var("TD_TEST_REDIS").unwrap_or_else(|_| "127.0.0.1:6379".into());
    if target.contains("://") {
        target
    } else {
        format!("redis://{target}")
    }
}

#[tokio::test]
async fn a_consumer_group_lost_under_a_running_worker_is_created_again() {
    let url = redis_url();
    let stream = format!("jobs-recovery:{}:work", uuid::Uuid::new_v4().simple());
    let queue = RedisQueue::connect(&url, QueueConfig::default())
        .await
        .unwrap();
    let block = Duration::from_millis(50);
    assert!(queue
        .receive(&stream, "workers", "c1", 1, block)
        .await
        .unwrap()
        .is_empty());

    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("DEL").arg(&stream).query(&mut conn).unwrap();
    let job = Job::new("test.work", serde_json::json!(1));
    queue.enqueue(&stream, &job).await.unwrap();

    let got = queue
        .receive(&stream, "workers", "c1", 1, block)
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "the group was created again, from the start");
    assert_eq!(got[0].job, job);
    queue.ack(&got[0]).await.unwrap();
    let _: () = redis::cmd("DEL").arg(&stream).query(&mut conn).unwrap();
}
