//! `NodClient` against a served simulator with injected faults: what is retried, how
//! often, and what is not. Backoff is milliseconds here; only the Retry-After check waits
//! the one second that header can express. Attempt counts come from the simulator, which
//! counts every request on arrival.

use chrono::{Duration, Utc};
use std::time::Instant;
use td_nod::{
    Faults, Nod, NodClient, NodClientSettings, NodError, Order, OrderGroupId, PlaceRequest,
    RetrySettings, RunningSimulator, Simulator, Transient,
};

const PLACE: &str = "POST /backoffice/order-groups";

fn settings(base_url: String) -> NodClientSettings {
    NodClientSettings {
        base_url,
        connect_timeout_ms: 5_000,
        request_timeout_ms: 10_000,
        retry: RetrySettings {
            max_attempts: 4,
            initial_delay_ms: 5,
            max_delay_ms: 20,
            max_elapsed_ms: 20_000,
        },
    }
}

async fn serve() -> RunningSimulator {
    Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client(server: &RunningSimulator) -> NodClient {
    NodClient::new(&settings(server.base_url())).unwrap()
}

fn request(reference: &str) -> PlaceRequest {
    PlaceRequest {
        client_reference: reference.to_owned(),
        orders: vec![Order::mobile_single_ticket(b"ticket")],
        valid_from: Utc::now(),
        valid_to: Utc::now() + Duration::hours(2),
    }
}

fn inject(server: &RunningSimulator, faults: Faults) {
    server.simulator().set_faults(faults).unwrap();
}

#[tokio::test]
async fn server_errors_are_retried_until_nod_answers() {
    let server = serve().await;
    let nod = client(&server);
    inject(
        &server,
        Faults {
            fail_next: 2,
            ..Faults::default()
        },
    );
    let group = nod.place(&request("td-1")).await.unwrap();
    assert_eq!(group.client_reference, "td-1");
    assert_eq!(server.simulator().request_count(PLACE), 3);
}

#[tokio::test]
async fn every_operation_is_retried() {
    let server = serve().await;
    let nod = client(&server);
    let group = nod.place(&request("td-1")).await.unwrap();
    let one_failure = || {
        inject(
            &server,
            Faults {
                fail_next: 1,
                ..Faults::default()
            },
        )
    };
    one_failure();
    nod.get(&group.id).await.unwrap();
    one_failure();
    nod.transactions(None, 10).await.unwrap();
    one_failure();
    nod.cancel(&group.id).await.unwrap();
    let sim = server.simulator();
    assert_eq!(sim.request_count("GET /backoffice/order-groups/{id}"), 2);
    assert_eq!(sim.request_count("GET /backoffice/transactions"), 2);
    assert_eq!(
        sim.request_count("POST /backoffice/order-groups/{id}/cancel"),
        2
    );
}

#[tokio::test]
async fn a_lasting_outage_leaves_nod_unavailable_after_the_attempts() {
    let server = serve().await;
    inject(
        &server,
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
    );
    let err = client(&server).place(&request("td-1")).await.unwrap_err();
    assert!(
        matches!(
            err,
            NodError::Unavailable {
                cause: Transient::Server { status: 503, .. },
                attempts: 4
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.simulator().request_count(PLACE), 4);
}

#[tokio::test]
async fn rate_limiting_waits_as_long_as_retry_after_says() {
    let server = serve().await;
    inject(
        &server,
        Faults {
            rate_limit_next: 1,
            retry_after_seconds: 1,
            ..Faults::default()
        },
    );
    let started = Instant::now();
    client(&server).place(&request("td-1")).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(server.simulator().request_count(PLACE), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_is_reported_at_once() {
    let server = serve().await;
    inject(
        &server,
        Faults {
            rate_limit_next: 1,
            retry_after_seconds: 60,
            ..Faults::default()
        },
    );
    let err = client(&server).place(&request("td-1")).await.unwrap_err();
    let expected = NodError::Unavailable {
        cause: Transient::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(60)),
        },
        attempts: 1,
    };
    assert_eq!(err, expected);
    assert_eq!(server.simulator().request_count(PLACE), 1);
}

#[tokio::test]
async fn a_rejection_is_final_and_sent_once() {
    let server = serve().await;
    inject(
        &server,
        Faults {
            reject_next: 3,
            ..Faults::default()
        },
    );
    let err = client(&server).place(&request("td-1")).await.unwrap_err();
    assert!(
        matches!(&err, NodError::Rejected { status: 422, code, .. } if code == "REJECTED"),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(server.simulator().request_count(PLACE), 1);
    assert_eq!(server.simulator().faults().reject_next, 2);
}

#[tokio::test]
async fn an_unknown_group_is_not_retried() {
    let server = serve().await;
    let id = OrderGroupId::new("missing");
    let err = client(&server).get(&id).await.unwrap_err();
    assert_eq!(err, NodError::NotFound { id });
    assert_eq!(
        server
            .simulator()
            .request_count("GET /backoffice/order-groups/{id}"),
        1
    );
}

#[tokio::test]
async fn a_slow_nod_times_out_after_the_configured_attempts() {
    let server = serve().await;
    // Latency twenty times the timeout: a busy machine cannot make it look fast.
    inject(
        &server,
        Faults {
            latency_ms: 2_000,
            ..Faults::default()
        },
    );
    let mut settings = settings(server.base_url());
    settings.request_timeout_ms = 100;
    settings.retry.max_attempts = 3;
    let err = NodClient::new(&settings)
        .unwrap()
        .place(&request("td-1"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        NodError::Unavailable {
            cause: Transient::Timeout,
            attempts: 3
        }
    );
    // The last request may still be on its way into the server when the client gives up.
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while server.simulator().request_count(PLACE) < 3 && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(server.simulator().request_count(PLACE), 3);
    let stopping = Instant::now();
    server.shutdown().await.unwrap();
    assert!(
        stopping.elapsed() < std::time::Duration::from_secs(2),
        "injected latency does not hold shutdown up"
    );
}

#[tokio::test]
async fn an_unreachable_nod_is_unavailable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut settings = settings(format!("http://{closed}"));
    settings.retry.max_attempts = 2;
    let err = NodClient::new(&settings)
        .unwrap()
        .place(&request("td-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NodError::Unavailable {
                cause: Transient::Connection(_),
                attempts: 2
            }
        ),
        "{err:?}"
    );
}
