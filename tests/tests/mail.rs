//! E-mailed PDF tickets end to end: orders through the real broker and order-listener, the
//! send recorded by the real gateway, delivered by the real mailer (jobs on the real Redis,
//! PDFs from the real pdf-renderer) to a real SMTP server (aiosmtpd), and the mail read back
//! the way a mail client reads it.

use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Value};
use std::time::Duration;
use td_e2e::stack::Stack;
use td_testkit::pdf::page_count;
use td_testkit::smtp::{SmtpServer, Stored};

const FAMILY: &str = include_str!("../../examples/orders/family-with-supplement.json");

/// The family order (two lines: three travellers on a train, one zone ticket) with its own id.
fn family_order() -> (String, Value) {
    let mut v: Value = serde_json::from_str(FAMILY).unwrap();
    let id = format!("MAIL{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    v["eventId"] = json!(uuid::Uuid::new_v4());
    v["order"]["id"] = json!(id);
    (id, v)
}

/// A stack with a mailer sending to `smtp`, and the family order recorded; returns the
/// order id and its groups (each with its tickets).
async fn stack_with_order(
    smtp: &SmtpServer,
    extra: &[(&'static str, String)],
) -> (Stack, String, Vec<Value>) {
    let mut stack = Stack::start().await;
    stack.start_mailer(&smtp.url(), extra).await;
    let (order_id, event) = family_order();
    stack
        .produce(&Stack::producer(), &order_id, event.to_string().as_bytes())
        .await;
    let groups = stack
        .wait_for_groups(&order_id, 2, Duration::from_secs(20))
        .await;
    let groups = groups["items"].as_array().unwrap().clone();
    (stack, order_id, groups)
}

fn ticket_ids(groups: &[Value]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| g["ticketDistributions"].as_array().unwrap().iter())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn send(
    stack: &Stack,
    order_id: &str,
    body: Value,
    idempotency_key: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/pdf-tickets/{order_id}/send", stack.gateway))
        .header("ET-Client-Name", "e2e-test")
        .json(&body);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls the send until it is `status`; returns it.
async fn wait_for_send(stack: &Stack, id: &str, status: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (code, body) = stack.get(&format!("/v1/pdf-tickets/sends/{id}")).await;
        assert_eq!(code, 200, "{body}");
        if body["status"] == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "send {id} not {status} within {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the server holds `n` messages, then a little longer to see that no more come.
async fn exactly(smtp: &SmtpServer, n: usize) -> Vec<Stored> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while smtp.stored().len() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stored = smtp.stored();
    assert_eq!(stored.len(), n, "messages at the SMTP server");
    stored
}

#[tokio::test]
async fn a_send_arrives_with_one_pdf_per_group_and_marks_the_tickets_distributed_as_pdf() {
    let smtp = SmtpServer::start(&[]);
    let (stack, order_id, groups) = stack_with_order(&smtp, &[]).await;
    let tickets = ticket_ids(&groups);
    assert_eq!(tickets.len(), 4);

    let (status, accepted) = send(
        &stack,
        &order_id,
        json!({ "emailAddress": "kari.nordmann@example.no", "ticketDistributionIds": tickets, "language": "eng" }),
        None,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    let sent = wait_for_send(&stack, id, "SENT", Duration::from_secs(60)).await;
    assert_eq!(sent["attempts"], 1, "{sent}");

    let stored = exactly(&smtp, 1).await;
    let mail = &stored[0];
    assert_eq!(mail.rcpt_tos, vec!["kari.nordmann@example.no".to_owned()]);
    assert_eq!(mail.mail_from, "billett@example.org");
    assert_eq!(
        sent["smtpQueueId"].as_str(),
        Some(mail.queue_id.as_str()),
        "the send names the server's queue id"
    );
    let parsed = MessageParser::default().parse(&mail.eml).expect("parses");
    assert_eq!(
        parsed.subject(),
        Some(format!("Your tickets for order {order_id}").as_str())
    );
    assert!(parsed
        .message_id()
        .is_some_and(|m| m.starts_with(&format!("{id}@"))));
    assert!(parsed.date().is_some());
    let text = parsed.body_text(0).expect("a plain-text body");
    assert!(text.contains(&order_id), "{text}");
    assert!(parsed.body_html(0).is_some(), "an HTML body");

    // One attachment per group, each a PDF with one page per ticket of its group.
    let mut pages: Vec<usize> = parsed
        .attachments()
        .map(|a| {
            assert_eq!(
                a.content_type().map(|c| (c.ctype(), c.subtype())),
                Some(("application", Some("pdf")))
            );
            let name = a.attachment_name().expect("a filename");
            assert!(
                name.starts_with(&format!("ticket-{order_id}-")) && name.ends_with(".pdf"),
                "{name}"
            );
            page_count(a.contents())
        })
        .collect();
    pages.sort_unstable();
    let mut expected: Vec<usize> = groups
        .iter()
        .map(|g| g["ticketDistributions"].as_array().unwrap().len())
        .collect();
    expected.sort_unstable();
    assert_eq!(pages, expected);

    let groups = stack
        .wait_for_groups(&order_id, 2, Duration::from_secs(5))
        .await;
    for group in groups["items"].as_array().unwrap() {
        for ticket in group["ticketDistributions"].as_array().unwrap() {
            assert_eq!(ticket["distribution"]["distributedAsPdf"], true, "{ticket}");
        }
    }
}

#[tokio::test]
async fn the_subject_and_body_follow_the_requested_language() {
    let smtp = SmtpServer::start(&[]);
    let (stack, order_id, groups) = stack_with_order(&smtp, &[]).await;
    let tickets = ticket_ids(&groups);
    let mut ids = Vec::new();
    for (language, address) in [("nob", "nob@example.no"), ("nno", "nno@example.no")] {
        let (status, accepted) = send(
            &stack,
            &order_id,
            json!({ "emailAddress": address, "ticketDistributionIds": tickets, "language": language }),
            None,
        )
        .await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_for_send(&stack, id, "SENT", Duration::from_secs(60)).await;
    }
    let stored = exactly(&smtp, 2).await;
    for (address, subject) in [
        (
            "nob@example.no",
            format!("Billettene dine for ordre {order_id}"),
        ),
        (
            "nno@example.no",
            format!("Billettane dine for ordre {order_id}"),
        ),
    ] {
        let mail = stored
            .iter()
            .find(|m| m.rcpt_tos == [address.to_owned()])
            .expect("a mail to each address");
        let parsed = MessageParser::default().parse(&mail.eml).unwrap();
        assert_eq!(parsed.subject(), Some(subject.as_str()));
        let name = parsed
            .attachments()
            .next()
            .unwrap()
            .attachment_name()
            .unwrap()
            .to_owned();
        assert!(name.starts_with("billett-"), "{name}");
    }
}

#[tokio::test]
async fn an_smtp_server_stopped_mid_send_gets_the_mail_once_when_it_is_back() {
    // The server takes the first DATA and never answers it; it is killed then, mid-send.
    let mut smtp = SmtpServer::start(&["--stall", "1"]);
    let (stack, order_id, groups) = stack_with_order(&smtp, &[]).await;
    let (status, accepted) = send(
        &stack,
        &order_id,
        json!({ "emailAddress": "kari@example.no", "ticketDistributionIds": ticket_ids(&groups) }),
        None,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while smtp.data_attempts() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mailer never reached DATA"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    smtp.stop();
    // While the server is down the send is retried and tells why it is not sent yet.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let (_, body) = stack.get(&format!("/v1/pdf-tickets/sends/{id}")).await;
        if body["attempts"].as_i64() >= Some(2) && !body["lastError"].is_null() {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no retry recorded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(waiting["status"], "SENT");
    assert_ne!(waiting["status"], "FAILED");

    smtp.restart();
    let sent = wait_for_send(&stack, id, "SENT", Duration::from_secs(60)).await;
    assert!(sent["attempts"].as_i64() >= Some(2), "{sent}");
    let stored = exactly(&smtp, 1).await;
    assert_eq!(stored[0].rcpt_tos, vec!["kari@example.no".to_owned()]);
}

#[tokio::test]
async fn a_recipient_refused_with_550_ends_failed_with_the_reply() {
    let smtp = SmtpServer::start(&["--reject", "^nobody@"]);
    let (stack, order_id, groups) = stack_with_order(&smtp, &[]).await;
    let (status, accepted) = send(
        &stack,
        &order_id,
        json!({ "emailAddress": "nobody@example.no", "ticketDistributionIds": ticket_ids(&groups) }),
        None,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    let failed = wait_for_send(&stack, id, "FAILED", Duration::from_secs(60)).await;
    assert_eq!(failed["attempts"], 1, "a 5xx is not retried: {failed}");
    let error = failed["lastError"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("mailbox unavailable"),
        "{error}"
    );
    assert!(smtp.stored().is_empty());
    let groups = stack
        .wait_for_groups(&order_id, 2, Duration::from_secs(5))
        .await;
    for group in groups["items"].as_array().unwrap() {
        for ticket in group["ticketDistributions"].as_array().unwrap() {
            assert_eq!(
                ticket["distribution"]["distributedAsPdf"], false,
                "{ticket}"
            );
        }
    }
}

#[tokio::test]
async fn five_requests_with_one_idempotency_key_send_one_mail() {
    let smtp = SmtpServer::start(&[]);
    let (stack, order_id, groups) = stack_with_order(&smtp, &[]).await;
    let body =
        json!({ "emailAddress": "kari@example.no", "ticketDistributionIds": ticket_ids(&groups) });
    let key = uuid::Uuid::new_v4().to_string();
    let answers = futures::future::join_all(
        (0..5).map(|_| send(&stack, &order_id, body.clone(), Some(&key))),
    )
    .await;
    let first = answers[0].1["id"].as_str().expect("a send id").to_owned();
    for (status, answer) in &answers {
        assert_eq!(*status, 202, "{answer}");
        assert_eq!(
            answer["id"],
            first.as_str(),
            "every retry answers the first send"
        );
    }
    wait_for_send(&stack, &first, "SENT", Duration::from_secs(60)).await;
    // And once more after it was sent.
    let (status, again) = send(&stack, &order_id, body, Some(&key)).await;
    assert_eq!((status, again["id"].as_str()), (202, Some(first.as_str())));
    exactly(&smtp, 1).await;
}

#[tokio::test]
async fn header_injection_never_reaches_the_smtp_server() {
    let smtp = SmtpServer::start(&[]);
    let (stack, order_id, groups) = stack_with_order(&smtp, &[]).await;
    let tickets = ticket_ids(&groups);
    for address in [
        "kari@example.no\r\nBcc: evil@example.com",
        "kari@example.no\nBcc: evil@example.com",
        "kari@example.no, evil@example.com",
        "kari@example.no;evil@example.com",
        "Kari <kari@example.no>",
        "\"kari@example.no\r\nBcc: evil@example.com\"@example.no",
        "kari@example.no\u{2028}Bcc: evil@example.com",
    ] {
        let (status, body) = send(
            &stack,
            &order_id,
            json!({ "emailAddress": address, "ticketDistributionIds": tickets }),
            None,
        )
        .await;
        assert_eq!(status, 400, "{address:?}: {body}");
        assert_eq!(body["code"], "INVALID_EMAIL_ADDRESS", "{address:?}: {body}");
    }
    // A language smuggling a header is not a language: refused, nothing recorded.
    let (status, body) = send(
        &stack,
        &order_id,
        json!({ "emailAddress": "kari@example.no", "ticketDistributionIds": tickets, "language": "eng\r\nBcc: evil@example.com" }),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let (status, accepted) = send(
        &stack,
        &order_id,
        json!({ "emailAddress": "kari@example.no", "ticketDistributionIds": tickets }),
        None,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    wait_for_send(
        &stack,
        accepted["id"].as_str().unwrap(),
        "SENT",
        Duration::from_secs(60),
    )
    .await;
    let stored = exactly(&smtp, 1).await;
    assert_eq!(smtp.rcpt_attempts(), vec!["kari@example.no".to_owned()]);
    let raw = String::from_utf8_lossy(&stored[0].eml).to_string();
    let headers = &raw[..raw.find("\r\n\r\n").expect("a header block")];
    let lower = headers.to_ascii_lowercase();
    assert!(
        !lower.contains("\nbcc:") && !lower.contains("\ncc:"),
        "{headers}"
    );
    assert_eq!(lower.matches("\nto:").count(), 1, "{headers}");
}

#[tokio::test]
async fn pdfs_too_large_to_attach_are_sent_as_links_that_download_them() {
    let smtp = SmtpServer::start(&[]);
    // 32 KiB leaves 16 KiB for attachments after the room kept for headers and bodies:
    // less than the order's two PDFs take.
    let (stack, order_id, groups) = stack_with_order(
        &smtp,
        &[("TD__MAILER__MAX_MESSAGE_BYTES", "32768".to_owned())],
    )
    .await;
    let (status, accepted) = send(
        &stack,
        &order_id,
        json!({ "emailAddress": "kari@example.no", "ticketDistributionIds": ticket_ids(&groups), "language": "eng" }),
        None,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    wait_for_send(
        &stack,
        accepted["id"].as_str().unwrap(),
        "SENT",
        Duration::from_secs(60),
    )
    .await;
    let stored = exactly(&smtp, 1).await;
    let parsed = MessageParser::default().parse(&stored[0].eml).unwrap();
    assert_eq!(parsed.attachment_count(), 0, "links instead of attachments");
    let text = parsed.body_text(0).unwrap().to_string();
    let prefix = format!("{}/v1/pdf-tickets/", stack.gateway);
    let links: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&prefix))
        .collect();
    assert_eq!(links.len(), 2, "one link per group: {text}");
    let mut total = 0;
    for link in links {
        let response = reqwest::Client::new()
            .get(link)
            .header("ET-Client-Name", "e2e-test")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{link}");
        let pdf = response.bytes().await.unwrap();
        assert!(page_count(&pdf) >= 1);
        total += pdf.len();
    }
    assert!(
        total * 4 / 3 > 16 * 1024,
        "the PDFs ({total} bytes) would not have fitted"
    );
}
