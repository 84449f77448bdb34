//! Schema migrations. The same migrations run on PostgreSQL and on SQLite; columns use
//! types both map (uuid, timestamptz, json) through sea-query.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_nod;
mod m0003_pdf;
mod m0004_mail;
mod m0005_trace_context;
mod m0006_outbox_parking;
mod m0007_nod_feed_quarantine;
mod m0008_nod_outcomes;
mod m0009_quarantine_replays;
mod m0010_send_address_key;
mod m0011_search_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_nod::Migration),
            Box::new(m0003_pdf::Migration),
            Box::new(m0004_mail::Migration),
            Box::new(m0005_trace_context::Migration),
            Box::new(m0006_outbox_parking::Migration),
            Box::new(m0007_nod_feed_quarantine::Migration),
            Box::new(m0008_nod_outcomes::Migration),
            Box::new(m0009_quarantine_replays::Migration),
            Box::new(m0010_send_address_key::Migration),
            Box::new(m0011_search_indexes::Migration),
        ]
    }
}
