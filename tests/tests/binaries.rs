//! The real binaries, started as processes: the embedded default serves the demo orders,
//! and every worker serves its health endpoints and exits 0 on SIGTERM.

use std::time::Duration;
use td_e2e::{free_addr, wait_ok, Process};

#[tokio::test]
async fn the_embedded_default_serves_the_demo_orders_and_stops_on_sigterm() {
    let data_dir = std::env::temp_dir().join(format!("td-e2e-{}", std::process::id()));
    let addr = free_addr();
    let process = Process::start(
        "ticket-distribution",
        &["--demo"],
        &[
            ("TD__GATEWAY__ADDR", addr.clone()),
            ("TD__GATEWAY__OPS_ADDR", free_addr()),
            ("TD__DATA_DIR", data_dir.display().to_string()),
        ],
    );
    wait_ok(
        &format!("http://{addr}/health/ready"),
        Duration::from_secs(30),
    )
    .await;

    let client = reqwest::Client::new();
    let body: serde_json::Value = client
        .get(format!(
            "http://{addr}/v1/ticket-distribution-groups?orderId=in:DEMO0001,DEMO0002,DEMO0003"
        ))
        .header("ET-Client-Name", "e2e-test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["totalItems"], 4, "{body}");
    let td_id = body["items"][0]["ticketDistributions"][0]["id"]
        .as_str()
        .unwrap();
    let status: serde_json::Value = client
        .get(format!(
            "http://{addr}/v1/ticket-distributions/{td_id}/status"
        ))
        .header("ET-Client-Name", "e2e-test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["valid"], true, "{status}");

    // The intake takes JSON from this machine's own address only: not another content
    // type, not another Host (a DNS name re-bound to 127.0.0.1), not another Origin (a web
    // page in the user's browser).
    let event = include_str!("../../examples/orders/rail-with-change.json");
    let port = addr.rsplit(':').next().unwrap();
    let intake = format!("http://{addr}/embedded/order-events");
    let post = |headers: &[(&str, String)]| {
        let mut request = client.post(&intake).body(event);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send()
    };
    let json = ("Content-Type", "application/json".to_owned());
    for (what, headers, status, code) in [
        ("no content type", vec![], 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            "form content (curl's default)",
            vec![(
                "Content-Type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "text/plain (a cross-site form)",
            vec![("Content-Type", "text/plain".to_owned())],
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "another host",
            vec![json.clone(), ("Host", format!("rebound.example:{port}"))],
            403,
            "FOREIGN_ORIGIN",
        ),
        (
            "another port",
            vec![json.clone(), ("Host", "127.0.0.1:1".to_owned())],
            403,
            "FOREIGN_ORIGIN",
        ),
        (
            "another origin",
            vec![json.clone(), ("Origin", "http://evil.example".to_owned())],
            403,
            "FOREIGN_ORIGIN",
        ),
        (
            "a null origin",
            vec![json.clone(), ("Origin", "null".to_owned())],
            403,
            "FOREIGN_ORIGIN",
        ),
    ] {
        let response = post(&headers).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{what}: {body}");
    }
    for (what, headers) in [
        ("curl from this machine", vec![json.clone()]),
        (
            "localhost with its own origin",
            vec![
                json.clone(),
                ("Host", format!("localhost:{port}")),
                ("Origin", format!("http://localhost:{port}")),
            ],
        ),
    ] {
        let response = post(&headers).await.unwrap();
        let code = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(code, 200, "{what}: {body}");
        assert!(
            ["RECORDED", "ALREADY_RECORDED"].contains(&body["result"].as_str().unwrap()),
            "{what}: {body}"
        );
    }

    // PDF tickets work on the embedded default too (SQLite, rendered in process).
    let response = client
        .post(format!("http://{addr}/v1/pdf-tickets/DEMO0003/createOrGet"))
        .header("ET-Client-Name", "e2e-test")
        .json(&serde_json::json!({"language": "eng"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pdfs: serde_json::Value = response.json().await.unwrap();
    assert_eq!(pdfs.as_array().unwrap().len(), 2, "{pdfs}");
    let content = client
        .get(format!(
            "http://{addr}/v1/pdf-tickets/{}/content",
            pdfs[0]["id"].as_str().unwrap()
        ))
        .header("ET-Client-Name", "e2e-test")
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), 200);
    let bytes = content.bytes().await.unwrap();
    let pages = pdfs[0]["ticketDistributionIds"].as_array().unwrap().len();
    assert_eq!(td_testkit::pdf::page_count(&bytes), pages);

    // E-mail works too: the mail is written as an .eml file in the data directory.
    let tickets: Vec<&serde_json::Value> = pdfs
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["ticketDistributionIds"].as_array().unwrap())
        .collect();
    let response = client
        .post(format!("http://{addr}/v1/pdf-tickets/DEMO0003/send"))
        .header("ET-Client-Name", "e2e-test")
        .json(&serde_json::json!({"emailAddress": "kari@example.no", "ticketDistributionIds": tickets, "language": "eng"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let send_id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let sent = loop {
        let send: serde_json::Value = client
            .get(format!("http://{addr}/v1/pdf-tickets/sends/{send_id}"))
            .header("ET-Client-Name", "e2e-test")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if send["status"] == "SENT" {
            break send;
        }
        assert!(std::time::Instant::now() < deadline, "not SENT: {send}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let eml = data_dir
        .join("mails")
        .join(format!("{}.eml", sent["smtpQueueId"].as_str().unwrap()));
    let raw = std::fs::read_to_string(&eml)
        .unwrap_or_else(|e| panic!("{} is written: {e}", eml.display()));
    assert!(raw.contains("\r\nTo: kari@example.no\r\n"), "{raw}");
    assert!(
        raw.contains("Subject: Your tickets for order DEMO0003"),
        "{raw}"
    );
    assert_eq!(raw.matches("Content-Type: application/pdf").count(), 2);

    let printed = process.output();
    let status = process.terminate(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert!(
        printed.contains(&eml.display().to_string()),
        "the embedded default prints the mail's path"
    );
    assert!(
        printed.contains(&format!("curl -s -H 'ET-Client-Name: demo-cli' 'http://{addr}/v1/ticket-distribution-groups?orderId=in:DEMO0001,DEMO0002,DEMO0003'")),
        "the demo prints a ready-to-paste curl: {printed}"
    );
    assert!(data_dir.join("ticket-distribution.sqlite").exists());
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test]
async fn every_worker_serves_health_and_exits_0_on_sigterm() {
    let db = td_testkit::postgres().await;
    for (binary, variable) in [
        ("api-gateway", "TD__GATEWAY__ADDR"),
        ("order-listener", "TD__ORDER_LISTENER__HEALTH_ADDR"),
        ("nod-distributor", "TD__NOD_DISTRIBUTOR__HEALTH_ADDR"),
        ("pdf-renderer", "TD__PDF_RENDERER__HEALTH_ADDR"),
        ("mailer", "TD__MAILER__HEALTH_ADDR"),
    ] {
        let addr = free_addr();
        let process = Process::start(
            binary,
            &[],
            &[
                (variable, addr.clone()),
                ("TD__GATEWAY__OPS_ADDR", free_addr()),
                ("TD__DATABASE__URL", db.url.clone()),
                ("TD__AUTH__MODE", "off".to_owned()),
            ],
        );
        wait_ok(
            &format!("http://{addr}/health/live"),
            Duration::from_secs(30),
        )
        .await;
        wait_ok(
            &format!("http://{addr}/health/ready"),
            Duration::from_secs(30),
        )
        .await;
        let status = process.terminate(Duration::from_secs(10));
        assert!(status.success(), "{binary} exit status {status}");
    }
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_naming_the_key() {
    let output = std::process::Command::new(td_e2e::binary("api-gateway"))
        .env("TD__GATEWAY__ADDR", "nowhere")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("gateway.addr"), "{stderr}");
}

#[tokio::test]
async fn api_gateway_migrate_applies_the_migrations_once_from_several_runs_at_once() {
    let db = td_testkit::postgres_empty().await;
    let runs: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(td_e2e::binary("api-gateway"))
                .arg("migrate")
                .env("TD__DATABASE__URL", &db.url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start api-gateway migrate")
        })
        .collect();
    for run in runs {
        let output = run.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    use td_store::sea_orm::ConnectionTrait;
    for table in ["ticket_distributions", "pdf_sends", "outbox"] {
        db.db
            .execute_unprepared(&format!("SELECT count(*) FROM {table}"))
            .await
            .unwrap_or_else(|e| panic!("table {table} after migrate: {e}"));
    }
    let unknown = std::process::Command::new(td_e2e::binary("api-gateway"))
        .arg("migrat")
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("migrate"),
        "a mistyped command names the right one"
    );
}
