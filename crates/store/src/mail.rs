//! E-mail sends of PDF tickets: recorded by the send endpoint (with its `Idempotency-Key`
//! in the same transaction), picked up by a dispatcher that enqueues a mail job for each
//! send still due, and moved through QUEUED → SENDING → SENT or FAILED by the mailer. A send
//! is marked SENT before its job is acknowledged, and a job for a send that is SENT or
//! FAILED does nothing, so a redelivered job never sends a second mail.

use crate::entity::{idempotency_record, pdf_send, ticket_distribution as td};
use crate::StoreError;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};
use td_domain::ids::Scope;
use uuid::Uuid;

pub const QUEUED: &str = "QUEUED";
pub const SENDING: &str = "SENDING";
pub const SENT: &str = "SENT";
pub const FAILED: &str = "FAILED";

/// What the send endpoint records.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSend {
    pub id: Uuid,
    pub order_id: String,
    pub organisation_id: i64,
    pub email_address: String,
    /// The address as the limits compare it: sends to addresses with the same key count
    /// as sends to one address (the caller normalises, e.g. case and punycode).
    pub address_key: String,
    pub language: String,
    pub ticket_distribution_ids: Vec<Uuid>,
    pub correlation_id: Option<String>,
    /// The W3C trace context of the request, for the mailer's span.
    pub traceparent: Option<String>,
}

/// How many sends one order, and one address, may have within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    pub per_order: u64,
    pub per_address: u64,
    pub window: Duration,
}

/// An `Idempotency-Key` and what it guards: the same key with another request is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyKey {
    /// Whose key it is (e.g. the caller's organisation and client), so keys of different
    /// callers never collide.
    pub scope: String,
    pub key: String,
    /// A hash of the request the key was first used with.
    pub request_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created(pdf_send::Model),
    /// The key was used before for the same request: its send, unchanged.
    Replayed(pdf_send::Model),
    /// The key was used before for a different request.
    KeyReused,
    /// The order or the address has had its sends within the window; room comes back at
    /// `free_at`. Nothing was recorded.
    Limited {
        free_at: DateTime<Utc>,
    },
}

fn ids_json(ids: &[Uuid]) -> serde_json::Value {
    serde_json::Value::Array(
        ids.iter()
            .map(|id| serde_json::Value::String(id.to_string()))
            .collect(),
    )
}

/// The tickets of a send, from its JSON column.
pub fn ticket_ids(send: &pdf_send::Model) -> Vec<Uuid> {
    send.ticket_distribution_ids
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Records a send (QUEUED) and, when given, its idempotency key, in one transaction. A key
/// seen before returns the first send instead; two concurrent requests with one key record
/// one send. With `limits`, the send is recorded only while its order and its address
/// (`address_key`) are below them: the count and the insert run in one transaction under
/// locks of the order and the address, so concurrent requests cannot exceed a limit.
pub async fn create_send<C>(
    conn: &C,
    new: NewSend,
    key: Option<IdempotencyKey>,
    limits: Option<&SendLimits>,
    now: DateTime<Utc>,
) -> Result<CreateOutcome, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = conn.begin().await?;
    if let Some(k) = &key {
        let inserted = idempotency_record::Entity::insert(idempotency_record::ActiveModel {
            scope: Set(k.scope.clone()),
            key: Set(k.key.clone()),
            request_hash: Set(k.request_hash.clone()),
            response: Set(serde_json::json!({ "sendId": new.id })),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                idempotency_record::Column::Scope,
                idempotency_record::Column::Key,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted == 0 {
            txn.rollback().await?;
            let first = idempotency_record::Entity::find_by_id((k.scope.clone(), k.key.clone()))
                .one(conn)
                .await?
                .ok_or_else(|| StoreError::Corrupt("idempotency record vanished".into()))?;
            if first.request_hash != k.request_hash {
                return Ok(CreateOutcome::KeyReused);
            }
            let id = first.response["sendId"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| StoreError::Corrupt("idempotency record without send".into()))?;
            let send = pdf_send::Entity::find_by_id(id)
                .one(conn)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("send {id} missing")))?;
            return Ok(CreateOutcome::Replayed(send));
        }
    }
    if let Some(limits) = limits {
        if let Some(free_at) = over_limits(&txn, &new, limits, now).await? {
            txn.rollback().await?;
            return Ok(CreateOutcome::Limited { free_at });
        }
    }
    let model = pdf_send::Model {
        id: new.id,
        order_id: new.order_id,
        organisation_id: new.organisation_id,
        email_address: new.email_address,
        address_key: new.address_key,
        language: new.language,
        ticket_distribution_ids: ids_json(&new.ticket_distribution_ids),
        status: QUEUED.to_owned(),
        attempts: 0,
        last_error: None,
        smtp_queue_id: None,
        message_id: None,
        correlation_id: new.correlation_id,
        traceparent: new.traceparent,
        enqueued_at: None,
        sent_at: None,
        created_at: now,
        updated_at: now,
    };
    let active: pdf_send::ActiveModel = model.clone().into();
    pdf_send::Entity::insert(active)
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(CreateOutcome::Created(model))
}

