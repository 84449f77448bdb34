//! Stored PDF tickets: at most one per ticket distribution group, created by whoever gets
//! there first (a concurrent second writer finds the first one's PDF), searchable with the
//! search syntax, and removed once their retention ends.

use crate::entity::{pdf_ticket, pdf_ticket_distribution as pdf_td};
use crate::query::{compare, Filter, Page, PageRequest};
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use td_domain::ids::Scope;
use uuid::Uuid;

/// The fields `GET /v1/pdf-tickets` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdfField {
    Id,
    OrderId,
    OrderLineId,
    OrganisationId,
    TicketDistributionId,
}

/// A stored PDF with the tickets it shows, in sheet order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPdf {
    pub pdf: pdf_ticket::Model,
    pub ticket_distribution_ids: Vec<Uuid>,
}

/// Stores a PDF unless its group has one already. Returns whether this call stored it; the
/// PDF and its ticket list are written in one transaction.
pub async fn insert_if_absent<C>(conn: &C, pdf: StoredPdf) -> Result<bool, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = conn.begin().await?;
    let id = pdf.pdf.id;
    let model: pdf_ticket::ActiveModel = pdf.pdf.into();
    let inserted = pdf_ticket::Entity::insert(model)
        .on_conflict(
            OnConflict::column(pdf_ticket::Column::GroupId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    if inserted == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    let rows: Vec<pdf_td::ActiveModel> = pdf
        .ticket_distribution_ids
        .iter()
        .enumerate()
        .map(|(position, td)| pdf_td::ActiveModel {
            pdf_ticket_id: Set(id),
            ticket_distribution_id: Set(*td),
            position: Set(position as i32),
        })
        .collect();
    if !rows.is_empty() {
        pdf_td::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// The stored PDFs of these groups (those that have one).
pub async fn for_groups<C: ConnectionTrait>(
    conn: &C,
    group_ids: &[Uuid],
) -> Result<Vec<StoredPdf>, StoreError> {
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let pdfs = pdf_ticket::Entity::find()
        .filter(pdf_ticket::Column::GroupId.is_in(group_ids.iter().copied()))
        .all(conn)
        .await?;
    with_tickets(conn, pdfs).await
}

async fn with_tickets<C: ConnectionTrait>(
    conn: &C,
    pdfs: Vec<pdf_ticket::Model>,
) -> Result<Vec<StoredPdf>, StoreError> {
    if pdfs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = pdf_td::Entity::find()
        .filter(pdf_td::Column::PdfTicketId.is_in(pdfs.iter().map(|p| p.id)))
        .order_by_asc(pdf_td::Column::PdfTicketId)
        .order_by_asc(pdf_td::Column::Position)
        .all(conn)
        .await?;
    Ok(pdfs
        .into_iter()
        .map(|pdf| StoredPdf {
            ticket_distribution_ids: rows
                .iter()
                .filter(|r| r.pdf_ticket_id == pdf.id)
                .map(|r| r.ticket_distribution_id)
                .collect(),
            pdf,
        })
        .collect())
}

fn condition(filter: Filter<PdfField>) -> SimpleExpr {
    let column = match filter.field {
        PdfField::Id => pdf_ticket::Column::Id,
        PdfField::OrderId => pdf_ticket::Column::OrderId,
        PdfField::OrderLineId => pdf_ticket::Column::OrderLineId,
        PdfField::OrganisationId => pdf_ticket::Column::OrganisationId,
        PdfField::TicketDistributionId => {
            let sub = Query::select()
                .column(pdf_td::Column::PdfTicketId)
                .from(pdf_td::Entity)
                .and_where(compare(
                    Expr::col((pdf_td::Entity, pdf_td::Column::TicketDistributionId)).into(),
                    filter.op,
                    filter.values,
                ))
                .to_owned();
            return Expr::col((pdf_ticket::Entity, pdf_ticket::Column::Id)).in_subquery(sub);
        }
    };
    compare(
        Expr::col((pdf_ticket::Entity, column)).into(),
        filter.op,
        filter.values,
    )
}

/// The PDFs a search selects, unordered and unpaged: what [`search`] counts and (oldest
/// first) pages; the plan tests explain both.
pub fn pdf_search(
    scope: Scope,
    filters: Vec<Filter<PdfField>>,
) -> sea_orm::Select<pdf_ticket::Entity> {
    let mut cond = Condition::all();
    if let Some(org) = scope.organisation() {
        cond = cond.add(pdf_ticket::Column::OrganisationId.eq(org.0));
    }
    for f in filters {
        cond = cond.add(condition(f));
    }
    pdf_ticket::Entity::find().filter(cond)
}

/// PDFs in the order of a search's pages: oldest first.
pub fn in_page_order(
    select: sea_orm::Select<pdf_ticket::Entity>,
) -> sea_orm::Select<pdf_ticket::Entity> {
    select
        .order_by_asc(pdf_ticket::Column::CreatedAt)
        .order_by_asc(pdf_ticket::Column::Id)
}

/// Searches stored PDFs (all filters AND-ed), oldest first.
pub async fn search<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    filters: Vec<Filter<PdfField>>,
    page: PageRequest,
) -> Result<Page<StoredPdf>, StoreError> {
    let query = pdf_search(scope, filters);
    let total_items = query.clone().count(conn).await?;
    let pdfs = in_page_order(query)
        .offset(page.page.saturating_sub(1).saturating_mul(page.per_page))
        .limit(page.per_page)
        .all(conn)
        .await?;
    Ok(Page {
        items: with_tickets(conn, pdfs).await?,
        total_items,
        page: page.page,
        per_page: page.per_page,
    })
}

/// One stored PDF's bytes, scoped to the caller's organisation.
pub async fn content<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    id: Uuid,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut find = pdf_ticket::Entity::find_by_id(id)
        .select_only()
        .column(pdf_ticket::Column::Content);
    if let Some(org) = scope.organisation() {
        find = find.filter(pdf_ticket::Column::OrganisationId.eq(org.0));
    }
    Ok(find.into_tuple::<Vec<u8>>().one(conn).await?)
}

/// Removes up to `limit` PDFs whose retention ended before `now`; returns how many.
pub async fn delete_expired<C>(conn: &C, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let ids: Vec<Uuid> = pdf_ticket::Entity::find()
        .select_only()
        .column(pdf_ticket::Column::Id)
        .filter(pdf_ticket::Column::DeleteAt.lte(now))
        .order_by_asc(pdf_ticket::Column::DeleteAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let txn = conn.begin().await?;
    pdf_td::Entity::delete_many()
        .filter(pdf_td::Column::PdfTicketId.is_in(ids.iter().copied()))
        .exec(&txn)
        .await?;
    let deleted = pdf_ticket::Entity::delete_many()
        .filter(pdf_ticket::Column::Id.is_in(ids))
        .filter(pdf_ticket::Column::DeleteAt.lte(now))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(deleted.rows_affected)
}
