//! The query model behind the REST API: group search with operators and paging, the status
//! of one ticket, and an order's distribution summary. Every query takes the caller's
//! organisation scope (`None` = may read across organisations).

use crate::entity::{group, group_order_version, order, ticket_distribution as td};
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query, SimpleExpr, SubQueryStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Value,
};
use td_domain::ids::{OrderId, Scope, TicketDistributionId};
use uuid::Uuid;

/// A comparison operator of the search syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
}

/// A typed filter value.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Text(String),
    Int(i64),
    Uuid(Uuid),
    Time(DateTime<Utc>),
}

impl From<FilterValue> for Value {
    fn from(v: FilterValue) -> Self {
        match v {
            FilterValue::Text(s) => s.into(),
            FilterValue::Int(i) => i.into(),
            FilterValue::Uuid(u) => u.into(),
            FilterValue::Time(t) => t.into(),
        }
    }
}

/// The fields `GET /v1/ticket-distribution-groups` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupField {
    Id,
    OrderId,
    OrderVersion,
    OrderLineId,
    OrganisationId,
    TicketDistributionId,
    DistributionStatus,
    CreatedAt,
    UpdatedAt,
    StartOfValidity,
    EndOfValidity,
    OrderOwnerCustomerId,
    DistributionHolderCustomerId,
    MediaSerialNumberId,
}

/// One `field=op:value` condition. `values` has one element except for `in`/`nin`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter<F = GroupField> {
    pub field: F,
    pub op: Op,
    pub values: Vec<FilterValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based.
    pub page: u64,
    pub per_page: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_items: u64,
    pub page: u64,
    pub per_page: u64,
}

impl<T> Page<T> {
    pub fn total_pages(&self) -> u64 {
        self.total_items.div_ceil(self.per_page.max(1))
    }
}

/// A group with its tickets in position order.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupWithDistributions {
    pub group: group::Model,
    pub distributions: Vec<td::Model>,
}

pub(crate) fn compare(column: SimpleExpr, op: Op, values: Vec<FilterValue>) -> SimpleExpr {
    let mut values: Vec<Value> = values.into_iter().map(Value::from).collect();
    let col = Expr::expr(column);
    match op {
        Op::In => col.is_in(values),
        Op::Nin => col.is_not_in(values),
        _ => {
            let v = values.pop().unwrap_or(Value::String(None));
            match op {
                Op::Eq => col.eq(v),
                Op::Ne => col.ne(v),
                Op::Gt => col.gt(v),
                Op::Gte => col.gte(v),
                Op::Lt => col.lt(v),
                _ => col.lte(v),
            }
        }
    }
}

fn group_column(field: GroupField) -> Option<group::Column> {
    Some(match field {
        GroupField::Id => group::Column::Id,
        GroupField::OrderId => group::Column::OrderId,
        GroupField::OrderLineId => group::Column::OrderLineId,
        GroupField::OrganisationId => group::Column::OrganisationId,
        GroupField::CreatedAt => group::Column::CreatedAt,
        GroupField::UpdatedAt => group::Column::UpdatedAt,
        GroupField::OrderOwnerCustomerId => group::Column::OrderOwnerCustomerId,
        GroupField::DistributionHolderCustomerId => group::Column::DistributionHolderCustomerId,
        _ => return None,
    })
}

fn td_column(field: GroupField) -> Option<td::Column> {
    Some(match field {
        GroupField::TicketDistributionId => td::Column::Id,
        GroupField::DistributionStatus => td::Column::Status,
        GroupField::StartOfValidity => td::Column::StartOfValidity,
        GroupField::EndOfValidity => td::Column::EndOfValidity,
        GroupField::MediaSerialNumberId => td::Column::MediaSerialNumberId,
        _ => return None,
    })
}