/// When room comes back, if the order or the address of `new` is at its limit. Holds the
/// order's and the address's locks until the transaction ends (PostgreSQL; SQLite has one
/// writer), taken in a fixed order so that two requests never wait for each other.
async fn over_limits<C: ConnectionTrait>(
    txn: &C,
    new: &NewSend,
    limits: &SendLimits,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        let mut keys = [
            format!("pdf-send-order:{}", new.order_id),
            format!("pdf-send-address:{}", new.address_key),
        ];
        keys.sort();
        for key in keys {
            txn.execute(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                [key.into()],
            ))
            .await?;
        }
    }
    let (per_order, per_address) =
        recent_sends(txn, &new.order_id, &new.address_key, now - limits.window).await?;
    // Room comes back when the oldest send of each full window leaves it.
    Ok([
        (per_order, limits.per_order),
        (per_address, limits.per_address),
    ]
    .iter()
    .filter(|(recent, limit)| recent.count >= *limit)
    .map(|(recent, _)| recent.oldest.map_or(now, |t| t + limits.window))
    .max())
}

/// Sends recorded within a window, for one order or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recent {
    pub count: u64,
    /// When the oldest of them was recorded: the window has room again once it has left.
    pub oldest: Option<DateTime<Utc>>,
}

async fn recent<C: ConnectionTrait>(
    conn: &C,
    filter: Condition,
    since: DateTime<Utc>,
) -> Result<Recent, StoreError> {
    let row: Option<(i64, Option<DateTime<Utc>>)> = pdf_send::Entity::find()
        .select_only()
        .column_as(Expr::col(pdf_send::Column::Id).count(), "count")
        .column_as(Expr::col(pdf_send::Column::CreatedAt).min(), "oldest")
        .filter(filter)
        .filter(pdf_send::Column::CreatedAt.gte(since))
        .into_tuple()
        .one(conn)
        .await?;
    let (count, oldest) = row.unwrap_or((0, None));
    Ok(Recent {
        count: u64::try_from(count).unwrap_or(0),
        oldest,
    })
}

/// The sends recorded since `since` for the order and for the address key (the rate limits
/// of the send endpoint).
pub async fn recent_sends<C: ConnectionTrait>(
    conn: &C,
    order_id: &str,
    address_key: &str,
    since: DateTime<Utc>,
) -> Result<(Recent, Recent), StoreError> {
    let per_order = recent(
        conn,
        Condition::all().add(pdf_send::Column::OrderId.eq(order_id)),
        since,
    )
    .await?;
    let per_address = recent(
        conn,
        Condition::all().add(pdf_send::Column::AddressKey.eq(address_key)),
        since,
    )
    .await?;
    Ok((per_order, per_address))
}

/// One send, scoped to the caller's organisation.
pub async fn send<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    id: Uuid,
) -> Result<Option<pdf_send::Model>, StoreError> {
    let mut find = pdf_send::Entity::find_by_id(id);
    if let Some(org) = scope.organisation() {
        find = find.filter(pdf_send::Column::OrganisationId.eq(org.0));
    }
    Ok(find.one(conn).await?)
}

/// Sends that need a mail job: QUEUED or SENDING, never enqueued or enqueued longer ago
/// than `redispatch_after` (the job was lost or its worker died).
pub async fn due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    redispatch_after: Duration,
    limit: u64,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(pdf_send::Entity::find()
        .select_only()
        .column(pdf_send::Column::Id)
        .filter(pdf_send::Column::Status.is_in([QUEUED, SENDING]))
        .filter(
            Condition::any()
                .add(pdf_send::Column::EnqueuedAt.is_null())
                .add(pdf_send::Column::EnqueuedAt.lte(now - redispatch_after)),
        )
        .order_by_asc(pdf_send::Column::CreatedAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?)
}

