//! Stored PDF tickets, one contract suite run against PostgreSQL and SQLite alike: one PDF
//! per group whoever stores first, search by the public filters with the caller's scope,
//! download scoped to the organisation, and removal once the retention ended.

use chrono::{DateTime, Duration, TimeZone, Utc};
use td_domain::ids::{OrganisationId, Scope};
use td_store::entity::pdf_ticket;
use td_store::pdf::{self, PdfField, StoredPdf};
use td_store::query::{Filter, FilterValue, Op, PageRequest};
use td_store::DatabaseConnection;
use uuid::Uuid;

fn at(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 2, 1, 12, 0, 0).unwrap() + Duration::days(days)
}

fn stored(
    group: Uuid,
    order: &str,
    line: &str,
    org: i64,
    tickets: usize,
    created: i64,
) -> StoredPdf {
    StoredPdf {
        pdf: pdf_ticket::Model {
            id: Uuid::new_v4(),
            group_id: group,
            order_id: order.to_owned(),
            order_version: 1,
            order_line_id: line.to_owned(),
            order_line_version: 1,
            organisation_id: org,
            language: "eng".to_owned(),
            content: format!("%PDF-1.7 {group}").into_bytes(),
            created_at: at(created),
            delete_at: at(created + 90),
        },
        ticket_distribution_ids: (0..tickets).map(|_| Uuid::new_v4()).collect(),
    }
}

fn page() -> PageRequest {
    PageRequest {
        page: 1,
        per_page: 20,
    }
}

fn eq(field: PdfField, value: FilterValue) -> Filter<PdfField> {
    Filter {
        field,
        op: Op::Eq,
        values: vec![value],
    }
}

async fn one_pdf_per_group_whoever_stores_first(db: &DatabaseConnection) {
    let group = Uuid::new_v4();
    let first = stored(group, "O1", "L1", 1, 2, 0);
    let second = stored(group, "O1", "L1", 1, 2, 0);
    assert!(pdf::insert_if_absent(db, first.clone()).await.unwrap());
    assert!(!pdf::insert_if_absent(db, second).await.unwrap());
    let found = pdf::for_groups(db, &[group]).await.unwrap();
    assert_eq!(
        found,
        vec![first],
        "the first PDF, with its tickets in order"
    );

    // Concurrent writers: exactly one wins, every writer then finds the same PDF.
    let group = Uuid::new_v4();
    let writers = (0..6).map(|_| {
        let db = db.clone();
        let candidate = stored(group, "O2", "L1", 1, 1, 0);
        async move { pdf::insert_if_absent(&db, candidate).await.unwrap() }
    });
    let won = futures::future::join_all(writers).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert_eq!(pdf::for_groups(db, &[group]).await.unwrap().len(), 1);
}

async fn search_filters_and_scope(db: &DatabaseConnection) {
    let a = stored(Uuid::new_v4(), "S1", "L1", 1, 3, 0);
    let b = stored(Uuid::new_v4(), "S1", "L2", 1, 1, 1);
    let other_org = stored(Uuid::new_v4(), "S2", "L1", 2, 1, 2);
    for p in [&a, &b, &other_org] {
        assert!(pdf::insert_if_absent(db, p.clone()).await.unwrap());
    }
    let by_order = pdf::search(
        db,
        Scope::AllOrganisations,
        vec![eq(PdfField::OrderId, FilterValue::Text("S1".into()))],
        page(),
    )
    .await
    .unwrap();
    assert_eq!(by_order.total_items, 2);
    assert_eq!(by_order.items, vec![a.clone(), b.clone()], "oldest first");

    let ticket = a.ticket_distribution_ids[1];
    let by_ticket = pdf::search(
        db,
        Scope::AllOrganisations,
        vec![eq(
            PdfField::TicketDistributionId,
            FilterValue::Uuid(ticket),
        )],
        page(),
    )
    .await
    .unwrap();
    assert_eq!(by_ticket.items, vec![a.clone()]);

    let lines = pdf::search(
        db,
        Scope::AllOrganisations,
        vec![
            eq(PdfField::OrderId, FilterValue::Text("S1".into())),
            Filter {
                field: PdfField::OrderLineId,
                op: Op::Ne,
                values: vec![FilterValue::Text("L1".into())],
            },
        ],
        page(),
    )
    .await
    .unwrap();
    assert_eq!(lines.items, vec![b.clone()]);

    // Organisation 1 does not see organisation 2's PDF, by any filter or by id.
    let scoped = pdf::search(
        db,
        Scope::Organisation(OrganisationId(1)),
        vec![Filter {
            field: PdfField::OrderId,
            op: Op::In,
            values: vec![
                FilterValue::Text("S1".into()),
                FilterValue::Text("S2".into()),
            ],
        }],
        page(),
    )
    .await
    .unwrap();
    assert_eq!(scoped.total_items, 2);
    assert!(scoped.items.iter().all(|p| p.pdf.organisation_id == 1));
    assert_eq!(
        pdf::content(db, Scope::Organisation(OrganisationId(1)), other_org.pdf.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        pdf::content(db, Scope::Organisation(OrganisationId(2)), other_org.pdf.id)
            .await
            .unwrap(),
        Some(other_org.pdf.content.clone())
    );
    assert_eq!(
        pdf::content(db, Scope::AllOrganisations, Uuid::new_v4())
            .await
            .unwrap(),
        None
    );
}

async fn expired_pdfs_are_removed(db: &DatabaseConnection) {
    let old = stored(Uuid::new_v4(), "E1", "L1", 1, 2, -100);
    let fresh = stored(Uuid::new_v4(), "E1", "L2", 1, 1, 0);
    for p in [&old, &fresh] {
        assert!(pdf::insert_if_absent(db, p.clone()).await.unwrap());
    }
    let removed = pdf::delete_expired(db, at(0), 500).await.unwrap();
    assert!(removed >= 1, "{removed}");
    assert_eq!(
        pdf::content(db, Scope::AllOrganisations, old.pdf.id)
            .await
            .unwrap(),
        None
    );
    assert!(pdf::for_groups(db, &[old.pdf.group_id])
        .await
        .unwrap()
        .is_empty());
    let by_ticket = pdf::search(
        db,
        Scope::AllOrganisations,
        vec![eq(
            PdfField::TicketDistributionId,
            FilterValue::Uuid(old.ticket_distribution_ids[0]),
        )],
        page(),
    )
    .await
    .unwrap();
    assert_eq!(by_ticket.total_items, 0, "its ticket rows went with it");
    assert_eq!(
        pdf::content(db, Scope::AllOrganisations, fresh.pdf.id)
            .await
            .unwrap(),
        Some(fresh.pdf.content.clone()),
        "a PDF within its retention stays"
    );
    assert_eq!(pdf::delete_expired(db, at(0), 500).await.unwrap(), 0);
}

async fn suite(db: &DatabaseConnection) {
    one_pdf_per_group_whoever_stores_first(db).await;
    search_filters_and_scope(db).await;
    expired_pdfs_are_removed(db).await;
}

#[tokio::test]
async fn stored_pdfs_on_postgres() {
    let t = td_testkit::postgres().await;
    suite(&t.db).await;
}

#[tokio::test]
async fn stored_pdfs_on_sqlite() {
    let t = td_testkit::sqlite().await;
    suite(&t.db).await;
}
