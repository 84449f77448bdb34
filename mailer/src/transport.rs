//! Where a built message goes: the SMTP server ([`SmtpSender`]) in production, a directory of
//! `.eml` files in the embedded default ([`EmlDirectory`]), behind one [`Transport`] trait.

use crate::{SendError, Sent, SmtpSender};
use futures::future::BoxFuture;
use lettre::Message;
use std::path::PathBuf;

/// Delivers one message, telling a failure worth another try from one that is not.
pub trait Transport: Send + Sync {
    fn deliver<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<Sent, SendError>>;
}

impl Transport for SmtpSender {
    fn deliver<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(self.send(message))
    }
}

/// The embedded default's mailbox: each message becomes `<dir>/<Message-ID>.eml`, the bytes
/// an SMTP server would have been given, and its path is logged. A message with the same
/// Message-ID replaces the earlier file, so a repeated delivery leaves one file.
#[derive(Debug, Clone)]
pub struct EmlDirectory {
    dir: PathBuf,
}

impl EmlDirectory {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    async fn write(&self, message: &Message) -> Result<Sent, SendError> {
        let raw = message.formatted();
        let id = message
            .headers()
            .get_raw("Message-ID")
            .map(|v| {
                v.trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace())
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let io = |e: std::io::Error| SendError::Transient(format!("writing the mail file: {e}"));
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let path = self.dir.join(format!("{id}.eml"));
        let partial = self.dir.join(format!("{id}.eml.partial"));
        tokio::fs::write(&partial, &raw).await.map_err(io)?;
        tokio::fs::rename(&partial, &path).await.map_err(io)?;
        tracing::info!(path = %path.display(), bytes = raw.len(), "mail written (embedded default: no SMTP server)");
        Ok(Sent {
            queue_id: Some(id),
            reply: format!("written to {}", path.display()),
        })
    }
}

impl Transport for EmlDirectory {
    fn deliver<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(self.write(message))
    }
}
