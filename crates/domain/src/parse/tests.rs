use super::*;
use crate::error::Violation;
use crate::order::OrderEventType;
use crate::testkit::{event, ts, zone_order};

fn json(event: &OrderEvent) -> serde_json::Value {
    serde_json::to_value(event).unwrap()
}

fn parse_value(value: &serde_json::Value) -> Result<OrderEvent, OrderError> {
    parse_order_event(&serde_json::to_vec(value).unwrap())
}

#[test]
fn a_valid_event_parses_to_what_was_sent() {
    let sent = event(zone_order());
    assert_eq!(parse_value(&json(&sent)), Ok(sent));
}

#[test]
fn wrong_type_error_names_the_json_path() {
    let mut value = json(&event(zone_order()));
    value["order"]["orderLines"][0]["version"] = "two".into();
    let err = parse_value(&value).unwrap_err();
    assert_eq!(err.path(), "order.orderLines[0].version");
    assert_eq!(err.kind(), "MALFORMED");
    assert!(
        err.to_string().starts_with(
            "malformed order event: order.orderLines[0].version: invalid type: string \"two\""
        ),
        "{err}"
    );
}

#[test]
fn missing_field_error_names_the_object_it_is_missing_from() {
    let mut value = json(&event(zone_order()));
    value["order"]["orderLines"][0]["fareProducts"][0]
        .as_object_mut()
        .unwrap()
        .remove("kind");
    let err = parse_value(&value).unwrap_err();
    assert_eq!(err.path(), "order.orderLines[0].fareProducts[0]");
    assert!(err.to_string().contains("missing field `kind`"), "{err}");
}

#[test]
fn unknown_enum_value_is_malformed() {
    let mut value = json(&event(zone_order()));
    value["order"]["orderLines"][0]["status"] = "REFUNDED".into();
    let err = parse_value(&value).unwrap_err();
    assert_eq!(err.path(), "order.orderLines[0].status");
    assert!(
        err.to_string().contains("unknown variant `REFUNDED`"),
        "{err}"
    );
}

#[test]
fn unknown_event_type_is_malformed() {
    let mut value = json(&event(zone_order()));
    value["type"] = "OrderShipped".into();
    assert_eq!(parse_value(&value).unwrap_err().path(), "type");
}

#[test]
fn unknown_top_level_field_is_malformed() {
    let mut value = json(&event(zone_order()));
    value["extra"] = 1.into();
    let err = parse_value(&value).unwrap_err();
    assert!(err.to_string().contains("unknown field `extra`"), "{err}");
}

#[test]
fn bad_timestamp_names_its_path() {
    let mut value = json(&event(zone_order()));
    value["order"]["orderLines"][0]["endOfValidity"] = "next tuesday".into();
    assert_eq!(
        parse_value(&value).unwrap_err().path(),
        "order.orderLines[0].endOfValidity"
    );
}

#[test]
fn bytes_that_are_not_json_are_malformed_without_a_path() {
    let err = parse_order_event(b"not json").unwrap_err();
    assert_eq!(err.path(), ".");
    assert!(
        err.to_string()
            .starts_with("malformed order event: expected"),
        "{err}"
    );
    assert!(matches!(
        parse_order_event(b""),
        Err(OrderError::Malformed { .. })
    ));
}

#[test]
fn trailing_data_after_the_event_is_malformed() {
    let mut bytes = serde_json::to_vec(&event(zone_order())).unwrap();
    bytes.extend_from_slice(b" {}");
    let err = parse_order_event(&bytes).unwrap_err();
    assert!(err.to_string().contains("trailing characters"), "{err}");
}

#[test]
fn a_parsed_event_is_also_validated() {
    let mut sent = event(zone_order());
    sent.order.version = 0;
    let err = parse_value(&json(&sent)).unwrap_err();
    assert_eq!(
        err,
        OrderError::Invalid {
            path: "order.version".into(),
            reason: Violation::ZeroVersion
        }
    );
    assert_eq!(err.kind(), "INVALID");
    assert_eq!(
        err.to_string(),
        "invalid order event: order.version: must be at least 1"
    );
}

#[test]
fn every_timestamp_is_truncated_to_whole_microseconds() {
    let mut value = json(&event(crate::testkit::order(vec![
        crate::testkit::legs_line(
            "L1",
            1,
            vec![crate::testkit::main_product("P1", &["T1"])],
            vec![crate::testkit::leg("A", "X:Authority:X", 8, 9, "S1", "S2")],
        ),
    ])));
    value["timestamp"] = "2027-02-01T10:00:01.123456789Z".into();
    value["order"]["lastConfirmedAt"] = "2027-02-01T10:00:00.000000999Z".into();
    value["order"]["orderLines"][0]["startOfValidity"] = "2027-03-01T00:00:00.5000001Z".into();
    value["order"]["orderLines"][0]["endOfValidity"] = "2027-03-02T00:00:00.9999999Z".into();
    value["order"]["orderLines"][0]["legs"][0]["departureTime"] =
        "2027-03-01T08:00:00.0000019+01:00".into();
    value["order"]["orderLines"][0]["legs"][0]["arrivalTime"] =
        "2027-03-01T09:00:00.1234567Z".into();
    let parsed = parse_value(&value).unwrap();
    let line = &parsed.order.order_lines[0];
    assert_eq!(parsed.timestamp, ts("2027-02-01T10:00:01.123456Z"));
    assert_eq!(
        parsed.order.last_confirmed_at,
        Some(ts("2027-02-01T10:00:00Z"))
    );
    assert_eq!(line.start_of_validity, Some(ts("2027-03-01T00:00:00.5Z")));
    assert_eq!(
        line.end_of_validity,
        Some(ts("2027-03-02T00:00:00.999999Z"))
    );
    assert_eq!(
        line.legs[0].departure_time,
        ts("2027-03-01T07:00:00.000001Z")
    );
    assert_eq!(line.legs[0].arrival_time, ts("2027-03-01T09:00:00.123456Z"));
}

#[test]
fn an_order_cancelled_event_parses() {
    let mut sent = event(zone_order());
    sent.kind = OrderEventType::OrderCancelled;
    sent.order.status = crate::order::OrderStatus::Cancelled;
    assert_eq!(parse_value(&json(&sent)), Ok(sent));
}

#[test]
fn a_json_escaped_nul_and_a_five_digit_year_are_refused_at_their_paths() {
    let mut value = json(&event(zone_order()));
    value["order"]["travellers"][0]["name"] = "Ada\u{0}".into();
    let text = serde_json::to_string(&value).unwrap();
    assert!(text.contains(r"Ada\u0000"), "sent as a JSON escape");
    let err = parse_order_event(text.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        OrderError::Invalid {
            path: "order.travellers[0].name".into(),
            reason: Violation::ControlCharacter {
                code: 0,
                position: 3
            },
        }
    );

    let mut value = json(&event(zone_order()));
    value["order"]["orderLines"][0]["endOfValidity"] = "+10000-01-01T00:00:00Z".into();
    let err = parse_value(&value).unwrap_err();
    assert_eq!(err.path(), "order.orderLines[0].endOfValidity");
    assert!(
        matches!(
            err,
            OrderError::Invalid {
                reason: Violation::YearOutOfRange { .. },
                ..
            }
        ),
        "{err}"
    );
}
