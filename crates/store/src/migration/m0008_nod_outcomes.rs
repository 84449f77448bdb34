//! Certain NOD outcomes. `nod_place_attempted_at` is stamped before the first placement call,
//! so a ticket whose placement outcome is unknown (NOD timed out, or the worker died after NOD
//! accepted it) is known to be possibly in NOD: when it is cancelled, the cancellation asks
//! NOD first. `nod_placing_since` is when the current placement effort began (the backoff and
//! the horizon count from it; a request to place a FAILED ticket again starts a new one).
//! `nod_retry_at` holds a ticket back while NOD is unavailable (backoff);
//! `nod_unavailable` marks a ticket that went FAILED because NOD stayed unavailable past the
//! horizon, so it is placed again automatically once NOD answers. A cancellation NOD refuses
//! for good is recorded in `nod_cancel_refused_at` and `nod_cancel_refused_reason`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketDistributions {
    Table,
    NodPlaceAttemptedAt,
    NodPlacingSince,
    NodRetryAt,
    NodUnavailable,
    NodCancelRefusedAt,
    NodCancelRefusedReason,
}

fn columns() -> Vec<(TicketDistributions, ColumnDef)> {
    use TicketDistributions as T;
    vec![
        (
            T::NodPlaceAttemptedAt,
            timestamp_with_time_zone_null(T::NodPlaceAttemptedAt),
        ),
        (
            T::NodPlacingSince,
            timestamp_with_time_zone_null(T::NodPlacingSince),
        ),
        (T::NodRetryAt, timestamp_with_time_zone_null(T::NodRetryAt)),
        (
            T::NodUnavailable,
            boolean(T::NodUnavailable).default(false).to_owned(),
        ),
        (
            T::NodCancelRefusedAt,
            timestamp_with_time_zone_null(T::NodCancelRefusedAt),
        ),
        (
            T::NodCancelRefusedReason,
            text_null(T::NodCancelRefusedReason),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for (_, mut column) in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(TicketDistributions::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in columns().into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(TicketDistributions::Table)
                        .drop_column(name)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
