//! An index for every filter of both searches, so that no filter reads a whole ticket,
//! group or PDF table: the organisation-scoped forms lead with the organisation (a caller's
//! search reads its own organisation's rows only), the plain forms serve callers who read
//! across organisations. `crates/store/tests/plans.rs` explains every filter's query on
//! PostgreSQL and fails on a sequential scan.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, table, columns)
const INDEXES: &[(&str, &str, &[&str])] = &[
    (
        "idx_tdg_created",
        "ticket_distribution_groups",
        &["created_at"],
    ),
    (
        "idx_tdg_updated",
        "ticket_distribution_groups",
        &["updated_at"],
    ),
    (
        "idx_tdg_org_updated",
        "ticket_distribution_groups",
        &["organisation_id", "updated_at"],
    ),
    (
        "idx_tdg_order_line",
        "ticket_distribution_groups",
        &["order_line_id"],
    ),
    (
        "idx_tdg_owner",
        "ticket_distribution_groups",
        &["order_owner_customer_id"],
    ),
    (
        "idx_tdg_holder",
        "ticket_distribution_groups",
        &["distribution_holder_customer_id"],
    ),
    (
        "idx_td_org_status",
        "ticket_distributions",
        &["organisation_id", "status"],
    ),
    (
        "idx_td_start",
        "ticket_distributions",
        &["start_of_validity"],
    ),
    (
        "idx_td_org_start",
        "ticket_distributions",
        &["organisation_id", "start_of_validity"],
    ),
    ("idx_td_end", "ticket_distributions", &["end_of_validity"]),
    (
        "idx_td_org_end",
        "ticket_distributions",
        &["organisation_id", "end_of_validity"],
    ),
    (
        "idx_td_media",
        "ticket_distributions",
        &["media_serial_number_id"],
    ),
    (
        "idx_gov_version",
        "group_order_versions",
        &["order_version"],
    ),
    ("idx_pdf_tickets_line", "pdf_tickets", &["order_line_id"]),
    ("idx_pdf_tickets_created", "pdf_tickets", &["created_at"]),
    (
        "idx_pdf_tickets_org_created",
        "pdf_tickets",
        &["organisation_id", "created_at"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            let mut index = Index::create();
            index.name(*name).table(Alias::new(*table));
            for column in *columns {
                index.col(Alias::new(*column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