/// Stamps sends whose job was just enqueued.
pub async fn mark_enqueued<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    pdf_send::Entity::update_many()
        .col_expr(pdf_send::Column::EnqueuedAt, Expr::value(now))
        .filter(pdf_send::Column::Id.is_in(ids.iter().copied()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Starts a delivery attempt: a QUEUED send becomes SENDING with one more attempt. A send
/// SENDING since before `now - stale_after` is taken over too (its worker died mid-attempt).
/// `None` when the send is SENT or FAILED (nothing to do), unknown, or in an attempt of
/// another worker right now: of two concurrent jobs for one send, one attempts it.
pub async fn begin_attempt<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Result<Option<pdf_send::Model>, StoreError> {
    let updated = pdf_send::Entity::update_many()
        .col_expr(pdf_send::Column::Status, Expr::value(SENDING))
        .col_expr(
            pdf_send::Column::Attempts,
            Expr::col(pdf_send::Column::Attempts).add(1),
        )
        .col_expr(pdf_send::Column::UpdatedAt, Expr::value(now))
        .filter(pdf_send::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(pdf_send::Column::Status.eq(QUEUED))
                .add(
                    Condition::all()
                        .add(pdf_send::Column::Status.eq(SENDING))
                        .add(pdf_send::Column::UpdatedAt.lte(now - stale_after)),
                ),
        )
        .exec(conn)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(None);
    }
    Ok(pdf_send::Entity::find_by_id(id).one(conn).await?)
}

/// Ends an attempt that did not deliver: the send becomes `status` with `error`, unless it
/// is SENT or FAILED already.
async fn end_attempt<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    status: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    pdf_send::Entity::update_many()
        .col_expr(pdf_send::Column::Status, Expr::value(status))
        .col_expr(pdf_send::Column::LastError, Expr::value(error))
        .col_expr(pdf_send::Column::UpdatedAt, Expr::value(now))
        .filter(pdf_send::Column::Id.eq(id))
        .filter(pdf_send::Column::Status.is_in([QUEUED, SENDING]))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records a transient failure: the send is QUEUED again, with the error, until its retry.
pub async fn record_error<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    end_attempt(conn, id, QUEUED, error, now).await
}

/// Ends a send FAILED with the error (a permanent refusal, or retries exhausted).
pub async fn mark_failed<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    end_attempt(conn, id, FAILED, error, now).await
}

/// Marks a send SENT with what the SMTP server said, and its tickets `distributedAsPdf`,
/// in one transaction. Returns false when the send was not in flight (already SENT or
/// FAILED): then nothing changes.
pub async fn mark_sent<C>(
    conn: &C,
    id: Uuid,
    smtp_queue_id: Option<&str>,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = conn.begin().await?;
    let updated = pdf_send::Entity::update_many()
        .col_expr(pdf_send::Column::Status, Expr::value(SENT))
        .col_expr(
            pdf_send::Column::SmtpQueueId,
            Expr::value(smtp_queue_id.map(str::to_owned)),
        )
        .col_expr(pdf_send::Column::MessageId, Expr::value(message_id))
        .col_expr(pdf_send::Column::SentAt, Expr::value(now))
        .col_expr(pdf_send::Column::UpdatedAt, Expr::value(now))
        .filter(pdf_send::Column::Id.eq(id))
        .filter(pdf_send::Column::Status.is_in([QUEUED, SENDING]))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    let send = pdf_send::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("send {id} vanished")))?;
    let tickets = ticket_ids(&send);
    if !tickets.is_empty() {
        td::Entity::update_many()
            .col_expr(td::Column::DistributedAsPdf, Expr::value(true))
            .col_expr(td::Column::UpdatedAt, Expr::value(now))
            .filter(td::Column::Id.is_in(tickets))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// What an `Idempotency-Key` seen before answers, without recording anything: `None` for a
/// new key.
pub async fn replay<C: ConnectionTrait>(
    conn: &C,
    key: &IdempotencyKey,
) -> Result<Option<CreateOutcome>, StoreError> {
    let Some(first) = idempotency_record::Entity::find_by_id((key.scope.clone(), key.key.clone()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    if first.request_hash != key.request_hash {
        return Ok(Some(CreateOutcome::KeyReused));
    }
    let Some(id) = first.response["sendId"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
    else {
        return Err(StoreError::Corrupt(
            "idempotency record without send".into(),
        ));
    };
    Ok(pdf_send::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(CreateOutcome::Replayed))
}
