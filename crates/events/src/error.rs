use crate::group::TicketDistributionGroupEventType;

/// Why a payload could not be encoded or a message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unknown topic `{0}`: expected `{g}` or `{o}`", g = crate::GROUP_EVENTS, o = crate::ORDER_VERSION_COMPLETED)]
    UnknownTopic(String),

    /// The JSON does not fit the record: a missing or misspelt field, a wrong type, an
    /// unknown enum symbol, a malformed uuid or timestamp.
    #[error("payload is not a valid {record}: at `{path}`: {message}")]
    InvalidPayload {
        record: &'static str,
        path: String,
        message: String,
    },

    /// A group event must set exactly the payload field that its `type` names.
    #[error(
        "a {event_type} event must set exactly one payload field, `{expected}`, but {}",
        describe_set(.set)
    )]
    PayloadMismatch {
        event_type: TicketDistributionGroupEventType,
        expected: &'static str,
        set: Vec<&'static str>,
    },

    /// A value the schema cannot hold, refused where the event is built.
    #[error("`{field}` = {value} does not fit the event schema ({range})")]
    OutOfRange {
        field: &'static str,
        value: String,
        range: &'static str,
    },

    #[error("cannot write a {record} as Avro: {source}")]
    Encode {
        record: &'static str,
        #[source]
        source: apache_avro::Error,
    },

    #[error("message of {len} bytes is shorter than the 10-byte single-object header")]
    Truncated { len: usize },

    #[error("not Avro single-object encoding: starts with {:02X} {:02X}, expected C3 01", .found[0], .found[1])]
    NotSingleObject { found: [u8; 2] },

    /// The writer schema is not one this crate knows for the topic: a newer producer, a
    /// message from another topic, or not one of ours at all.
    #[error(
        "schema fingerprint {} is not a known schema of `{topic}`{}",
        hex(.fingerprint),
        other_topic.map(|t| format!(" (it is a schema of `{t}`)")).unwrap_or_default()
    )]
    UnknownFingerprint {
        topic: &'static str,
        fingerprint: [u8; 8],
        other_topic: Option<&'static str>,
    },

    #[error("cannot read a {record} datum: {source}")]
    Decode {
        record: &'static str,
        #[source]
        source: apache_avro::Error,
    },

    #[error("{count} bytes left over after the {record} datum")]
    TrailingBytes { record: &'static str, count: usize },

    /// The decoded datum does not fit the Rust model: the model and the `.avsc` disagree.
    #[error("decoded datum at `{path}`: expected {expected}, found {found}")]
    UnexpectedDatum {
        path: String,
        expected: &'static str,
        found: String,
    },
}

fn describe_set(set: &[&str]) -> String {
    match set {
        [] => "none is set".to_owned(),
        [one] => format!("`{one}` is set"),
        many => format!(
            "{} are set",
            many.iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Wire order, as the bytes appear after the marker.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
