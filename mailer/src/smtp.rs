//! Sending over SMTP: lettre's pooled async transport, built from one URL
//! (`smtp://host:port`, `smtp://user:pass@host?tls=required`, `smtps://user:pass@host`),
//! with failures sorted into transient (try again later) and permanent (don't).

use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::{self, AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::sync::RwLock;
use std::time::Duration;

/// How the transport connects and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpOptions {
    /// Opening a TCP connection gives up after this long.
    pub connect_timeout: Duration,
    /// One send, from taking a connection to the server's reply to the message, gives up
    /// after this long. lettre's async transport has no read timeout of its own, so a server
    /// that stops answering is caught here.
    pub send_timeout: Duration,
    /// Open connections kept for reuse, at most.
    pub pool_max_size: u32,
    /// Open connections kept even when idle.
    pub pool_min_idle: u32,
    /// An idle pooled connection is closed after this long.
    pub pool_idle_timeout: Duration,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(60),
            pool_max_size: 4,
            pool_min_idle: 0,
            pool_idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The server accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The server's id for the message, when its reply names one (see [`parse_queue_id`]).
    pub queue_id: Option<String>,
    /// The whole reply, code first: `250 2.0.0 Ok: queued as 4Bd3Xk1YzV`.
    pub reply: String,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: no connection, a timeout, a 4xx reply.
    #[error("transient SMTP failure: {0}")]
    Transient(String),
    /// Not worth another try: a 5xx reply (its code and text, `550 5.1.1 …`), or a message
    /// this server cannot take.
    #[error("permanent SMTP failure: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// The SMTP URL could not be used. The text never contains the URL (it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SMTP URL: {0}")]
pub struct SmtpUrlError(String);

/// Sends messages over a pool of SMTP connections. Cheap to share behind an `Arc`; `send`
/// may run concurrently.
pub struct SmtpSender {
    builder: AsyncSmtpTransportBuilder,
    /// The transport in use and its generation: a send that times out leaves its connection
    /// in an unknown state, so the whole pool is shut down and replaced (see `with_deadline`).
    transport: RwLock<(u64, AsyncSmtpTransport<Tokio1Executor>)>,
    send_timeout: Duration,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The transport holds the credentials: leave it out.
        f.debug_struct("SmtpSender")
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender for the server at `url` (see the module documentation). Connects lazily: a
    /// server that is down shows at the first send, or at [`SmtpSender::check`]. Call it
    /// within a Tokio runtime: the pool starts its idle-connection reaper there.
    pub fn from_url(url: &str, options: &SmtpOptions) -> Result<Self, SmtpUrlError> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| SmtpUrlError(e.to_string()))?
            .timeout(Some(options.connect_timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(options.pool_max_size.max(1))
                    .min_idle(options.pool_min_idle)
                    .idle_timeout(options.pool_idle_timeout),
            );
        let transport = builder.clone().build();
        Ok(Self {
            builder,
            transport: RwLock::new((0, transport)),
            send_timeout: options.send_timeout,
        })
    }

    fn current(&self) -> (u64, AsyncSmtpTransport<Tokio1Executor>) {
        let guard = self.transport.read().unwrap_or_else(|e| e.into_inner());
        (guard.0, guard.1.clone())
    }

    /// Sends `message` to the recipients in its headers, from its `From` (lettre's envelope).
    pub async fn send(&self, message: &Message) -> Result<Sent, SendError> {
        let raw = message.formatted();
        let (raw, envelope) = (&raw, message.envelope());
        let response = self
            .with_deadline(|t| async move { t.send_raw(envelope, raw).await })
            .await?;
        Ok(sent(&response))
    }

    /// Whether the server answers: takes a connection (a new one or from the pool) and sends
    /// NOOP. For readiness checks.
    pub async fn check(&self) -> Result<(), SendError> {
        let ok = self
            .with_deadline(|t| async move { t.test_connection().await })
            .await?;
        if ok {
            Ok(())
        } else {
            Err(SendError::Transient(
                "the SMTP server did not answer NOOP".into(),
            ))
        }
    }

    /// Closes the pooled connections (QUIT). Sends after this fail.
    pub async fn shutdown(&self) {
        let (_, transport) = self.current();
        transport.shutdown().await;
    }

    /// Runs `op` on the current transport within the send timeout. On timeout the transport
    /// is shut down *before* the operation (and the pooled connection it holds) is dropped, so
    /// that connection is closed rather than handed back to the pool mid-conversation; a new
    /// transport takes its place for later sends. An operation that finds its transport shut
    /// down that way (a concurrent send timed out) runs once more on the new one.
    async fn with_deadline<T, F, Fut>(&self, op: F) -> Result<T, SendError>
    where
        F: Fn(AsyncSmtpTransport<Tokio1Executor>) -> Fut,
        Fut: Future<Output = Result<T, smtp::Error>>,
    {
        let mut retried = false;
        loop {
            let (generation, transport) = self.current();
            // Owned, so it is dropped exactly where `drop(fut)` says.
            let mut fut = Box::pin(op(transport.clone()));
            let result = tokio::select! {
                biased;
                result = &mut fut => result,
                () = tokio::time::sleep(self.send_timeout) => {
                    self.replace(generation);
                    transport.shutdown().await;
                    drop(fut);
                    return Err(SendError::Transient(format!(
                        "the SMTP server did not finish within {} ms",
                        self.send_timeout.as_millis()
                    )));
                }
            };
            match result {
                Err(e)
                    if e.is_transport_shutdown() && !retried && self.current().0 != generation =>
                {
                    retried = true;
                }
                result => return result.map_err(|e| classify(&e)),
            }
        }
    }

    /// Puts a new transport in place of generation `generation`, unless that happened already.
    fn replace(&self, generation: u64) {
        let mut guard = self.transport.write().unwrap_or_else(|e| e.into_inner());
        if guard.0 == generation {
            *guard = (generation + 1, self.builder.clone().build());
        }
    }
}

