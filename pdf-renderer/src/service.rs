//! createOrGet and render: wait (bounded) for an order's groups, then return one stored PDF
//! per group, rendering only the missing ones. Rendering runs on blocking threads, at most
//! `render_concurrency` at once; the wait is woken by the order notifications, never by a
//! polling loop.
//!
//! Bounded work: at most `max_waiting` createOrGets wait for an order's tickets at once (the
//! next one is refused with `Busy` at once, which callers see as 429 with `Retry-After`);
//! concurrent createOrGets of one group share one render (single flight); and a render that
//! nobody waits for any more (every caller went away) stops before its next sheet.

use crate::document::{is_printable, Presentation, TicketDocument};
use crate::render::{RenderError, Renderer};
use crate::watch::{Heard, OrderWatch};
use chrono::{Duration as ChronoDuration, Utc};
use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use td_domain::ids::{OrderId, Scope};
use td_domain::Language;
use td_store::entity::pdf_ticket;
use td_store::pdf::{self as stored, StoredPdf};
use td_store::query::{self, ConfirmedVersion, GroupWithDistributions};
use td_store::{DatabaseConnection, StoreError};
use tokio::sync::Semaphore;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("order {0} is {1}, not CONFIRMED")]
    NotConfirmed(String, String),
    #[error("order {0} has no version {1}")]
    NoSuchVersion(String, u32),
    #[error("the tickets of order {0} did not appear within {1} ms")]
    Timeout(String, u64),
    #[error("no ticket distribution group {0}")]
    GroupNotFound(String),
    #[error("group {0} has no valid ticket to print")]
    NothingToPrint(String),
    #[error("shutting down")]
    ShuttingDown,
    #[error("{0} createOrGet requests already wait for tickets; retry shortly")]
    Busy(usize),
    /// The outcome of a render shared with other callers (single flight).
    #[error(transparent)]
    Shared(Arc<PdfError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// What a createOrGet asks for.
#[derive(Debug, Clone)]
pub struct CreateOrGet {
    pub order_id: String,
    pub order_version: Option<u32>,
    pub order_line_ids: Vec<String>,
    pub language: Language,
    pub scope: Scope,
    pub wait: Duration,
}

/// A group's PDF being made, shared by every createOrGet that needs it meanwhile.
type FlightResult = Result<Option<StoredPdf>, Arc<PdfError>>;
type Flight = Shared<BoxFuture<'static, FlightResult>>;

/// How much work the service takes on at once.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Documents compiled at once.
    pub render_concurrency: usize,
    /// createOrGets waiting for an order's tickets at once.
    pub max_waiting: usize,
    /// The longest a createOrGet waits, whatever it asks.
    pub max_wait: Duration,
}

#[derive(Clone)]
pub struct PdfService {
    db: DatabaseConnection,
    renderer: Renderer,
    slots: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    max_waiting: usize,
    /// Renders in progress by group; a weak handle, so a render nobody awaits is dropped.
    flights: Arc<Mutex<HashMap<Uuid, WeakShared<BoxFuture<'static, FlightResult>>>>>,
    presentation: Arc<Presentation>,
    retention: ChronoDuration,
    max_wait: Duration,
    watch: OrderWatch,
}

/// Where an order stands for a createOrGet.
enum Readiness {
    Ready(u32),
    NotYet,
}

impl PdfService {
    pub fn new(
        db: DatabaseConnection,
        watch: OrderWatch,
        presentation: Presentation,
        bounds: Bounds,
        retention: ChronoDuration,
    ) -> Self {
        let renderer = Renderer::new();
        renderer.warm_up();
        Self {
            db,
            renderer,
            slots: Arc::new(Semaphore::new(bounds.render_concurrency.max(1))),
            waiting: Arc::new(Semaphore::new(bounds.max_waiting)),
            max_waiting: bounds.max_waiting,
            flights: Arc::default(),
            presentation: Arc::new(presentation),
            retention,
            max_wait: bounds.max_wait,
            watch,
        }
    }

