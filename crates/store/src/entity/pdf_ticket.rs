use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "pdf_tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub group_id: Uuid,
    pub order_id: String,
    pub order_version: i32,
    pub order_line_id: String,
    pub order_line_version: i32,
    pub organisation_id: i64,
    pub language: String,
    pub content: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub delete_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
