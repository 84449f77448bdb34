//! Mail jobs: the dispatcher that feeds the queue from the sends PostgreSQL says are due, and
//! the worker that delivers them.
//!
//! Why no mail is lost and none is sent twice: a job is only a reminder of a send recorded
//! in the database. The dispatcher enqueues one for each send still QUEUED (or SENDING, when
//! its worker died), and enqueues again when a job was lost. A worker first claims the send
//! (QUEUED → SENDING in one conditional update, so two jobs for one send never deliver it
//! at once), then fetches the PDFs, sends, records SENT and only then acknowledges the job:
//! a job delivered again after a crash finds the send SENT and does nothing. The one window
//! left is a crash after the server accepted the message and before SENT is recorded; the
//! mail then goes out again with the same Message-ID (the send's id).

use crate::{
    attachments_fit, build_message, Attachment, MailFrom, SendError, Sent, TicketMail, Transport,
};
use backon::{ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use td_domain::Language;
pub use td_jobs::Streams;
use td_jobs::{Handler, Job, JobKind, Outcome};
use td_proto::v1::pdf_renderer_client::PdfRendererClient;
use td_proto::v1::{CreateOrGetRequest, PdfTicket};
use td_runtime::InternalChannel;
use td_store::entity::pdf_send;
use td_store::mail;
use td_store::{DatabaseConnection, DatabaseTransaction};
use tracing::Instrument;
use uuid::Uuid;

const DISPATCH_LOCK: i64 = 7_346_031;

/// Where mail jobs go and who reads them.
pub fn streams(environment: &str) -> Streams {
    Streams::new(format!("mail-jobs-{environment}"), "mailer")
}

/// Deliver the send recorded under `send_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMail {
    pub send_id: Uuid,
}

impl JobKind for SendMail {
    const KIND: &'static str = "mail.send";
}

/// The sends due for a mail job. On PostgreSQL one replica dispatches at a time (a
/// transaction-scoped advisory lock).
pub struct DueSends {
    pub db: DatabaseConnection,
    pub redispatch_after: Duration,
}

impl td_jobs::Due for DueSends {
    type Key = Uuid;
    type Pass = DatabaseTransaction;
    const WHAT: &'static str = "mail dispatch";

    async fn begin(&self) -> anyhow::Result<Option<DatabaseTransaction>> {
        Ok(td_store::begin_exclusive(&self.db, DISPATCH_LOCK).await?)
    }

    async fn fetch(
        &self,
        txn: &DatabaseTransaction,
        now: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> anyhow::Result<Vec<(Uuid, Job)>> {
        let redispatch_after = chrono::Duration::from_std(self.redispatch_after)?;
        let due = mail::due(txn, now, redispatch_after, limit).await?;
        due.into_iter()
            .map(|send_id| Ok((send_id, Job::of(&SendMail { send_id })?)))
            .collect()
    }

    async fn mark_enqueued(
        &self,
        txn: DatabaseTransaction,
        enqueued: &[Uuid],
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        mail::mark_enqueued(&txn, enqueued, now).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// The dispatcher of mail jobs.
pub type Dispatcher = td_jobs::Dispatcher<DueSends>;

/// What every mail looks like, from the settings.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub from: MailFrom,
    pub message_id_domain: String,
    /// Above this, links instead of attachments.
    pub max_message_bytes: usize,
    /// Where clients reach the API: links are `<base>/v1/pdf-tickets/{id}/content`.
    pub public_base_url: String,
    /// How long an attempt waits for the order's PDFs.
    pub pdf_wait: Duration,
    /// An attempt older than this is taken to be dead and the send is claimed again.
    pub stale_after: Duration,
    /// How long after it was recorded a send that fails only transiently is still tried.
    pub give_up_after: Duration,
}

impl MailConfig {
    /// The longest one delivery attempt may take: a margin below `stale_after`, when the
    /// send is taken to be abandoned and may be claimed by another attempt.
    pub fn attempt_budget(&self) -> Duration {
        let margin = (self.stale_after / 10).min(Duration::from_secs(5));
        self.stale_after.saturating_sub(margin)
    }
}

/// Delivers sends.
pub struct MailHandler {
    pub db: DatabaseConnection,
    pub pdfs: PdfRendererClient<InternalChannel>,
    pub transport: Arc<dyn Transport>,
    pub config: MailConfig,
}

/// Takes mail jobs and delivers them; `process_one` is one job of it.
pub type Worker = td_jobs::Worker<MailHandler>;

/// Why an attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Worth another try later (the send is QUEUED again).
    Transient(String),
    /// Not worth another try: the send ends FAILED with this.
    Permanent(String),
}

impl Handler for MailHandler {
    type Job = SendMail;

