//! The typed constructors: every event they build is one the schema carries, and a value
//! the schema cannot hold is refused where the event is built.

use chrono::{DateTime, TimeZone, Utc};
use td_events::{
    decode, AllTicketDistributionGroupsForOrderVersionCompletedEvent as Completed,
    AllTicketDistributionGroupsForOrderVersionCompletedEventType as Milestone, Event, EventError,
    EventHeader, TicketDistributionGroupEvent as GroupEvent, TicketDistributionGroupEventType,
};
use uuid::Uuid;

fn at(year: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, 3, 1, 12, 0, 0).unwrap()
}

fn header(version: u32) -> Result<EventHeader, EventError> {
    EventHeader::new(Some("corr-1".into()), at(2027), 7, "O1".into(), version)
}

fn out_of_range(result: Result<impl std::fmt::Debug, EventError>, field: &str) {
    match result {
        Err(EventError::OutOfRange { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected {field} to be refused as out of range, got {other:?}"),
    }
}

#[test]
fn an_order_version_above_the_avro_int_range_is_refused() {
    assert_eq!(header(i32::MAX as u32).unwrap().order_version(), i32::MAX);
    out_of_range(header(i32::MAX as u32 + 1), "orderVersion");
    out_of_range(header(1).unwrap().for_version(u32::MAX), "orderVersion");
}

#[test]
fn a_timestamp_outside_years_0001_to_9999_is_refused() {
    let new = |t| EventHeader::new(None, t, 7, "O1".into(), 1);
    assert!(new(at(9999)).is_ok());
    assert!(new(at(1)).is_ok());
    out_of_range(new(at(10_000)), "timestamp");
    out_of_range(new(at(0)), "timestamp");
    let h = header(1).unwrap();
    let added =
        |start, end| GroupEvent::added(&h, Uuid::nil(), Uuid::nil(), start, end, "P".into());
    out_of_range(added(at(2027), at(10_000)), "endOfValidity");
    out_of_range(added(at(-5), at(2027)), "startOfValidity");
}

#[test]
fn an_order_line_version_above_the_avro_int_range_is_refused() {
    let h = header(1).unwrap();
    let created = |v| GroupEvent::group_created(&h, Uuid::nil(), "L1".into(), v, vec![]);
    assert!(created(i32::MAX as u32).is_ok());
    out_of_range(created(i32::MAX as u32 + 1), "orderLineVersion");
}

#[test]
fn the_error_names_the_field_the_value_and_the_range() {
    let err = header(3_000_000_000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`orderVersion` = 3000000000 does not fit the event schema (0 to 2147483647)"
    );
}

/// One event of every group type, as the constructors build them.
fn every_group_event() -> Vec<GroupEvent> {
    let h = header(2).unwrap();
    let (g, td) = (Uuid::new_v4(), Uuid::new_v4());
    vec![
        GroupEvent::group_created(&h, g, "L1".into(), 3, vec![td]).unwrap(),
        GroupEvent::added(&h, g, td, at(2027), at(2028), "P".into()).unwrap(),
        GroupEvent::distributed(&h, g, td, "nod-1".into()),
        GroupEvent::picked_up(&h, g, td, Some("card".into())),
        GroupEvent::activated(&h, g, td),
        GroupEvent::expired(&h, g, td),
        GroupEvent::cancelled(&h, g, td, "LINE_CREDITED".into()),
        GroupEvent::cancelled_externally(&h, g, td),
        GroupEvent::failed(&h, g, td, "rejected".into()),
    ]
}

#[test]
fn each_constructor_sets_exactly_its_types_payload_and_the_header() {
    let events = every_group_event();
    let types: Vec<_> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(types, TicketDistributionGroupEventType::ALL);
    // The status each type leads to, as its payload carries it.
    let statuses = [
        None,
        Some("GENERATED"),
        Some("DISTRIBUTED"),
        Some("PICKED_UP"),
        Some("ACTIVATED"),
        Some("EXPIRED"),
        Some("CANCELLED"),
        Some("CANCELLED_EXTERNALLY"),
        Some("FAILED"),
    ];
    for (event, status) in events.iter().zip(statuses) {
        let json = Event::from(event.clone()).to_json().unwrap();
        let payload = &json[event.event_type.payload_field()];
        assert_eq!(payload["status"].as_str(), status, "{}", event.event_type);
        event.check().unwrap();
        assert_eq!(event.order_version, 2);
        assert_eq!(event.order_id, "O1");
        assert_eq!(event.organisation_id, 7);
        assert_eq!(event.correlation_id.as_deref(), Some("corr-1"));
        assert_eq!(event.timestamp, at(2027));
    }
}

#[test]
fn constructed_events_encode_and_their_json_is_what_decoding_gives() {
    let mut events: Vec<Event> = every_group_event().into_iter().map(Event::from).collect();
    let h = header(2).unwrap().for_version(1).unwrap();
    for milestone in Milestone::ALL {
        events.push(Completed::new(&h, *milestone, vec![Uuid::new_v4()]).into());
    }
    for event in events {
        let bytes = event.encode().unwrap();
        let decoded = decode(event.topic().base(), &bytes).unwrap();
        assert_eq!(decoded, event);
        assert_eq!(decoded.to_json().unwrap(), event.to_json().unwrap());
        assert_eq!(
            Event::from_json(event.topic(), &event.to_json().unwrap()).unwrap(),
            event
        );
    }
}

#[test]
fn timestamps_finer_than_a_microsecond_are_dropped_as_the_schema_does() {
    let fine = at(2027) + chrono::Duration::nanoseconds(1_234_567);
    let h = EventHeader::new(None, fine, 7, "O1".into(), 1).unwrap();
    let event = Event::from(GroupEvent::activated(&h, Uuid::nil(), Uuid::nil()));
    let json = event.to_json().unwrap();
    assert_eq!(json["timestamp"], "2027-03-01T12:00:00.001234Z");
    assert_eq!(Event::from_json(event.topic(), &json).unwrap(), event);
}
