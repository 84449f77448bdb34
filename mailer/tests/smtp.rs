//! The mailer against a real SMTP server: aiosmtpd (`td_testkit::smtp`). Each test starts
//! its own server on a free port and stops it at the end.

use mail_parser::{MessageParser, MimeHeaders};
use mailer::message::{attachments_encoded_size, MESSAGE_OVERHEAD_BYTES};
use mailer::{
    attachments_fit, build_message, message_size, Attachment, MailFrom, SendError, SmtpOptions,
    SmtpSender, TicketMail,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use td_domain::Language;
use td_testkit::smtp::SmtpServer;

const FROM: &str = "billett@example.org";
const DOMAIN: &str = "tickets.example.org";

fn sender_for(server: &SmtpServer) -> SmtpSender {
    SmtpSender::from_url(&server.url(), &options()).expect("sender")
}

fn options() -> SmtpOptions {
    SmtpOptions {
        connect_timeout: Duration::from_secs(5),
        send_timeout: Duration::from_secs(30),
        ..SmtpOptions::default()
    }
}

/// A fake PDF of `len` bytes (every byte value occurs, to catch encoding mistakes).
fn pdf(seed: u8, len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v
}

fn ticket_mail(language: Language, to: &str, order: &str, pdfs: Vec<Vec<u8>>) -> TicketMail {
    TicketMail {
        from: MailFrom {
            address: FROM.into(),
            name: Some("Billettsalg".into()),
        },
        to: to.into(),
        language,
        order_id: order.into(),
        attachments: pdfs
            .into_iter()
            .enumerate()
            .map(|(i, pdf)| Attachment::ticket(language, order, i + 1, pdf))
            .collect(),
        links: Vec::new(),
        message_id: uuid::Uuid::new_v4(),
        message_id_domain: DOMAIN.into(),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_ticket_mail_arrives_in_each_language_with_its_pdfs() {
    let server = SmtpServer::start(&[]);
    let sender = sender_for(&server);
    let expected = [
        (
            Language::Nob,
            "Billettene dine for ordre ORD-1001",
            "billett",
            "Her er billettene dine",
        ),
        (
            Language::Nno,
            "Billettane dine for ordre ORD-1001",
            "billett",
            "Her er billettane dine",
        ),
        (
            Language::Eng,
            "Your tickets for order ORD-1001",
            "ticket",
            "Here are your tickets",
        ),
    ];
    for (i, (language, subject, stem, intro)) in expected.into_iter().enumerate() {
        let to = format!("reisende{i}@example.no");
        let pdfs = vec![pdf(1, 5_000), pdf(2, 123_457), pdf(3, 1)];
        let msg = build_message(&ticket_mail(language, &to, "ORD-1001", pdfs.clone())).unwrap();
        let sent = sender.send(&msg).await.expect("sent");
        assert!(sent.reply.starts_with("250 "), "{}", sent.reply);

        let stored = server.stored();
        let got = stored
            .iter()
            .find(|s| Some(&s.queue_id) == sent.queue_id.as_ref())
            .unwrap_or_else(|| panic!("no stored mail with the queue id of {sent:?}"));
        assert_eq!(stored.len(), i + 1);
        assert_eq!(got.rcpt_tos, vec![to.clone()]);
        assert_eq!(got.mail_from, FROM);

        let m = MessageParser::default().parse(&got.eml).expect("parses");
        let to_header: Vec<_> = m.to().unwrap().iter().collect();
        assert_eq!(to_header.len(), 1);
        assert_eq!(to_header[0].address(), Some(to.as_str()));
        assert_eq!(m.from().unwrap().first().unwrap().address(), Some(FROM));
        assert_eq!(m.subject(), Some(subject));
        assert!(m.content_type().unwrap().ctype() == "multipart");
        assert_eq!(m.content_type().unwrap().subtype(), Some("mixed"));

        let text = m.text_part(0).expect("text part");
        let ct = text.content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("plain")));
        let text = m.body_text(0).unwrap();
        assert!(text.contains(intro) && text.contains("ORD-1001"), "{text}");
        let html = m.html_part(0).expect("html part");
        let ct = html.content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("html")));
        let html = m.body_html(0).unwrap();
        assert!(html.contains(intro) && html.contains("ORD-1001"), "{html}");

        assert_eq!(m.attachment_count(), pdfs.len());
        for (n, (part, bytes)) in m.attachments().zip(&pdfs).enumerate() {
            let ct = part.content_type().unwrap();
            assert_eq!((ct.ctype(), ct.subtype()), ("application", Some("pdf")));
            let name = format!("{stem}-ORD-1001-{}.pdf", n + 1);
            assert_eq!(part.attachment_name(), Some(name.as_str()));
            assert!(
                part.contents() == bytes.as_slice(),
                "attachment {name} differs"
            );
        }

        let id = m.message_id().expect("Message-ID");
        let (left, right) = id.split_once('@').unwrap();
        assert_eq!(right, DOMAIN);
        uuid::Uuid::parse_str(left).expect("uuid");
        let date = m.date().expect("Date").to_timestamp();
        assert!((date - now_secs()).abs() < 600, "Date {date}");
    }
}

