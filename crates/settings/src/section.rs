//! A section of the settings checks its own values; the sections that the adapters own
//! (`nod`, `jobs`, `kafka`, `telemetry`) and the intake's limits (`intake`, from
//! `td-domain`) are checked by the rules those crates keep.

use crate::error::{invalid, SettingsError};

/// One `[section]` of the settings. `validate` refuses what serde's types could not, and
/// names the full key of what it refuses.
pub trait Section {
    fn validate(&self) -> Result<(), SettingsError>;
}

impl Section for td_nod::NodClientSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        match td_nod::NodClientSettings::validate(self) {
            Ok(_) => Ok(()),
            Err(td_nod::ClientBuildError::Invalid { key, reason }) => {
                Err(invalid(format!("nod.{key}"), reason))
            }
            Err(other) => Err(invalid("nod", other.to_string())),
        }
    }
}

impl Section for td_jobs::QueueConfig {
    fn validate(&self) -> Result<(), SettingsError> {
        match self.first_invalid() {
            Some((field, reason)) => Err(invalid(format!("jobs.{field}"), reason)),
            None => Ok(()),
        }
    }
}

impl Section for td_domain::Limits {
    fn validate(&self) -> Result<(), SettingsError> {
        match self.first_invalid() {
            Some((field, reason)) => Err(invalid(format!("intake.{field}"), reason)),
            None => Ok(()),
        }
    }
}

/// Its protocol is an enum and the rest is librdkafka's to judge, except the producer's
/// `message.max.bytes`, which the order intake reads to size its dead letters.
impl Section for td_bus::KafkaSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        self.producer_message_max_bytes()
            .map(|_| ())
            .map_err(|reason| invalid("kafka.producer.message_max_bytes", reason))
    }
}

/// Its format is an enum; the filter is parsed by `td_telemetry::init`, first thing in
/// every `main`.
impl Section for td_telemetry::TelemetrySettings {
    fn validate(&self) -> Result<(), SettingsError> {
        Ok(())
    }
}
