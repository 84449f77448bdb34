//! PDF rendering: typst as a library against headless Chromium printing HTML, and the
//! renderer's memory under sustained load. Run through `scripts/bench-pdf`.
//!
//! `in-process`: renders 1-page and 4-page ticket documents with [`Renderer`] on one thread
//! after a warm-up, every document with data of its own (names, ids, stations, times), and
//! prints p50, p99 and pages per second for each size; then renders the same documents again
//! on `--threads` threads at once (the renderer's pool) and prints their pages per second.
//! It also writes the same documents as HTML (the template's layout: the same fields, one A4
//! page per ticket, a placeholder where each QR code goes) with a `manifest.json` that holds
//! the QR payloads, for `bench/chromium/print.mjs` to draw the codes and print as the
//! baseline.
//!
//! `memory`: seeds a fresh PostgreSQL database with orders made from the example orders,
//! starts the real `pdf-renderer` binary on it, calls `PdfRenderer.Render` from concurrent
//! callers over every group in turn with varying language, and samples the process's
//! resident memory (VmRSS) every 100 ms.

// The renderer's own allocator, so that the in-process phase renders as the binary does.
#[global_allocator]
static ALLOCATOR: pdf_renderer::Allocator = pdf_renderer::Allocator;

use anyhow::Context;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use pdf_renderer::document::{SheetLeg, SheetSeat};
use pdf_renderer::{qr_payload, Renderer, TicketDocument, TicketSheet};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use td_bench::{drop_database, mb, rss_kb, start_pdf_renderer, RssSampler};
use td_domain::Language;
use td_proto::v1::pdf_renderer_client::PdfRendererClient;
use td_proto::v1::RenderRequest;
use td_store::entity::group;
use td_store::record::{record_order_event, Origin};
use td_store::sea_orm::EntityTrait;
use td_store::TransactionTrait;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    phase: Phase,
}