    /// Sheets compiled so far by this service's renderer.
    pub fn sheets_compiled(&self) -> u64 {
        self.renderer.sheets_compiled()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// One PDF per group of the order version (optionally only some lines), creating the
    /// missing ones. Groups without a printable ticket are left out.
    pub async fn create_or_get(&self, req: CreateOrGet) -> Result<Vec<StoredPdf>, PdfError> {
        if req.order_id.trim().is_empty() {
            return Err(PdfError::InvalidArgument("an order id is required".into()));
        }
        let version = self.wait_for_version(&req).await?;
        let order_id = OrderId(req.order_id.clone());
        let ids = query::group_ids_of_version(&self.db, &order_id, version as i32).await?;
        let mut groups = query::groups_by_ids(&self.db, req.scope, ids).await?;
        if !req.order_line_ids.is_empty() {
            groups.retain(|g| req.order_line_ids.contains(&g.group.order_line_id));
        }
        let existing = stored::for_groups(
            &self.db,
            &groups.iter().map(|g| g.group.id).collect::<Vec<_>>(),
        )
        .await?;
        let mut result = Vec::with_capacity(groups.len());
        for group in &groups {
            if let Some(found) = existing.iter().find(|p| p.pdf.group_id == group.group.id) {
                result.push(found.clone());
                continue;
            }
            match self.create_once(group, req.language).await? {
                Some(pdf) => result.push(pdf),
                None => continue,
            }
        }
        Ok(result)
    }

    /// `create`, shared with every other caller that needs the same group's PDF meanwhile:
    /// the first caller starts the render, later ones await the same outcome. Once every
    /// caller has gone away the render is dropped (and so cancelled).
    async fn create_once(
        &self,
        group: &GroupWithDistributions,
        language: Language,
    ) -> Result<Option<StoredPdf>, PdfError> {
        let id = group.group.id;
        let flight: Flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.retain(|_, weak| weak.upgrade().is_some());
            match flights.get(&id).and_then(WeakShared::upgrade) {
                Some(flight) => flight,
                None => {
                    let this = self.clone();
                    let group = group.clone();
                    let flight =
                        async move { this.create(&group, language).await.map_err(Arc::new) }
                            .boxed()
                            .shared();
                    if let Some(weak) = flight.downgrade() {
                        flights.insert(id, weak);
                    }
                    flight
                }
            }
        };
        flight.await.map_err(PdfError::Shared)
    }

    /// Renders and stores a group's PDF unless another request stored one first (then
    /// that one is returned). `None` when no ticket of the group is printable.
    async fn create(
        &self,
        group: &GroupWithDistributions,
        language: Language,
    ) -> Result<Option<StoredPdf>, PdfError> {
        let now = Utc::now();
        let ticket_ids: Vec<Uuid> = group
            .distributions
            .iter()
            .filter(|t| is_printable(t, now))
            .map(|t| t.id)
            .collect();
        if ticket_ids.is_empty() {
            return Ok(None);
        }
        let doc = TicketDocument::for_group(group, language, &self.presentation, now);
        let content = self.render(doc).await?;
        let g = &group.group;
        let candidate = StoredPdf {
            pdf: pdf_ticket::Model {
                id: Uuid::new_v4(),
                group_id: g.id,
                order_id: g.order_id.clone(),
                order_version: g.order_version,
                order_line_id: g.order_line_id.clone(),
                order_line_version: g.order_line_version,
                organisation_id: g.organisation_id,
                language: language.as_str().to_owned(),
                content,
                created_at: now,
                delete_at: now + self.retention,
            },
            ticket_distribution_ids: ticket_ids,
        };
        if stored::insert_if_absent(&self.db, candidate.clone()).await? {
            tracing::info!(
                order_id = %g.order_id,
                group_id = %g.id,
                pdf_id = %candidate.pdf.id,
                pages = candidate.ticket_distribution_ids.len(),
                "PDF ticket created"
            );
            return Ok(Some(candidate));
        }
        // Another request stored this group's PDF meanwhile: that one is the PDF.
        Ok(stored::for_groups(&self.db, &[g.id])
            .await?
            .into_iter()
            .next())
    }

