//! The edge: `/metrics` only on the operations port, a request that outlives its deadline
//! (a slow body included) answered 408, and a connection whose headers never end closed.

mod common;

use common::spawn_with_env;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn metrics_are_served_on_the_operations_port_only() {
    let app = spawn_with_env(td_testkit::postgres().await.db, &[]).await;
    assert_eq!(app.get("/health/ready").await.status(), 200);
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404, "no /metrics on the public port");
    for path in ["/metrics", "/health/live", "/health/ready"] {
        let ops = reqwest::get(format!("http://{}{path}", app.ops))
            .await
            .unwrap();
        assert_eq!(ops.status(), 200, "{path} on the operations port");
    }
    let metrics = reqwest::get(format!("http://{}/metrics", app.ops))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("td_http_requests_total"), "{metrics}");
}

/// Sends `head` (and nothing more) on a fresh connection; what the server answers until it
/// closes the connection, or `None` if it is still open after `wait`.
async fn send_and_read(addr: std::net::SocketAddr, head: &str, wait: Duration) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_body_slower_than_the_deadline_is_a_408_and_slow_headers_close_the_connection() {
    let app = spawn_with_env(
        td_testkit::postgres().await.db,
        &[
            ("TD__GATEWAY__REQUEST_TIMEOUT_MS", "300"),
            ("TD__GATEWAY__HEADER_READ_TIMEOUT_MS", "300"),
        ],
    )
    .await;
    // The headers arrive; the promised body never does.
    let head = "POST /v1/ticket-distribution-groups/distribute HTTP/1.1\r\nHost: test\r\n\
                ET-Client-Name: test-suite\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\nConnection: close\r\n\r\n{";
    let answer = send_and_read(app.addr, head, Duration::from_secs(5))
        .await
        .expect("answered within 5 s of a 300 ms deadline");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"REQUEST_TIMEOUT\""), "{answer}");

    // Headers that never end: the connection is closed without an answer of the API.
    let answer = send_and_read(
        app.addr,
        "GET /health/live HTTP/1.1\r\nHost: test\r\n",
        Duration::from_secs(5),
    )
    .await
    .expect("closed within 5 s of a 300 ms header timeout");
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_create_or_get_for_a_version_that_can_never_exist_is_a_400_at_once() {
    let app = spawn_with_env(td_testkit::postgres().await.db, &[]).await;
    for version in [0u64, 2_147_483_648, 4_294_967_295] {
        let started = std::time::Instant::now();
        let response = app
            .client
            .post(app.url("/v1/pdf-tickets/ANY-ORDER/createOrGet"))
            .header("ET-Client-Name", "test-suite")
            .json(&serde_json::json!({ "orderVersion": version }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "orderVersion {version}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "INVALID_BODY", "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "not after a wait"
        );
    }
}
