//! The send endpoint and the send status: a bare address only (header injection attempts
//! refused and nothing recorded), tickets of the order that are valid, one send per
//! `Idempotency-Key`, and per-order limits.

mod common;

use common::{spawn_postgres, TestApp, EXAMPLES};
use serde_json::{json, Value};

async fn post_send(app: &TestApp, order: &str, body: Value, key: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/pdf-tickets/{order}/send")))
        .header("ET-Client-Name", "test-suite")
        .json(&body);
    if let Some(k) = key {
        request = request.header("Idempotency-Key", k);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The ids of DEMO0003's tickets (family order, four tickets).
async fn family_tickets(app: &TestApp) -> Vec<String> {
    app.record(EXAMPLES[2]).await;
    let (_, groups) = app
        .get_json("/v1/ticket-distribution-groups?orderId=DEMO0003")
        .await;
    groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["ticketDistributions"].as_array().unwrap().clone())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn sends_of(app: &TestApp, order: &str) -> u64 {
    use td_store::entity::pdf_send;
    use td_store::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    pdf_send::Entity::find()
        .filter(pdf_send::Column::OrderId.eq(order))
        .count(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_send_is_recorded_once_per_idempotency_key_and_can_be_followed() {
    let app = spawn_postgres().await;
    let tickets = family_tickets(&app).await;
    let body = json!({"emailAddress": "familien.hansen@example.com", "ticketDistributionIds": tickets, "language": "eng"});
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, accepted) = post_send(&app, "DEMO0003", body.clone(), Some("retry-1")).await;
        assert_eq!(status, 202, "{accepted}");
        assert_eq!(accepted["status"], "QUEUED");
        ids.push(accepted["id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(
        sends_of(&app, "DEMO0003").await,
        1,
        "one send for five calls"
    );

    let (status, send) = app
        .get_json(&format!("/v1/pdf-tickets/sends/{}", ids[0]))
        .await;
    assert_eq!(status, 200, "{send}");
    assert_eq!(send["status"], "QUEUED");
    assert_eq!(send["attempts"], 0);
    assert_eq!(send["emailAddress"], "familien.hansen@example.com");
    assert_eq!(send["language"], "eng");
    assert_eq!(send["ticketDistributionIds"].as_array().unwrap().len(), 4);

    // The same key with another request is refused, and records nothing.
    let other =
        json!({"emailAddress": "someone.else@example.com", "ticketDistributionIds": [tickets[0]]});
    let (status, refused) = post_send(&app, "DEMO0003", other.clone(), Some("retry-1")).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "IDEMPOTENCY_KEY_REUSED");
    // Without a key, each call is a send of its own.
    let (status, _) = post_send(&app, "DEMO0003", other, None).await;
    assert_eq!(status, 202);
    assert_eq!(sends_of(&app, "DEMO0003").await, 2);

    let (status, missing) = app
        .get_json(&format!("/v1/pdf-tickets/sends/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(missing["code"], "SEND_NOT_FOUND");
}

#[tokio::test]
async fn addresses_must_be_one_bare_address_and_injection_is_refused() {
    let app = spawn_postgres().await;
    let tickets = family_tickets(&app).await;
    for address in [
        "kari@example.com\r\nBcc: thief@example.com",
        "kari@example.com\nBcc: thief@example.com",
        "\"Kari\" <kari@example.com>",
        "Kari <kari@example.com>, thief@example.com",
        "kari@example.com, thief@example.com",
        "kari@example.com;thief@example.com",
        "not-an-address",
        "",
    ] {
        let (status, body) = post_send(
            &app,
            "DEMO0003",
            json!({"emailAddress": address, "ticketDistributionIds": [tickets[0]]}),
            None,
        )
        .await;
        assert_eq!(status, 400, "{address:?}: {body}");
        assert_eq!(body["code"], "INVALID_EMAIL_ADDRESS", "{address:?}");
    }
    let (status, body) = post_send(
        &app,
        "DEMO0003",
        json!({"emailAddress": "kari@example.com", "ticketDistributionIds": [tickets[0]], "bcc": "x@y.z"}),
        None,
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused: {body}");
    assert_eq!(sends_of(&app, "DEMO0003").await, 0, "nothing recorded");
}

#[tokio::test]
async fn tickets_must_be_of_the_order_and_valid() {
    let app = spawn_postgres().await;
    let family = family_tickets(&app).await;
    app.record(EXAMPLES[0]).await; // DEMO0001, another order
    let send = |tickets: Value| json!({"emailAddress": "kari@example.com", "ticketDistributionIds": tickets});

    let (status, body) = post_send(&app, "DEMO0001", send(json!([family[0]])), None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "TICKET_NOT_IN_ORDER");
    let (status, body) =
        post_send(&app, "DEMO0003", send(json!([uuid::Uuid::new_v4()])), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "TICKET_NOT_IN_ORDER");
    let (status, body) = post_send(&app, "NO-SUCH-ORDER", send(json!([family[0]])), None).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "ORDER_NOT_FOUND");
    let (status, body) = post_send(&app, "DEMO0003", send(json!([])), None).await;
    assert_eq!(status, 400, "{body}");

    // The order is cancelled: its tickets are no longer valid, so they are not sent.
    let mut cancelled: Value = serde_json::from_str(EXAMPLES[2]).unwrap();
    cancelled["type"] = json!("OrderCancelled");
    cancelled["eventId"] = json!(uuid::Uuid::new_v4());
    cancelled["order"]["version"] = json!(2);
    cancelled["order"]["status"] = json!("CANCELLED");
    app.record(&cancelled.to_string()).await;
    let (status, body) = post_send(&app, "DEMO0003", send(json!([family[0]])), None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "TICKET_NOT_VALID");
}

#[tokio::test]
async fn sends_per_order_are_limited() {
    let app = spawn_postgres().await;
    let tickets = family_tickets(&app).await;
    // The default limit is 10 sends per order and hour.
    for n in 0..10 {
        let (status, body) = post_send(
            &app,
            "DEMO0003",
            json!({"emailAddress": format!("kari{n}@example.com"), "ticketDistributionIds": [tickets[0]]}),
            None,
        )
        .await;
        assert_eq!(status, 202, "send {n}: {body}");
    }
    let response = app
        .client
        .post(app.url("/v1/pdf-tickets/DEMO0003/send"))
        .header("ET-Client-Name", "test-suite")
        .json(&json!({"emailAddress": "kari11@example.com", "ticketDistributionIds": [tickets[0]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    // The oldest of the ten sends leaves the hour's window in just under an hour.
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3500..=3601).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "TOO_MANY_REQUESTS");
    assert_eq!(sends_of(&app, "DEMO0003").await, 10);
}

#[tokio::test]
async fn fifty_concurrent_sends_never_exceed_the_limits_and_one_mailbox_written_many_ways_counts_once(
) {
    let app = common::spawn_with_env(
        td_testkit::postgres().await.db,
        &[
            ("TD__GATEWAY__MAIL_SENDS_PER_ORDER_PER_HOUR", "7"),
            ("TD__GATEWAY__MAIL_SENDS_PER_ADDRESS_PER_HOUR", "3"),
        ],
    )
    .await;
    let tickets = family_tickets(&app).await;
    // 50 at once, to 50 addresses: the per-order limit holds exactly.
    let calls = (0..50).map(|n| {
        post_send(
            &app,
            "DEMO0003",
            json!({"emailAddress": format!("reisende{n}@example.com"), "ticketDistributionIds": [tickets[0]]}),
            None,
        )
    });
    let answers = futures::future::join_all(calls).await;
    let accepted = answers.iter().filter(|(s, _)| *s == 202).count();
    let limited = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!((accepted, limited), (7, 43), "{answers:?}");
    assert_eq!(sends_of(&app, "DEMO0003").await, 7);

    // One mailbox written in 50 ways (case, a Unicode domain and its punycode), to other orders: the per-address limit holds exactly.
    let mut other: Value = serde_json::from_str(EXAMPLES[0]).unwrap();
    let spellings = [
        "kari@bøler.example",
        "Kari@BØLER.example",
        "KARI@xn--bler-gra.example",
    ];
    let mut orders = Vec::new();
    for n in 0..50 {
        let id = format!("ADDR{n:02}");
        other["order"]["id"] = json!(id);
        other["eventId"] = json!(uuid::Uuid::new_v4());
        app.record(&other.to_string()).await;
        let (_, groups) = app
            .get_json(&format!("/v1/ticket-distribution-groups?orderId={id}"))
            .await;
        let ticket = groups["items"][0]["ticketDistributions"][0]["id"].clone();
        orders.push((id, ticket));
    }
    let calls = orders.iter().enumerate().map(|(n, (id, ticket))| {
        post_send(
            &app,
            id,
            json!({"emailAddress": spellings[n % spellings.len()], "ticketDistributionIds": [ticket]}),
            None,
        )
    });
    let answers = futures::future::join_all(calls).await;
    let accepted = answers.iter().filter(|(s, _)| *s == 202).count();
    let limited = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!((accepted, limited), (3, 47), "{answers:?}");
}

#[test]
fn address_keys_match_an_independent_normalisation() {
    use api_gateway::routes::send::{address_key, parse_address};
    // The same mailbox.
    for same in ["kari@example.com", "KARI@Example.COM"] {
        assert_eq!(
            address_key(&parse_address(same).unwrap()),
            "kari@example.com",
            "{same}"
        );
    }
    assert_eq!(
        address_key(&parse_address("ola@Bøler.example").unwrap()),
        "ola@xn--bler-gra.example"
    );
    // Other mailboxes stay apart.
    for other in [
        "kari+1@example.com",
        "kari@example.no",
        "kari.n@example.com",
    ] {
        assert_ne!(
            address_key(&parse_address(other).unwrap()),
            "kari@example.com",
            "{other}"
        );
    }
}