#[tokio::test]
async fn a_rejected_recipient_is_a_permanent_failure() {
    let server = SmtpServer::start(&["--reject", "^nobody@"]);
    let sender = sender_for(&server);
    let msg = build_message(&ticket_mail(
        Language::Eng,
        "nobody@example.no",
        "O-1",
        vec![pdf(0, 10)],
    ))
    .unwrap();
    match sender.send(&msg).await {
        Err(SendError::Permanent(reply)) => {
            assert!(reply.starts_with("550"), "{reply}");
            assert!(reply.contains("mailbox unavailable"), "{reply}");
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    assert!(server.stored().is_empty());
    // The sender is still usable after the failed transaction.
    let msg = build_message(&ticket_mail(
        Language::Eng,
        "somebody@example.no",
        "O-1",
        vec![pdf(0, 10)],
    ))
    .unwrap();
    sender.send(&msg).await.expect("second send");
    assert_eq!(server.stored().len(), 1);
}

#[tokio::test]
async fn no_server_is_a_transient_failure() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sender = SmtpSender::from_url(&format!("smtp://127.0.0.1:{port}"), &options()).unwrap();
    let msg = build_message(&ticket_mail(
        Language::Nob,
        "ola@example.no",
        "O-2",
        vec![pdf(0, 10)],
    ))
    .unwrap();
    let err = sender.send(&msg).await.expect_err("nothing listens");
    assert!(err.is_transient(), "{err:?}");
    assert!(sender.check().await.expect_err("check").is_transient());
}

#[tokio::test]
async fn a_451_is_a_transient_failure_and_the_next_try_goes_through() {
    let server = SmtpServer::start(&["--tempfail", "1"]);
    let sender = sender_for(&server);
    sender.check().await.expect("server answers");
    let msg = build_message(&ticket_mail(
        Language::Nob,
        "ola@example.no",
        "O-3",
        vec![pdf(0, 10)],
    ))
    .unwrap();
    match sender.send(&msg).await {
        Err(SendError::Transient(reply)) => assert!(reply.starts_with("451"), "{reply}"),
        other => panic!("expected a transient failure, got {other:?}"),
    }
    assert!(server.stored().is_empty());
    sender.send(&msg).await.expect("second try");
    assert_eq!(server.stored().len(), 1);
}

#[tokio::test]
async fn a_server_that_stops_answering_times_out_and_the_sender_recovers() {
    let server = SmtpServer::start(&["--stall", "1"]);
    let sender = SmtpSender::from_url(
        &server.url(),
        &SmtpOptions {
            send_timeout: Duration::from_secs(3),
            ..options()
        },
    )
    .unwrap();
    let first = build_message(&ticket_mail(
        Language::Eng,
        "a@example.no",
        "O-4",
        vec![pdf(0, 10)],
    ))
    .unwrap();
    let meanwhile = build_message(&ticket_mail(
        Language::Eng,
        "c@example.no",
        "O-4",
        vec![pdf(0, 10)],
    ))
    .unwrap();
    let started = std::time::Instant::now();
    // A send on another connection while the first waits is not disturbed by its timeout.
    let (stalled, concurrent) = tokio::join!(sender.send(&first), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sender.send(&meanwhile).await
    });
    let err = stalled.expect_err("stalled");
    assert!(err.is_transient(), "{err:?}");
    concurrent.expect("the concurrent send");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Give a connection handed back to the pool time to get there: the next send must not
    // pick up the one left waiting for the stalled reply.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let second = build_message(&ticket_mail(
        Language::Eng,
        "b@example.no",
        "O-4",
        vec![pdf(0, 10)],
    ))
    .unwrap();
    sender.send(&second).await.expect("sent after the timeout");
    let mut recipients: Vec<_> = server
        .stored()
        .into_iter()
        .flat_map(|s| s.rcpt_tos)
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["b@example.no", "c@example.no"]);
}

