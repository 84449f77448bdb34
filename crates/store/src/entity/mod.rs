//! sea-orm entities, one module per table. Plain data: the rules live in `td-domain`.

pub mod group;
pub mod group_order_version;
pub mod idempotency_record;
pub mod nod_feed;
pub mod nod_feed_quarantine;
pub mod order;
pub mod order_version;
pub mod outbox;
pub mod pdf_send;
pub mod pdf_ticket;
pub mod pdf_ticket_distribution;
pub mod quarantine_replay;
pub mod ticket_distribution;
