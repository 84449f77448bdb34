use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "pdf_ticket_distributions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub pdf_ticket_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub ticket_distribution_id: Uuid,
    pub position: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
