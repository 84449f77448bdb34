//! PDF tickets: one stored PDF per ticket distribution group (made on first request, kept
//! until `delete_at`), and which tickets each PDF shows, so that PDFs can be found by ticket.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PdfTickets {
    Table,
    Id,
    GroupId,
    OrderId,
    OrderVersion,
    OrderLineId,
    OrderLineVersion,
    OrganisationId,
    Language,
    Content,
    CreatedAt,
    DeleteAt,
}

#[derive(DeriveIden)]
enum PdfTicketDistributions {
    Table,
    PdfTicketId,
    TicketDistributionId,
    Position,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PdfTickets::Table)
                    .col(uuid(PdfTickets::Id).primary_key())
                    .col(uuid_uniq(PdfTickets::GroupId))
                    .col(string(PdfTickets::OrderId))
                    .col(integer(PdfTickets::OrderVersion))
                    .col(string(PdfTickets::OrderLineId))
                    .col(integer(PdfTickets::OrderLineVersion))
                    .col(big_integer(PdfTickets::OrganisationId))
                    .col(string(PdfTickets::Language))
                    .col(blob(PdfTickets::Content))
                    .col(timestamp_with_time_zone(PdfTickets::CreatedAt))
                    .col(timestamp_with_time_zone(PdfTickets::DeleteAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_pdf_tickets_order", PdfTickets::OrderId),
            ("idx_pdf_tickets_delete_at", PdfTickets::DeleteAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(PdfTickets::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(PdfTicketDistributions::Table)
                    .col(uuid(PdfTicketDistributions::PdfTicketId))
                    .col(uuid(PdfTicketDistributions::TicketDistributionId))
                    .col(integer(PdfTicketDistributions::Position))
                    .primary_key(
                        Index::create()
                            .col(PdfTicketDistributions::PdfTicketId)
                            .col(PdfTicketDistributions::TicketDistributionId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_pdf_ticket_distributions_td")
                    .table(PdfTicketDistributions::Table)
                    .col(PdfTicketDistributions::TicketDistributionId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PdfTicketDistributions::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(PdfTickets::Table).to_owned())
            .await
    }
}
