//! Schema evolution. The rule: a file under `schemas/released/` is never edited, and the
//! current `.avsc` may differ from the newest released one only by adding fields that have
//! a default (and by `doc` text). Then a consumer holding any released schema can read what
//! is written now, and a consumer on the current schema can read what a released schema
//! wrote (older messages still on the topic). Removing or renaming a field, changing a type,
//! adding an enum symbol or adding a field without a default fails these tests. To release
//! a changed schema, copy it to `schemas/released/<Record>.v<N+1>.avsc` and list it in
//! `Topic::released_schema_jsons`.

mod common;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use td_events::{decode, encode, fingerprint_of, Schema, Topic, GROUP_EVENTS};

fn released(topic: Topic) -> Vec<Schema> {
    let jsons = topic.released_schema_jsons();
    assert!(!jsons.is_empty(), "{topic:?} has no released schema");
    jsons
        .iter()
        .map(|json| Schema::parse_str(json).expect("released schema parses"))
        .collect()
}

fn can_read(writer: &Schema, reader: &Schema) -> bool {
    matches!(
        SchemaCompatibility::can_read(writer, reader),
        Ok(Compatibility::Full)
    )
}

#[test]
fn consumers_holding_a_released_schema_can_read_what_is_written_now() {
    for topic in Topic::ALL {
        for (version, old) in released(topic).iter().enumerate() {
            assert!(
                can_read(topic.schema(), old),
                "{topic:?}: a consumer with released v{} cannot read the current schema's data: {:?}",
                version + 1,
                SchemaCompatibility::can_read(topic.schema(), old)
            );
        }
    }
}

#[test]
fn the_current_schema_reads_what_any_released_schema_wrote() {
    for topic in Topic::ALL {
        for (version, old) in released(topic).iter().enumerate() {
            assert!(
                can_read(old, topic.schema()),
                "{topic:?}: data written with released v{} cannot be read with the current schema: {:?}",
                version + 1,
                SchemaCompatibility::can_read(old, topic.schema())
            );
        }
    }
}

#[test]
fn the_current_schema_is_the_newest_released_one_or_a_compatible_change() {
    for topic in Topic::ALL {
        let newest = released(topic).pop().unwrap();
        let unchanged = fingerprint_of(&newest) == topic.fingerprint();
        assert!(
            unchanged || (can_read(topic.schema(), &newest) && can_read(&newest, topic.schema())),
            "{topic:?}: the current schema changed incompatibly; add fields with defaults only"
        );
    }
}

/// Fingerprints of the released files when they were released: a released file that is
/// edited (beyond `doc` text) changes its fingerprint and fails here.
#[test]
fn released_schemas_are_never_edited() {
    let pinned: [(Topic, &[[u8; 8]]); 2] = [
        (Topic::GroupEvents, &[GROUP_V1]),
        (Topic::OrderVersionCompleted, &[ORDER_VERSION_V1]),
    ];
    for (topic, fingerprints) in pinned {
        let actual: Vec<[u8; 8]> = released(topic).iter().map(fingerprint_of).collect();
        assert_eq!(actual, fingerprints, "{topic:?}");
    }
}

const GROUP_V1: [u8; 8] = [0x74, 0x1e, 0xa0, 0x21, 0x9a, 0xa0, 0x0a, 0x7a];
const ORDER_VERSION_V1: [u8; 8] = [0xa0, 0x98, 0x53, 0x5f, 0x25, 0xc0, 0x94, 0xc1];

#[test]
fn an_old_consumer_decodes_a_message_written_now() {
    let payload = common::every_group_event().remove(1);
    let bytes = encode(GROUP_EVENTS, &payload).unwrap();
    let old = released(Topic::GroupEvents).remove(0);
    // What a consumer holding v1 does: look the writer schema up by the header's
    // fingerprint, then resolve the datum against its own schema.
    assert_eq!(bytes[2..10], Topic::GroupEvents.fingerprint());
    let value = GenericDatumReader::builder(Topic::GroupEvents.schema())
        .reader_schema(&old)
        .build()
        .unwrap()
        .read_value(&mut &bytes[10..])
        .unwrap();
    assert!(value.validate(&old));
    assert!(decode(GROUP_EVENTS, &bytes).is_ok());
}

/// The checks above have teeth: each kind of forbidden change is caught.
mod forbidden_changes {
    use super::*;
    use serde_json::{json, Value};

    fn current_json(topic: Topic) -> Value {
        serde_json::from_str(topic.schema_json()).unwrap()
    }

    fn parse(json: &Value) -> Schema {
        Schema::parse_str(&json.to_string()).unwrap()
    }

    fn fields(json: &mut Value) -> &mut Vec<Value> {
        json["fields"].as_array_mut().unwrap()
    }

    #[test]
    fn adding_a_field_without_default_breaks_reading_old_messages() {
        let mut changed = current_json(Topic::GroupEvents);
        fields(&mut changed).push(json!({"name": "channel", "type": "string"}));
        let old = &released(Topic::GroupEvents)[0];
        assert!(can_read(&parse(&changed), old));
        assert!(!can_read(old, &parse(&changed)));
    }

    #[test]
    fn adding_a_field_with_default_is_allowed() {
        let mut changed = current_json(Topic::GroupEvents);
        fields(&mut changed)
            .push(json!({"name": "channel", "type": ["null", "string"], "default": null}));
        let old = &released(Topic::GroupEvents)[0];
        assert!(can_read(&parse(&changed), old));
        assert!(can_read(old, &parse(&changed)));
    }

    #[test]
    fn removing_a_field_breaks_old_consumers() {
        let mut changed = current_json(Topic::OrderVersionCompleted);
        fields(&mut changed).retain(|f| f["name"] != "orderVersion");
        let old = &released(Topic::OrderVersionCompleted)[0];
        assert!(!can_read(&parse(&changed), old));
    }

    #[test]
    fn changing_a_field_type_breaks_old_consumers() {
        let mut changed = current_json(Topic::OrderVersionCompleted);
        for field in fields(&mut changed) {
            if field["name"] == "orderId" {
                field["type"] = json!("long");
            }
        }
        let old = &released(Topic::OrderVersionCompleted)[0];
        assert!(!can_read(&parse(&changed), old));
    }

    #[test]
    fn adding_an_enum_symbol_breaks_old_consumers() {
        let mut changed = current_json(Topic::OrderVersionCompleted);
        for field in fields(&mut changed) {
            if field["name"] == "type" {
                field["type"]["symbols"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("AllTicketDistributionGroupsForOrderVersionPickedUp"));
            }
        }
        let old = &released(Topic::OrderVersionCompleted)[0];
        assert!(!can_read(&parse(&changed), old));
    }
}
