use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    OrderId,
    OrganisationId,
    LatestVersion,
    LatestConfirmedVersion,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderVersions {
    Table,
    OrderId,
    Version,
    OrganisationId,
    Status,
    EventType,
    EventId,
    CorrelationId,
    Snapshot,
    RecordedAt,
}

#[derive(DeriveIden)]
enum TicketDistributionGroups {
    Table,
    Id,
    OrderId,
    OrderVersion,
    OrderLineId,
    OrderLineVersion,
    UpdatedForOrderLineVersion,
    OrganisationId,
    OrderOwnerCustomerId,
    DistributionHolderCustomerId,
    CreatedByDistributionChannel,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GroupOrderVersions {
    Table,
    GroupId,
    OrderId,
    OrderVersion,
}

#[derive(DeriveIden)]
enum TicketDistributions {
    Table,
    Id,
    GroupId,
    Position,
    OrderId,
    OrganisationId,
    Status,
    CancelCause,
    FailureReason,
    StartOfValidity,
    EndOfValidity,
    FareProductRef,
    FareProductName,
    UserProfileRef,
    TravellerId,
    Details,
    NodOrderGroupId,
    MediaSerialNumberId,
    DistributedAt,
    PickedUpAt,
    DistributedAsPdf,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    Topic,
    MessageKey,
    EventType,
    Payload,
    CorrelationId,
    Traceparent,
    CreatedAt,
    PublishedAt,
}

#[derive(DeriveIden)]
enum IdempotencyRecords {
    Table,
    Scope,
    Key,
    RequestHash,
    Response,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(string(Orders::OrderId).primary_key())
                    .col(big_integer(Orders::OrganisationId))
                    .col(integer(Orders::LatestVersion))
                    .col(integer_null(Orders::LatestConfirmedVersion))
                    .col(string(Orders::Status))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrderVersions::Table)
                    .col(string(OrderVersions::OrderId))
                    .col(integer(OrderVersions::Version))
                    .col(big_integer(OrderVersions::OrganisationId))
                    .col(string(OrderVersions::Status))
                    .col(string(OrderVersions::EventType))
                    .col(uuid(OrderVersions::EventId))
                    .col(string_null(OrderVersions::CorrelationId))
                    .col(json_binary(OrderVersions::Snapshot))
                    .col(timestamp_with_time_zone(OrderVersions::RecordedAt))
                    .primary_key(
                        Index::create()
                            .col(OrderVersions::OrderId)
                            .col(OrderVersions::Version)
                            .col(OrderVersions::EventType),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketDistributionGroups::Table)
                    .col(uuid(TicketDistributionGroups::Id).primary_key())
                    .col(string(TicketDistributionGroups::OrderId))
                    .col(integer(TicketDistributionGroups::OrderVersion))
                    .col(string(TicketDistributionGroups::OrderLineId))
                    .col(integer(TicketDistributionGroups::OrderLineVersion))
                    .col(integer(
                        TicketDistributionGroups::UpdatedForOrderLineVersion,
                    ))
                    .col(big_integer(TicketDistributionGroups::OrganisationId))
                    .col(string_null(TicketDistributionGroups::OrderOwnerCustomerId))
                    .col(string_null(
                        TicketDistributionGroups::DistributionHolderCustomerId,
                    ))
                    .col(string_null(
                        TicketDistributionGroups::CreatedByDistributionChannel,
                    ))
                    .col(timestamp_with_time_zone(
                        TicketDistributionGroups::CreatedAt,
                    ))
                    .col(timestamp_with_time_zone(
                        TicketDistributionGroups::UpdatedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tdg_order")
                    .table(TicketDistributionGroups::Table)
                    .col(TicketDistributionGroups::OrderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tdg_org_created")
                    .table(TicketDistributionGroups::Table)
                    .col(TicketDistributionGroups::OrganisationId)
                    .col(TicketDistributionGroups::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GroupOrderVersions::Table)
                    .col(uuid(GroupOrderVersions::GroupId))
                    .col(string(GroupOrderVersions::OrderId))
                    .col(integer(GroupOrderVersions::OrderVersion))
                    .primary_key(
                        Index::create()
                            .col(GroupOrderVersions::GroupId)
                            .col(GroupOrderVersions::OrderVersion),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_gov_order_version")
                    .table(GroupOrderVersions::Table)
                    .col(GroupOrderVersions::OrderId)
                    .col(GroupOrderVersions::OrderVersion)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketDistributions::Table)
                    .col(uuid(TicketDistributions::Id).primary_key())
                    .col(uuid(TicketDistributions::GroupId))
                    .col(integer(TicketDistributions::Position))
                    .col(string(TicketDistributions::OrderId))
                    .col(big_integer(TicketDistributions::OrganisationId))
                    .col(string(TicketDistributions::Status))
                    .col(string_null(TicketDistributions::CancelCause))
                    .col(string_null(TicketDistributions::FailureReason))
                    .col(timestamp_with_time_zone(
                        TicketDistributions::StartOfValidity,
                    ))
                    .col(timestamp_with_time_zone(TicketDistributions::EndOfValidity))
                    .col(string(TicketDistributions::FareProductRef))
                    .col(string_null(TicketDistributions::FareProductName))
                    .col(string_null(TicketDistributions::UserProfileRef))
                    .col(string_null(TicketDistributions::TravellerId))
                    .col(json_binary(TicketDistributions::Details))
                    .col(string_null(TicketDistributions::NodOrderGroupId))
                    .col(string_null(TicketDistributions::MediaSerialNumberId))
                    .col(timestamp_with_time_zone_null(
                        TicketDistributions::DistributedAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        TicketDistributions::PickedUpAt,
                    ))
                    .col(boolean(TicketDistributions::DistributedAsPdf).default(false))
                    .col(timestamp_with_time_zone(TicketDistributions::CreatedAt))
                    .col(timestamp_with_time_zone(TicketDistributions::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_td_group", TicketDistributions::GroupId),
            ("idx_td_order", TicketDistributions::OrderId),
            ("idx_td_status", TicketDistributions::Status),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(TicketDistributions::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(pk_auto(Outbox::Id).big_integer())
                    .col(uuid_uniq(Outbox::EventId))
                    .col(string(Outbox::Topic))
                    .col(string(Outbox::MessageKey))
                    .col(string(Outbox::EventType))
                    .col(json_binary(Outbox::Payload))
                    .col(string_null(Outbox::CorrelationId))
                    .col(string_null(Outbox::Traceparent))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::PublishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_unpublished")
                    .table(Outbox::Table)
                    .col(Outbox::PublishedAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyRecords::Table)
                    .col(string(IdempotencyRecords::Scope))
                    .col(string(IdempotencyRecords::Key))
                    .col(string(IdempotencyRecords::RequestHash))
                    .col(json_binary(IdempotencyRecords::Response))
                    .col(timestamp_with_time_zone(IdempotencyRecords::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyRecords::Scope)
                            .col(IdempotencyRecords::Key),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyRecords::Table.into_iden(),
            Outbox::Table.into_iden(),
            TicketDistributions::Table.into_iden(),
            GroupOrderVersions::Table.into_iden(),
            TicketDistributionGroups::Table.into_iden(),
            OrderVersions::Table.into_iden(),
            Orders::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
