//! Settings shared by every binary, read in layers: built-in defaults, then an optional
//! TOML file (`TD_CONFIG_FILE`), then environment variables `TD__<SECTION>__<FIELD>`, which
//! map one to one onto Kubernetes ConfigMaps and Secrets. Unknown keys and bad values stop
//! start-up with the key's name. Each section checks its own values ([`Section`]); the
//! sections of the adapters (`nod`, `jobs`, `kafka`, `telemetry`) are defined by those
//! crates, and the order intake's limits (`intake`) by `td-domain`, which applies them. Modes are enums and the time zone a `Tz` once loaded, so no caller parses a
//! setting again. This crate reads configuration; it opens no connection.

use config::{Config, Environment, File, FileFormat};
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::net::SocketAddr;

mod auth;
mod defaults;
mod error;
mod gateway;
mod internal;
mod mailer;
mod pdf_renderer;
mod section;
mod storage;
mod workers;

pub use auth::{AuthMode, AuthSettings};
pub use error::{invalid, SettingsError};
pub use gateway::GatewaySettings;
pub use internal::{GrpcSettings, ShutdownSettings, UpstreamSettings};
pub use mailer::MailerSettings;
pub use pdf_renderer::PdfRendererSettings;
pub use section::Section;
pub use storage::{DatabaseSettings, RedisSettings};
pub use td_bus::{KafkaSettings, SecurityProtocol};
pub use td_telemetry::{LogFormat, TelemetrySettings};
pub use workers::{NodDistributorSettings, OrderListenerSettings};

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
    pub order_listener: OrderListenerSettings,
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
    /// The limits an order event must stay within; beyond them it is dead-lettered.
    pub intake: td_domain::Limits,
    pub shutdown: ShutdownSettings,
}

