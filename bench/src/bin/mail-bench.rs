//! E-mail delivery: the real mailer binary sending 1,000 ticket mails to a local SMTP server
//! (aiosmtpd), against a baseline of the same run: the same messages sent straight through
//! lettre's pooled transport (`SmtpSender`) by as many concurrent senders, with nothing
//! around it. Run through `scripts/bench-mail`.
//!
//! Seeds a fresh PostgreSQL database with orders made from the example orders, makes their
//! PDFs once through pdf-renderer (so that the figures are about mail, not rendering), then
//! records the sends the way the send endpoint does and times until every one is SENT,
//! sampling the mailer's resident memory (VmRSS) every 100 ms.

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use mailer::{build_message, Attachment, MailFrom, SmtpOptions, SmtpSender, TicketMail};
use std::sync::Arc;
use std::time::{Duration, Instant};
use td_bench::{drop_database, mb, numbered_order, rss_kb, start_pdf_renderer, RssSampler};
use td_domain::Language;
use td_e2e::{free_addr, wait_ok, Process};
use td_proto::v1::pdf_renderer_client::PdfRendererClient;
use td_proto::v1::CreateOrGetRequest;
use td_store::entity::{pdf_send, ticket_distribution};
use td_store::mail::{self, CreateOutcome, NewSend};
use td_store::record::{record_order_event, Origin};
use td_store::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use td_store::TransactionTrait;
use td_testkit::smtp::SmtpServer;

#[derive(Parser)]
struct Args {
    /// Mails to send.
    #[arg(long, default_value_t = 1000)]
    mails: usize,
    /// Orders the mails are spread over (each mail carries its order's PDFs).
    #[arg(long, default_value_t = 100)]
    orders: usize,
    /// Deliveries in flight, in the mailer (`TD__MAILER__CONCURRENCY`) and in the baseline.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let test_db = td_testkit::postgres().await;
    let db = test_db.db.clone();
    let txn = db.begin().await?;
    let mut orders = Vec::with_capacity(args.orders);
    for n in 0..args.orders {
        let (id, json) = numbered_order("MB", n, 1 + n % 2);
        let event = td_domain::parse_order_event(json.as_bytes())?;
        record_order_event(&txn, &event, &Origin::default(), chrono::Utc::now()).await?;
        orders.push(id);
    }
    txn.commit().await?;

    let smtp = SmtpServer::start(&[]);
    let env = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (renderer, pdf_grpc) = start_pdf_renderer(&test_db.url).await;

    // The PDFs, made once; the baseline sends exactly these.
    let mut pdfs = PdfRendererClient::connect(format!("http://{pdf_grpc}"))
        .await?
        .max_decoding_message_size(64 * 1024 * 1024);
    let rendering = Instant::now();
    let mut per_order = Vec::with_capacity(orders.len());
    for id in &orders {
        let response = pdfs
            .create_or_get(CreateOrGetRequest {
                order_id: id.clone(),
                language: "nob".into(),
                wait_ms: 5000,
                scope: Some(td_proto::v1::Scope::all_organisations()),
                ..Default::default()
            })
            .await
            .with_context(|| format!("createOrGet {id}"))?
            .into_inner();
        per_order.push(
            response
                .pdf_tickets
                .into_iter()
                .map(|p| p.pdf)
                .collect::<Vec<_>>(),
        );
    }
    let rendering = rendering.elapsed();
    let bytes: usize = per_order.iter().flatten().map(Vec::len).sum();

