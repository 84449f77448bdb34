//! The `pdf_renderer` section.

use crate::error::{invalid, SettingsError};
use crate::Section;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::net::SocketAddr;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdfRendererSettings {
    pub health_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// Documents compiled at once (each on a thread of its own, off the async reactor);
    /// further requests wait for a slot.
    pub render_concurrency: usize,
    /// How long a stored PDF is kept (`deleteAt` = creation + this).
    pub retention_days: u32,
    /// How often expired PDFs are removed.
    pub cleanup_interval_ms: u64,
    /// The longest a createOrGet may wait for an order's tickets, whatever it asks.
    pub max_wait_ms: u64,
    /// createOrGets that may wait for an order's tickets at once; one more is answered
    /// 429 with `Retry-After` at once instead of queueing for the database.
    pub max_waiting: usize,
    /// The IANA time zone in which times are printed on tickets.
    #[serde(deserialize_with = "iana_time_zone")]
    pub time_zone: chrono_tz::Tz,
    /// Display name of each organisation (by organisation id) printed as the operator;
    /// without one, the authority of the ticket's first leg is printed.
    pub operator_names: BTreeMap<String, String>,
}

fn iana_time_zone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<chrono_tz::Tz, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{name}` must be an IANA time zone such as Europe/Oslo"
        ))
    })
}

impl PdfRendererSettings {
    /// The operator names by organisation id (`validate` has checked every key).
    pub fn operator_names_by_id(&self) -> BTreeMap<i64, String> {
        self.operator_names
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.clone())))
            .collect()
    }
}

impl Section for PdfRendererSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.render_concurrency == 0 {
            return Err(invalid(
                "pdf_renderer.render_concurrency",
                "must be at least 1",
            ));
        }
        if self.max_waiting == 0 {
            return Err(invalid("pdf_renderer.max_waiting", "must be at least 1"));
        }
        if self.retention_days == 0 {
            return Err(invalid("pdf_renderer.retention_days", "must be at least 1"));
        }
        for key in self.operator_names.keys() {
            if key.parse::<i64>().is_err() {
                return Err(invalid(
                    "pdf_renderer.operator_names",
                    format!("`{key}` is not an organisation id (a whole number)"),
                ));
            }
        }
        Ok(())
    }
}
