//! Bounded searches: every filter of both searches (each operator that can use an index:
//! `eq`, `in` and, for ordered fields, a range), for a caller of one organisation and for
//! one reading across organisations, is explained on PostgreSQL with sequential scans
//! disabled; a plan that still reads a whole ticket, group or PDF table (a sequential scan,
//! or an index walked without an index condition) means no index serves the filter, and
//! fails. The page query, its count, and the queries that load the page's
//! tickets are all explained.

use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement, TransactionTrait};
use td_domain::ids::{OrganisationId, Scope};
use td_store::pdf::{in_page_order as pdf_page_order, pdf_search, PdfField};
use td_store::query::{group_search, in_page_order, Filter, FilterValue, GroupField, Op};
use uuid::Uuid;

const TABLES: &[&str] = &[
    "ticket_distributions",
    "ticket_distribution_groups",
    "group_order_versions",
    "pdf_tickets",
    "pdf_ticket_distributions",
];

/// A value of the field's type.
fn value_of(kind: &str) -> FilterValue {
    match kind {
        "text" => FilterValue::Text("X-1".into()),
        "int" => FilterValue::Int(3),
        "uuid" => FilterValue::Uuid(Uuid::from_u128(7)),
        "status" => FilterValue::Text("GENERATED".into()),
        _ => FilterValue::Time(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()),
    }
}

/// The operators to explain for a field of this kind.
fn ops(kind: &str) -> Vec<(Op, Vec<FilterValue>)> {
    let one = value_of(kind);
    let mut ops = vec![
        (Op::Eq, vec![one.clone()]),
        (Op::In, vec![one.clone(), one.clone()]),
    ];
    if matches!(kind, "int" | "time") {
        ops.push((Op::Gte, vec![one.clone()]));
        ops.push((Op::Lt, vec![one]));
    }
    ops
}

fn group_fields() -> Vec<(GroupField, &'static str)> {
    use GroupField::*;
    vec![
        (Id, "uuid"),
        (OrderId, "text"),
        (OrderVersion, "int"),
        (OrderLineId, "text"),
        (OrganisationId, "int"),
        (TicketDistributionId, "uuid"),
        (DistributionStatus, "status"),
        (CreatedAt, "time"),
        (UpdatedAt, "time"),
        (StartOfValidity, "time"),
        (EndOfValidity, "time"),
        (OrderOwnerCustomerId, "text"),
        (DistributionHolderCustomerId, "text"),
        (MediaSerialNumberId, "text"),
    ]
}

/// Every GroupField, so that a new one cannot be added without a plan test.
fn _exhaustive(field: GroupField) {
    use GroupField::*;
    match field {
        Id
        | OrderId
        | OrderVersion
        | OrderLineId
        | OrganisationId
        | TicketDistributionId
        | DistributionStatus
        | CreatedAt
        | UpdatedAt
        | StartOfValidity
        | EndOfValidity
        | OrderOwnerCustomerId
        | DistributionHolderCustomerId
        | MediaSerialNumberId => {}
    }
}

/// The plan of `statement` with sequential scans disabled.
async fn plan(db: &sea_orm::DatabaseConnection, statement: &Statement) -> String {
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("SET LOCAL enable_seqscan = off")
        .await
        .unwrap();
    let explain = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("EXPLAIN {}", statement.sql),
        statement.values.clone().map(|v| v.0).unwrap_or_default(),
    );
    let rows = txn.query_all(explain).await.unwrap();
    txn.rollback().await.unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Explains a selection's count (every matching row: no index may be walked whole) and its
/// first page (where an index walked in page order under the `LIMIT` is the planner trading
/// a sort for stopping early; only a sequential scan fails it); adds what reads a whole
/// table to `failures`. Returns how many queries it explained.
async fn explain<E: sea_orm::EntityTrait>(
    db: &sea_orm::DatabaseConnection,
    what: &str,
    selection: sea_orm::Select<E>,
    page: sea_orm::Select<E>,
    failures: &mut Vec<String>,
) -> usize {
    let selection = selection.build(DbBackend::Postgres);
    let count = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT COUNT(*) FROM ({}) AS sub", selection.sql),
        selection.values.clone().map(|v| v.0).unwrap_or_default(),
    );
    let queries = [(count, true), (page.build(DbBackend::Postgres), false)];
    for (statement, strict) in &queries {
        let plan = plan(db, statement).await;
        if !scans(&plan, *strict).is_empty() {
            failures.push(format!("{what}:\n{plan}"));
        }
    }
    queries.len()
}

