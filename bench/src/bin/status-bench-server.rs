//! Serves, in one process, the real api-gateway on a fresh PostgreSQL database seeded with
//! the example orders, and a bare axum handler that answers a status-sized JSON body as the
//! baseline. Prints `gateway=<addr> baseline=<addr> path=<status path>` and serves until
//! stdin closes.

use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use td_store::record::{record_order_event, Origin};
use td_store::TransactionTrait;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

const EXAMPLES: &[&str] = &[
    include_str!("../../../examples/orders/zone-ticket.json"),
    include_str!("../../../examples/orders/rail-with-change.json"),
    include_str!("../../../examples/orders/family-with-supplement.json"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let test_db = td_testkit::postgres().await;
    let mut any_ticket = None;
    for json in EXAMPLES {
        let event = td_domain::parse_order_event(json.as_bytes())?;
        let txn = test_db.db.begin().await?;
        record_order_event(&txn, &event, &Origin::default(), Utc::now()).await?;
        txn.commit().await?;
    }
    let page = td_store::query::search_groups(
        &test_db.db,
        td_domain::Scope::AllOrganisations,
        vec![td_store::query::Filter {
            field: td_store::query::GroupField::OrderId,
            op: td_store::query::Op::Eq,
            values: vec![td_store::query::FilterValue::Text("DEMO0002".into())],
        }],
        td_store::query::PageRequest {
            page: 1,
            per_page: 1,
        },
    )
    .await?;
    if let Some(g) = page.items.first() {
        any_ticket = g.distributions.first().map(|d| d.id);
    }
    let ticket = any_ticket.ok_or_else(|| anyhow::anyhow!("no ticket was generated"))?;

    let settings = td_settings::Settings::load_from(
        None,
        [
            ("TD__GATEWAY__ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("TD__GATEWAY__OPS_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            // One client measures the status path's capacity: no per-client limit.
            (
                "TD__GATEWAY__RATE_LIMIT_PER_SECOND".to_owned(),
                "0".to_owned(),
            ),
        ],
    )?;
    let gateway = api_gateway::App::build_with_db(&settings.gateway, test_db.db.clone()).await?;
    let gateway_addr = gateway.local_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(gateway.run_until_stopped(shutdown.clone()));

    // The baseline: the same route shape, a fixed body of the same size, no layers.
    let sample = serde_json::json!({
        "ticketDistributionId": ticket, "ticketDistributionGroupId": ticket,
        "orderId": "DEMO0002", "orderVersion": 1, "status": "GENERATED", "valid": true,
        "reason": null, "startOfValidity": "2027-07-01T06:25:00Z",
        "endOfValidity": "2027-07-01T10:41:00Z", "updatedAt": "2026-11-26T17:00:00.123456Z",
    });
    let baseline = Router::new().route(
        "/v1/ticket-distributions/{id}/status",
        get(move || {
            let body = sample.clone();
            async move { Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let baseline_addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, baseline).await });

    // Let the status cache's listener connect before load starts.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    println!(
        "gateway={gateway_addr} baseline={baseline_addr} path=/v1/ticket-distributions/{ticket}/status"
    );
    let mut buf = [0u8; 1];
    let _ = tokio::io::stdin().read(&mut buf).await;
    shutdown.cancel();
    Ok(())
}
