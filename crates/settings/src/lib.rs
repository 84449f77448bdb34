//! Settings shared by every binary, read in layers: built-in defaults, then an optional
//! TOML file (`TD_CONFIG_FILE`), then environment variables `TD__<SECTION>__<FIELD>`, which
//! map one to one onto Kubernetes ConfigMaps and Secrets. Unknown keys and bad values stop
//! start-up with the key's name. This crate reads configuration; it opens no connection.

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

mod defaults;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration could not be read: {0}")]
    Read(#[from] config::ConfigError),
    #[error("setting `{key}` (env TD__{env}): {reason}")]
    Invalid {
        key: &'static str,
        env: String,
        reason: String,
    },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        env: key.replace('.', "__").to_uppercase(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Suffix of every topic name (`order-events-<env>`).
    pub environment: String,
    /// Where the embedded default keeps its SQLite file, event log and mails.
    pub data_dir: String,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub kafka: KafkaSettings,
    pub telemetry: TelemetrySettings,
    pub gateway: GatewaySettings,
    pub order_listener: WorkerSettings,
    pub nod_distributor: NodDistributorSettings,
    pub pdf_renderer: PdfRendererSettings,
    pub mailer: MailerSettings,
    /// Where the gRPC workers are reached by the workers that call them.
    pub upstreams: UpstreamSettings,
    /// Who may call the REST API.
    pub auth: AuthSettings,
    /// How the workers authenticate calls to each other.
    #[serde(default)]
    pub grpc: GrpcSettings,
    /// How NOD is reached: base URL, timeouts, retries.
    pub nod: td_nod::NodClientSettings,
    /// The job queues (NOD jobs, mail jobs): retries, visibility timeout, bounds.
    pub jobs: td_jobs::QueueConfig,
    pub shutdown: ShutdownSettings,
}

pub use td_store::DatabaseSettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub security_protocol: String,
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<SecretString>,
    pub consumer_group: String,
    /// Extra librdkafka properties for producers and consumers. Environment variables
    /// cannot hold dots, so `TD__KAFKA__PRODUCER__BATCH_NUM_MESSAGES=1` means
    /// `batch.num.messages=1`; see `KafkaSettings::producer_properties`.
    pub producer: BTreeMap<String, String>,
    pub consumer: BTreeMap<String, String>,
}

impl KafkaSettings {
    pub fn producer_properties(&self) -> Vec<(String, String)> {
        librdkafka_names(&self.producer)
    }

    pub fn consumer_properties(&self) -> Vec<(String, String)> {
        librdkafka_names(&self.consumer)
    }
}

fn upstream(url: &Option<String>, listen: SocketAddr) -> String {
    url.clone().unwrap_or_else(|| format!("http://{listen}"))
}

fn librdkafka_names(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| (k.replace('_', "."), v.clone()))
        .collect()
}

pub use td_telemetry::TelemetrySettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub addr: SocketAddr,
    pub request_timeout_ms: u64,
    pub body_limit_bytes: usize,
    /// How long a status answer may be served from memory before it is read again.
    pub status_cache_ttl_ms: u64,
    pub status_cache_capacity: u64,
    /// Base URL under which clients reach this API (links in e-mails).
    pub public_base_url: String,
    /// How long `createOrGet` waits for an order's tickets by default (at most
    /// `pdf_renderer.max_wait_ms`).
    pub pdf_wait_ms: u64,
    /// Most e-mail sends per order in an hour (the send endpoint answers 429 beyond).
    pub mail_sends_per_order_per_hour: u64,
    /// Most e-mail sends to one address in an hour.
    pub mail_sends_per_address_per_hour: u64,
    /// Requests per second one client may make to `/v1` (a client is the token's client and
    /// the `ET-Client-Name`); 0 turns the limit off.
    pub rate_limit_per_second: u32,
    /// Requests a client may make at once above its rate before it is answered 429.
    pub rate_limit_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// HTTP address for `/health/*` and `/metrics`.
    pub health_addr: SocketAddr,
    /// gRPC address, for workers that serve one.
    pub grpc_addr: SocketAddr,
}

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
    /// IANA time zone in which times are printed on tickets.
    pub time_zone: String,
    /// Display name of each organisation (by organisation id) printed as the operator;
    /// without one, the authority of the ticket's first leg is printed.
    pub operator_names: BTreeMap<String, String>,
}

/// Bearer JWT authorisation of the REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `jwt` (every `/v1` call needs a valid bearer token) or `off` (every caller reads
    /// every organisation; for local use only, logged loudly at start).
    pub mode: String,
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

