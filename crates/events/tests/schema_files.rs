//! The `.avsc` files and the Rust model say the same thing, and the files document
//! themselves.

use serde_json::Value;
use td_events::{
    AllTicketDistributionGroupsForOrderVersionCompletedEventType as OrderVersionType,
    TicketDistributionGroupEventType as GroupType, TicketDistributionStatus, Topic,
};

fn schema(topic: Topic) -> Value {
    serde_json::from_str(topic.schema_json()).unwrap()
}

fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field `{name}` in {}", record["name"]))
}

fn symbols(enum_schema: &Value) -> Vec<&str> {
    enum_schema["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// Every named type and every field, wherever it is nested.
fn visit(schema: &Value, f: &mut impl FnMut(&Value)) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("type") && (map.contains_key("name") || map.contains_key("items")) {
                f(schema);
            }
            map.values().for_each(|v| visit(v, f));
        }
        Value::Array(items) => items.iter().for_each(|v| visit(v, f)),
        _ => {}
    }
}

#[test]
fn every_record_enum_and_field_has_a_doc() {
    for topic in Topic::ALL {
        visit(&schema(topic), &mut |node| {
            if node.get("name").is_some() {
                assert!(
                    node["doc"].as_str().is_some_and(|d| !d.is_empty()),
                    "{topic:?}: `{}` has no doc",
                    node["name"]
                );
            }
        });
    }
}

#[test]
fn the_records_are_named_and_namespaced_as_published() {
    for (topic, name) in [
        (Topic::GroupEvents, "TicketDistributionGroupEvent"),
        (
            Topic::OrderVersionCompleted,
            "AllTicketDistributionGroupsForOrderVersionCompletedEvent",
        ),
    ] {
        let schema = topic.schema();
        assert_eq!(
            schema.name().map(|n| n.fullname(None)),
            Some(format!("no.ticketdistribution.events.{name}"))
        );
        assert_eq!(
            td_events::schema_json(topic.base()).unwrap(),
            topic.schema_json()
        );
        assert_eq!(
            td_events::fingerprint(topic.base()).unwrap(),
            topic.fingerprint()
        );
    }
}

#[test]
fn enum_symbols_match_the_model_in_order() {
    let group = schema(Topic::GroupEvents);
    let model: Vec<&str> = GroupType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(symbols(&field(&group, "type")["type"]), model);

    let added = &field(&group, "ticketDistributionAdded")["type"][1];
    let model: Vec<&str> = TicketDistributionStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(symbols(&field(added, "status")["type"]), model);

    let order_version = schema(Topic::OrderVersionCompleted);
    let model: Vec<&str> = OrderVersionType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(symbols(&field(&order_version, "type")["type"]), model);
}

#[test]
fn symbols_serialize_to_json_as_themselves() {
    for t in GroupType::ALL {
        assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        assert_eq!(t.as_str().parse::<GroupType>().unwrap(), *t);
    }
    for s in TicketDistributionStatus::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        assert_eq!(s.as_str().parse::<TicketDistributionStatus>().unwrap(), *s);
    }
    for t in OrderVersionType::ALL {
        assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
    }
    assert!("Picked_Up".parse::<TicketDistributionStatus>().is_err());
}

#[test]
fn each_group_event_type_has_an_optional_payload_field_named_after_it() {
    let group = schema(Topic::GroupEvents);
    for t in GroupType::ALL {
        let name = t.payload_field();
        let mut expected = t.as_str().to_owned();
        expected[..1].make_ascii_lowercase();
        assert_eq!(name, expected);
        let payload = field(&group, name);
        assert_eq!(payload["default"], Value::Null, "{name}");
        assert!(payload.get("default").is_some(), "{name} has no default");
        assert_eq!(payload["type"][0], "null", "{name}");
        assert_eq!(payload["type"][1]["name"], t.as_str(), "{name}");
    }
    let payload_fields = group["fields"].as_array().unwrap().len() - 8;
    assert_eq!(payload_fields, GroupType::ALL.len());
}
