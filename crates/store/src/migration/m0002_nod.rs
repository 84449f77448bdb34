//! What NOD distribution keeps: when a ticket's NOD job was last enqueued (a dispatcher
//! re-enqueues what stays due, so a lost job delays a ticket but never strands it), whether
//! a FAILED ticket was asked to be placed again, when a cancellation reached NOD, when an
//! order version was reported as wholly distributed, and the NOD feed's cursor.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketDistributions {
    Table,
    NodEnqueuedAt,
    NodReplaceRequested,
    NodCancelledAt,
}

#[derive(DeriveIden)]
enum OrderVersions {
    Table,
    AllDistributedAt,
}

#[derive(DeriveIden)]
enum NodFeed {
    Table,
    Id,
    Cursor,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            timestamp_with_time_zone_null(TicketDistributions::NodEnqueuedAt),
            boolean(TicketDistributions::NodReplaceRequested)
                .default(false)
                .to_owned(),
            timestamp_with_time_zone_null(TicketDistributions::NodCancelledAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(TicketDistributions::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(OrderVersions::Table)
                    .add_column(timestamp_with_time_zone_null(
                        OrderVersions::AllDistributedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NodFeed::Table)
                    .col(integer(NodFeed::Id).primary_key())
                    .col(string_null(NodFeed::Cursor))
                    .col(timestamp_with_time_zone(NodFeed::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NodFeed::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OrderVersions::Table)
                    .drop_column(OrderVersions::AllDistributedAt)
                    .to_owned(),
            )
            .await?;
        for column in [
            TicketDistributions::NodEnqueuedAt,
            TicketDistributions::NodReplaceRequested,
            TicketDistributions::NodCancelledAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(TicketDistributions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
