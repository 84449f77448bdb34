/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The stream holds `max_depth` jobs already; the producer should keep its input and
    /// try again later.
    #[error("stream {stream} is full: {depth} jobs waiting")]
    Full { stream: String, depth: u64 },
    /// The job was reclaimed by another consumer (or its group was removed) before this
    /// consumer settled it; the other consumer now owns it.
    #[error("job {job_id} (entry {entry_id}) is no longer leased to this consumer")]
    LeaseLost { job_id: String, entry_id: String },
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A leased job that its worker cannot read: another kind, or a payload that does not
    /// fit the kind. No retry changes that.
    #[error("malformed {kind} job: {reason}")]
    Malformed { kind: String, reason: String },
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis answered in a shape this crate did not write; a bug or a foreign writer.
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
}

impl JobError {
    /// Whether the queue refuses the job for what it is (too large, an invalid dedup key),
    /// so that offering it again changes nothing; other errors pass with time.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::TooLarge { .. } | Self::Invalid(_))
    }
}
