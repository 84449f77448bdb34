//! The `database` and `redis` sections: where the data lives. `td_store::open` and
//! `td_jobs::RedisQueue::connect` take their values.

use crate::error::{invalid, SettingsError};
use crate::Section;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// Where the database is and how the pool behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` in production, `sqlite://…?mode=rwc` for the embedded default.
    pub url: SecretString,
    pub max_connections: u32,
    pub connect_timeout_ms: u64,
    /// Apply pending migrations at start (under a lock, so replicas never race). Turn off
    /// where a migration Job owns the schema.
    pub migrate_on_start: bool,
}

impl DatabaseSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl Section for DatabaseSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let url = self.url.expose_secret();
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            return Err(invalid(
                "database.url",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: SecretString,
}
