//! The service's bounds on work, on a real (SQLite) store: concurrent createOrGets of one
//! group share one render, a render nobody waits for any more stops, and the number of
//! callers waiting for an order's tickets is capped.

use pdf_renderer::service::{Bounds, PdfService};
use pdf_renderer::watch::OrderWatch;
use pdf_renderer::{CreateOrGet, PdfError, Presentation};
use serde_json::json;
use std::time::Duration;
use td_domain::Language;
use td_store::record::{record_order_event, Origin};
use td_store::{DatabaseConnection, TransactionTrait};
use tokio_util::sync::CancellationToken;

/// A confirmed order of one line with `tickets` fare products, one traveller each: one
/// group of that many tickets.
async fn record_order(db: &DatabaseConnection, id: &str, tickets: usize) {
    let ids: Vec<String> = (1..=tickets).map(|n| format!("{id}-T{n}")).collect();
    let event = json!({
        "eventId": uuid::Uuid::new_v4(), "type": "OrderConfirmed", "correlationId": format!("c-{id}"),
        "timestamp": "2027-01-01T07:30:02Z",
        "order": {
            "id": id, "version": 1, "status": "CONFIRMED", "organisationId": 1,
            "contactInfo": {"contact": {"customerId": "1", "email": "a@example.com"}},
            "travellers": ids.iter().map(|t| json!({"id": t, "name": format!("Traveller {t}"), "userProfileRef": "ENT:UserProfile:Adult"})).collect::<Vec<_>>(),
            "orderLines": [{
                "id": format!("{id}-L1"), "version": 1, "status": "CONFIRMED",
                "startOfValidity": "2027-01-01T07:30:00Z", "endOfValidity": "2099-12-31T22:59:59Z",
                "fareProducts": ids.iter().map(|t| json!({"id": format!("FP-{t}"), "ref": "RUT:PreassignedFareProduct:365Days", "name": "365", "kind": "MAIN", "travellerIds": [t]})).collect::<Vec<_>>(),
                "legs": [], "fareZones": ["RUT:FareZone:4"],
            }],
        }
    });
    // A large group on purpose: beyond the default intake limits.
    let limits = td_domain::Limits {
        max_travellers: 5000,
        max_fare_products_per_line: 5000,
        max_tickets_per_order: 5000,
        ..td_domain::Limits::default()
    };
    let event = td_domain::parse_order_event_within(event.to_string().as_bytes(), &limits).unwrap();
    let txn = db.begin().await.unwrap();
    record_order_event(&txn, &event, &Origin::default(), chrono::Utc::now())
        .await
        .unwrap();
    txn.commit().await.unwrap();
}

fn service(db: &DatabaseConnection, render_concurrency: usize, max_waiting: usize) -> PdfService {
    let watch = OrderWatch::start(db, CancellationToken::new());
    PdfService::new(
        db.clone(),
        watch,
        Presentation::default(),
        Bounds {
            render_concurrency,
            max_waiting,
            max_wait: Duration::from_secs(60),
        },
        chrono::Duration::days(1),
    )
}

fn request(order_id: &str, wait: Duration) -> CreateOrGet {
    CreateOrGet {
        order_id: order_id.to_owned(),
        order_version: None,
        order_line_ids: Vec::new(),
        language: Language::Eng,
        scope: td_domain::Scope::AllOrganisations,
        wait,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_one_group_share_one_render() {
    let db = td_testkit::sqlite().await.db;
    let tickets = 150;
    record_order(&db, "FLIGHT1", tickets).await;
    // Enough render slots that, without sharing, every request would render at once.
    let pdfs = service(&db, 4, 16);
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(4));
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let pdfs = pdfs.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                pdfs.create_or_get(request("FLIGHT1", Duration::ZERO)).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for call in calls {
        let got = call.await.unwrap().expect("the PDFs");
        assert_eq!(got.len(), 1, "one group, one PDF");
        ids.push(got[0].pdf.id);
    }
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "every caller gets the one stored PDF: {ids:?}"
    );
    assert_eq!(
        pdfs.sheets_compiled(),
        tickets as u64,
        "the group's sheets are compiled once, not once per caller"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_nobody_waits_for_stops() {
    let db = td_testkit::sqlite().await.db;
    let tickets = 1500;
    record_order(&db, "GONE1", tickets).await;
    let pdfs = service(&db, 1, 16);
    let call = tokio::spawn({
        let pdfs = pdfs.clone();
        async move { pdfs.create_or_get(request("GONE1", Duration::ZERO)).await }
    });
    // The caller goes away once the render is under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while pdfs.sheets_compiled() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the render never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    // Sheets already under way may finish; then nothing more is compiled.
    let mut settled = pdfs.sheets_compiled();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = pdfs.sheets_compiled();
        if now == settled {
            break;
        }
        settled = now;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let later = pdfs.sheets_compiled();
    assert_eq!(settled, later, "compiling went on after the caller left");
    assert!(
        later < tickets as u64 / 2,
        "the render stopped early: {later} of {tickets} sheets"
    );
    // Nothing half-made was stored: a new request renders the group whole.
    let got = pdfs
        .create_or_get(request("GONE1", Duration::ZERO))
        .await
        .expect("a new request renders it");
    assert_eq!(got[0].ticket_distribution_ids.len(), tickets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_waiting_for_tickets_are_capped() {
    let db = td_testkit::sqlite().await.db;
    let pdfs = service(&db, 1, 2);
    let waiters: Vec<_> = (0..2)
        .map(|n| {
            let pdfs = pdfs.clone();
            tokio::spawn(async move {
                pdfs.create_or_get(request(&format!("LATE{n}"), Duration::from_millis(1500)))
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let refused = pdfs
        .create_or_get(request("LATE9", Duration::from_millis(1500)))
        .await;
    assert!(matches!(refused, Err(PdfError::Busy(2))), "{refused:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "refused at once, not after waiting"
    );
    // An order that is there needs no waiting, so it is served even now.
    record_order(&db, "HERE1", 1).await;
    let served = pdfs
        .create_or_get(request("HERE1", Duration::from_millis(1500)))
        .await;
    assert_eq!(served.expect("served").len(), 1);
    for waiter in waiters {
        let waited = waiter.await.unwrap();
        assert!(matches!(waited, Err(PdfError::Timeout(..))), "{waited:?}");
    }
    // The waiters' places are free again.
    let again = pdfs
        .create_or_get(request("LATE9", Duration::from_millis(100)))
        .await;
    assert!(matches!(again, Err(PdfError::Timeout(..))), "{again:?}");
}