fn upstream(url: &Option<String>, listen: SocketAddr) -> String {
    url.clone().unwrap_or_else(|| format!("http://{listen}"))
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

    /// Every section in turn; the first bad value stops start-up.
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
        let sections: [&dyn Section; 14] = [
            &self.database,
            &self.order_listener,
            &self.telemetry,
            &self.kafka,
            &self.gateway,
            &self.nod,
            &self.nod_distributor,
            &self.pdf_renderer,
            &self.upstreams,
            &self.grpc,
            &self.auth,
            &self.mailer,
            &self.jobs,
            &self.intake,
        ];
        sections.iter().try_for_each(|section| section.validate())
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

    /// The internal calls of a deployment whose API is authorised must be authenticated
    /// too, and no example secret shipped in `deploy/` may protect anything but the `dev`
    /// environment. Checked at start by the processes that serve or guard calls (the gateway
    /// and pdf-renderer).
    pub fn check_secrets_fit_for_use(&self) -> Result<(), SettingsError> {
        if self.auth.mode == AuthMode::Jwt && self.grpc.token.is_none() {
            return Err(invalid(
                "grpc.token",
                "authorisation is on (auth.mode = jwt), so internal calls must be \
                 authenticated too: set TD__GRPC__TOKEN (the same value for every worker), or \
                 TD__AUTH__MODE=off for local use",
            ));
        }
        if self.environment != "dev" {
            let token = self.grpc_token().unwrap_or_default();
            let database = self.database.url.expose_secret();
            let example = EXAMPLE_SECRETS
                .iter()
                .find(|(_, value)| token == *value || database.contains(value));
            if let Some((name, _)) = example {
                return Err(invalid(
                    *name,
                    format!(
                        "holds the example value shipped in deploy/ (fit for the `dev` \
                         environment only, and this is `{}`): give the deployment its own secret",
                        self.environment
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The shared token of internal gRPC calls, if one is set.
    pub fn grpc_token(&self) -> Option<&str> {
        self.grpc.token.as_ref().map(|t| t.expose_secret())
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

/// The example secrets of `deploy/k8s/base/secrets.example.env` and `deploy/compose.yaml`,
/// by the setting that holds them: refused outside the `dev` environment.
const EXAMPLE_SECRETS: &[(&str, &str)] = &[
    ("grpc.token", "example-internal-token-change-me"),
    ("grpc.token", "compose-internal-token-0123456789"),
    ("database.url", ":change-me@"),
];

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
            env(&[("TD__UPSTREAMS__PDF_RENDERER", "pdf-renderer:50053")]),
        )
        .expect_err("not a URL");
        assert!(err.to_string().contains("upstreams.pdf_renderer"), "{err}");
    }

    #[test]
    fn modes_and_the_time_zone_are_typed_when_loaded() {
        let s = Settings::load_from(
            None,
            env(&[
                ("TD__AUTH__MODE", "off"),
                ("TD__TELEMETRY__LOG_FORMAT", "pretty"),
                ("TD__KAFKA__SECURITY_PROTOCOL", "SASL_SSL"),
                ("TD__PDF_RENDERER__TIME_ZONE", "America/New_York"),
            ]),
        )
        .expect("settings");
        assert_eq!(s.auth.mode, AuthMode::Off);
        assert_eq!(s.telemetry.log_format, LogFormat::Pretty);
        assert_eq!(s.kafka.security_protocol, SecurityProtocol::SaslSsl);
        assert_eq!(s.pdf_renderer.time_zone, chrono_tz::America::New_York);
    }

    #[test]
    fn a_bad_mode_or_time_zone_names_its_key() {
        for (var, bad, key) in [
            ("TD__AUTH__MODE", "maybe", "auth.mode"),
            ("TD__TELEMETRY__LOG_FORMAT", "xml", "telemetry.log_format"),
            (
                "TD__KAFKA__SECURITY_PROTOCOL",
                "tls",
                "kafka.security_protocol",
            ),
            (
                "TD__PDF_RENDERER__TIME_ZONE",
                "Mars/Olympus",
                "pdf_renderer.time_zone",
            ),
        ] {
            let err = Settings::load_from(None, env(&[(var, bad)])).expect_err(bad);
            assert!(err.to_string().contains(key), "{var}={bad}: {err}");
        }
    }

    #[test]
    fn the_adapters_sections_name_the_full_key_of_a_bad_value() {
        for (var, key) in [
            ("TD__NOD__RETRY__MAX_ATTEMPTS", "nod.retry.max_attempts"),
            ("TD__NOD__CONNECT_TIMEOUT_MS", "nod.connect_timeout_ms"),
            ("TD__JOBS__MAX_ATTEMPTS", "jobs.max_attempts"),
        ] {
            let err = Settings::load_from(None, env(&[(var, "0")])).expect_err(var);
            let text = err.to_string();
            assert!(
                text.contains(&format!("`{key}`")) && text.contains(var),
                "{text}"
            );
        }
    }

    #[test]
    fn order_listener_batches_are_bounded_in_count_and_bytes() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(s.order_listener.batch_max_messages, 1024);
        assert_eq!(s.order_listener.batch_max_bytes, 8 * 1024 * 1024);
        for (var, key) in [
            (
                "TD__ORDER_LISTENER__BATCH_MAX_MESSAGES",
                "order_listener.batch_max_messages",
            ),
            (
                "TD__ORDER_LISTENER__BATCH_MAX_BYTES",
                "order_listener.batch_max_bytes",
            ),
        ] {
            let err = Settings::load_from(None, env(&[(var, "0")])).expect_err(var);
            let text = err.to_string();
            assert!(
                text.contains(&format!("`{key}`")) && text.contains(var),
                "{text}"
            );
        }
    }

    #[test]
    fn the_producers_message_max_bytes_is_read_and_checked() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(s.kafka.producer_message_max_bytes(), Ok(1_000_000));
        let s = Settings::load_from(
            None,
            env(&[("TD__KAFKA__PRODUCER__MESSAGE_MAX_BYTES", "2000000")]),
        )
        .expect("settings");
        assert_eq!(s.kafka.producer_message_max_bytes(), Ok(2_000_000));
        let err = Settings::load_from(
            None,
            env(&[("TD__KAFKA__PRODUCER__MESSAGE_MAX_BYTES", "1MB")]),
        )
        .expect_err("not a number");
        assert!(
            err.to_string().contains("kafka.producer.message_max_bytes"),
            "{err}"
        );
    }

    #[test]
    fn the_intake_limits_default_to_the_domain_defaults_and_are_checked() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(s.intake, td_domain::Limits::default());
        let s = Settings::load_from(None, env(&[("TD__INTAKE__MAX_ORDER_LINES", "7")]))
            .expect("settings");
        assert_eq!(s.intake.max_order_lines, 7);
        for (var, bad, key) in [
            (
                "TD__INTAKE__MAX_LEGS_PER_LINE",
                "0",
                "intake.max_legs_per_line",
            ),
            ("TD__INTAKE__MAX_ID_CHARS", "301", "intake.max_id_chars"),
            (
                "TD__INTAKE__MAX_TICKETS_PER_ORDER",
                "2147483648",
                "intake.max_tickets_per_order",
            ),
        ] {
            let err = Settings::load_from(None, env(&[(var, bad)])).expect_err(var);
            let text = err.to_string();
            assert!(
                text.contains(&format!("`{key}`")) && text.contains(var),
                "{text}"
            );
        }
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

    #[test]
    fn authorised_deployments_need_authenticated_internal_calls_and_real_secrets() {
        let check = |pairs: &[(&str, &str)]| {
            Settings::load_from(None, env(pairs))
                .unwrap()
                .check_secrets_fit_for_use()
                .map_err(|e| e.to_string())
        };
        let err = check(&[("TD__AUTH__MODE", "jwt")]).unwrap_err();
        assert!(err.contains("TD__GRPC__TOKEN"), "{err}");
        assert!(check(&[("TD__AUTH__MODE", "off")]).is_ok());
        let token = ("TD__GRPC__TOKEN", "a-token-of-this-deployment-only");
        assert!(check(&[("TD__AUTH__MODE", "jwt"), token]).is_ok());

        for (example, key) in [
            (
                ("TD__GRPC__TOKEN", "example-internal-token-change-me"),
                "grpc.token",
            ),
            (
                ("TD__GRPC__TOKEN", "compose-internal-token-0123456789"),
                "grpc.token",
            ),
            (
                ("TD__DATABASE__URL", "postgres://td:change-me@db:5432/td"),
                "database.url",
            ),
        ] {
            for environment in ["prod", "staging"] {
                let pairs = [("TD__ENVIRONMENT", environment), token, example];
                let err = check(&pairs).unwrap_err();
                assert!(err.contains(key) && err.contains("example"), "{err}");
            }
            assert!(check(&[("TD__ENVIRONMENT", "dev"), token, example]).is_ok());
        }
    }
}
