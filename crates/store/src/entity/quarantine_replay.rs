use sea_orm::entity::prelude::*;

/// An operator's replay of one quarantined item, by the item's `td-admin` id.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "quarantine_replay")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub item: String,
    #[sea_orm(column_type = "Text")]
    pub stage: String,
    /// What the replay came to, in words.
    #[sea_orm(column_type = "Text")]
    pub outcome: String,
    pub replayed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
