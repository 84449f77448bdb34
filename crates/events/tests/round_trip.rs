//! Encoding the outbox JSON and decoding the bytes gives the same JSON back, for every
//! event type; the header is the single-object marker and the schema fingerprint.

mod common;

use common::{every_group_event, group_event, order_version_event, TD_ID};
use serde_json::{json, Value};
use td_events::{decode, encode, Event, Topic, GROUP_EVENTS, ORDER_VERSION_COMPLETED};

fn assert_round_trip(topic: &str, payload: &Value) -> Vec<u8> {
    let bytes = encode(topic, payload).unwrap_or_else(|e| panic!("encode {payload}: {e}"));
    let event = decode(topic, &bytes).unwrap_or_else(|e| panic!("decode {payload}: {e}"));
    assert_eq!(&serde_json::to_value(&event).unwrap(), payload);
    bytes
}

fn sample(event_type: &str) -> Value {
    every_group_event()
        .into_iter()
        .find(|e| e["type"] == event_type)
        .unwrap()
}

#[test]
fn group_created_round_trips() {
    assert_round_trip(GROUP_EVENTS, &sample("TicketDistributionGroupCreated"));
}

#[test]
fn distribution_added_round_trips() {
    assert_round_trip(GROUP_EVENTS, &sample("TicketDistributionAdded"));
}

#[test]
fn distribution_distributed_round_trips() {
    assert_round_trip(GROUP_EVENTS, &sample("TicketDistributionDistributed"));
}

#[test]
fn distribution_picked_up_round_trips() {
    assert_round_trip(GROUP_EVENTS, &sample("TicketDistributionPickedUp"));
}

#[test]
fn distribution_picked_up_without_media_serial_number_round_trips() {
    let payload = group_event(
        "TicketDistributionPickedUp",
        json!({"ticketDistributionId": TD_ID, "status": "PICKED_UP", "mediaSerialNumberId": null}),
    );
    assert_round_trip(GROUP_EVENTS, &payload);
}

#[test]
fn distribution_activated_round_trips() {
    assert_round_trip(GROUP_EVENTS, &sample("TicketDistributionActivated"));
}

#[test]
fn distribution_expired_round_trips() {
    assert_round_trip(GROUP_EVENTS, &sample("TicketDistributionExpired"));
}

#[test]
fn distribution_cancelled_round_trips() {
    assert_round_trip(GROUP_EVENTS, &sample("TicketDistributionCancelled"));
}

#[test]
fn distribution_cancelled_externally_round_trips() {
    assert_round_trip(
        GROUP_EVENTS,
        &sample("TicketDistributionCancelledExternally"),
    );
}

#[test]
fn distribution_failed_round_trips() {
    assert_round_trip(GROUP_EVENTS, &sample("TicketDistributionFailed"));
}

#[test]
fn every_group_event_type_has_a_sample_that_round_trips() {
    let samples = every_group_event();
    let types: Vec<&str> = samples
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    let all: Vec<&str> = td_events::TicketDistributionGroupEventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(types, all);
    for payload in &samples {
        assert_round_trip(GROUP_EVENTS, payload);
    }
}

#[test]
fn order_version_generated_round_trips() {
    assert_round_trip(
        ORDER_VERSION_COMPLETED,
        &order_version_event("AllTicketDistributionGroupsForOrderVersionGenerated"),
    );
}

#[test]
fn order_version_distributed_round_trips() {
    let mut payload = order_version_event("AllTicketDistributionGroupsForOrderVersionDistributed");
    payload["correlationId"] = json!("corr-O1-3");
    assert_round_trip(ORDER_VERSION_COMPLETED, &payload);
}

#[test]
fn order_version_event_with_no_groups_round_trips() {
    let mut payload = order_version_event("AllTicketDistributionGroupsForOrderVersionGenerated");
    payload["ticketDistributionGroupIds"] = json!([]);
    assert_round_trip(ORDER_VERSION_COMPLETED, &payload);
}

#[test]
fn group_event_without_correlation_id_round_trips() {
    let mut payload = sample("TicketDistributionActivated");
    payload["correlationId"] = Value::Null;
    assert_round_trip(GROUP_EVENTS, &payload);
}

#[test]
fn null_payload_fields_of_other_types_are_accepted_and_dropped() {
    let mut payload = sample("TicketDistributionExpired");
    payload["ticketDistributionFailed"] = Value::Null;
    let event = decode(GROUP_EVENTS, &encode(GROUP_EVENTS, &payload).unwrap()).unwrap();
    payload
        .as_object_mut()
        .unwrap()
        .remove("ticketDistributionFailed");
    assert_eq!(serde_json::to_value(&event).unwrap(), payload);
}

#[test]
fn timestamps_with_an_offset_come_back_in_utc() {
    let mut payload = sample("TicketDistributionActivated");
    payload["timestamp"] = json!("2027-03-01T09:00:00.5+01:00");
    let event = decode(GROUP_EVENTS, &encode(GROUP_EVENTS, &payload).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&event).unwrap()["timestamp"],
        "2027-03-01T08:00:00.500000Z"
    );
}

#[test]
fn header_is_the_marker_then_the_schema_fingerprint() {
    for (topic, payload) in [
        (GROUP_EVENTS, sample("TicketDistributionAdded")),
        (
            ORDER_VERSION_COMPLETED,
            order_version_event("AllTicketDistributionGroupsForOrderVersionGenerated"),
        ),
    ] {
        let bytes = encode(topic, &payload).unwrap();
        let fingerprint = td_events::fingerprint(topic).unwrap();
        assert_eq!(bytes[..2], [0xC3, 0x01]);
        assert_eq!(bytes[2..10], fingerprint);
        assert!(bytes.len() > 10);
    }
}

/// CRC-64-AVRO exactly as the Avro specification gives it ("Schema Fingerprints"), as an
/// oracle independent of apache-avro.
fn crc64_avro(bytes: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    let table: Vec<u64> = (0..256u64)
        .map(|i| (0..8).fold(i, |fp, _| (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg())))
        .collect();
    bytes.iter().fold(EMPTY, |fp, b| {
        (fp >> 8) ^ table[usize::try_from((fp ^ u64::from(*b)) & 0xff).unwrap()]
    })
}

#[test]
fn fingerprint_is_the_little_endian_crc64_avro_of_the_canonical_form() {
    // The specification's own test vector, so the oracle itself is right.
    assert_eq!(crc64_avro(br#""null""#) as i64, 7_195_948_357_588_979_594);
    for topic in Topic::ALL {
        let canonical = topic.schema().canonical_form();
        assert_eq!(
            topic.fingerprint(),
            crc64_avro(canonical.as_bytes()).to_le_bytes()
        );
    }
    assert_ne!(
        Topic::GroupEvents.fingerprint(),
        Topic::OrderVersionCompleted.fingerprint()
    );
}

#[test]
fn a_typed_event_encodes_like_its_json() {
    let payload = sample("TicketDistributionDistributed");
    let event = Event::from_json(Topic::GroupEvents, &payload).unwrap();
    assert_eq!(event.topic(), Topic::GroupEvents);
    assert_eq!(
        event.encode().unwrap(),
        encode(GROUP_EVENTS, &payload).unwrap()
    );
    let Event::Group(group) = event else {
        panic!("a group event")
    };
    assert_eq!(
        group
            .ticket_distribution_distributed
            .unwrap()
            .nod_order_group_id,
        "NOD-42"
    );
}
