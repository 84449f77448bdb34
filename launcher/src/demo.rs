//! `--demo`: the example orders kept in the repository, recorded through the same write
//! path as orders from Kafka.

use anyhow::Context;
use chrono::Utc;
use std::net::SocketAddr;
use td_store::record::{record_order_event, Origin, RecordOutcome};
use td_store::{DatabaseConnection, TransactionTrait};

const EXAMPLES: &[(&str, &str)] = &[
    (
        "zone-ticket.json",
        include_str!("../../examples/orders/zone-ticket.json"),
    ),
    (
        "rail-with-change.json",
        include_str!("../../examples/orders/rail-with-change.json"),
    ),
    (
        "family-with-supplement.json",
        include_str!("../../examples/orders/family-with-supplement.json"),
    ),
];

/// Records every example order; returns their order ids.
pub async fn record(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for (name, json) in EXAMPLES {
        let event = td_domain::parse_order_event(json.as_bytes())
            .with_context(|| format!("example order {name}"))?;
        let txn = db.begin().await?;
        let origin = Origin {
            distribution_channel: Some("demo".to_owned()),
            traceparent: None,
        };
        let outcome = record_order_event(&txn, &event, &origin, Utc::now()).await?;
        txn.commit().await?;
        match outcome {
            RecordOutcome::Applied { created, .. } => {
                tracing::info!(order_id = %event.order.id, groups = created.len(), "demo order recorded")
            }
            _ => tracing::info!(order_id = %event.order.id, "demo order was recorded before"),
        }
        ids.push(event.order.id.0.clone());
    }
    Ok(ids)
}

pub fn print_instructions(addr: SocketAddr, order_ids: &[String]) {
    let base = format!("http://{addr}");
    println!();
    println!("Demo orders recorded: {}", order_ids.join(", "));
    println!("Their ticket distribution groups:");
    println!();
    println!(
        "  curl -s -H 'ET-Client-Name: demo-cli' '{base}/v1/ticket-distribution-groups?orderId=in:{}'",
        order_ids.join(",")
    );
    println!();
    println!("Then ask whether a ticket is valid (take an id from ticketDistributions[].id):");
    println!(
        "  curl -s -H 'ET-Client-Name: demo-cli' '{base}/v1/ticket-distributions/<id>/status'"
    );
    println!("The API description: {base}/openapi.json");
    println!();
}
