//! How the workers reach and trust each other (`grpc`, `upstreams`) and how long they may
//! take to stop (`shutdown`).

use crate::error::{invalid, is_http_url, SettingsError};
use crate::Section;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Internal gRPC between the workers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSettings {
    /// The shared secret every internal call carries as a bearer token (at least 16
    /// characters); every process of one deployment must have the same. Unset, internal
    /// calls are not authenticated (local runs only).
    pub token: Option<SecretString>,
}

impl Section for GrpcSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.token.as_ref().is_some_and(|t| {
            t.expose_secret().len() < 16 || !t.expose_secret().bytes().all(|b| b.is_ascii_graphic())
        }) {
            return Err(invalid(
                "grpc.token",
                "must be at least 16 printable ASCII characters without spaces",
            ));
        }
        Ok(())
    }
}

/// The gRPC services as their callers reach them (`http://pdf-renderer:50053` on
/// Kubernetes). Unset, a caller uses the service's own listen address on this machine
/// (`http://<grpc_addr>`), which is right when everything runs on one host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    pub pdf_renderer: Option<String>,
}

impl Section for UpstreamSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        for (key, url) in [("upstreams.pdf_renderer", &self.pdf_renderer)] {
            if url.as_deref().is_some_and(|url| !is_http_url(url)) {
                return Err(invalid(key, "must be an http:// or https:// URL"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// How long in-flight work may take to finish after SIGTERM.
    pub drain_deadline_ms: u64,
}

impl ShutdownSettings {
    pub fn drain_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.drain_deadline_ms)
    }
}
