//! The simulator's HTTP surface beyond what `NodClient` sends: every refusal is a JSON
//! `{code, message}` with a 4xx, the control routes work, and the `nod-simulator` binary
//! serves until SIGTERM.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use td_nod::{RunningSimulator, Simulator};
use tokio::io::{AsyncBufReadExt, BufReader};

async fn serve() -> RunningSimulator {
    Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn place_body(reference: &str) -> Value {
    json!({
        "clientReference": reference,
        "orders": [{ "type": "mobileSingleTicket", "description": "dGlja2V0" }],
        "validFrom": "2030-01-01T08:00:00Z",
        "validTo": "2099-01-01T08:00:00Z",
    })
}

/// Status and JSON body of a request.
async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.expect("every answer is JSON");
    (status, body)
}

#[tokio::test]
async fn placing_answers_created_then_ok_for_the_same_reference() {
    let server = serve().await;
    let http = reqwest::Client::new();
    let url = format!("{}/backoffice/order-groups", server.base_url());
    let (first, created) = call(http.post(&url).json(&place_body("td-1"))).await;
    let (second, found) = call(http.post(&url).json(&place_body("td-1"))).await;
    assert_eq!((first, second), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(created, found);
    assert_eq!(created["state"], "DISTRIBUTED");
}

#[tokio::test]
async fn the_order_groups_are_listed_once_each_with_their_state() {
    let server = serve().await;
    let http = reqwest::Client::new();
    let base = server.base_url();
    let url = format!("{base}/backoffice/order-groups");
    let (_, first) = call(http.post(&url).json(&place_body("td-1"))).await;
    call(http.post(&url).json(&place_body("td-1"))).await;
    let (_, second) = call(http.post(&url).json(&place_body("td-2"))).await;
    let id = second["id"].as_str().unwrap();
    call(http.post(format!("{url}/{id}/cancel")).json(&json!({}))).await;
    let (status, listed) = call(http.get(format!("{base}/simulator/order-groups"))).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed: Vec<(&str, &str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["clientReference"].as_str().unwrap(),
                g["id"].as_str().unwrap(),
                g["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("td-1", first["id"].as_str().unwrap(), "DISTRIBUTED"),
            ("td-2", id, "CANCELLED"),
        ]
    );
}

#[tokio::test]
async fn bad_input_is_a_400_with_a_json_message() {
    let server = serve().await;
    let http = reqwest::Client::new();
    let base = server.base_url();
    let url = format!("{base}/backoffice/order-groups");
    let mut wrong_type = place_body("td-1");
    wrong_type["orders"][0]["type"] = json!("paperTicket");
    let requests = [
        http.post(&url)
            .header("content-type", "application/json")
            .body("{"),
        http.post(&url).body(place_body("td-1").to_string()),
        http.post(&url).json(&wrong_type),
        http.post(&url).json(&json!({ "clientReference": "td-1" })),
        http.get(format!("{base}/backoffice/transactions?limit=many")),
        http.get(format!("{base}/backoffice/transactions?afterr=1")),
        http.post(format!("{base}/simulator/faults"))
            .json(&json!({ "errorRate": 2 })),
        http.post(format!("{base}/simulator/faults"))
            .json(&json!({ "explode": true })),
    ];
    for request in requests {
        let (status, body) = call(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["code"], "INVALID_REQUEST");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let server = serve().await;
    let http = reqwest::Client::new();
    let base = server.base_url();
    let (status, body) = call(http.get(format!("{base}/backoffice/nothing"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ROUTE_NOT_FOUND"))
    );
    let (status, body) = call(http.delete(format!("{base}/backoffice/order-groups"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("METHOD_NOT_ALLOWED"))
    );
}

#[tokio::test]
async fn faults_and_request_counts_are_readable() {
    let server = serve().await;
    let http = reqwest::Client::new();
    let base = server.base_url();
    let (status, faults) = call(
        http.post(format!("{base}/simulator/faults"))
            .json(&json!({ "latency_ms": 1, "rejectNext": 2 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (faults["latencyMs"].as_u64(), faults["rejectNext"].as_u64()),
        (Some(1), Some(2))
    );

    let (status, body) = call(
        http.post(format!("{base}/backoffice/order-groups"))
            .json(&place_body("td-1")),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("REJECTED"))
    );
    let (_, counts) = call(http.get(format!("{base}/simulator/requests"))).await;
    assert_eq!(counts["POST /backoffice/order-groups"], 1);
    assert_eq!(counts["POST /simulator/faults"], 1);
}

#[tokio::test]
async fn the_binary_serves_until_sigterm() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nod-simulator"))
        .args(["--addr", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, rest)) = line.split_once("addr=") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("the simulator exited without saying where it listens");
    })
    .await
    .expect("the simulator says where it listens");

    let (status, body) =
        call(reqwest::Client::new().get(format!("http://{addr}/backoffice/transactions"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "transactions": [] }));

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit}");
}