/// Internal gRPC between the workers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSettings {
    /// The shared secret every internal call carries as a bearer token (at least 16
    /// characters); every process of one deployment must have the same. Unset, internal
    /// calls are not authenticated (local runs only).
    pub token: Option<SecretString>,
}

/// The gRPC services as their callers reach them (`http://order-listener:50051` on
/// Kubernetes). Unset, a caller uses the service's own listen address on this machine
/// (`http://<grpc_addr>`), which is right when everything runs on one host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    pub order_listener: Option<String>,
    pub nod_distributor: Option<String>,
    pub pdf_renderer: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailerSettings {
    pub health_addr: SocketAddr,
    /// The SMTP server: `smtp://host:port` (plain), `smtp://user:pass@host?tls=required`
    /// (STARTTLS), `smtps://user:pass@host` (TLS from the start).
    pub smtp_url: SecretString,
    /// The sender's address (`From`).
    pub from_address: String,
    /// The sender's display name, e.g. the operator's name.
    pub from_name: Option<String>,
    /// Right-hand side of Message-IDs; the sender address's domain when unset.
    pub message_id_domain: Option<String>,
    /// Largest message with the PDFs attached, as sent; a send whose PDFs would make it
    /// larger carries links to `GET /v1/pdf-tickets/{id}/content` instead
    /// (under `gateway.public_base_url`).
    pub max_message_bytes: usize,
    /// Sends delivered at once by one replica.
    pub concurrency: usize,
    /// How often the dispatcher looks for sends due for a mail job.
    pub dispatch_interval_ms: u64,
    /// A send still waiting this long after its job was enqueued gets a new job.
    pub redispatch_after_ms: u64,
    /// How long one attempt waits for the order's PDFs to be made.
    pub pdf_wait_ms: u64,
    /// Opening an SMTP connection gives up after this long.
    pub connect_timeout_ms: u64,
    /// One SMTP delivery, connection to final reply, gives up after this long.
    pub send_timeout_ms: u64,
    /// Open SMTP connections kept for reuse, at most.
    pub pool_max_size: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodDistributorSettings {
    pub health_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// NOD jobs handled at once by one replica.
    pub concurrency: usize,
    /// How often the dispatcher looks for tickets due for a NOD job.
    pub dispatch_interval_ms: u64,
    /// A ticket still waiting this long after its job was enqueued gets a new job (the
    /// first was lost or is stuck).
    pub redispatch_after_ms: u64,
    /// How often the NOD transaction feed is read when it had nothing new.
    pub feed_interval_ms: u64,
    /// Feed entries read per request.
    pub feed_page: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// How long in-flight work may take to finish after SIGTERM.
    pub drain_deadline_ms: u64,
}

impl Settings {
    /// Defaults, then the file named by `TD_CONFIG_FILE` (if any), then `TD__*` variables.
    pub fn load() -> Result<Self, SettingsError> {
        Self::load_from(
            std::env::var("TD_CONFIG_FILE").ok().as_deref(),
            std::env::vars(),
        )
    }

    /// As `load`, with the file and the environment given (for tests).
    pub fn load_from(
        file: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let vars: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("TD__"))
            .collect();
        let mut builder =
            Config::builder().add_source(File::from_str(defaults::DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::with_name(path).required(true));
        }
        let settings: Settings = builder
            .add_source(
                Environment::with_prefix("TD")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(vars)),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let env_ok = !self.environment.is_empty()
            && self
                .environment
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !env_ok {
            return Err(invalid(
                "environment",
                "must be lowercase letters, digits or '-', e.g. `dev`",
            ));
        }
        let db = self.database.url.expose_secret();
        if !(db.starts_with("postgres://")
            || db.starts_with("postgresql://")
            || db.starts_with("sqlite:"))
        {
            return Err(invalid(
                "database.url",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if !matches!(self.telemetry.log_format.as_str(), "json" | "pretty") {
            return Err(invalid(
                "telemetry.log_format",
                "must be `json` or `pretty`",
            ));
        }
        if self.gateway.body_limit_bytes == 0 {
            return Err(invalid("gateway.body_limit_bytes", "must be at least 1"));
        }
        if self.gateway.request_timeout_ms == 0 {
            return Err(invalid("gateway.request_timeout_ms", "must be at least 1"));
        }
        if !(self.nod.base_url.starts_with("http://") || self.nod.base_url.starts_with("https://"))
        {
            return Err(invalid(
                "nod.base_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.nod_distributor.concurrency == 0 {
            return Err(invalid("nod_distributor.concurrency", "must be at least 1"));
        }
        if self.nod_distributor.feed_page == 0 || self.nod_distributor.feed_page > 1000 {
            return Err(invalid("nod_distributor.feed_page", "must be 1 to 1000"));
        }
        if self.pdf_renderer.render_concurrency == 0 {
            return Err(invalid(
                "pdf_renderer.render_concurrency",
                "must be at least 1",
            ));
        }
        if self.pdf_renderer.retention_days == 0 {
            return Err(invalid("pdf_renderer.retention_days", "must be at least 1"));
        }
        if self
            .pdf_renderer
            .time_zone
            .parse::<chrono_tz::Tz>()
            .is_err()
        {
            return Err(invalid(
                "pdf_renderer.time_zone",
                "must be an IANA time zone such as Europe/Oslo",
            ));
        }
        for key in self.pdf_renderer.operator_names.keys() {
            if key.parse::<i64>().is_err() {
                return Err(invalid(
                    "pdf_renderer.operator_names",
                    format!("`{key}` is not an organisation id (a whole number)"),
                ));
            }
        }
        for (key, url) in [
            ("upstreams.order_listener", &self.upstreams.order_listener),
            ("upstreams.nod_distributor", &self.upstreams.nod_distributor),
            ("upstreams.pdf_renderer", &self.upstreams.pdf_renderer),
        ] {
            if let Some(url) = url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(key, "must be an http:// or https:// URL"));
                }
            }
        }
        if self.grpc.token.as_ref().is_some_and(|t| {
            t.expose_secret().len() < 16 || !t.expose_secret().bytes().all(|b| b.is_ascii_graphic())
        }) {
            return Err(invalid(
                "grpc.token",
                "must be at least 16 printable ASCII characters without spaces",
            ));
        }
        if self.gateway.rate_limit_per_second > 0 && self.gateway.rate_limit_burst == 0 {
            return Err(invalid(
                "gateway.rate_limit_burst",
                "must be at least 1 while the rate limit is on",
            ));
        }
        if !matches!(self.auth.mode.as_str(), "jwt" | "off") {
            return Err(invalid("auth.mode", "must be `jwt` or `off`"));
        }
        if self.auth.audience.trim().is_empty() {
            return Err(invalid("auth.audience", "must not be empty"));
        }
        if self
            .auth
            .hs256_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() < 32)
        {
            return Err(invalid("auth.hs256_secret", "must be at least 32 bytes"));
        }
        self.validate_mailer()?;
        if let Err(e) = self.jobs.validate() {
            return Err(invalid("jobs", e.to_string()));
        }
        Ok(())
    }

    fn validate_mailer(&self) -> Result<(), SettingsError> {
        let m = &self.mailer;
        let Some((local, domain)) = m.from_address.rsplit_once('@') else {
            return Err(invalid("mailer.from_address", "must be an e-mail address"));
        };
        if local.is_empty() || domain.is_empty() || m.from_address.chars().any(char::is_control) {
            return Err(invalid("mailer.from_address", "must be an e-mail address"));
        }
        if m.concurrency == 0 {
            return Err(invalid("mailer.concurrency", "must be at least 1"));
        }
        if m.max_message_bytes < 32 * 1024 {
            return Err(invalid(
                "mailer.max_message_bytes",
                "must be at least 32768",
            ));
        }
        if m.send_timeout_ms == 0 || m.connect_timeout_ms == 0 {
            return Err(invalid(
                "mailer.send_timeout_ms",
                "timeouts must be at least 1 ms",
            ));
        }
        Ok(())
    }

    /// Whether a mail attempt (waiting for PDFs, rendering, sending) ends before its job
    /// may be taken over by another mailer replica; otherwise two replicas could deliver one
    /// send. Checked by the mailer at start, since only it depends on it.
    pub fn check_mail_attempt_fits_lease(&self) -> Result<(), SettingsError> {
        let m = &self.mailer;
        if m.pdf_wait_ms + m.send_timeout_ms + 30_000 > self.jobs.visibility_timeout_ms {
            return Err(invalid(
                "mailer.send_timeout_ms",
                format!(
                    "mailer.pdf_wait_ms + mailer.send_timeout_ms + 30 s of rendering must stay \
                     below jobs.visibility_timeout_ms ({} ms)",
                    self.jobs.visibility_timeout_ms
                ),
            ));
        }
        Ok(())
    }

    /// The shared token of internal gRPC calls, if one is set.
    pub fn grpc_token(&self) -> Option<&str> {
        self.grpc.token.as_ref().map(|t| t.expose_secret())
    }

    /// order-listener's gRPC service as its callers reach it.
    pub fn order_listener_url(&self) -> String {
        upstream(
            &self.upstreams.order_listener,
            self.order_listener.grpc_addr,
        )
    }

    /// nod-distributor's gRPC service as its callers reach it.
    pub fn nod_distributor_url(&self) -> String {
        upstream(
            &self.upstreams.nod_distributor,
            self.nod_distributor.grpc_addr,
        )
    }

    /// pdf-renderer's gRPC service as its callers reach it.
    pub fn pdf_renderer_url(&self) -> String {
        upstream(&self.upstreams.pdf_renderer, self.pdf_renderer.grpc_addr)
    }

    /// `order-events-<env>` and the other topic names.
    pub fn topic(&self, base: &str) -> String {
        format!("{base}-{}", self.environment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_are_valid() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(s.gateway.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.environment, "dev");
        assert_eq!(s.topic("order-events"), "order-events-dev");
    }

    #[test]
    fn environment_variables_override_defaults() {
        let s = Settings::load_from(
            None,
            env(&[
                ("TD__GATEWAY__ADDR", "0.0.0.0:9000"),
                ("TD__ENVIRONMENT", "prod"),
                ("TD__KAFKA__PRODUCER__BATCH_NUM_MESSAGES", "1"),
            ]),
        )
        .expect("settings");
        assert_eq!(s.gateway.addr.to_string(), "0.0.0.0:9000");
        assert_eq!(s.environment, "prod");
        assert_eq!(
            s.kafka.producer_properties(),
            vec![("batch.num.messages".to_string(), "1".to_string())]
        );
    }

    #[test]
    fn a_short_or_spaced_internal_token_is_refused_naming_the_key() {
        for bad in ["too-short", "a token with spaces in it"] {
            let err =
                Settings::load_from(None, env(&[("TD__GRPC__TOKEN", bad)])).expect_err("refused");
            assert!(err.to_string().contains("grpc.token"), "{err}");
        }
        let ok = Settings::load_from(None, env(&[("TD__GRPC__TOKEN", "sixteen-chars-ok")]))
            .expect("accepted");
        assert_eq!(ok.grpc_token(), Some("sixteen-chars-ok"));
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = Settings::load_from(None, env(&[("TD__GATEWAY__ADDR", "not-an-address")]))
            .expect_err("bad address");
        assert!(err.to_string().contains("gateway.addr"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err =
            Settings::load_from(None, env(&[("TD__GATEWAY__ADRR", "x")])).expect_err("unknown key");
        assert!(err.to_string().contains("adrr"), "{err}");
    }

    #[test]
    fn semantic_checks_name_the_key_and_variable() {
        let err = Settings::load_from(None, env(&[("TD__DATABASE__URL", "mysql://x")]))
            .expect_err("bad db url");
        let text = err.to_string();
        assert!(
            text.contains("database.url") && text.contains("TD__DATABASE__URL"),
            "{text}"
        );
    }

    #[test]
    fn a_mail_attempt_must_end_before_its_job_can_be_taken_over() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        assert!(s.check_mail_attempt_fits_lease().is_ok());
        let s = Settings::load_from(None, env(&[("TD__JOBS__VISIBILITY_TIMEOUT_MS", "5000")]))
            .expect("other workers may use a short lease");
        let err = s.check_mail_attempt_fits_lease().unwrap_err().to_string();
        assert!(err.contains("jobs.visibility_timeout_ms"), "{err}");
    }

    #[test]
    fn upstreams_default_to_the_local_listen_address_and_must_be_urls() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(s.pdf_renderer_url(), "http://127.0.0.1:50053");
        let s = Settings::load_from(
            None,
            env(&[("TD__UPSTREAMS__PDF_RENDERER", "http://pdf-renderer:50053")]),
        )
        .expect("settings");
        assert_eq!(s.pdf_renderer_url(), "http://pdf-renderer:50053");
        let err = Settings::load_from(
            None,
            env(&[("TD__UPSTREAMS__ORDER_LISTENER", "order-listener:50051")]),
        )
        .expect_err("not a URL");
        assert!(
            err.to_string().contains("upstreams.order_listener"),
            "{err}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Settings::load_from(
            None,
            env(&[("TD__DATABASE__URL", "postgres://u:hunter2@localhost/db")]),
        )
        .expect("settings");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
