//! Benchmarks that need more than one process: servers to measure and a load generator
//! that runs beside them. Run through the scripts in `scripts/bench-*`.

use serde_json::{json, Value};

/// The demo order with legs that benchmarks copy.
const TEMPLATE: &str = include_str!("../../examples/orders/rail-with-change.json");

/// Order event `<prefix><n>` (a valid CONFIRMED order, version 1, with a fresh event id and
/// `lines` order lines, each a copy of the template's line with ids of its own), as
/// `(order id, JSON)`.
pub fn numbered_order(prefix: &str, n: usize, lines: usize) -> (String, String) {
    let id = format!("{prefix}{n:07}");
    let template: Value = serde_json::from_str(TEMPLATE).expect("the template parses");
    let template_id = template["order"]["id"]
        .as_str()
        .expect("the template has an order id")
        .to_owned();
    let mut event: Value =
        serde_json::from_str(&TEMPLATE.replace(&template_id, &id)).expect("still JSON");
    let line = event["order"]["orderLines"][0].to_string();
    event["order"]["orderLines"] = (1..=lines)
        .map(|i| {
            let copy = line
                .replace(&format!("{id}-L1"), &format!("{id}-L{i}"))
                .replace(&format!("{id}-FP"), &format!("{id}-L{i}-FP"));
            serde_json::from_str::<Value>(&copy).expect("still JSON")
        })
        .collect::<Vec<Value>>()
        .into();
    event["eventId"] = json!(uuid::Uuid::new_v4());
    event["correlationId"] = json!(format!("bench-{id}"));
    (id, event.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_orders_are_valid_and_have_the_asked_lines() {
        for lines in [1, 5] {
            let (id, json) = numbered_order("T", 42, lines);
            assert_eq!(id, "T0000042");
            let event = td_domain::parse_order_event(json.as_bytes()).unwrap();
            assert_eq!(event.order.id.0, id);
            assert_eq!(event.order.order_lines.len(), lines);
            let plan = td_domain::generation::plan_version(&event.order, false, &[]);
            assert_eq!(plan.create.len(), lines);
        }
    }
}
