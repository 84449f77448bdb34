//! The `mailer` section.

use crate::error::{invalid, SettingsError};
use crate::Section;
use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;

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
    /// A send whose attempts fail only for transient reasons (the SMTP server or
    /// pdf-renderer out of reach) keeps being dispatched again for this long after it was
    /// recorded; only then is it FAILED.
    pub give_up_after_ms: u64,
    /// How long one attempt waits for the order's PDFs to be made.
    pub pdf_wait_ms: u64,
    /// Opening an SMTP connection gives up after this long.
    pub connect_timeout_ms: u64,
    /// One SMTP delivery, connection to final reply, gives up after this long.
    pub send_timeout_ms: u64,
    /// Open SMTP connections kept for reuse, at most.
    pub pool_max_size: u32,
}

impl Section for MailerSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let Some((local, domain)) = self.from_address.rsplit_once('@') else {
            return Err(invalid("mailer.from_address", "must be an e-mail address"));
        };
        if local.is_empty() || domain.is_empty() || self.from_address.chars().any(char::is_control)
        {
            return Err(invalid("mailer.from_address", "must be an e-mail address"));
        }
        if self.concurrency == 0 {
            return Err(invalid("mailer.concurrency", "must be at least 1"));
        }
        if self.max_message_bytes < 32 * 1024 {
            return Err(invalid(
                "mailer.max_message_bytes",
                "must be at least 32768",
            ));
        }
        if self.send_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err(invalid(
                "mailer.send_timeout_ms",
                "timeouts must be at least 1 ms",
            ));
        }
        Ok(())
    }
}
