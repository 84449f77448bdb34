//! The `auth` section: who may call the REST API.

use crate::error::{invalid, SettingsError};
use crate::Section;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Bearer JWT authorisation of the REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// The audience (`aud`) tokens must be issued for.
    pub audience: String,
    /// The issuer (`iss`) tokens must come from, when set.
    pub issuer: Option<String>,
    /// A shared HS256 secret (local use).
    pub hs256_secret: Option<SecretString>,
    /// A JWKS document on disk (e.g. a mounted Secret), re-read periodically.
    pub jwks_file: Option<String>,
    /// A JWKS document at an identity provider, re-read periodically.
    pub jwks_url: Option<String>,
    /// How often the JWKS is re-read (new keys are also picked up when a token names one).
    pub jwks_refresh_ms: u64,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_s: u64,
    /// The claim holding the caller's organisation id.
    pub organisation_claim: String,
    /// The permission (in a `permissions` array or the `scope` string) to read across
    /// organisations.
    pub cross_organisation_permission: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Every `/v1` call needs a valid bearer token.
    Jwt,
    /// Every caller reads every organisation; for local use only, logged loudly at start.
    Off,
}

impl Section for AuthSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.audience.trim().is_empty() {
            return Err(invalid("auth.audience", "must not be empty"));
        }
        if self
            .hs256_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() < 32)
        {
            return Err(invalid("auth.hs256_secret", "must be at least 32 bytes"));
        }
        Ok(())
    }
}
