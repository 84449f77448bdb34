use sea_orm::entity::prelude::*;

/// A NOD feed entry that could not be applied, parked with why, so that the feed went on.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "nod_feed_quarantine")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The entry as NOD sent it (its JSON form).
    pub entry: Json,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub quarantined_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
