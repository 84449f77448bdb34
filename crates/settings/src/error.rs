//! The one error of loading settings: unreadable, or a value naming its key.

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration could not be read: {0}")]
    Read(#[from] config::ConfigError),
    #[error("setting `{key}` (env TD__{env}): {reason}")]
    Invalid {
        /// The full key, e.g. `nod.retry.max_attempts`.
        key: String,
        env: String,
        reason: String,
    },
}

/// A bad value of the setting `key` (`section.field`); the environment variable is derived.
pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> SettingsError {
    let key = key.into();
    SettingsError::Invalid {
        env: key.replace('.', "__").to_uppercase(),
        key,
        reason: reason.into(),
    }
}

pub(crate) fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}
