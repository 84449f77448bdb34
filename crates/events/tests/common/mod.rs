//! Sample payloads in the outbox JSON form (as `td_store::outbox` writes them).

#![allow(dead_code)] // each test file uses a different part

use serde_json::{json, Value};

pub const GROUP_ID: &str = "0b7c5a5e-3c1d-4c53-9d0e-1f2a3b4c5d6e";
pub const TD_ID: &str = "5f0e8a9b-2c3d-4e5f-8a9b-0c1d2e3f4a5b";
pub const TD_ID_2: &str = "6a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d";

/// A `TicketDistributionGroupEvent` whose `type` is `event_type` and whose payload field
/// (the type with a lowercase first letter) holds `body`.
pub fn group_event(event_type: &str, body: Value) -> Value {
    let mut event = json!({
        "eventId": "3d2c1b0a-9f8e-4d7c-b6a5-948372615f0e",
        "type": event_type,
        "correlationId": "corr-O1-1",
        "timestamp": "2027-03-01T07:59:58.123456Z",
        "organisationId": 1,
        "orderId": "O1",
        "orderVersion": 1,
        "ticketDistributionGroupId": GROUP_ID,
    });
    event[payload_field(event_type)] = body;
    event
}

pub fn payload_field(event_type: &str) -> String {
    let mut chars = event_type.chars();
    let first = chars.next().expect("non-empty type");
    first.to_lowercase().chain(chars).collect()
}

/// One sample of every group event type, in schema order.
pub fn every_group_event() -> Vec<Value> {
    vec![
        group_event(
            "TicketDistributionGroupCreated",
            json!({"orderLineId": "L1", "orderLineVersion": 2, "ticketDistributionIds": [TD_ID, TD_ID_2]}),
        ),
        group_event(
            "TicketDistributionAdded",
            json!({
                "ticketDistributionId": TD_ID, "status": "GENERATED",
                "startOfValidity": "2027-03-01T08:00:00.000000Z",
                "endOfValidity": "2027-03-01T10:00:00.000001Z",
                "fareProductRef": "VYG:PreassignedFareProduct:Standard",
            }),
        ),
        group_event(
            "TicketDistributionDistributed",
            json!({"ticketDistributionId": TD_ID, "status": "DISTRIBUTED", "nodOrderGroupId": "NOD-42"}),
        ),
        group_event(
            "TicketDistributionPickedUp",
            json!({"ticketDistributionId": TD_ID, "status": "PICKED_UP", "mediaSerialNumberId": "MSN-7"}),
        ),
        group_event(
            "TicketDistributionActivated",
            json!({"ticketDistributionId": TD_ID, "status": "ACTIVATED"}),
        ),
        group_event(
            "TicketDistributionExpired",
            json!({"ticketDistributionId": TD_ID, "status": "EXPIRED"}),
        ),
        group_event(
            "TicketDistributionCancelled",
            json!({"ticketDistributionId": TD_ID, "status": "CANCELLED", "reason": "SUPERSEDED_BY_ORDER_VERSION"}),
        ),
        group_event(
            "TicketDistributionCancelledExternally",
            json!({"ticketDistributionId": TD_ID, "status": "CANCELLED_EXTERNALLY"}),
        ),
        group_event(
            "TicketDistributionFailed",
            json!({"ticketDistributionId": TD_ID, "status": "FAILED", "reason": "NOD rejected the order group: 422"}),
        ),
    ]
}

pub fn order_version_event(event_type: &str) -> Value {
    json!({
        "eventId": "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a090",
        "type": event_type,
        "correlationId": null,
        "timestamp": "2027-03-01T08:00:01.000000Z",
        "organisationId": 9_007_199_254_740_991_i64,
        "orderId": "O1",
        "orderVersion": 3,
        "ticketDistributionGroupIds": [GROUP_ID, "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"],
    })
}