#[tokio::test]
async fn header_injection_is_refused_before_anything_is_sent() {
    let server = SmtpServer::start(&[]);
    let sender = sender_for(&server);
    let base = ticket_mail(Language::Nob, "ola@example.no", "O-5", vec![pdf(0, 10)]);
    let mut attempts: Vec<TicketMail> = Vec::new();
    for to in [
        "ola@example.no\r\nBcc: kari@example.no",
        "ola@example.no\nBcc: kari@example.no",
        "ola@example.no\r\n",
        "ola@example.no\r\n\r\nbody",
        "\"Ola\" <ola@example.no>",
        "Ola <ola@example.no>",
        "\"kari@example.no\" <ola@example.no>",
        "<ola@example.no>",
        "ola@example.no, kari@example.no",
        "ola@example.no; kari@example.no",
        "ola@example.no kari@example.no",
        "=?utf-8?q?x=0D=0ABcc:_kari@example.no?= <ola@example.no>",
        "",
    ] {
        let mut m = base.clone();
        m.to = to.into();
        attempts.push(m);
    }
    for bad in ["O-5\r\nBcc: kari@example.no", "O-5\nX-Evil: 1", "O-5\r"] {
        let mut m = base.clone();
        m.order_id = bad.into();
        attempts.push(m);
        let mut m = base.clone();
        m.attachments[0].filename = format!("{bad}.pdf");
        attempts.push(m);
        let mut m = base.clone();
        m.from.name = Some(bad.into());
        attempts.push(m);
    }
    for m in &attempts {
        assert!(build_message(m).is_err(), "built a message from {m:?}");
    }
    assert!(server.rcpt_attempts().is_empty());
    assert!(server.stored().is_empty());

    // Values that are allowed but look odd stay inside their header.
    let mut m = base.clone();
    m.order_id = "O-5 Bcc: kari@example.no".into();
    m.attachments[0].filename = "../\"x\"; filename=evil.exe".into();
    m.from.name = Some("Billett \"salg\" <kari@example.no>".into());
    let msg = build_message(&m).unwrap();
    sender.send(&msg).await.expect("sent");
    assert_eq!(server.rcpt_attempts(), vec!["ola@example.no".to_owned()]);
    let stored = server.stored();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].rcpt_tos, vec!["ola@example.no".to_owned()]);
    let parsed = MessageParser::default().parse(&stored[0].eml).unwrap();
    assert_eq!(parsed.to().unwrap().iter().count(), 1);
    assert!(parsed.bcc().is_none() && parsed.cc().is_none());
    assert_eq!(
        parsed.subject(),
        Some("Billettene dine for ordre O-5 Bcc: kari@example.no")
    );
    assert_eq!(
        parsed.from().unwrap().first().unwrap().address(),
        Some(FROM)
    );
    let name = parsed
        .attachments()
        .next()
        .unwrap()
        .attachment_name()
        .unwrap()
        .to_owned();
    assert_eq!(name, "x___filename_evil.exe.pdf");
}

#[tokio::test]
async fn links_go_instead_of_attachments_that_do_not_fit() {
    let server = SmtpServer::start(&[]);
    let sender = sender_for(&server);
    let limit = 1024 * 1024;
    let small = vec![pdf(1, 200_000), pdf(2, 200_000)];
    let large = vec![pdf(1, 400_000), pdf(2, 400_000)];
    let attachments = |pdfs: &[Vec<u8>]| -> Vec<Attachment> {
        pdfs.iter()
            .enumerate()
            .map(|(i, p)| Attachment::ticket(Language::Eng, "O-6", i + 1, p.clone()))
            .collect()
    };
    assert!(attachments_fit(&attachments(&small), limit));
    assert!(!attachments_fit(&attachments(&large), limit));

    // What fits is attached, and is no larger than estimated.
    let fits = build_message(&ticket_mail(Language::Eng, "a@example.no", "O-6", small)).unwrap();
    let size = message_size(&fits);
    assert!(
        size <= MESSAGE_OVERHEAD_BYTES
            + attachments_encoded_size(&attachments(&[pdf(1, 200_000), pdf(2, 200_000)]))
    );
    sender.send(&fits).await.expect("sent");

    // What does not fit goes as links.
    let mut mail = ticket_mail(Language::Eng, "b@example.no", "O-6", large);
    assert!(!attachments_fit(&mail.attachments, limit));
    mail.links = vec![
        "https://tickets.example.org/api/v1/pdf/1?token=a&x=1".into(),
        "https://tickets.example.org/api/v1/pdf/2?token=b&x=2".into(),
    ];
    let msg = build_message(&mail).unwrap();
    assert!(message_size(&msg) < 64 * 1024, "{}", message_size(&msg));
    sender.send(&msg).await.expect("sent");

    let stored = server.stored();
    assert_eq!(stored.len(), 2);
    let attached = stored
        .iter()
        .find(|s| s.rcpt_tos == ["a@example.no"])
        .unwrap();
    assert!(
        attached.eml.len()
            <= MESSAGE_OVERHEAD_BYTES
                + attachments_encoded_size(&attachments(&[pdf(1, 200_000), pdf(2, 200_000)]))
    );
    let m = MessageParser::default().parse(&attached.eml).unwrap();
    assert_eq!(m.attachment_count(), 2);

    let linked = stored
        .iter()
        .find(|s| s.rcpt_tos == ["b@example.no"])
        .unwrap();
    let m = MessageParser::default().parse(&linked.eml).unwrap();
    assert_eq!(m.attachment_count(), 0);
    let text = m.body_text(0).unwrap();
    let html = m.body_html(0).unwrap();
    assert!(
        text.contains("Download them from the links below:"),
        "{text}"
    );
    for link in &mail.links {
        assert!(text.lines().any(|l| l == link), "{link} not in {text}");
        let escaped = link.replace('&', "&amp;");
        assert!(
            html.contains(&format!("<a href=\"{escaped}\">{escaped}</a>")),
            "{html}"
        );
    }
}
