//! What is refused, and that the error says what is wrong.

mod common;

use common::{group_event, order_version_event, TD_ID};
use serde_json::{json, Value};
use td_events::{
    decode, encode, Event, EventError, TicketDistributionGroupEventType, Topic, GROUP_EVENTS,
    ORDER_VERSION_COMPLETED,
};

fn activated() -> Value {
    group_event(
        "TicketDistributionActivated",
        json!({"ticketDistributionId": TD_ID, "status": "ACTIVATED"}),
    )
}

fn encode_error(topic: &str, payload: &Value) -> EventError {
    match encode(topic, payload) {
        Ok(_) => panic!("{payload} was accepted"),
        Err(e) => e,
    }
}

#[test]
fn payload_in_the_field_of_another_type_is_rejected() {
    let mut payload = activated();
    let body = payload
        .as_object_mut()
        .unwrap()
        .remove("ticketDistributionActivated")
        .unwrap();
    payload["ticketDistributionExpired"] = body;
    let error = encode_error(GROUP_EVENTS, &payload);
    assert!(
        matches!(
            &error,
            EventError::PayloadMismatch {
                event_type: TicketDistributionGroupEventType::TicketDistributionActivated,
                expected: "ticketDistributionActivated",
                set,
            } if set == &["ticketDistributionExpired"]
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "a TicketDistributionActivated event must set exactly one payload field, \
         `ticketDistributionActivated`, but `ticketDistributionExpired` is set"
    );
}

#[test]
fn missing_payload_field_is_rejected() {
    let mut payload = activated();
    payload
        .as_object_mut()
        .unwrap()
        .remove("ticketDistributionActivated");
    let error = encode_error(GROUP_EVENTS, &payload);
    assert!(matches!(error, EventError::PayloadMismatch { ref set, .. } if set.is_empty()));
    assert!(error.to_string().ends_with("but none is set"), "{error}");
}

#[test]
fn null_payload_field_is_rejected_as_missing() {
    let mut payload = activated();
    payload["ticketDistributionActivated"] = Value::Null;
    let error = encode_error(GROUP_EVENTS, &payload);
    assert!(matches!(error, EventError::PayloadMismatch { ref set, .. } if set.is_empty()));
}

#[test]
fn a_second_payload_field_is_rejected() {
    let mut payload = activated();
    payload["ticketDistributionExpired"] =
        json!({"ticketDistributionId": TD_ID, "status": "EXPIRED"});
    let error = encode_error(GROUP_EVENTS, &payload);
    assert!(
        error
            .to_string()
            .ends_with("but `ticketDistributionActivated`, `ticketDistributionExpired` are set"),
        "{error}"
    );
}

#[test]
fn a_typed_event_with_the_wrong_payload_is_not_encoded() {
    let Ok(Event::Group(mut event)) = Event::from_json(Topic::GroupEvents, &activated()) else {
        panic!("valid sample")
    };
    event.event_type = TicketDistributionGroupEventType::TicketDistributionExpired;
    let error = Event::Group(event).encode().unwrap_err();
    assert!(
        matches!(error, EventError::PayloadMismatch { .. }),
        "{error:?}"
    );
}

fn assert_invalid(payload: &Value, topic: &str, at: &str, says: &str) {
    match encode_error(topic, payload) {
        EventError::InvalidPayload { path, message, .. } => {
            assert_eq!(path, at);
            assert!(message.contains(says), "{message}");
        }
        other => panic!("expected InvalidPayload, got {other:?}"),
    }
}

#[test]
fn unknown_event_type_is_rejected() {
    let mut payload = activated();
    payload["type"] = json!("TicketDistributionTeleported");
    assert_invalid(&payload, GROUP_EVENTS, "type", "unknown variant");
}

#[test]
fn a_field_the_schema_does_not_have_is_rejected() {
    let mut payload = activated();
    payload["ticketDistributionActivated"]["activatedBy"] = json!("app");
    assert_invalid(
        &payload,
        GROUP_EVENTS,
        "ticketDistributionActivated.activatedBy",
        "unknown field `activatedBy`",
    );
}

#[test]
fn a_missing_required_field_is_rejected() {
    let mut payload = order_version_event("AllTicketDistributionGroupsForOrderVersionGenerated");
    payload.as_object_mut().unwrap().remove("orderVersion");
    assert_invalid(
        &payload,
        ORDER_VERSION_COMPLETED,
        ".",
        "missing field `orderVersion`",
    );
}

#[test]
fn unknown_status_is_rejected() {
    let mut payload = activated();
    payload["ticketDistributionActivated"]["status"] = json!("ACTIVE");
    assert_invalid(
        &payload,
        GROUP_EVENTS,
        "ticketDistributionActivated.status",
        "unknown variant `ACTIVE`",
    );
}

#[test]
fn malformed_uuid_is_rejected() {
    let mut payload = activated();
    payload["ticketDistributionGroupId"] = json!("G1");
    assert_invalid(&payload, GROUP_EVENTS, "ticketDistributionGroupId", "UUID");
}

#[test]
fn timestamp_finer_than_a_microsecond_is_rejected() {
    let mut payload = activated();
    payload["timestamp"] = json!("2027-03-01T07:59:58.123456789Z");
    assert_invalid(
        &payload,
        GROUP_EVENTS,
        "timestamp",
        "more precise than a microsecond",
    );
}

#[test]
fn timestamp_that_is_not_rfc3339_is_rejected() {
    let mut payload = activated();
    payload["timestamp"] = json!(1_800_000_000);
    assert_invalid(&payload, GROUP_EVENTS, "timestamp", "invalid type");
    payload["timestamp"] = json!("2027-03-01 07:59");
    assert_invalid(
        &payload,
        GROUP_EVENTS,
        "timestamp",
        "not an RFC 3339 timestamp",
    );
}

#[test]
fn order_version_beyond_avro_int_is_rejected() {
    let mut payload = order_version_event("AllTicketDistributionGroupsForOrderVersionGenerated");
    payload["orderVersion"] = json!(3_000_000_000_u64);
    assert_invalid(&payload, ORDER_VERSION_COMPLETED, "orderVersion", "i32");
}

#[test]
fn a_group_event_is_not_an_order_version_event() {
    let error = encode_error(ORDER_VERSION_COMPLETED, &activated());
    assert!(
        matches!(error, EventError::InvalidPayload { .. }),
        "{error:?}"
    );
}

#[test]
fn unknown_topic_is_rejected() {
    let error = encode_error("order-events", &activated());
    assert!(matches!(error, EventError::UnknownTopic(ref t) if t == "order-events"));
    assert!(matches!(
        decode("ticket-distribution-group-events-prod", &[0xC3, 0x01]),
        Err(EventError::UnknownTopic(_))
    ));
    assert!(td_events::fingerprint("nope").is_err());
    assert!(td_events::schema_json("nope").is_err());
}

fn encoded() -> Vec<u8> {
    encode(GROUP_EVENTS, &activated()).unwrap()
}

#[test]
fn message_without_the_marker_is_rejected() {
    let mut bytes = encoded();
    bytes[0] = b'{';
    let error = decode(GROUP_EVENTS, &bytes).unwrap_err();
    assert!(matches!(
        error,
        EventError::NotSingleObject {
            found: [b'{', 0x01]
        }
    ));
    assert_eq!(
        error.to_string(),
        "not Avro single-object encoding: starts with 7B 01, expected C3 01"
    );
}

#[test]
fn message_shorter_than_the_header_is_rejected() {
    for len in [0, 1, 2, 9] {
        let error = decode(GROUP_EVENTS, &encoded()[..len]).unwrap_err();
        assert!(
            matches!(error, EventError::Truncated { len: l } if l == len),
            "{error:?}"
        );
    }
}

#[test]
fn unknown_fingerprint_is_rejected_with_the_fingerprint() {
    let mut bytes = encoded();
    bytes[2..10].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
    let error = decode(GROUP_EVENTS, &bytes).unwrap_err();
    assert!(matches!(
        error,
        EventError::UnknownFingerprint {
            other_topic: None,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "schema fingerprint deadbeef00010203 is not a known schema of \
         `ticket-distribution-group-events`"
    );
}

#[test]
fn message_of_the_other_topic_is_rejected_and_named() {
    let error = decode(ORDER_VERSION_COMPLETED, &encoded()).unwrap_err();
    assert!(
        matches!(
            error,
            EventError::UnknownFingerprint {
                topic: ORDER_VERSION_COMPLETED,
                other_topic: Some(GROUP_EVENTS),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error
        .to_string()
        .ends_with("(it is a schema of `ticket-distribution-group-events`)"));
}

#[test]
fn truncated_datum_is_rejected() {
    // Cut inside the eventId string. (apache-avro reads a missing trailing union index as
    // null, so cutting off only trailing null payload fields goes unnoticed, and harmlessly.)
    let bytes = encoded();
    let error = decode(GROUP_EVENTS, &bytes[..20]).unwrap_err();
    assert!(matches!(error, EventError::Decode { .. }), "{error:?}");
}

#[test]
fn bytes_after_the_datum_are_rejected() {
    let mut bytes = encoded();
    bytes.extend_from_slice(&[0, 0]);
    let error = decode(GROUP_EVENTS, &bytes).unwrap_err();
    assert!(
        matches!(error, EventError::TrailingBytes { count: 2, .. }),
        "{error:?}"
    );
}