    /// Compiles a document on a blocking thread once a render slot is free. Dropping the
    /// future (the caller went away) stops the render before its next sheet.
    pub async fn render(&self, doc: TicketDocument) -> Result<Vec<u8>, PdfError> {
        let _slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PdfError::ShuttingDown)?;
        let renderer = self.renderer.clone();
        let pages = doc.tickets.len();
        let started = std::time::Instant::now();
        let cancel = CancelOnDrop::default();
        let cancelled = cancel.0.clone();
        let rendered =
            tokio::task::spawn_blocking(move || renderer.render_unless(&doc, &cancelled))
                .await
                .map_err(|_| PdfError::ShuttingDown)?
                .map_err(PdfError::from);
        drop(cancel);
        let outcome = if rendered.is_ok() { "ok" } else { "error" };
        metrics::histogram!("td_pdf_render_duration_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        if rendered.is_ok() {
            metrics::counter!("td_pdf_pages_rendered_total").increment(pages as u64);
        }
        rendered
    }

    /// Renders one group's PDF without storing it.
    pub async fn render_group(
        &self,
        group_id: Uuid,
        language: Language,
        scope: Scope,
    ) -> Result<(Vec<u8>, usize), PdfError> {
        let group = query::groups_by_ids(&self.db, scope, vec![group_id])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| PdfError::GroupNotFound(group_id.to_string()))?;
        let doc = TicketDocument::for_group(&group, language, &self.presentation, Utc::now());
        if doc.tickets.is_empty() {
            return Err(PdfError::NothingToPrint(group_id.to_string()));
        }
        let pages = doc.tickets.len();
        Ok((self.render(doc).await?, pages))
    }

    /// Waits until the order version asked for (or the latest confirmed one) is recorded,
    /// woken by order notifications; subscribes before each look so no wake-up is missed.
    /// At most `max_waiting` callers wait at once; one more is refused with `Busy`.
    async fn wait_for_version(&self, req: &CreateOrGet) -> Result<u32, PdfError> {
        let wait = req.wait.min(self.max_wait);
        let deadline = tokio::time::Instant::now() + wait;
        let mut heard = self.watch.subscribe();
        let mut permit = None;
        loop {
            if let Readiness::Ready(version) = self.readiness(req).await? {
                return Ok(version);
            }
            if permit.is_none() {
                let taken = self.waiting.clone().try_acquire_owned();
                permit = Some(taken.map_err(|_| PdfError::Busy(self.max_waiting))?);
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {
                        return Err(PdfError::Timeout(req.order_id.clone(), wait.as_millis() as u64));
                    }
                    h = heard.next(&req.order_id) => match h {
                        Heard::LookAgain => break,
                        Heard::Other => continue,
                        Heard::Closed => return Err(PdfError::ShuttingDown),
                    },
                }
            }
        }
    }

    async fn readiness(&self, req: &CreateOrGet) -> Result<Readiness, PdfError> {
        let order_id = OrderId(req.order_id.clone());
        match query::confirmed_version(&self.db, req.scope, &order_id, req.order_version).await? {
            ConfirmedVersion::Confirmed(v) => Ok(Readiness::Ready(v.max(0) as u32)),
            // Its event (or the version asked for) may still arrive: wait for it.
            ConfirmedVersion::UnknownOrder | ConfirmedVersion::NotRecordedYet => {
                Ok(Readiness::NotYet)
            }
            ConfirmedVersion::NotConfirmed { status } => {
                Err(PdfError::NotConfirmed(req.order_id.clone(), status))
            }
            ConfirmedVersion::NoSuchVersion => Err(PdfError::NoSuchVersion(
                req.order_id.clone(),
                req.order_version.unwrap_or_default(),
            )),
        }
    }

    /// Removes PDFs whose retention has ended, in batches; returns how many.
    pub async fn remove_expired(&self) -> Result<u64, PdfError> {
        let mut total = 0;
        loop {
            let n = stored::delete_expired(&self.db, Utc::now(), 500).await?;
            total += n;
            if n < 500 {
                return Ok(total);
            }
        }
    }
}

/// Sets its flag when dropped: tells a render on a blocking thread that nobody waits for it.
#[derive(Default)]
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
