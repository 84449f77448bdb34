//! `--demo`: the example orders kept in the repository, submitted through the same intake
//! as orders from Kafka.

use anyhow::Context;
use order_listener::{Incoming, Intake, IntakeOutcome};
use std::net::SocketAddr;
use std::path::Path;

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

/// Submits every example order; returns their order ids.
pub async fn record(intake: &Intake) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for (name, json) in EXAMPLES {
        let event = td_domain::parse_order_event(json.as_bytes())
            .with_context(|| format!("example order {name}"))?;
        let outcome = intake
            .process(Incoming {
                key: Some(event.order.id.0.as_bytes()),
                payload: Some(json.as_bytes()),
                traceparent: None,
                source: format!("demo:{name}"),
            })
            .await?;
        if let IntakeOutcome::DeadLettered { reason } = outcome {
            anyhow::bail!("example order {name} was refused: {reason}");
        }
        tracing::info!(order_id = %event.order.id, outcome = ?outcome, "demo order submitted");
        ids.push(event.order.id.0.clone());
    }
    Ok(ids)
}

pub fn print_instructions(addr: SocketAddr, order_ids: &[String], event_log: &Path) {
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
    println!("Submit an order event of your own (same path as from Kafka):");
    println!("  curl -s -X POST -H 'Content-Type: application/json' --data-binary @examples/orders/zone-ticket.json '{base}/embedded/order-events'");
    println!(
        "Published events, one JSON line each: {}",
        event_log.display()
    );
    println!("The API description: {base}/openapi.json");
    println!();
}
