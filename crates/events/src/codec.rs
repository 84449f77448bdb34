//! Avro single-object encoding: `C3 01`, the writer schema's 8-byte fingerprint, the binary
//! datum. apache-avro writes it; reading splits the header here, because the fingerprint
//! chooses the writer schema (current or an older released one) before the datum is read.

use crate::topic::Topic;
use crate::EventError;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;

const MARKER: [u8; 2] = [0xC3, 0x01];

/// Resolves `value` against the topic's current schema (which checks it) and writes it.
pub(crate) fn write(
    topic: Topic,
    record: &'static str,
    value: Value,
) -> Result<Vec<u8>, EventError> {
    let encode = |source| EventError::Encode { record, source };
    let schema = topic.schema();
    let value = value.resolve(schema).map_err(encode)?;
    // The header by hand with the fingerprint computed once per process: apache-avro's
    // single-object writer recomputes the schema's canonical form for every writer.
    let writer = GenericDatumWriter::builder(schema)
        .build()
        .map_err(encode)?;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&topic.fingerprint());
    writer.write_value(&mut out, value).map_err(encode)?;
    Ok(out)
}

/// Reads one message as the topic's current schema sees it, whichever known schema wrote it.
pub(crate) fn read(topic: Topic, record: &'static str, bytes: &[u8]) -> Result<Value, EventError> {
    let Some((marker, rest)) = bytes.split_first_chunk::<2>() else {
        return Err(EventError::Truncated { len: bytes.len() });
    };
    if *marker != MARKER {
        return Err(EventError::NotSingleObject { found: *marker });
    }
    let Some((fingerprint, mut datum)) = rest.split_first_chunk::<8>() else {
        return Err(EventError::Truncated { len: bytes.len() });
    };
    let schemas = topic.schemas();
    let Some(writer) = schemas.writer(*fingerprint) else {
        return Err(EventError::UnknownFingerprint {
            topic: topic.base(),
            fingerprint: *fingerprint,
            other_topic: Topic::ALL
                .into_iter()
                .find(|t| *t != topic && t.schemas().writer(*fingerprint).is_some())
                .map(Topic::base),
        });
    };
    let reader = (*fingerprint != schemas.fingerprint).then_some(&schemas.current);
    let decode = |source| EventError::Decode { record, source };
    let value = GenericDatumReader::builder(writer)
        .maybe_reader_schema(reader)
        .build()
        .and_then(|r| r.read_value(&mut datum))
        .map_err(decode)?;
    if !datum.is_empty() {
        return Err(EventError::TrailingBytes {
            record,
            count: datum.len(),
        });
    }
    Ok(value)
}
