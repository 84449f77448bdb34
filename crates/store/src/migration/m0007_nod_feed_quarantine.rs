//! NOD feed entries that cannot be applied (a corrupt ticket row, a status this version does
//! not know): the feed follower parks each here, in the transaction of its page and the
//! cursor, and moves on.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NodFeedQuarantine {
    Table,
    Id,
    Entry,
    Reason,
    QuarantinedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NodFeedQuarantine::Table)
                    .col(pk_auto(NodFeedQuarantine::Id).big_integer())
                    .col(json_binary(NodFeedQuarantine::Entry))
                    .col(text(NodFeedQuarantine::Reason))
                    .col(timestamp_with_time_zone(NodFeedQuarantine::QuarantinedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NodFeedQuarantine::Table).to_owned())
            .await
    }
}