/// A filter as a condition on groups. Ticket-level fields select the groups that contain
/// at least one ticket matching (of the caller's organisation first, so the subquery reads
/// that organisation's tickets only); `orderVersion` selects the groups that belong to a
/// matching order version (a group belongs to every version in which its line was unchanged).
fn condition(filter: Filter, scope: Scope) -> SimpleExpr {
    if let Some(col) = group_column(filter.field) {
        return compare(
            Expr::col((group::Entity, col)).into(),
            filter.op,
            filter.values,
        );
    }
    if let Some(col) = td_column(filter.field) {
        let mut sub = Query::select();
        sub.column(td::Column::GroupId).from(td::Entity);
        if let Some(org) = scope.organisation() {
            sub.and_where(Expr::col((td::Entity, td::Column::OrganisationId)).eq(org.0));
        }
        sub.and_where(compare(
            Expr::col((td::Entity, col)).into(),
            filter.op,
            filter.values,
        ));
        return Expr::col((group::Entity, group::Column::Id)).in_subquery(sub.to_owned());
    }
    // Only OrderVersion is left.
    let sub = Query::select()
        .column(group_order_version::Column::GroupId)
        .from(group_order_version::Entity)
        .and_where(compare(
            Expr::col((
                group_order_version::Entity,
                group_order_version::Column::OrderVersion,
            ))
            .into(),
            filter.op,
            filter.values,
        ))
        .to_owned();
    Expr::col((group::Entity, group::Column::Id)).in_subquery(sub)
}

/// The groups a search selects, unordered and unpaged: what [`search_groups`] counts, and
/// (with [`in_page_order`]) pages; the plan tests explain both.
pub fn group_search(scope: Scope, filters: Vec<Filter>) -> sea_orm::Select<group::Entity> {
    let mut cond = Condition::all();
    if let Some(org) = scope.organisation() {
        cond = cond.add(group::Column::OrganisationId.eq(org.0));
    }
    for f in filters {
        cond = cond.add(condition(f, scope));
    }
    group::Entity::find().filter(cond)
}

/// Groups in the order of a search's pages.
pub fn in_page_order(select: sea_orm::Select<group::Entity>) -> sea_orm::Select<group::Entity> {
    select
        .order_by_asc(group::Column::CreatedAt)
        .order_by_asc(group::Column::OrderId)
        .order_by_asc(group::Column::OrderLineId)
        .order_by_asc(group::Column::Id)
}

/// Searches groups; all filters are AND-ed.
pub async fn search_groups<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    filters: Vec<Filter>,
    page: PageRequest,
) -> Result<Page<GroupWithDistributions>, StoreError> {
    let query = group_search(scope, filters);
    let total_items = query.clone().count(conn).await?;
    let groups = in_page_order(query)
        .offset((page.page.saturating_sub(1)).saturating_mul(page.per_page))
        .limit(page.per_page)
        .all(conn)
        .await?;
    let items = with_distributions(conn, groups).await?;
    Ok(Page {
        items,
        total_items,
        page: page.page,
        per_page: page.per_page,
    })
}

/// Attaches each group's tickets (one query for all of them).
pub async fn with_distributions<C: ConnectionTrait>(
    conn: &C,
    groups: Vec<group::Model>,
) -> Result<Vec<GroupWithDistributions>, StoreError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = groups.iter().map(|g| g.id).collect();
    let mut tds = td::Entity::find()
        .filter(td::Column::GroupId.is_in(ids))
        .order_by_asc(td::Column::GroupId)
        .order_by_asc(td::Column::Position)
        .all(conn)
        .await?;
    Ok(groups
        .into_iter()
        .map(|group| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                tds.drain(..).partition(|t| t.group_id == group.id);
            tds = rest;
            GroupWithDistributions {
                group,
                distributions: mine,
            }
        })
        .collect())
}

/// What the status endpoint needs about one ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    pub distribution: td::Model,
    pub group_order_version: i32,
    /// Whether the ticket's group belongs to the order's latest CONFIRMED version.
    pub in_latest_confirmed_version: bool,
}

