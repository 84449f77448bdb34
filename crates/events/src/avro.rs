//! Small helpers to build and take apart `apache_avro` values field by field. They only
//! shape values; checking them against the schema and the binary encoding are left to
//! apache-avro (`Value::resolve` and the single-object writer and reader).

use crate::timestamp;
use crate::EventError;
use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use std::str::FromStr;
use uuid::Uuid;

/// A record value with fields named as in the schema. Enum symbols may be plain strings and
/// optional fields plain values or `Null`: resolving against the schema fixes both up.
pub(crate) fn record<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    )
}

pub(crate) fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

pub(crate) fn uuid(id: &Uuid) -> Value {
    Value::Uuid(*id)
}

pub(crate) fn uuids(ids: &[Uuid]) -> Value {
    Value::Array(ids.iter().map(uuid).collect())
}

pub(crate) fn timestamp(at: &DateTime<Utc>) -> Value {
    Value::TimestampMicros(timestamp::to_micros(at))
}

pub(crate) fn optional<T: ?Sized>(value: Option<&T>, to_avro: impl FnOnce(&T) -> Value) -> Value {
    value.map_or(Value::Null, to_avro)
}

/// The fields of a decoded record, taken out one by one by name.
pub(crate) struct Fields {
    path: String,
    fields: Vec<(String, Value)>,
}

impl Fields {
    pub(crate) fn of(path: String, value: Value) -> Result<Self, EventError> {
        match value {
            Value::Record(fields) => Ok(Self { path, fields }),
            other => Err(unexpected(path, "a record", &other)),
        }
    }

    fn take(&mut self, name: &str) -> Result<(String, Value), EventError> {
        let path = format!("{}.{name}", self.path);
        match self.fields.iter().position(|(n, _)| n == name) {
            Some(i) => Ok((path, self.fields.swap_remove(i).1)),
            None => Err(EventError::UnexpectedDatum {
                path,
                expected: "a field",
                found: "no such field".to_owned(),
            }),
        }
    }

    pub(crate) fn string(&mut self, name: &str) -> Result<String, EventError> {
        let (path, value) = self.take(name)?;
        as_string(path, value)
    }

    pub(crate) fn int(&mut self, name: &str) -> Result<i32, EventError> {
        match self.take(name)? {
            (_, Value::Int(i)) => Ok(i),
            (path, other) => Err(unexpected(path, "an int", &other)),
        }
    }

    pub(crate) fn long(&mut self, name: &str) -> Result<i64, EventError> {
        match self.take(name)? {
            (_, Value::Long(i)) => Ok(i),
            (path, other) => Err(unexpected(path, "a long", &other)),
        }
    }

    pub(crate) fn uuid(&mut self, name: &str) -> Result<Uuid, EventError> {
        let (path, value) = self.take(name)?;
        as_uuid(path, value)
    }

    pub(crate) fn uuids(&mut self, name: &str) -> Result<Vec<Uuid>, EventError> {
        match self.take(name)? {
            (path, Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| as_uuid(format!("{path}[{i}]"), item))
                .collect(),
            (path, other) => Err(unexpected(path, "an array", &other)),
        }
    }

    pub(crate) fn timestamp(&mut self, name: &str) -> Result<DateTime<Utc>, EventError> {
        match self.take(name)? {
            (path, Value::TimestampMicros(micros)) => timestamp::from_micros(micros)
                .ok_or_else(|| unexpected(path, "a representable timestamp", &Value::Long(micros))),
            (path, other) => Err(unexpected(path, "a timestamp-micros", &other)),
        }
    }

    /// An enum symbol, parsed into the model's enum.
    pub(crate) fn symbol<T: FromStr>(&mut self, name: &str) -> Result<T, EventError> {
        match self.take(name)? {
            (path, Value::Enum(_, symbol)) => symbol
                .parse()
                .map_err(|_| unexpected(path, "a symbol the model knows", &Value::Enum(0, symbol))),
            (path, other) => Err(unexpected(path, "an enum symbol", &other)),
        }
    }

    pub(crate) fn optional_string(&mut self, name: &str) -> Result<Option<String>, EventError> {
        self.optional(name)?
            .map(|(path, value)| as_string(path, value))
            .transpose()
    }

    pub(crate) fn optional_record(&mut self, name: &str) -> Result<Option<Fields>, EventError> {
        self.optional(name)?
            .map(|(path, value)| Fields::of(path, value))
            .transpose()
    }

    /// A `["null", T]` union: `None` for null, else the value of the other branch.
    fn optional(&mut self, name: &str) -> Result<Option<(String, Value)>, EventError> {
        match self.take(name)? {
            (_, Value::Union(_, inner)) if *inner == Value::Null => Ok(None),
            (path, Value::Union(_, inner)) => Ok(Some((path, *inner))),
            (path, other) => Err(unexpected(path, "a union", &other)),
        }
    }
}

fn as_string(path: String, value: Value) -> Result<String, EventError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(unexpected(path, "a string", &other)),
    }
}

fn as_uuid(path: String, value: Value) -> Result<Uuid, EventError> {
    match value {
        Value::Uuid(id) => Ok(id),
        other => Err(unexpected(path, "a uuid", &other)),
    }
}

fn unexpected(path: String, expected: &'static str, found: &Value) -> EventError {
    EventError::UnexpectedDatum {
        path,
        expected,
        found: format!("{found:?}"),
    }
}

/// A model type that maps onto one Avro record.
pub(crate) trait Record: Sized {
    fn to_avro(&self) -> Value;
    fn from_avro(fields: Fields) -> Result<Self, EventError>;
}

/// An optional record field: `Null`, or the record.
pub(crate) fn optional_record<T: Record>(value: Option<&T>) -> Value {
    optional(value, T::to_avro)
}

impl Fields {
    pub(crate) fn record<T: Record>(&mut self, name: &str) -> Result<Option<T>, EventError> {
        self.optional_record(name)?.map(T::from_avro).transpose()
    }
}