/// Sorts a lettre error: 5xx replies and messages this server cannot take are permanent;
/// 4xx replies, connection, TLS and network failures, timeouts and garbled replies are
/// transient.
fn classify(e: &smtp::Error) -> SendError {
    if let Some(code) = e.status() {
        let text = e.source().map(|s| s.to_string()).unwrap_or_default();
        let reply = format!("{code} {text}").trim_end().to_owned();
        return if e.is_permanent() {
            SendError::Permanent(reply)
        } else {
            SendError::Transient(reply)
        };
    }
    let text = e.to_string();
    // lettre's own refusals to send: the message or envelope needs an extension (SMTPUTF8,
    // 8BITMIME) the server lacks. Trying again changes nothing.
    if e.is_client() && text.contains("non-ascii") {
        return SendError::Permanent(text);
    }
    if e.is_timeout() {
        return SendError::Transient(format!("timed out: {text}"));
    }
    SendError::Transient(text)
}

fn sent(response: &Response) -> Sent {
    let text = response.message().collect::<Vec<_>>().join(" ");
    let reply = format!("{} {}", response.code(), text)
        .trim_end()
        .to_owned();
    Sent {
        queue_id: parse_queue_id(&reply),
        reply,
    }
}

/// The server's id for an accepted message, from the reply to DATA: Postfix and most others
/// answer `250 2.0.0 Ok: queued as 4Bd3Xk1YzV`, Exim `250 OK id=1rXyZa-0001Ab-2C`, Amazon
/// SES `250 Ok 0100018e4b…-000000`. `None` for a plain `250 OK`.
pub fn parse_queue_id(reply: &str) -> Option<String> {
    let token = |s: &str| -> Option<String> {
        let t: String = s
            .trim_start()
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        let t = t.trim_end_matches(['.', ',', ';', ')', ']']);
        let t = t.trim_start_matches(['(', '[', '<']).trim_end_matches('>');
        (!t.is_empty() && t.chars().all(|c| c.is_ascii_graphic())).then(|| t.to_owned())
    };
    let lower = reply.to_ascii_lowercase();
    if let Some(i) = lower.find("queued as ") {
        return token(&reply[i + "queued as ".len()..]);
    }
    if let Some(i) = lower.find(" id=") {
        return token(&reply[i + " id=".len()..]);
    }
    // `250 Ok <id>` with nothing after the id (SES); a long token, so `250 Ok thanks` is no id.
    let words: Vec<&str> = reply.split_whitespace().collect();
    if let [code, ok, id] = words.as_slice() {
        if code.starts_with('2')
            && ok.eq_ignore_ascii_case("ok")
            && id.len() >= 16
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Some((*id).to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_from_common_servers() {
        let cases = [
            ("250 2.0.0 Ok: queued as ABC123", Some("ABC123")),
            (
                "250 2.0.0 Ok: queued as 4Bd3Xk1YzVz9sS",
                Some("4Bd3Xk1YzVz9sS"),
            ),
            ("250 OK id=1rXyZa-0001Ab-2C", Some("1rXyZa-0001Ab-2C")),
            (
                "250 Ok 0100018e4b2f1c3a-7f2b1d3e-aaaa-bbbb-cccc-0123456789ab-000000",
                Some("0100018e4b2f1c3a-7f2b1d3e-aaaa-bbbb-cccc-0123456789ab-000000"),
            ),
            ("250 Queued as <X1Y2Z3>.", Some("X1Y2Z3")),
            ("250 OK", None),
            ("250 Ok thanks", None),
            ("250 Message accepted for delivery", None),
            ("250 2.0.0 Ok: queued as ", None),
        ];
        for (reply, want) in cases {
            assert_eq!(parse_queue_id(reply).as_deref(), want, "{reply}");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_without_echoing_them() {
        let options = SmtpOptions::default();
        for url in [
            "smtp://127.0.0.1:2525",
            "smtps://user:pass@mail.example.org",
            "smtp://mail.example.org?tls=required",
        ] {
            SmtpSender::from_url(url, &options).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        for url in [
            "http://user:s3cret@mail.example.org",
            "smtp://user:s3cret@mail.example.org?tls=bogus",
            "not a url s3cret",
            "smtp://user:s3cret@:25",
        ] {
            let err = SmtpSender::from_url(url, &options).expect_err(url);
            assert!(!err.to_string().contains("s3cret"), "{url}: {err}");
        }
        let sender =
            SmtpSender::from_url("smtps://user:s3cret@mail.example.org", &options).unwrap();
        assert!(!format!("{sender:?}").contains("s3cret"));
    }
}
