//! Decoding published events the way an outside consumer would: with the apache-avro
//! library and nothing but the repository's `.avsc` files (no project code).

use apache_avro::rabin::Rabin;
use apache_avro::Schema;
use std::path::PathBuf;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/events/schemas")
}

/// The schema in `file` (e.g. `TicketDistributionGroupEvent.avsc`), parsed from disk.
pub fn schema(file: &str) -> Schema {
    let text = std::fs::read_to_string(schema_dir().join(file))
        .unwrap_or_else(|e| panic!("read schema {file}: {e}"));
    Schema::parse_str(&text).unwrap_or_else(|e| panic!("parse schema {file}: {e}"))
}

/// Decodes one single-object-encoded message: checks the marker and the schema's
/// CRC-64-AVRO fingerprint, then reads the datum as JSON.
pub fn decode(schema: &Schema, bytes: &[u8]) -> serde_json::Value {
    assert!(bytes.len() > 10, "too short for single-object encoding");
    assert_eq!(&bytes[..2], &[0xC3, 0x01], "single-object marker");
    let fingerprint = schema.fingerprint::<Rabin>().bytes;
    assert_eq!(&bytes[2..10], fingerprint.as_slice(), "schema fingerprint");
    let mut reader = &bytes[10..];
    let value = apache_avro::reader::datum::GenericDatumReader::builder(schema)
        .build()
        .expect("datum reader")
        .read_value(&mut reader)
        .expect("avro datum");
    assert!(reader.is_empty(), "trailing bytes after the datum");
    serde_json::Value::try_from(value).expect("avro value as JSON")
}