impl StatusRow {
    /// The ticket's validity answer at `now`.
    pub fn validity(&self, now: DateTime<Utc>) -> Result<td_domain::status::Validity, StoreError> {
        self.distribution
            .validity(self.in_latest_confirmed_version, now)
    }
}

/// A ticket with what its validity depends on, read in one statement, so that the ticket,
/// its group and the order's latest confirmed version come from one snapshot: a reader
/// never mixes the ticket before a change with the order after it.
pub async fn distribution_status<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    id: TicketDistributionId,
) -> Result<Option<StatusRow>, StoreError> {
    let group_version = Query::select()
        .column((group::Entity, group::Column::OrderVersion))
        .from(group::Entity)
        .and_where(
            Expr::col((group::Entity, group::Column::Id)).equals((td::Entity, td::Column::GroupId)),
        )
        .to_owned();
    let latest_version = Query::select()
        .column((order::Entity, order::Column::LatestConfirmedVersion))
        .from(order::Entity)
        .and_where(
            Expr::col((order::Entity, order::Column::OrderId))
                .equals((td::Entity, td::Column::OrderId)),
        )
        .to_owned();
    let in_latest = Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(group_order_version::Entity)
            .and_where(
                Expr::col((
                    group_order_version::Entity,
                    group_order_version::Column::GroupId,
                ))
                .equals((td::Entity, td::Column::GroupId)),
            )
            .and_where(
                Expr::col((
                    group_order_version::Entity,
                    group_order_version::Column::OrderVersion,
                ))
                .in_subquery(latest_version),
            )
            .to_owned(),
    );
    let mut query = td::Entity::find_by_id(id.0)
        .expr_as(
            SimpleExpr::SubQuery(
                None,
                Box::new(SubQueryStatement::SelectStatement(group_version)),
            ),
            "status_group_order_version",
        )
        .expr_as(in_latest, "status_in_latest_confirmed_version");
    if let Some(org) = scope.organisation() {
        query = query.filter(td::Column::OrganisationId.eq(org.0));
    }
    let statement = query.build(conn.get_database_backend());
    let Some(row) = conn.query_one(statement).await? else {
        return Ok(None);
    };
    let distribution = td::Model::from_query_result(&row, "")?;
    let group_order_version: Option<i32> = row.try_get("", "status_group_order_version")?;
    let group_order_version = group_order_version
        .ok_or_else(|| StoreError::Corrupt(format!("ticket {} has no group", distribution.id)))?;
    let in_latest_confirmed_version: bool =
        row.try_get("", "status_in_latest_confirmed_version")?;
    Ok(Some(StatusRow {
        distribution,
        group_order_version,
        in_latest_confirmed_version,
    }))
}

/// All tickets of an order, or `None` when the order is unknown (to the caller).
pub async fn order_distributions<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    order_id: &OrderId,
) -> Result<Option<Vec<td::Model>>, StoreError> {
    let mut find = order::Entity::find_by_id(order_id.0.clone());
    if let Some(org) = scope.organisation() {
        find = find.filter(order::Column::OrganisationId.eq(org.0));
    }
    if find.one(conn).await?.is_none() {
        return Ok(None);
    }
    let tds = td::Entity::find()
        .filter(td::Column::OrderId.eq(order_id.0.as_str()))
        .order_by_asc(td::Column::CreatedAt)
        .order_by_asc(td::Column::GroupId)
        .order_by_asc(td::Column::Position)
        .all(conn)
        .await?;
    Ok(Some(tds))
}

/// The order row (latest versions and status), scoped.
pub async fn order<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    order_id: &OrderId,
) -> Result<Option<order::Model>, StoreError> {
    let mut find = order::Entity::find_by_id(order_id.0.clone());
    if let Some(org) = scope.organisation() {
        find = find.filter(order::Column::OrganisationId.eq(org.0));
    }
    Ok(find.one(conn).await?)
}