/// The tables of `TABLES` that `plan` reads whole: a sequential scan, or (`strict`) an index
/// walked without an index condition while it filters rows (what the planner picks, with
/// sequential scans disabled, when no index serves the filter).
fn scans(plan: &str, strict: bool) -> Vec<String> {
    let lines: Vec<&str> = plan.lines().collect();
    let mut whole = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.split(" on ").nth(1) else {
            continue;
        };
        let table = rest.split_whitespace().next().unwrap_or_default();
        if !TABLES.contains(&table) {
            continue;
        }
        if line.contains("Seq Scan") {
            whole.push(table.to_owned());
        } else if strict && (line.contains("Index Scan") || line.contains("Index Only Scan")) {
            // The node's details follow until the next node (`->`): rows filtered while an
            // index is walked without a condition mean the filter has no index of its own.
            let details: Vec<&&str> = lines[i + 1..]
                .iter()
                .take_while(|l| !l.contains("->"))
                .collect();
            let conditioned = details.iter().any(|l| l.contains("Index Cond:"));
            let filtered = details.iter().any(|l| l.contains("Filter:"));
            if filtered && !conditioned {
                whole.push(table.to_owned());
            }
        }
    }
    whole
}

#[tokio::test]
async fn no_filter_of_either_search_scans_a_whole_table() {
    let db = td_testkit::postgres().await.db;
    let scopes = [
        Scope::Organisation(OrganisationId(1)),
        Scope::AllOrganisations,
    ];
    let mut failures = Vec::new();
    let mut explained = 0;
    for scope in scopes {
        for (field, kind) in group_fields() {
            for (op, values) in ops(kind) {
                let filter = Filter { field, op, values };
                let selection = group_search(scope, vec![filter]);
                let page = sea_orm::QuerySelect::limit(in_page_order(selection.clone()), 20);
                let what = format!("groups {field:?} {op:?} ({scope:?})");
                explained += explain(&db, &what, selection, page, &mut failures).await;
            }
        }
        for (field, kind) in [
            (PdfField::Id, "uuid"),
            (PdfField::OrderId, "text"),
            (PdfField::OrderLineId, "text"),
            (PdfField::OrganisationId, "int"),
            (PdfField::TicketDistributionId, "uuid"),
        ] {
            for (op, values) in ops(kind) {
                let filter = Filter { field, op, values };
                let selection = pdf_search(scope, vec![filter]);
                let page = sea_orm::QuerySelect::limit(pdf_page_order(selection.clone()), 5);
                let what = format!("PDFs {field:?} {op:?} ({scope:?})");
                explained += explain(&db, &what, selection, page, &mut failures).await;
            }
        }
    }
    // The tickets of a page of groups, and the sheets of a page of PDFs.
    for statement in [
        "SELECT * FROM ticket_distributions WHERE group_id IN ($1, $2) ORDER BY group_id, position",
        "SELECT * FROM pdf_ticket_distributions WHERE pdf_ticket_id IN ($1, $2) ORDER BY pdf_ticket_id, position",
    ] {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            statement,
            [Uuid::from_u128(1).into(), Uuid::from_u128(2).into()],
        );
        let plan = plan(&db, &statement).await;
        explained += 1;
        if !scans(&plan, true).is_empty() {
            failures.push(format!("{}:\n{plan}", statement.sql));
        }
    }
    assert!(explained > 100, "{explained}");
    assert!(
        failures.is_empty(),
        "{} of {explained} queries scan a whole table:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[tokio::test]
async fn a_statement_past_the_pools_timeout_is_cancelled_and_says_so() {
    let test_db = td_testkit::postgres().await;
    let bounded = td_store::connect(
        &test_db.url,
        1,
        std::time::Duration::from_secs(10),
        Some(std::time::Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let err = bounded
        .execute_unprepared("SELECT pg_sleep(2)")
        .await
        .map(|_| ())
        .map_err(td_store::StoreError::from)
        .expect_err("cancelled after 200 ms");
    assert!(err.is_statement_timeout(), "{err}");
    assert!(!err.is_refused_data() && !err.is_unreachable(), "{err}");
    // A pool without the bound lets the statement finish.
    test_db
        .db
        .execute_unprepared("SELECT pg_sleep(0.3)")
        .await
        .unwrap();
}
