//! E-mail sends of PDF tickets: what was asked (address, tickets, language), where delivery
//! stands (QUEUED, SENDING, SENT, FAILED, with attempts, the last error and the SMTP
//! server's queue id), and when its mail job was last enqueued (a dispatcher enqueues again
//! what stays due, so a lost job delays a send but never strands it).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PdfSends {
    Table,
    Id,
    OrderId,
    OrganisationId,
    EmailAddress,
    Language,
    TicketDistributionIds,
    Status,
    Attempts,
    LastError,
    SmtpQueueId,
    MessageId,
    CorrelationId,
    EnqueuedAt,
    SentAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PdfSends::Table)
                    .col(uuid(PdfSends::Id).primary_key())
                    .col(string(PdfSends::OrderId))
                    .col(big_integer(PdfSends::OrganisationId))
                    .col(string(PdfSends::EmailAddress))
                    .col(string(PdfSends::Language))
                    .col(json_binary(PdfSends::TicketDistributionIds))
                    .col(string(PdfSends::Status))
                    .col(integer(PdfSends::Attempts).default(0))
                    .col(text_null(PdfSends::LastError))
                    .col(string_null(PdfSends::SmtpQueueId))
                    .col(string_null(PdfSends::MessageId))
                    .col(string_null(PdfSends::CorrelationId))
                    .col(timestamp_with_time_zone_null(PdfSends::EnqueuedAt))
                    .col(timestamp_with_time_zone_null(PdfSends::SentAt))
                    .col(timestamp_with_time_zone(PdfSends::CreatedAt))
                    .col(timestamp_with_time_zone(PdfSends::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_pdf_sends_order",
                [PdfSends::OrderId, PdfSends::CreatedAt],
            ),
            (
                "idx_pdf_sends_address",
                [PdfSends::EmailAddress, PdfSends::CreatedAt],
            ),
            (
                "idx_pdf_sends_due",
                [PdfSends::Status, PdfSends::EnqueuedAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(PdfSends::Table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PdfSends::Table).to_owned())
            .await
    }
}
