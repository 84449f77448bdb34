//! How jobs are written into stream entries and read back, and how Redis replies are taken
//! apart. Fields are flat strings so that `redis-cli XRANGE` shows a job readably.

use crate::{DeadLetter, Job, JobError};
use chrono::{DateTime, Utc};
use redis::Value;

/// An entry as Redis returns it: id and field/value pairs.
pub(super) type Entry = (String, Vec<(String, String)>);

/// The fields of `job`, in the order `decode_job` expects nothing of (it reads by name).
pub(super) fn job_fields(job: &Job, payload_json: String) -> Vec<(String, String)> {
    let mut fields = vec![
        ("id".to_owned(), job.id.clone()),
        ("kind".to_owned(), job.kind.clone()),
        ("payload".to_owned(), payload_json),
        ("attempt".to_owned(), job.attempt.to_string()),
    ];
    if let Some(tp) = &job.traceparent {
        fields.push(("traceparent".to_owned(), tp.clone()));
    }
    if let Some(key) = &job.dedup_key {
        fields.push(("dedup_key".to_owned(), key.clone()));
    }
    fields
}

/// The fields flattened into script arguments.
pub(super) fn flat(fields: Vec<(String, String)>) -> Vec<String> {
    fields.into_iter().flat_map(|(k, v)| [k, v]).collect()
}

/// A retried job as the member of the delayed set: its fields as a JSON array, which the
/// receive script decodes with cjson and appends to the stream when due.
pub(super) fn delayed_member(job: &Job) -> String {
    serde_json::Value::from(flat(job_fields(job, job.payload.to_string()))).to_string()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Reads a job leniently: an entry this crate did not write (or an older format) still
/// becomes a job, with its raw text as payload if that is not JSON, so that the worker
/// can dead-letter it instead of choking on it.
pub(super) fn decode_job(entry_id: &str, fields: &[(String, String)]) -> Job {
    let payload = field(fields, "payload").map_or(serde_json::Value::Null, |text| {
        serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
    });
    Job {
        id: field(fields, "id").unwrap_or(entry_id).to_owned(),
        kind: field(fields, "kind").unwrap_or_default().to_owned(),
        payload,
        attempt: field(fields, "attempt")
            .and_then(|a| a.parse().ok())
            .unwrap_or(1),
        traceparent: field(fields, "traceparent").map(str::to_owned),
        dedup_key: field(fields, "dedup_key").map(str::to_owned),
    }
}

pub(super) fn decode_dead_letter((id, fields): Entry) -> DeadLetter {
    let failed_at = field(&fields, "failed_at")
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or_default();
    DeadLetter {
        job: decode_job(&id, &fields),
        group: field(&fields, "group").unwrap_or_default().to_owned(),
        error: field(&fields, "error").unwrap_or_default().to_owned(),
        failed_at,
        id,
    }
}

fn unexpected(what: &str, v: &Value) -> JobError {
    JobError::Protocol(format!("expected {what}, got {v:?}"))
}

pub(super) fn string(v: &Value) -> Result<String, JobError> {
    match v {
        Value::BulkString(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        other => Err(unexpected("a string", other)),
    }
}

pub(super) fn int(v: &Value) -> Result<i64, JobError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(_) | Value::SimpleString(_) => {
            string(v)?.parse().map_err(|_| unexpected("an integer", v))
        }
        other => Err(unexpected("an integer", other)),
    }
}

/// An array; nil (Redis' "nothing") reads as empty.
pub(super) fn array(v: &Value) -> Result<&[Value], JobError> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(&[]),
        other => Err(unexpected("an array", other)),
    }
}

/// `[id, [field, value, ...]]`; `None` for an entry deleted while pending (nil fields).
pub(super) fn entry(v: &Value) -> Result<Option<Entry>, JobError> {
    let [id, fields, ..] = array(v)? else {
        return Err(unexpected("a stream entry", v));
    };
    if matches!(fields, Value::Nil) {
        return Ok(None);
    }
    let flat = array(fields)?;
    let pairs = flat
        .chunks_exact(2)
        .map(|kv| Ok((string(&kv[0])?, string(&kv[1])?)))
        .collect::<Result<_, JobError>>()?;
    Ok(Some((string(id)?, pairs)))
}

/// The entries of an XREADGROUP reply for one stream: nil on timeout, else
/// `[[stream, [entry, ...]]]` (or a map of stream to entries under RESP3).
pub(super) fn read_reply(v: &Value) -> Result<Vec<Entry>, JobError> {
    let per_stream: Vec<&Value> = match v {
        Value::Map(pairs) => pairs.iter().map(|(_, entries)| entries).collect(),
        other => array(other)?
            .iter()
            .map(|s| match array(s)? {
                [_, entries] => Ok(entries),
                _ => Err(unexpected("[stream, entries]", s)),
            })
            .collect::<Result<_, JobError>>()?,
    };
    let mut out = Vec::new();
    for entries in per_stream {
        for e in array(entries)? {
            out.extend(entry(e)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_survives_fields_and_back() {
        let job = Job::new("nod.place", serde_json::json!({ "td": 7, "name": "Åse" }))
            .with_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .with_dedup_key("td-7");
        let fields = job_fields(&job, job.payload.to_string());
        assert_eq!(decode_job("1-0", &fields), job);
    }

    #[test]
    fn a_foreign_entry_still_reads_as_a_job() {
        let fields = vec![("payload".to_owned(), "not json".to_owned())];
        let job = decode_job("5-0", &fields);
        assert_eq!(job.id, "5-0");
        assert_eq!(job.attempt, 1);
        assert_eq!(job.payload, serde_json::json!("not json"));
    }

    #[test]
    fn the_delayed_member_is_a_flat_json_array() {
        let job = Job::new("k", serde_json::json!([1, "two"]));
        let member: Vec<String> = serde_json::from_str(&delayed_member(&job)).unwrap();
        assert_eq!(member[0], "id");
        assert_eq!(member[5], r#"[1,"two"]"#);
    }
}
