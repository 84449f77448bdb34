//! Replays of quarantined items by an operator (`td-admin quarantine replay`), so that a
//! replay is done once: a dead letter on the topic stays there after its replay, and its
//! record keeps a second replay from running it again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QuarantineReplay {
    Table,
    Item,
    Stage,
    Outcome,
    ReplayedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QuarantineReplay::Table)
                    .col(text(QuarantineReplay::Item).primary_key())
                    .col(text(QuarantineReplay::Stage))
                    .col(text(QuarantineReplay::Outcome))
                    .col(timestamp_with_time_zone(QuarantineReplay::ReplayedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(QuarantineReplay::Table).to_owned())
            .await
    }
}
