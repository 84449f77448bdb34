//! typst used as a library: the template and the fonts are compiled into the binary and
//! loaded once per process. Each sheet of a document is compiled on its own, in a `World`
//! that adds two virtual files to them: the sheet's data as `/data.json` and its QR code as
//! `/qr.raw` (one grey byte per module, quiet zone included, scaled without smoothing). The
//! sheets of one document are compiled at once on typst's worker pool (page layout inside one
//! compilation hardly gains from a second core) and their pages exported as one PDF.
//! Nothing is read from disk or the network, no packages are resolved, and the data never
//! becomes typst source: the template reads it with `json(..)` and shows its values as text.

use crate::document::{TicketDocument, TicketSheet};
use fast_qr::qr::QRBuilder;
use fast_qr::ECL;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

/// The template: the main file, which reads a sheet's data, and the module it imports, which
/// lays a sheet out (evaluated once per process: it depends on no data).
const TEMPLATE: &str = include_str!("../templates/ticket.typ");
const SHEET_TEMPLATE: &str = include_str!("../templates/sheet.typ");

const EMBEDDED_FONTS: [&[u8]; 3] = [
    include_bytes!("../fonts/NotoSans-Regular.ttf"),
    include_bytes!("../fonts/DroidSansFallback.ttf"),
    include_bytes!("../fonts/Symbola.ttf"),
];

/// typst memoises layout results in a process-wide cache that grows with every document
/// unless evicted. Every `EVICT_EVERY` renders (on any thread) the results not used since
/// the eviction before are dropped: the cache holds about two handfuls of documents' worth,
/// and the labels, fonts and template that every document uses stay warm. An eviction walks
/// the whole cache, so it is not done after every document, and it is done on a thread of
/// its own, off the render path (a render only signals it; signals that find one pending are
/// dropped). Small, frequent evictions hold the cache's locks for less time than rare, large
/// ones (measured: p99 of a 4-page document 7 ms every 4 renders against 11 ms every 16).
/// A render signals it once its sheets are laid out, before the PDF export: the export runs
/// on one thread, so the eviction has a core to itself instead of taking one from the next
/// document's sheets (measured in six alternating pairs of runs: 4-page documents
/// 489–563 pages per second before, 535–583 after).
const EVICT_EVERY: usize = 4;
const MEMO_MAX_AGE: usize = 1;
static RENDERS: AtomicUsize = AtomicUsize::new(0);

/// Has the evictor thread evict typst's cache; on this thread if there is none (it could not
/// be started, or it stopped), so that the cache stays bounded either way.
fn evict_soon() {
    static EVICTOR: OnceLock<Option<SyncSender<()>>> = OnceLock::new();
    let evictor = EVICTOR.get_or_init(|| {
        let (signal, signals) = sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("typst-evict".into())
            .spawn(move || {
                while signals.recv().is_ok() {
                    comemo::evict(MEMO_MAX_AGE);
                }
            })
            .ok()
            .map(|_| signal)
    });
    match evictor.as_ref().map(|signal| signal.try_send(())) {
        // Signalled, or an eviction is already pending.
        Some(Ok(()) | Err(TrySendError::Full(()))) => {}
        Some(Err(TrySendError::Disconnected(()))) | None => comemo::evict(MEMO_MAX_AGE),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("a ticket document needs at least one ticket")]
    Empty,
    #[error("QR code for ticket {ticket_id}: {reason}")]
    Qr { ticket_id: String, reason: String },
    #[error("the ticket template failed: {0}")]
    Template(String),
    #[error("PDF export failed: {0}")]
    Export(String),
    /// The render was given up (nobody waits for it any more) before all sheets were made.
    #[error("the render was cancelled")]
    Cancelled,
}

/// What every compilation shares: the standard library, the fonts and the template.
struct Assets {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    data: FileId,
    qr: FileId,
    /// `/ticket.typ`, the main file.
    template: Source,
    /// `/sheet.typ`, which the main file imports.
    sheet_template: Source,
}

fn project_file(path: &str) -> FileId {
    let vpath = VirtualPath::new(path).expect("a valid virtual path");
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let fonts: Vec<Font> = EMBEDDED_FONTS
            .into_iter()
            .chain(typst_assets::fonts())
            .flat_map(|data| {
                let bytes = Bytes::new(data);
                (0..).map_while(move |index| Font::new(bytes.clone(), index))
            })
            .collect();
        Assets {
            library: LazyHash::new(Library::default()),
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
            data: project_file("/data.json"),
            qr: project_file("/qr.raw"),
            template: Source::new(project_file("/ticket.typ"), TEMPLATE.to_owned()),
            sheet_template: Source::new(project_file("/sheet.typ"), SHEET_TEMPLATE.to_owned()),
        }
    })
}

impl Assets {
    fn source(&self, id: FileId) -> Option<Source> {
        [&self.template, &self.sheet_template]
            .into_iter()
            .find(|source| source.id() == id)
            .cloned()
    }
}

/// One sheet's view of the world: the shared assets plus its own data and QR code.
struct TicketWorld {
    assets: &'static Assets,
    data: Bytes,
    qr: Bytes,
}

impl World for TicketWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.assets.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.assets.book
    }

    fn main(&self) -> FileId {
        self.assets.template.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        self.assets.source(id).ok_or(FileError::NotSource)
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.assets.data {
            Ok(self.data.clone())
        } else if id == self.assets.qr {
            Ok(self.qr.clone())
        } else if let Some(source) = self.assets.source(id) {
            Ok(Bytes::from_string(source))
        } else {
            Err(FileError::NotFound(id.vpath().get_with_slash().into()))
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.assets.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        // The template takes every date from its data, so that a document depends only on
        // its input.
        None
    }
}