    // Baseline: the same messages straight through lettre.
    let messages: Vec<lettre::Message> = (0..args.mails)
        .map(|i| {
            let n = i % orders.len();
            build_message(&TicketMail {
                from: MailFrom {
                    address: "billett@example.org".into(),
                    name: Some("Billettsalg".into()),
                },
                to: format!("reisende{i}@example.no"),
                language: Language::Nob,
                order_id: orders[n].clone(),
                attachments: per_order[n]
                    .iter()
                    .enumerate()
                    .map(|(k, pdf)| {
                        Attachment::ticket(Language::Nob, &orders[n], k + 1, pdf.clone())
                    })
                    .collect(),
                links: Vec::new(),
                message_id: uuid::Uuid::new_v4(),
                message_id_domain: "example.org".into(),
            })
        })
        .collect::<Result<_, _>>()?;
    let sender = Arc::new(SmtpSender::from_url(
        &smtp.url(),
        &SmtpOptions {
            pool_max_size: args.concurrency as u32,
            ..SmtpOptions::default()
        },
    )?);
    let messages = Arc::new(messages);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (sender, messages, next) = (sender.clone(), messages.clone(), next.clone());
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(message) = messages.get(i) else {
                        break;
                    };
                    let sent = Instant::now();
                    sender.send(message).await?;
                    latency.record((sent.elapsed().as_micros() as u64).max(1))?;
                }
                anyhow::Ok(latency)
            })
        })
        .collect();
    let mut baseline_latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for t in tasks {
        baseline_latency.add(t.await??)?;
    }
    let baseline = started.elapsed().as_secs_f64();
    sender.shutdown().await;
    anyhow::ensure!(smtp.stored().len() == args.mails, "the baseline lost mail");

    // The mailer.
    let health = free_addr();
    let mut process = Process::start(
        "mailer",
        &[],
        &[
            ("TD__ENVIRONMENT", env.clone()),
            ("TD__DATABASE__URL", test_db.url.clone()),
            ("TD__MAILER__SMTP_URL", smtp.url()),
            ("TD__MAILER__HEALTH_ADDR", health.clone()),
            ("TD__MAILER__FROM_ADDRESS", "billett@example.org".into()),
            ("TD__MAILER__CONCURRENCY", args.concurrency.to_string()),
            ("TD__MAILER__POOL_MAX_SIZE", args.concurrency.to_string()),
            ("TD__MAILER__DISPATCH_INTERVAL_MS", "50".into()),
            ("TD__PDF_RENDERER__GRPC_ADDR", pdf_grpc.clone()),
            ("TD__TELEMETRY__LOG_FILTER", "warn".into()),
        ],
    );
    wait_ok(
        &format!("http://{health}/health/ready"),
        Duration::from_secs(30),
    )
    .await;
    let pid = process.child().id();
    let idle = rss_kb(pid)?;
    let sampler = RssSampler::start(pid);
    let started = Instant::now();
    for i in 0..args.mails {
        let order = &orders[i % orders.len()];
        let tickets: Vec<uuid::Uuid> = ticket_distribution::Entity::find()
            .filter(ticket_distribution::Column::OrderId.eq(order.as_str()))
            .all(&db)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        let created = mail::create_send(
            &db,
            NewSend {
                id: uuid::Uuid::new_v4(),
                order_id: order.clone(),
                organisation_id: 2, // the template order's organisation
                email_address: format!("reisende{i}@example.no"),
                address_key: format!("reisende{i}@example.no"),
                language: "nob".into(),
                ticket_distribution_ids: tickets,
                correlation_id: None,
                traceparent: None,
            },
            None,
            None,
            chrono::Utc::now(),
        )
        .await?;
        anyhow::ensure!(matches!(created, CreateOutcome::Created(_)));
    }
    let recorded = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = pdf_send::Entity::find()
            .filter(pdf_send::Column::Status.is_in([mail::SENT, mail::FAILED]))
            .count(&db)
            .await?;
        if done as usize >= args.mails {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {} sends done",
            args.mails
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let last = rss_kb(pid)?;
    let (peak, samples) = sampler.stop().await;
    let failed = pdf_send::Entity::find()
        .filter(pdf_send::Column::Status.eq(mail::FAILED))
        .count(&db)
        .await?;
    process.terminate(Duration::from_secs(20));
    anyhow::ensure!(failed == 0, "{failed} sends FAILED");
    anyhow::ensure!(
        smtp.stored().len() == 2 * args.mails,
        "the server holds {} mails, not {}",
        smtp.stored().len(),
        2 * args.mails
    );
    drop(renderer);
    drop_database(test_db).await?;

    println!(
        "setup: orders={} pdfs_bytes={bytes} rendering_s={:.1} (made once, before timing)",
        orders.len(),
        rendering.as_secs_f64()
    );
    println!(
        "baseline lettre direct: mails={} concurrency={} seconds={baseline:.2} mails_per_s={:.1} p50_ms={:.1} p99_ms={:.1}",
        args.mails,
        args.concurrency,
        args.mails as f64 / baseline,
        baseline_latency.value_at_quantile(0.5) as f64 / 1000.0,
        baseline_latency.value_at_quantile(0.99) as f64 / 1000.0,
    );
    println!(
        "mailer: mails={} concurrency={} seconds={elapsed:.2} mails_per_s={:.1} recording_s={recorded:.2} rss_idle_mb={:.1} rss_peak_mb={:.1} rss_final_mb={:.1} samples={samples}",
        args.mails,
        args.concurrency,
        args.mails as f64 / elapsed,
        mb(idle),
        mb(peak),
        mb(last),
    );
    println!(
        "ratio mailer/baseline mails per second: {:.2}",
        baseline / elapsed
    );
    Ok(())
}
