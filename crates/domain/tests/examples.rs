//! The example order events in `examples/orders` (used for demos and manual runs) stay
//! parseable, valid, and generate what their names promise.

use std::path::{Path, PathBuf};
use td_domain::*;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orders")
}

fn load(name: &str) -> OrderEvent {
    let path = examples_dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_order_event(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn generate(event: &OrderEvent) -> Vec<GeneratedGroup> {
    let plan = plan_version(
        &event.order,
        event.kind == OrderEventType::OrderCancelled,
        &[],
    );
    assert!(plan.keep.is_empty() && plan.cancel.is_empty());
    plan.create
}

fn tickets_per_group(groups: &[GeneratedGroup]) -> Vec<usize> {
    groups.iter().map(|g| g.distributions.len()).collect()
}

#[test]
fn every_example_is_a_valid_confirmed_first_version() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).expect("examples/orders exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let event = load(&name);
            assert_eq!(event.kind, OrderEventType::OrderConfirmed, "{name}");
            assert_eq!(
                (event.order.version, event.order.status),
                (1, OrderStatus::Confirmed),
                "{name}"
            );
            assert!(!generate(&event).is_empty(), "{name} generates nothing");
            names.push(name);
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "family-with-supplement.json",
            "rail-with-change.json",
            "zone-ticket.json"
        ]
    );
}

#[test]
fn zone_ticket_gives_one_ticket_over_the_fare_zones() {
    let event = load("zone-ticket.json");
    let groups = generate(&event);
    assert_eq!(tickets_per_group(&groups), [1]);
    let td = &groups[0].distributions[0];
    assert!(td.details.legs.is_empty());
    assert_eq!(
        td.details.topology.fare_zones,
        ["RUT:FareZone:4", "RUT:FareZone:5"]
    );
    assert_eq!(
        td.user_profile_ref.as_deref(),
        Some("ENT:UserProfile:Adult")
    );
    assert_eq!(
        Some(td.end_of_validity),
        event.order.order_lines[0].end_of_validity
    );
}

#[test]
fn rail_with_change_gives_one_ticket_per_operator() {
    let groups = generate(&load("rail-with-change.json"));
    assert_eq!(tickets_per_group(&groups), [2]);
    let [vy, sj] = [&groups[0].distributions[0], &groups[0].distributions[1]];
    assert_eq!(vy.details.legs[0].authority_ref, "VYG:Authority:VYG");
    assert_eq!(sj.details.legs[0].authority_ref, "SJN:Authority:SJN");
    assert_eq!(
        vy.details.topology.from_stop_place_name.as_deref(),
        Some("Oslo S")
    );
    assert_eq!(
        sj.details.topology.to_stop_place_name.as_deref(),
        Some("Otta stasjon")
    );
    assert_eq!(vy.details.seats.len(), 1);
    assert!(sj.details.seats.is_empty());
    assert!(vy.end_of_validity <= sj.start_of_validity);
}

#[test]
fn family_gets_a_ticket_each_with_own_seat_and_the_bicycle_on_its_riders_ticket() {
    let groups = generate(&load("family-with-supplement.json"));
    assert_eq!(tickets_per_group(&groups), [3, 1]);
    let rail = &groups[0].distributions;
    let seats: Vec<&str> = rail
        .iter()
        .map(|td| td.details.seats[0].seat_number.as_str())
        .collect();
    assert_eq!(seats, ["21", "22", "23"]);
    let profiles: Vec<_> = rail
        .iter()
        .map(|td| td.user_profile_ref.as_deref().unwrap())
        .collect();
    assert_eq!(
        profiles,
        [
            "ENT:UserProfile:Adult",
            "ENT:UserProfile:Adult",
            "ENT:UserProfile:Child"
        ]
    );
    let bicycles: Vec<usize> = rail
        .iter()
        .map(|td| td.details.supplement_products.len())
        .collect();
    assert_eq!(bicycles, [0, 1, 0]);
    assert_eq!(
        rail[1].details.supplement_products[0].reference,
        "VYG:SupplementProduct:Bicycle"
    );
    assert_eq!(
        rail[1].details.traveller_name.as_deref(),
        Some("Per Hansen")
    );
}

#[test]
fn the_default_limits_accept_every_example() {
    let limits = Limits::default();
    for name in [
        "family-with-supplement.json",
        "rail-with-change.json",
        "zone-ticket.json",
    ] {
        let bytes = std::fs::read(examples_dir().join(name)).unwrap();
        let parsed = parse_order_event_within(&bytes, &limits);
        assert!(parsed.is_ok(), "{name}: {parsed:?}");
    }
}
