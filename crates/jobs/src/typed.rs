//! Jobs as the workers see them: one serde struct per kind of job, written into and read
//! back from the queue's untyped `Job`, so that a field is named once, in the struct, and a
//! job that does not read back is refused in one place rather than indexed by string.

use crate::{Job, JobError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One kind of job with its payload, e.g. a NOD placement. `KIND` is what the queue carries
/// as `Job::kind`; it must stay stable while jobs of the old name may still be queued.
pub trait JobKind: Serialize + DeserializeOwned {
    const KIND: &'static str;
}

/// What a worker reads a leased job as: a single `JobKind`, or an enum over the kinds one
/// stream carries.
pub trait FromJob: Sized {
    /// `JobError::Malformed` for a job of another kind or a payload that does not fit.
    fn from_job(job: &Job) -> Result<Self, JobError>;
}

impl<T: JobKind> FromJob for T {
    fn from_job(job: &Job) -> Result<Self, JobError> {
        if job.kind != T::KIND {
            return Err(malformed(job, format!("expected kind {}", T::KIND)));
        }
        serde_json::from_value(job.payload.clone()).map_err(|e| malformed(job, e.to_string()))
    }
}

impl Job {
    /// A first attempt of `body`, with a fresh id.
    pub fn of<T: JobKind>(body: &T) -> Result<Self, JobError> {
        let payload = serde_json::to_value(body)
            .map_err(|e| JobError::Invalid(format!("{}: {e}", T::KIND)))?;
        Ok(Self::new(T::KIND, payload))
    }
}

/// The error of a job that cannot be read as what its stream carries.
pub fn malformed(job: &Job, reason: impl Into<String>) -> JobError {
    JobError::Malformed {
        kind: job.kind.clone(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Ping {
        reply_to: String,
    }

    impl JobKind for Ping {
        const KIND: &'static str = "ping";
    }

    #[test]
    fn a_job_reads_back_as_what_it_was_written_from() {
        let ping = Ping {
            reply_to: "a".into(),
        };
        let job = Job::of(&ping).unwrap();
        assert_eq!(job.kind, "ping");
        assert_eq!(job.payload, serde_json::json!({ "replyTo": "a" }));
        assert_eq!(Ping::from_job(&job).unwrap(), ping);
    }

    #[test]
    fn another_kind_or_a_payload_that_does_not_fit_is_malformed() {
        let other = Job::new("pong", serde_json::json!({ "replyTo": "a" }));
        assert!(matches!(
            Ping::from_job(&other),
            Err(JobError::Malformed { kind, .. }) if kind == "pong"
        ));
        let wrong = Job::new("ping", serde_json::json!({ "reply": 1 }));
        assert!(matches!(
            Ping::from_job(&wrong),
            Err(JobError::Malformed { .. })
        ));
    }
}