    async fn handle(&self, job: &SendMail, _leased: &Job) -> Outcome {
        let id = job.send_id;
        let stale_after = chrono::Duration::from_std(self.config.stale_after)
            .unwrap_or_else(|_| chrono::Duration::days(1));
        let send = match mail::begin_attempt(&self.db, id, chrono::Utc::now(), stale_after).await {
            Ok(Some(send)) => send,
            // SENT, FAILED, unknown, or claimed by another worker's attempt right now.
            Ok(None) => return Outcome::Done,
            Err(err) => return Outcome::Retry(format!("database: {err}")),
        };
        let span = tracing::info_span!(
            "mail.send",
            send_id = %id,
            order_id = %send.order_id,
            attempt = send.attempts,
            correlation_id = send.correlation_id.as_deref().unwrap_or(""),
        );
        // The mail is part of the trace of the request that asked for it.
        td_telemetry::propagation::follow(&span, send.traceparent.as_deref());
        // Each step is bounded on its own (PDFs by `pdf_wait` plus rendering, the server by
        // `send_timeout`; their sum is checked against the lease at start). The attempt as a
        // whole is bounded too, below the job's lease, so that it never outlives it and
        // another replica never takes the same send over while this one still delivers.
        let budget = self.config.attempt_budget();
        let outcome = tokio::time::timeout(budget, self.deliver(&send).instrument(span))
            .await
            .unwrap_or_else(|_| {
                Err(Failure::Transient(format!(
                    "the attempt did not end within {} ms (below the job's lease); tried again later",
                    budget.as_millis()
                )))
            });
        let label = match &outcome {
            Ok(_) => "sent",
            Err(Failure::Permanent(_)) => "failed",
            Err(Failure::Transient(_)) => "retry",
        };
        metrics::counter!("td_mail_deliveries_total", "outcome" => label).increment(1);
        match outcome {
            Ok((sent, message_id)) => {
                self.record_sent(id, &sent, &message_id).await;
                Outcome::Done
            }
            Err(Failure::Permanent(reason)) => {
                tracing::warn!(send_id = %id, %reason, "mail refused; the send is FAILED");
                match mail::mark_failed(&self.db, id, &reason, chrono::Utc::now()).await {
                    Ok(()) => Outcome::Done,
                    Err(err) => Outcome::Retry(format!("recording FAILED: {err}")),
                }
            }
            Err(Failure::Transient(reason)) => {
                if let Err(err) =
                    mail::record_error(&self.db, id, &reason, chrono::Utc::now()).await
                {
                    tracing::warn!(error = %err, send_id = %id, "recording a failed attempt");
                }
                Outcome::Retry(reason)
            }
        }
    }