/// The ids of the groups that belong to `version` of an order, in creation order.
pub async fn group_ids_of_version<C: ConnectionTrait>(
    conn: &C,
    order_id: &OrderId,
    version: i32,
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<Uuid> = group_order_version::Entity::find()
        .select_only()
        .column(group_order_version::Column::GroupId)
        .filter(group_order_version::Column::OrderId.eq(order_id.0.as_str()))
        .filter(group_order_version::Column::OrderVersion.eq(version))
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(ids);
    }
    Ok(group::Entity::find()
        .select_only()
        .column(group::Column::Id)
        .filter(group::Column::Id.is_in(ids))
        .order_by_asc(group::Column::CreatedAt)
        .order_by_asc(group::Column::OrderLineId)
        .into_tuple()
        .all(conn)
        .await?)
}

/// Groups by id with their tickets, in creation order, scoped.
pub async fn groups_by_ids<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    ids: Vec<Uuid>,
) -> Result<Vec<GroupWithDistributions>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut find = group::Entity::find().filter(group::Column::Id.is_in(ids));
    if let Some(org) = scope.organisation() {
        find = find.filter(group::Column::OrganisationId.eq(org.0));
    }
    let groups = find
        .order_by_asc(group::Column::CreatedAt)
        .order_by_asc(group::Column::OrderLineId)
        .all(conn)
        .await?;
    with_distributions(conn, groups).await
}

/// Whether this version of the order was recorded as CONFIRMED (its groups exist).
pub async fn order_version_exists<C: ConnectionTrait>(
    conn: &C,
    order_id: &OrderId,
    version: i32,
) -> Result<bool, StoreError> {
    use crate::entity::order_version;
    Ok(order_version::Entity::find()
        .filter(order_version::Column::OrderId.eq(order_id.0.as_str()))
        .filter(order_version::Column::Version.eq(version))
        .filter(order_version::Column::Status.eq(td_domain::order::OrderStatus::Confirmed.as_str()))
        .count(conn)
        .await?
        > 0)
}

/// Which CONFIRMED version of an order a call means, as [`confirmed_version`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmedVersion {
    /// This version: the latest CONFIRMED one, or the one asked for, recorded as CONFIRMED.
    Confirmed(i32),
    /// The order is unknown (to the caller).
    UnknownOrder,
    /// The order's latest recorded version (at or past the one asked for) is not
    /// CONFIRMED; `status` is what it is.
    NotConfirmed { status: String },
    /// The version asked for is older than the latest CONFIRMED one but was never
    /// recorded as CONFIRMED.
    NoSuchVersion,
    /// The version asked for is newer than any recorded yet.
    NotRecordedYet,
}

/// The one answer to "which confirmed version does this call mean": `requested` names a
/// version, `None` means the latest CONFIRMED one.
pub async fn confirmed_version<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    order_id: &OrderId,
    requested: Option<u32>,
) -> Result<ConfirmedVersion, StoreError> {
    let Some(row) = order(conn, scope, order_id).await? else {
        return Ok(ConfirmedVersion::UnknownOrder);
    };
    let latest_confirmed = row
        .latest_confirmed_version
        .filter(|_| row.status == td_domain::order::OrderStatus::Confirmed.as_str());
    let Some(latest) = latest_confirmed else {
        // A newer version may still confirm it, but what is recorded now is final for a
        // call about a version already recorded.
        if i64::from(row.latest_version) >= requested.map_or(0, i64::from) {
            return Ok(ConfirmedVersion::NotConfirmed { status: row.status });
        }
        return Ok(ConfirmedVersion::NotRecordedYet);
    };
    let Some(v) = requested else {
        return Ok(ConfirmedVersion::Confirmed(latest));
    };
    let Some(v) = i32::try_from(v).ok().filter(|v| *v <= latest) else {
        return Ok(ConfirmedVersion::NotRecordedYet);
    };
    Ok(if order_version_exists(conn, order_id, v).await? {
        ConfirmedVersion::Confirmed(v)
    } else {
        ConfirmedVersion::NoSuchVersion
    })
}