#[derive(Subcommand)]
enum Phase {
    /// Render in this process, one thread, and write the same documents as HTML.
    InProcess {
        /// Measured documents per size (each size also gets `--warmup` unmeasured ones).
        #[arg(long, default_value_t = 300)]
        documents: usize,
        #[arg(long, default_value_t = 30)]
        warmup: usize,
        /// Where the HTML documents and their manifest go (emptied of earlier ones first).
        #[arg(long)]
        html_dir: PathBuf,
        /// Seed of the generated ticket data.
        #[arg(long, default_value_t = 2027)]
        seed: u64,
        /// Threads of the second, parallel pass over the same documents (the renderer's
        /// pool on this machine); 0 = the machine's available parallelism.
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// The pdf-renderer binary under sustained gRPC load: resident memory and throughput.
    Memory {
        /// Orders seeded (made from the example orders in turn; about 1.3 groups each).
        #[arg(long, default_value_t = 50)]
        orders: usize,
        /// Concurrent `Render` callers.
        #[arg(long, default_value_t = 8)]
        callers: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().phase {
        Phase::InProcess {
            documents,
            warmup,
            html_dir,
            seed,
            threads,
        } => {
            let threads = match threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            tokio::task::spawn_blocking(move || {
                in_process(documents, warmup, &html_dir, seed, threads)
            })
            .await?
        }
        Phase::Memory {
            orders,
            callers,
            seconds,
        } => memory(orders, callers, Duration::from_secs(seconds)).await,
    }
}

// ---------------------------------------------------------------------------------------
// Ticket data: every document different.

const FIRST_NAMES: &[&str] = &[
    "Kari", "Ola", "Ingrid", "Per", "Emma", "Nora", "Jakob", "Sofie", "Lars", "Astrid", "Mohammed",
    "Aisha", "Máret", "Ánde", "Sigrid", "Henrik", "Liv", "Eirik", "Maja", "Tobias",
];
const LAST_NAMES: &[&str] = &[
    "Nordmann",
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Nilsen",
    "Kristiansen",
    "Jensen",
    "Karlsen",
    "Berg",
    "Haugen",
    "Hagen",
    "Čuđet",
    "Bakken",
];
const STATIONS: &[(&str, &str)] = &[
    ("NSR:StopPlace:337", "Oslo S"),
    ("NSR:StopPlace:548", "Bergen stasjon"),
    ("NSR:StopPlace:611", "Trondheim S"),
    ("NSR:StopPlace:420", "Lillehammer stasjon"),
    ("NSR:StopPlace:269", "Lillestrøm stasjon"),
    ("NSR:StopPlace:58211", "Drammen stasjon"),
    ("NSR:StopPlace:444", "Hamar stasjon"),
    ("NSR:StopPlace:596", "Stavanger stasjon"),
    ("NSR:StopPlace:59872", "Oslo lufthavn"),
    ("NSR:StopPlace:1", "Bodø stasjon"),
];
const OPERATORS: &[&str] = &["Vy", "SJ Nord", "Go-Ahead Nordic", "Ruter", "Flytoget"];
const PRODUCTS: &[&str] = &["Standard", "Enkeltbillett", "Minipris", "Flex", "Komfort"];
const PROFILES: &[&str] = &[
    "ENT:UserProfile:Adult",
    "ENT:UserProfile:Child",
    "ENT:UserProfile:Senior",
    "ENT:UserProfile:Student",
];
const MODES: &[&str] = &["rail (regionalRail)", "rail (longDistance)", "bus", "rail"];

/// Times as pdf-renderer words them (`Presentation`): Oslo time, per language.
fn local_time(t: DateTime<Utc>, language: Language) -> String {
    let local = t.with_timezone(&chrono_tz::Europe::Oslo);
    match language {
        Language::Eng => local.format("%-d %b %Y, %H:%M").to_string(),
        Language::Nob | Language::Nno => local.format("%d.%m.%Y kl. %H:%M").to_string(),
    }
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn station(rng: &mut fastrand::Rng, not: &[&str]) -> (&'static str, &'static str) {
    loop {
        let s = *pick(rng, STATIONS);
        if !not.contains(&s.0) {
            return s;
        }
    }
}

fn sheet(rng: &mut fastrand::Rng, order_id: &str, language: Language) -> TicketSheet {
    let ticket_id = uuid::Uuid::from_u128(rng.u128(..)).to_string();
    let base = Utc.with_ymd_and_hms(2027, 1, 1, 5, 0, 0).unwrap();
    let departure = base + ChronoDuration::minutes(rng.i64(0..60 * 24 * 360));
    let change = departure + ChronoDuration::minutes(rng.i64(40..240));
    let arrival = change + ChronoDuration::minutes(rng.i64(20..180));
    let from = station(rng, &[]);
    let via = station(rng, &[from.0]);
    let to = station(rng, &[from.0, via.0]);
    let legs = vec![
        SheetLeg {
            mode: pick(rng, MODES).to_string(),
            from: from.0.to_owned(),
            to: via.0.to_owned(),
            departure: local_time(departure, language),
            arrival: local_time(change - ChronoDuration::minutes(12), language),
        },
        SheetLeg {
            mode: pick(rng, MODES).to_string(),
            from: via.0.to_owned(),
            to: to.0.to_owned(),
            departure: local_time(change, language),
            arrival: local_time(arrival, language),
        },
    ];
    let seats = (0..rng.usize(1..=2))
        .map(|_| SheetSeat {
            railcar: rng.u32(1..=12).to_string(),
            seat: rng.u32(1..=96).to_string(),
        })
        .collect();
    let valid_to = arrival + ChronoDuration::minutes(30);
    TicketSheet {
        qr_payload: qr_payload(&ticket_id, order_id, valid_to),
        ticket_id,
        operator: pick(rng, OPERATORS).to_string(),
        product: pick(rng, PRODUCTS).to_string(),
        traveller: format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)),
        user_profile: pick(rng, PROFILES).to_string(),
        from: from.1.to_owned(),
        to: to.1.to_owned(),
        zones: if rng.u8(..4) == 0 {
            format!("RUT:FareZone:{}", rng.u8(1..=6))
        } else {
            String::new()
        },
        valid_from: local_time(departure - ChronoDuration::minutes(30), language),
        valid_to: local_time(valid_to, language),
        supplements: if rng.bool() {
            "Sykkel".to_owned()
        } else {
            String::new()
        },
        legs,
        seats,
    }
}

fn document(rng: &mut fastrand::Rng, n: usize, pages: usize) -> TicketDocument {
    let language = Language::ALL[n % Language::ALL.len()];
    let order_id = format!("PB{:06}{}", n, rng.u32(1000..10000));
    TicketDocument {
        language,
        tickets: (0..pages)
            .map(|_| sheet(rng, &order_id, language))
            .collect(),
        order_id,
    }
}

// ---------------------------------------------------------------------------------------
// The HTML equivalent of templates/sheet.typ.

struct Labels {
    ticket: &'static str,
    traveller: &'static str,
    profile: &'static str,
    from: &'static str,
    to: &'static str,
    journey: &'static str,
    mode: &'static str,
    departure: &'static str,
    arrival: &'static str,
    seats: &'static str,
    railcar: &'static str,
    seat: &'static str,
    valid_from: &'static str,
    valid_to: &'static str,
    zones: &'static str,
    supplements: &'static str,
    ticket_id: &'static str,
    order_id: &'static str,
    qr: &'static str,
    show_qr: &'static str,
    sheet: &'static str,
    of: &'static str,
}

fn labels(language: Language) -> (&'static str, Labels) {
    match language {
        Language::Nob | Language::Nno => {
            let nob = language == Language::Nob;
            (
                if nob { "nb" } else { "nn" },
                Labels {
                    ticket: "Billett",
                    traveller: if nob { "Reisende" } else { "Reisande" },
                    profile: "Kundekategori",
                    from: if nob { "Fra" } else { "Frå" },
                    to: "Til",
                    journey: "Reiserute",
                    mode: "Transportmiddel",
                    departure: "Avgang",
                    arrival: if nob { "Ankomst" } else { "Framkomst" },
                    seats: if nob { "Sitteplass" } else { "Sitjeplass" },
                    railcar: "Vogn",
                    seat: "Plass",
                    valid_from: if nob { "Gyldig fra" } else { "Gyldig frå" },
                    valid_to: "Gyldig til",
                    zones: "Soner",
                    supplements: "Tillegg",
                    ticket_id: "Billett-ID",
                    order_id: "Ordre-ID",
                    qr: "QR-kode for billettkontroll",
                    show_qr: "Vis QR-koden ved billettkontroll.",
                    sheet: "Side",
                    of: "av",
                },
            )
        }
        Language::Eng => (
            "en",
            Labels {
                ticket: "Ticket",
                traveller: "Traveller",
                profile: "User profile",
                from: "From",
                to: "To",
                journey: "Journey",
                mode: "Mode",
                departure: "Departure",
                arrival: "Arrival",
                seats: "Seats",
                railcar: "Car",
                seat: "Seat",
                valid_from: "Valid from",
                valid_to: "Valid until",
                zones: "Zones",
                supplements: "Supplements",
                ticket_id: "Ticket ID",
                order_id: "Order ID",
                qr: "QR code for ticket inspection",
                show_qr: "Show the QR code on ticket inspection.",
                sheet: "Page",
                of: "of",
            },
        ),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
@page { size: A4; margin: 2cm; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body { font-family: "Noto Sans", "Droid Sans Fallback", "Symbola", sans-serif; font-size: 11pt; line-height: 1.25; color: #000; }
.sheet { height: 257mm; display: flex; flex-direction: column; overflow: hidden; break-after: page; page-break-after: always; }
.sheet:last-child { break-after: auto; page-break-after: auto; }
.head { display: grid; grid-template-columns: 1fr auto; column-gap: 1cm; align-items: start; }
.muted { color: #5a5a5a; }
.operator { font-size: 10pt; }
.product { font-size: 20pt; font-weight: bold; margin-bottom: 0.4cm; }
.fields { display: grid; grid-template-columns: auto 1fr; column-gap: 0.6cm; row-gap: 0.35cm; align-items: baseline; }
.label { font-size: 9pt; color: #5a5a5a; }
figure { margin: 0; }
figure svg { display: block; width: 5.5cm; height: 5.5cm; }
.title { font-weight: bold; margin: 0.6cm 0 0.1cm; }
.seats .title { margin-top: 0.4cm; }
table { width: 100%; border-collapse: collapse; }
th, td { border: 0.4pt solid #a0a0a0; padding: 5pt; text-align: left; vertical-align: top; font-weight: normal; }
th, small { font-size: 9pt; }
.fit { width: 1%; white-space: nowrap; }
.fill { flex: 1; }
hr { border: 0; border-top: 0.4pt solid #a0a0a0; margin: 0 0 0.25cm; }
.footer .fields { row-gap: 0.25cm; }
.note { font-size: 9pt; color: #5a5a5a; margin-top: 0.2cm; }
"#;

fn field(html: &mut String, label: &str, value: &str) {
    if !value.is_empty() {
        let _ = write!(
            html,
            r#"<div class="label">{}</div><div>{}</div>"#,
            escape(label),
            escape(value)
        );
    }
}

/// The document as HTML: what templates/sheet.typ lays out, in the same order, with a
/// placeholder `<!--qr:N-->` where sheet N's QR code goes (the baseline draws the codes
/// itself, inside its timing, as the typst renderer does). Where the template draws heavier
/// text the HTML asks for bold, as an HTML ticket would (`print.mjs` gives Chromium the bold
/// face of Noto Sans for it).
fn html(doc: &TicketDocument) -> String {
    let (lang, l) = labels(doc.language);
    let mut h = String::with_capacity(8 * 1024 * doc.tickets.len());
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{} {}</title><style>{STYLE}</style></head><body>"#,
        l.ticket,
        escape(&doc.order_id)
    );
    let count = doc.tickets.len();
    for (i, t) in doc.tickets.iter().enumerate() {
        h.push_str(r#"<section class="sheet"><div class="head"><div>"#);
        let _ = write!(
            h,
            r#"<div class="operator muted">{}</div><div class="product">{}</div><div class="fields">"#,
            escape(&t.operator),
            escape(&t.product)
        );
        field(&mut h, l.traveller, &t.traveller);
        field(&mut h, l.profile, &t.user_profile);
        field(&mut h, l.from, &t.from);
        field(&mut h, l.to, &t.to);
        field(&mut h, l.zones, &t.zones);
        field(&mut h, l.valid_from, &t.valid_from);
        field(&mut h, l.valid_to, &t.valid_to);
        field(&mut h, l.supplements, &t.supplements);
        let _ = write!(
            h,
            r#"</div></div><figure role="img" aria-label="{}"><!--qr:{i}--></figure></div>"#,
            escape(l.qr)
        );
        if !t.legs.is_empty() {
            let _ = write!(
                h,
                r#"<div class="title">{}</div><table><thead><tr><th class="fit">{}</th><th>{} / {}</th><th>{} / {}</th></tr></thead><tbody>"#,
                l.journey, l.mode, l.from, l.departure, l.to, l.arrival
            );
            for leg in &t.legs {
                let _ = write!(
                    h,
                    r#"<tr><td class="fit">{}</td><td>{}<br><small>{}</small></td><td>{}<br><small>{}</small></td></tr>"#,
                    escape(&leg.mode),
                    escape(&leg.from),
                    escape(&leg.departure),
                    escape(&leg.to),
                    escape(&leg.arrival)
                );
            }
            h.push_str("</tbody></table>");
        }
        if !t.seats.is_empty() {
            let _ = write!(
                h,
                r#"<div class="seats"><div class="title">{}</div>"#,
                l.seats
            );
            for seat in &t.seats {
                let _ = write!(
                    h,
                    "<div>{} {}, {} {}</div>",
                    l.railcar,
                    escape(&seat.railcar),
                    l.seat,
                    escape(&seat.seat)
                );
            }
            h.push_str("</div>");
        }
        h.push_str(r#"<div class="fill"></div><div class="footer"><hr><div class="fields">"#);
        field(&mut h, l.ticket_id, &t.ticket_id);
        field(&mut h, l.order_id, &doc.order_id);
        let _ = write!(
            h,
            r#"</div><div class="note">{} {} {} {} {count}</div></div></section>"#,
            l.show_qr,
            l.sheet,
            i + 1,
            l.of
        );
    }
    h.push_str("</body></html>");
    h
}

/// Writes the document's HTML and returns its manifest entry, with the QR payloads.
fn write_html(dir: &Path, name: &str, doc: &TicketDocument, warmup: bool) -> anyhow::Result<Value> {
    std::fs::write(dir.join(name), html(doc))?;
    let qr: Vec<&str> = doc.tickets.iter().map(|t| t.qr_payload.as_str()).collect();
    Ok(json!({ "file": name, "pages": doc.tickets.len(), "warmup": warmup, "qr": qr }))
}

// ---------------------------------------------------------------------------------------
// Phase: in-process rendering.

fn in_process(
    documents: usize,
    warmup: usize,
    dir: &Path,
    seed: u64,
    threads: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(documents > 0, "--documents must be at least 1");
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let renderer = Renderer::new();
    renderer.warm_up();
    let mut manifest = Vec::new();
    let mut n = 0;
    for pages in [1usize, 4] {
        // Data is made before the clock starts; only `render` is timed.
        let warm: Vec<TicketDocument> = (0..warmup)
            .map(|_| {
                n += 1;
                document(&mut rng, n, pages)
            })
            .collect();
        let measured: Vec<TicketDocument> = (0..documents)
            .map(|_| {
                n += 1;
                document(&mut rng, n, pages)
            })
            .collect();
        for doc in &warm {
            renderer.render(doc)?;
        }
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut total = Duration::ZERO;
        for doc in &measured {
            let started = Instant::now();
            let pdf = renderer.render(doc)?;
            let took = started.elapsed();
            anyhow::ensure!(pdf.starts_with(b"%PDF-"), "not a PDF");
            total += took;
            latency.record((took.as_micros() as u64).max(1))?;
        }
        let total_pages = documents * pages;
        println!(
            "typst {pages}-page: documents={documents} pages={total_pages} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} max_ms={:.3} mean_ms={:.3} pages_per_s={:.1}",
            latency.value_at_quantile(0.50) as f64 / 1000.0,
            latency.value_at_quantile(0.90) as f64 / 1000.0,
            latency.value_at_quantile(0.99) as f64 / 1000.0,
            latency.max() as f64 / 1000.0,
            latency.mean() / 1000.0,
            total_pages as f64 / total.as_secs_f64(),
        );
        // The same documents again on `threads` threads at once, as the renderer's pool
        // renders them: pages per second of wall-clock time.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let started = Instant::now();
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(doc) = measured.get(i) else {
                                return Ok(());
                            };
                            renderer.render(doc)?;
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a render thread panicked"))??;
            }
            Ok(())
        })?;
        println!(
            "typst {pages}-page parallel: threads={threads} pages={total_pages} pages_per_s={:.1}",
            total_pages as f64 / started.elapsed().as_secs_f64(),
        );
        // One typst PDF per size beside the HTML, to compare the two layouts by eye.
        std::fs::write(
            dir.join(format!("typst-{pages}-page-0000.pdf")),
            renderer.render(&measured[0])?,
        )?;
        for (i, doc) in warm.iter().enumerate() {
            let file = format!("warmup-{pages}-page-{i:04}.html");
            manifest.push(write_html(dir, &file, doc, true)?);
        }
        for (i, doc) in measured.iter().enumerate() {
            let file = format!("{pages}-page-{i:04}.html");
            manifest.push(write_html(dir, &file, doc, false)?);
        }
    }
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&json!({ "documents": manifest }))?,
    )?;
    println!("html={} threads={threads}", dir.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Phase: the pdf-renderer binary under load.

const EXAMPLES: &[(&str, &str)] = &[
    (
        "DEMO0001",
        include_str!("../../../examples/orders/zone-ticket.json"),
    ),
    (
        "DEMO0002",
        include_str!("../../../examples/orders/rail-with-change.json"),
    ),
    (
        "DEMO0003",
        include_str!("../../../examples/orders/family-with-supplement.json"),
    ),
];

/// Example order `n % 3` as order `PM<n>`: ids of its own and travellers with other names.
fn seeded_order(n: usize, rng: &mut fastrand::Rng) -> anyhow::Result<Value> {
    let (id, json) = EXAMPLES[n % EXAMPLES.len()];
    let mut event: Value = serde_json::from_str(&json.replace(id, &format!("PM{n:06}")))?;
    event["eventId"] = json!(uuid::Uuid::new_v4());
    event["correlationId"] = json!(format!("bench-pdf-{n}"));
    if let Some(travellers) = event["order"]["travellers"].as_array_mut() {
        for t in travellers {
            t["name"] = json!(format!(
                "{} {}",
                pick(rng, FIRST_NAMES),
                pick(rng, LAST_NAMES)
            ));
        }
    }
    Ok(event)
}

async fn memory(orders: usize, callers: usize, duration: Duration) -> anyhow::Result<()> {
    let test_db = td_testkit::postgres().await;
    let mut rng = fastrand::Rng::with_seed(7);
    let txn = test_db.db.begin().await?;
    for n in 0..orders {
        let event = seeded_order(n, &mut rng)?;
        let event = td_domain::parse_order_event(event.to_string().as_bytes())?;
        record_order_event(&txn, &event, &Origin::default(), Utc::now()).await?;
    }
    txn.commit().await?;
    let groups: Vec<(String, i64)> = group::Entity::find()
        .all(&test_db.db)
        .await?
        .into_iter()
        .map(|g| (g.id.to_string(), g.organisation_id))
        .collect();
    anyhow::ensure!(!groups.is_empty(), "seeding made no groups");

    let (mut process, grpc) = start_pdf_renderer(&test_db.url).await;
    let pid = process.child().id();
    let idle = rss_kb(pid)?;
    let sampler = RssSampler::start(pid);

    let client = PdfRendererClient::connect(format!("http://{grpc}"))
        .await?
        .max_decoding_message_size(64 * 1024 * 1024);
    let groups = Arc::new(groups);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let workers: Vec<_> = (0..callers)
        .map(|c| {
            let mut client = client.clone();
            let groups = groups.clone();
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
                let (mut renders, mut pages) = (0u64, 0u64);
                let mut k = c;
                while tokio::time::Instant::now() < deadline {
                    let (id, organisation_id) = &groups[k % groups.len()];
                    let language = Language::ALL[(k / groups.len() + c) % Language::ALL.len()];
                    k += callers;
                    let sent = Instant::now();
                    let response = client
                        .render(RenderRequest {
                            ticket_distribution_group_id: id.clone(),
                            language: language.as_str().to_owned(),
                            scope: Some(td_proto::v1::Scope::organisation(*organisation_id)),
                        })
                        .await
                        .with_context(|| format!("Render {id}"))?
                        .into_inner();
                    latency.record((sent.elapsed().as_micros() as u64).max(1))?;
                    anyhow::ensure!(response.pdf.starts_with(b"%PDF-"), "not a PDF");
                    renders += 1;
                    pages += u64::from(response.pages);
                }
                anyhow::Ok((renders, pages, latency))
            })
        })
        .collect();
    let mut renders = 0;
    let mut pages = 0;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for w in workers {
        let (r, p, l) = w.await??;
        renders += r;
        pages += p;
        latency.add(l)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let last = rss_kb(pid)?;
    let (peak, samples) = sampler.stop().await;
    let peak = peak.max(last);
    process.terminate(Duration::from_secs(10));
    drop_database(test_db).await?;
    println!(
        "memory: groups={} callers={callers} seconds={elapsed:.1} renders={renders} renders_per_s={:.1} pages_per_s={:.1} rpc_p50_ms={:.2} rpc_p99_ms={:.2} rss_idle_mb={:.1} rss_peak_mb={:.1} rss_final_mb={:.1} samples={samples}",
        groups.len(),
        renders as f64 / elapsed,
        pages as f64 / elapsed,
        latency.value_at_quantile(0.50) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        mb(idle),
        mb(peak),
        mb(last),
    );
    Ok(())
}
