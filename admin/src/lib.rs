//! `td-admin`: the operator's tool. It talks to PostgreSQL, Redis and the broker with the
//! workers' own settings (`TD_CONFIG_FILE`, `TD__*` variables), lists what the workers
//! quarantined (with stage, reason and age) and replays it through the normal path once
//! the cause is fixed.

pub mod dead_letters;
pub mod quarantine;

pub use quarantine::{Item, Quarantine, Replayed, Stage};
