//! How `serve` runs a worker's components: an unexpected end stops the process with an
//! error and readiness off; shutdown gets one drain deadline.

use std::sync::Arc;
use std::time::Duration;
use td_runtime::{serve, Component, ReadinessCheck, Tripwire};
use tokio_util::sync::CancellationToken;

const DRAIN: Duration = Duration::from_millis(300);
/// Far above anything `serve` should take here; a hang fails the test instead of stalling.
const LIMIT: Duration = Duration::from_secs(10);

/// A component that runs until shutdown, like a consumer loop.
fn until_stopped(shutdown: &CancellationToken) -> Component {
    let shutdown = shutdown.clone();
    Component::looping("steady", async move { shutdown.cancelled().await })
}

async fn serve_within_limit(
    components: Vec<Component>,
    tripwire: &Tripwire,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tokio::time::timeout(LIMIT, serve(components, tripwire, shutdown, DRAIN))
        .await
        .expect("serve returned within the limit")
}

#[tokio::test]
async fn a_component_that_panics_stops_the_process_with_its_error_and_readiness_off() {
    let shutdown = CancellationToken::new();
    let tripwire = Tripwire::new();
    let ready: ReadinessCheck = Arc::new(|| Box::pin(async { Ok(()) }));
    let ready = tripwire.guard(ready);
    assert!(ready().await.is_ok(), "ready while every component runs");

    let err = serve_within_limit(
        vec![
            until_stopped(&shutdown),
            Component::looping("dispatcher", async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                panic!("planted fault");
            }),
        ],
        &tripwire,
        shutdown.clone(),
    )
    .await
    .expect_err("a dead component is an error");

    let text = format!("{err:#}");
    assert!(
        text.contains("dispatcher") && text.contains("planted fault"),
        "{text}"
    );
    assert!(
        shutdown.is_cancelled(),
        "the other components were told to stop"
    );
    assert!(tripwire.is_tripped());
    assert!(
        ready().await.is_err(),
        "readiness is off once a component died"
    );
}

#[tokio::test]
async fn a_component_that_returns_before_shutdown_is_an_error() {
    let shutdown = CancellationToken::new();
    let err = serve_within_limit(
        vec![
            until_stopped(&shutdown),
            Component::looping("relay", async {}),
        ],
        &Tripwire::new(),
        shutdown.clone(),
    )
    .await
    .expect_err("a loop that ended on its own is an error");
    assert!(format!("{err:#}").contains("relay"), "{err:#}");
}

#[tokio::test]
async fn a_component_that_fails_before_shutdown_is_an_error_with_its_cause() {
    let shutdown = CancellationToken::new();
    let err = serve_within_limit(
        vec![
            until_stopped(&shutdown),
            Component::new("grpc", async { anyhow::bail!("listener broke") }),
        ],
        &Tripwire::new(),
        shutdown.clone(),
    )
    .await
    .expect_err("a failed server is an error");
    let text = format!("{err:#}");
    assert!(
        text.contains("grpc") && text.contains("listener broke"),
        "{text}"
    );
}

#[tokio::test]
async fn on_shutdown_components_finish_and_serve_succeeds() {
    let shutdown = CancellationToken::new();
    let tripwire = Tripwire::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        stopper.cancel();
    });
    serve_within_limit(
        vec![until_stopped(&shutdown), until_stopped(&shutdown)],
        &tripwire,
        shutdown.clone(),
    )
    .await
    .expect("an asked-for stop is no error");
    assert!(!tripwire.is_tripped());
}

#[tokio::test]
async fn a_component_that_outlives_the_drain_deadline_is_abandoned() {
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    let started = tokio::time::Instant::now();
    serve_within_limit(
        vec![Component::looping("stuck", std::future::pending())],
        &Tripwire::new(),
        shutdown,
    )
    .await
    .expect("a drain that runs out is not an error: the work is redelivered");
    let took = started.elapsed();
    assert!(
        took >= DRAIN && took < DRAIN * 5,
        "serve waited {took:?} for a drain deadline of {DRAIN:?}"
    );
}

#[tokio::test]
async fn a_component_that_fails_while_draining_is_an_error() {
    let shutdown = CancellationToken::new();
    let stopping = shutdown.clone();
    let err = serve_within_limit(
        vec![Component::new("consumer", async move {
            stopping.cancelled().await;
            anyhow::bail!("offsets not committed")
        })],
        &Tripwire::new(),
        {
            let s = shutdown.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                s.cancel();
            });
            shutdown
        },
    )
    .await
    .expect_err("an error while draining is not lost");
    assert!(
        format!("{err:#}").contains("offsets not committed"),
        "{err:#}"
    );
}
