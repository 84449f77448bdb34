//! PDF tickets end to end: orders through the real broker and order-listener, PDFs made by
//! the real pdf-renderer through the real gateway, and checked the way people and scanners
//! see them (poppler for pages and text, a QR decoder on the rasterised pages).

use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use td_e2e::stack::Stack;
use td_testkit::pdf::{page_count, page_qr_codes, page_texts};

const FAMILY: &str = include_str!("../../examples/orders/family-with-supplement.json");

/// The family order (two lines: three travellers on a train, one zone ticket) with its own
/// id, so that tests do not share orders.
fn family_order(version: u32) -> (String, Value) {
    let mut v: Value = serde_json::from_str(FAMILY).unwrap();
    let id = format!("PDF{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    v["eventId"] = json!(uuid::Uuid::new_v4());
    v["order"]["id"] = json!(id);
    v["order"]["version"] = json!(version);
    (id, v)
}

async fn produce(stack: &Stack, id: &str, event: &Value) {
    let producer = Stack::producer();
    stack
        .produce(&producer, id, event.to_string().as_bytes())
        .await;
}

fn pdf_of(ticket: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(ticket["pdf"].as_str().expect("pdf is base64"))
        .expect("valid base64")
}

/// `GET /v1/pdf-tickets/{id}/content` for a PdfTicket: status, content type and bytes.
async fn download(stack: &Stack, ticket: &Value) -> (u16, String, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/v1/pdf-tickets/{}/content",
            stack.gateway,
            ticket["id"].as_str().unwrap()
        ))
        .header("ET-Client-Name", "e2e-test")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ids(tickets: &Value) -> BTreeSet<String> {
    tickets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn create_or_get(stack: &Stack, order_id: &str, body: Value) -> (u16, Value) {
    stack
        .post_json(&format!("/v1/pdf-tickets/{order_id}/createOrGet"), body)
        .await
}

#[tokio::test]
async fn each_group_gets_a_pdf_with_one_page_text_and_qr_code_per_ticket() {
    let stack = Stack::start().await;
    let (order_id, event) = family_order(1);
    produce(&stack, &order_id, &event).await;
    let groups = stack
        .wait_for_groups(&order_id, 2, Duration::from_secs(20))
        .await;

    let (status, pdfs) = create_or_get(&stack, &order_id, json!({"language": "eng"})).await;
    assert_eq!(status, 200, "{pdfs}");
    let pdfs = pdfs.as_array().unwrap().clone();
    assert_eq!(pdfs.len(), 2, "one PDF per group");
    for pdf in &pdfs {
        let group = groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == pdf["ticketDistributionGroupId"])
            .expect("the PDF's group exists");
        let tickets = group["ticketDistributions"].as_array().unwrap();
        let ticket_ids: Vec<&str> = tickets.iter().map(|t| t["id"].as_str().unwrap()).collect();
        let listed: Vec<&str> = pdf["ticketDistributionIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(listed, ticket_ids, "every valid ticket, in order");
        assert_eq!(pdf["combinedTicket"], json!(ticket_ids.len() > 1));
        assert_eq!(pdf["language"], "eng");
        assert_eq!(pdf["orderId"], order_id.as_str());

        let bytes = pdf_of(pdf);
        assert_eq!(page_count(&bytes), ticket_ids.len(), "one page per ticket");
        let texts = page_texts(&bytes);
        let codes = page_qr_codes(&bytes);
        for (page, ticket) in tickets.iter().enumerate() {
            let text = flat(&texts[page]);
            let id = ticket["id"].as_str().unwrap();
            assert!(text.contains(id), "page {page} shows its ticket id: {text}");
            assert!(text.contains("Valid until"), "English labels: {text}");
            let traveller = match ticket["travellerId"].as_str().unwrap() {
                t if t.ends_with("T1") => "Ingrid Hansen",
                t if t.ends_with("T2") => "Per Hansen",
                _ => "Emma Hansen",
            };
            assert!(text.contains(traveller), "page {page}: {text}");
            if tickets.len() == 3 {
                assert!(text.contains("Oslo S") && text.contains("Lillehammer stasjon"));
            }
            assert_eq!(codes[page].len(), 1, "one QR code on page {page}");
            let payload: Value = serde_json::from_str(&codes[page][0]).expect("JSON payload");
            assert_eq!(payload["td"], id, "page {page}'s QR code is its ticket's");
            assert_eq!(payload["order"], order_id.as_str());
        }

        // The same bytes are downloadable as application/pdf.
        let (status, content_type, downloaded) = download(&stack, pdf).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "application/pdf");
        assert_eq!(downloaded, bytes);
    }

    // Asked again, in another language: the stored PDFs, not new ones.
    let (status, again) = create_or_get(&stack, &order_id, json!({"language": "nob"})).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&again), ids(&Value::Array(pdfs.clone())));
    assert!(again
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["language"] == "eng"));

    // Search finds them by order and by ticket.
    let (status, found) = stack
        .get(&format!("/v1/pdf-tickets?orderId={order_id}"))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["totalItems"], 2);
    let one_ticket = pdfs[0]["ticketDistributionIds"][0].as_str().unwrap();
    let (_, by_ticket) = stack
        .get(&format!(
            "/v1/pdf-tickets?ticketDistributionId={one_ticket}"
        ))
        .await;
    assert_eq!(by_ticket["totalItems"], 1);
    assert_eq!(by_ticket["items"][0]["id"], pdfs[0]["id"]);
    let (status, bad) = stack.get("/v1/pdf-tickets?colour=red").await;
    assert_eq!(status, 400);
    assert_eq!(bad["code"], "UNKNOWN_PARAMETER");
    let (status, missing) = stack
        .get(&format!("/v1/pdf-tickets/{}/content", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(missing["code"], "PDF_TICKET_NOT_FOUND");
}

#[tokio::test]
async fn the_language_comes_from_the_body_or_accept_language() {
    let stack = Stack::start().await;
    let (order_id, event) = family_order(1);
    produce(&stack, &order_id, &event).await;
    stack
        .wait_for_groups(&order_id, 2, Duration::from_secs(20))
        .await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/pdf-tickets/{order_id}/createOrGet",
            stack.gateway
        ))
        .header("ET-Client-Name", "e2e-test")
        .header("Accept-Language", "nn")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pdfs: Value = response.json().await.unwrap();
    for pdf in pdfs.as_array().unwrap() {
        assert_eq!(pdf["language"], "nno");
        let text = flat(&page_texts(&pdf_of(pdf))[0]);
        assert!(
            text.contains("Reisande") && text.contains("Gyldig til"),
            "{text}"
        );
    }
    let (status, body) = create_or_get(&stack, &order_id, json!({"language": "de"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "INVALID_BODY");
    let (status, body) = create_or_get(&stack, &order_id, json!({"colour": "red"})).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn concurrent_calls_make_one_pdf_per_group() {
    let stack = Stack::start().await;
    let (order_id, event) = family_order(1);
    produce(&stack, &order_id, &event).await;
    stack
        .wait_for_groups(&order_id, 2, Duration::from_secs(20))
        .await;
    let calls = (0..6).map(|_| create_or_get(&stack, &order_id, json!({})));
    let answers = futures::future::join_all(calls).await;
    let first = ids(&answers[0].1);
    assert_eq!(first.len(), 2);
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(ids(body), first, "every caller gets the same PDFs");
    }
    let (_, found) = stack
        .get(&format!("/v1/pdf-tickets?orderId={order_id}"))
        .await;
    assert_eq!(found["totalItems"], 2, "one stored PDF per group");
}

#[tokio::test]
async fn a_call_made_before_the_order_arrives_answers_soon_after_the_groups_exist() {
    let stack = Stack::start().await;
    // The listener is consuming (its group joined) before the measured order is produced.
    let (warm_id, warm_event) = family_order(1);
    produce(&stack, &warm_id, &warm_event).await;
    stack
        .wait_for_groups(&warm_id, 2, Duration::from_secs(20))
        .await;
    let (order_id, event) = family_order(1);
    let waiting = {
        let client = reqwest::Client::new();
        let url = format!("{}/v1/pdf-tickets/{order_id}/createOrGet", stack.gateway);
        tokio::spawn(async move {
            let response = client
                .post(url)
                .header("ET-Client-Name", "e2e-test")
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                Instant::now(),
                response.json::<Value>().await.unwrap(),
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the call waits for the order");
    produce(&stack, &order_id, &event).await;
    stack
        .wait_for_groups(&order_id, 2, Duration::from_secs(20))
        .await;
    let groups_seen = Instant::now();
    let (status, answered, pdfs) = waiting.await.unwrap();
    assert_eq!(status, 200, "{pdfs}");
    assert_eq!(pdfs.as_array().unwrap().len(), 2);
    let lag = answered.saturating_duration_since(groups_seen);
    assert!(
        lag < Duration::from_millis(1500),
        "answered {lag:?} after the groups were searchable"
    );
}

#[tokio::test]
async fn unknown_orders_time_out_with_504_and_unconfirmed_ones_are_409() {
    let stack = Stack::start().await;
    let started = Instant::now();
    let (status, body) = create_or_get(&stack, "NO-SUCH-ORDER", json!({})).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["code"], "GENERATION_TIMEOUT");
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "waited the configured time"
    );

    let (order_id, mut event) = family_order(1);
    event["type"] = json!("OrderCancelled");
    event["order"]["status"] = json!("CANCELLED");
    produce(&stack, &order_id, &event).await;
    // The cancelled order is recorded (it has no groups); then createOrGet refuses it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = create_or_get(&stack, &order_id, json!({})).await;
        if status == 409 {
            assert_eq!(body["code"], "ORDER_NOT_CONFIRMED");
            break;
        }
        assert!(Instant::now() < deadline, "never refused: {status} {body}");
    }
}

#[tokio::test]
async fn cancelled_tickets_get_no_sheet_and_old_pdfs_stay_downloadable() {
    let stack = Stack::start().await;
    let (order_id, v1) = family_order(1);
    produce(&stack, &order_id, &v1).await;
    stack
        .wait_for_groups(&order_id, 2, Duration::from_secs(20))
        .await;
    let (status, first) = create_or_get(&stack, &order_id, json!({})).await;
    assert_eq!(status, 200);
    let first = first.as_array().unwrap().clone();
    let zone_pdf = first
        .iter()
        .find(|p| p["orderLineId"].as_str().unwrap().ends_with("L2"))
        .unwrap()
        .clone();
    let train_pdf = first
        .iter()
        .find(|p| p["orderLineId"].as_str().unwrap().ends_with("L1"))
        .unwrap()
        .clone();

    // Version 2 credits the zone ticket; the train line is unchanged.
    let mut v2 = v1.clone();
    v2["eventId"] = json!(uuid::Uuid::new_v4());
    v2["order"]["version"] = json!(2);
    v2["order"]["orderLines"][1]["status"] = json!("CREDITED");
    v2["order"]["orderLines"][1]["version"] = json!(2);
    produce(&stack, &order_id, &v2).await;
    let zone_ticket = zone_pdf["ticketDistributionIds"][0].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, status) = stack
            .get(&format!("/v1/ticket-distributions/{zone_ticket}/status"))
            .await;
        if status["status"] == "CANCELLED" {
            assert_eq!(status["valid"], false, "{status}");
            assert_eq!(status["reason"], "CANCELLED", "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the credit never showed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The new version's PDFs: the kept group's PDF as it was, nothing for the credited line.
    let (status, second) = create_or_get(&stack, &order_id, json!({"orderVersion": 2})).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        ids(&second),
        BTreeSet::from([train_pdf["id"].as_str().unwrap().to_owned()])
    );

    // The credited line's PDF is still downloadable.
    let (status, _, downloaded) = download(&stack, &zone_pdf).await;
    assert_eq!(status, 200);
    assert_eq!(downloaded, pdf_of(&zone_pdf));

    // Asking for version 1 renders nothing new: its groups' PDFs exist or have no valid ticket.
    let (status, old) = create_or_get(&stack, &order_id, json!({"orderVersion": 1})).await;
    assert_eq!(status, 200, "{old}");
    let (_, all) = stack
        .get(&format!("/v1/pdf-tickets?orderId={order_id}"))
        .await;
    assert_eq!(all["totalItems"], 2);
    let (status, body) = create_or_get(&stack, &order_id, json!({"orderVersion": 7})).await;
    assert_eq!(status, 504, "a version not recorded is waited for: {body}");
}