/// The light modules around a QR code that scanners need to find it.
const QR_QUIET_ZONE: usize = 4;

/// The QR code of one ticket (error correction level M) as a square of 8-bit grey pixels,
/// one per module (0 dark, 255 light), quiet zone included, row by row: what the template
/// shows, scaled without smoothing (it takes the side length from the square's size).
pub fn qr_pixels(payload: &str) -> Result<Vec<u8>, String> {
    let qr = QRBuilder::new(payload)
        .ecl(ECL::M)
        .build()
        .map_err(|e| e.to_string())?;
    let side = qr.size + 2 * QR_QUIET_ZONE;
    let mut pixels = vec![255u8; side * side];
    for y in 0..qr.size {
        let row = (y + QR_QUIET_ZONE) * side + QR_QUIET_ZONE;
        for x in 0..qr.size {
            if qr.data[y * qr.size + x].value() {
                pixels[row + x] = 0;
            }
        }
    }
    Ok(pixels)
}

/// What the template reads from `/data.json`: one sheet's ticket, the sheet's number in its
/// document (from 1) and the document's number of sheets.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SheetData<'a> {
    language: td_domain::Language,
    order_id: &'a str,
    ticket: &'a TicketSheet,
    sheet: usize,
    sheets: usize,
}

/// Renders ticket documents. Cheap to clone; the fonts and template are loaded once per
/// process, on first use or by [`Renderer::warm_up`].
#[derive(Clone, Default)]
pub struct Renderer {
    /// Sheets compiled, shared by the clones.
    sheets: Arc<AtomicU64>,
}

impl Renderer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the fonts and parses the template now rather than on the first request.
    pub fn warm_up(&self) {
        let _ = assets();
    }

    /// Compiles one document to PDF bytes. CPU-bound: call it off the async reactor.
    ///
    /// The render runs on a thread of typst's worker pool (the calling thread waits): the
    /// sheets it hands to the pool are then taken by a worker that is idle, and a worker that
    /// renders a document of its own finishes it instead of sharing the cores with the
    /// calling threads (alternating runs of 4-page documents: about 4 % more pages per
    /// second on one and on two calling threads).
    pub fn render(&self, doc: &TicketDocument) -> Result<Vec<u8>, RenderError> {
        self.render_unless(doc, &AtomicBool::new(false))
    }

    /// As `render`, but gives up with `RenderError::Cancelled` once `cancelled` is set: no
    /// sheet is started after that (a sheet takes milliseconds, a large document seconds).
    pub fn render_unless(
        &self,
        doc: &TicketDocument,
        cancelled: &AtomicBool,
    ) -> Result<Vec<u8>, RenderError> {
        rayon::scope(|_| self.render_on_pool(doc, cancelled))
    }

    /// Sheets compiled by this renderer (and its clones) so far.
    pub fn sheets_compiled(&self) -> u64 {
        self.sheets.load(Ordering::Relaxed)
    }

    fn render_on_pool(
        &self,
        doc: &TicketDocument,
        cancelled: &AtomicBool,
    ) -> Result<Vec<u8>, RenderError> {
        if doc.tickets.is_empty() {
            return Err(RenderError::Empty);
        }
        let sheets = doc.tickets.len();
        let compile = |(index, ticket)| {
            if cancelled.load(Ordering::Relaxed) {
                return Err(RenderError::Cancelled);
            }
            let sheet = compile_sheet(doc, ticket, index + 1, sheets);
            self.sheets.fetch_add(1, Ordering::Relaxed);
            sheet
        };
        // The sheets of a document are compiled at once on typst's worker pool; a one-sheet
        // document is compiled on the calling thread.
        let compiled = if sheets == 1 {
            compile((0, &doc.tickets[0])).map(|sheet| vec![sheet])
        } else {
            doc.tickets.par_iter().enumerate().map(compile).collect()
        };
        if RENDERS.fetch_add(1, Ordering::Relaxed) % EVICT_EVERY == EVICT_EVERY - 1 {
            evict_soon();
        }
        compiled.and_then(|compiled: Vec<PagedDocument>| {
            let info = typst::model::Document::info(&compiled[0]).clone();
            let pages = compiled
                .iter()
                .flat_map(|sheet| sheet.pages().iter().cloned());
            let document = PagedDocument::new(pages.collect(), info);
            typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default())
                .map_err(|errors| RenderError::Export(describe(&errors)))
        })
    }
}

/// Lays out sheet `sheet` (from 1) of `sheets` of the document: its QR code and its page.
fn compile_sheet(
    doc: &TicketDocument,
    ticket: &TicketSheet,
    sheet: usize,
    sheets: usize,
) -> Result<PagedDocument, RenderError> {
    let qr = qr_pixels(&ticket.qr_payload).map_err(|reason| RenderError::Qr {
        ticket_id: ticket.ticket_id.clone(),
        reason,
    })?;
    let data = serde_json::to_vec(&SheetData {
        language: doc.language,
        order_id: &doc.order_id,
        ticket,
        sheet,
        sheets,
    })
    .map_err(|e| RenderError::Template(e.to_string()))?;
    let world = TicketWorld {
        assets: assets(),
        data: Bytes::new(data),
        qr: Bytes::new(qr),
    };
    typst::compile::<PagedDocument>(&world)
        .output
        .map_err(|errors| RenderError::Template(describe(&errors)))
}

fn describe(errors: &[SourceDiagnostic]) -> String {
    errors
        .iter()
        .map(|e| e.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}
