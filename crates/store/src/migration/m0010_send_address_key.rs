//! The send limits compare normalised addresses: `address_key` holds the form they compare
//! (the gateway normalises case, quoting and the domain's punycode), indexed with the time
//! for the per-address window. Sends recorded before take their address in lower case.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PdfSends {
    Table,
    AddressKey,
    EmailAddress,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PdfSends::Table)
                    .add_column(
                        ColumnDef::new(PdfSends::AddressKey)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(PdfSends::Table)
                    .value(
                        PdfSends::AddressKey,
                        Func::lower(Expr::col(PdfSends::EmailAddress)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_pdf_sends_address")
                    .table(PdfSends::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_pdf_sends_address_key")
                    .table(PdfSends::Table)
                    .col(PdfSends::AddressKey)
                    .col(PdfSends::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_pdf_sends_address_key")
                    .table(PdfSends::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_pdf_sends_address")
                    .table(PdfSends::Table)
                    .col(PdfSends::EmailAddress)
                    .col(PdfSends::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PdfSends::Table)
                    .drop_column(PdfSends::AddressKey)
                    .to_owned(),
            )
            .await
    }
}
