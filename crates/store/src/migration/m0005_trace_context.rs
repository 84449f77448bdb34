//! The W3C trace context of the work that order versions and e-mail sends start, so that
//! the worker taking them up later (the NOD dispatcher, the mailer) continues the same trace.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrderVersions {
    Table,
    Traceparent,
}

#[derive(DeriveIden)]
enum PdfSends {
    Table,
    Traceparent,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OrderVersions::Table)
                    .add_column(string_null(OrderVersions::Traceparent))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PdfSends::Table)
                    .add_column(string_null(PdfSends::Traceparent))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PdfSends::Table)
                    .drop_column(PdfSends::Traceparent)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OrderVersions::Table)
                    .drop_column(OrderVersions::Traceparent)
                    .to_owned(),
            )
            .await
    }
}