    /// The job's retries ran out, each for a transient reason (permanent ones end the send
    /// at once). Within `give_up_after` of its recording the send stays QUEUED and the
    /// dispatcher hands it out again after `redispatch_after`: an SMTP outage delays mail,
    /// it does not lose it. Past that it is FAILED.
    async fn exhausted(&self, job: &SendMail, _leased: &Job, reason: &str) {
        let now = chrono::Utc::now();
        let give_up_after = chrono::Duration::from_std(self.config.give_up_after)
            .unwrap_or_else(|_| chrono::Duration::days(1));
        match mail::send(&self.db, td_domain::Scope::AllOrganisations, job.send_id).await {
            Ok(Some(send)) if now - send.created_at < give_up_after => {
                tracing::warn!(send_id = %job.send_id, %reason, "mail retries exhausted for now; the send stays QUEUED and is dispatched again");
                return;
            }
            Ok(_) => {}
            Err(err) => {
                // Unknown age: keep it QUEUED; the next exhaustion decides.
                tracing::warn!(error = %err, send_id = %job.send_id, "reading a send after exhausted retries");
                return;
            }
        }
        let error = format!("retries exhausted; last error: {reason}");
        if let Err(err) = mail::mark_failed(&self.db, job.send_id, &error, chrono::Utc::now()).await
        {
            tracing::error!(error = %err, send_id = %job.send_id, "recording FAILED after exhausted retries");
        }
    }
}

impl MailHandler {
    /// Records SENT before the job is acknowledged, trying for a while: a send the server
    /// accepted must not be attempted again because the database blinked. Should the record
    /// fail all the same, the job is acknowledged anyway and the send stays SENDING; the
    /// dispatcher then hands it out again once `stale_after` has passed (a second mail with
    /// the same Message-ID).
    async fn record_sent(&self, id: Uuid, sent: &Sent, message_id: &str) {
        let record = || async {
            mail::mark_sent(
                &self.db,
                id,
                sent.queue_id.as_deref(),
                message_id,
                chrono::Utc::now(),
            )
            .await
        };
        let recorded = record
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(5))
                    .with_max_times(8),
            )
            .await;
        match recorded {
            Ok(_) => {
                tracing::info!(send_id = %id, smtp_queue_id = sent.queue_id.as_deref().unwrap_or(""), reply = %sent.reply, "mail sent")
            }
            Err(err) => {
                tracing::error!(error = %err, send_id = %id, "mail sent but SENT could not be recorded")
            }
        }
    }

    /// Fetches the PDFs, builds the message and hands it to the transport; returns what the
    /// server said and the Message-ID.
    async fn deliver(&self, send: &pdf_send::Model) -> Result<(Sent, String), Failure> {
        let language: Language = send.language.parse().unwrap_or(Language::Nob);
        let pdfs = self.fetch_pdfs(send, language).await?;
        let attachments: Vec<Attachment> = pdfs
            .iter()
            .enumerate()
            .map(|(i, p)| Attachment::ticket(language, &send.order_id, i + 1, p.pdf.clone()))
            .collect();
        let (attachments, links) = if attachments_fit(&attachments, self.config.max_message_bytes) {
            (attachments, Vec::new())
        } else {
            let base = self.config.public_base_url.trim_end_matches('/');
            let links = pdfs
                .iter()
                .map(|p| format!("{base}/v1/pdf-tickets/{}/content", p.id))
                .collect();
            (Vec::new(), links)
        };
        let mail = TicketMail {
            from: self.config.from.clone(),
            to: send.email_address.clone(),
            language,
            order_id: send.order_id.clone(),
            attachments,
            links,
            message_id: send.id,
            message_id_domain: self.config.message_id_domain.clone(),
        };
        let message = build_message(&mail).map_err(|e| Failure::Permanent(e.to_string()))?;
        let message_id = format!("<{}@{}>", send.id, self.config.message_id_domain);
        let sent = self
            .transport
            .deliver(&message)
            .await
            .map_err(|e| match e {
                SendError::Transient(m) => Failure::Transient(m),
                SendError::Permanent(m) => Failure::Permanent(m),
            })?;
        Ok((sent, message_id))
    }

    /// The PDFs (made now if missing) of the groups that hold the send's tickets.
    async fn fetch_pdfs(
        &self,
        send: &pdf_send::Model,
        language: Language,
    ) -> Result<Vec<PdfTicket>, Failure> {
        let mut request = tonic::Request::new(CreateOrGetRequest {
            order_id: send.order_id.clone(),
            order_version: None,
            order_line_ids: Vec::new(),
            language: language.as_str().to_owned(),
            scope: Some(td_proto::v1::Scope::organisation(send.organisation_id)),
            wait_ms: u32::try_from(self.config.pdf_wait.as_millis()).unwrap_or(u32::MAX),
            correlation_id: send.correlation_id.clone().unwrap_or_default(),
        });
        request.set_timeout(self.config.pdf_wait + Duration::from_secs(30));
        let response = self
            .pdfs
            .clone()
            .create_or_get(request)
            .await
            .map_err(|status| pdf_failure(&status))?;
        let wanted: HashSet<Uuid> = mail::ticket_ids(send).into_iter().collect();
        let pdfs: Vec<PdfTicket> = response
            .into_inner()
            .pdf_tickets
            .into_iter()
            .filter(|p| {
                p.ticket_distribution_ids
                    .iter()
                    .filter_map(|t| Uuid::parse_str(t).ok())
                    .any(|t| wanted.contains(&t))
            })
            .collect();
        if pdfs.is_empty() {
            return Err(Failure::Permanent(
                "NO_VALID_TICKETS: no PDF holds any ticket of the send (cancelled since it was \
                 recorded?)"
                    .into(),
            ));
        }
        Ok(pdfs)
    }
}

/// pdf-renderer's refusals that no retry changes end the send; the rest are tried again.
/// The reason names the worker's error code, or `PDF_RENDERER` when the failure carries
/// none (the call itself failed).
fn pdf_failure(status: &tonic::Status) -> Failure {
    let code = td_proto::ErrorCode::of(status).map_or("PDF_RENDERER", |c| c.as_str());
    let text = format!("{code}: {}", status.message());
    match status.code() {
        tonic::Code::InvalidArgument | tonic::Code::NotFound | tonic::Code::FailedPrecondition => {
            Failure::Permanent(text)
        }
        _ => Failure::Transient(text),
    }
}
