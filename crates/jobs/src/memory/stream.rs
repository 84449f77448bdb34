//! One in-process stream, modelled on a Redis stream with consumer groups so that the
//! embedded default behaves like production: entries in id order, per group a read cursor
//! and a list of leases (Redis' pending entries list), retries in a due-time index, dead
//! letters in their own list. Plain synchronous code; time comes in as a parameter.

use crate::settle::{abandoned_error, Settle};
use crate::{DeadLetter, Delivery, Enqueued, Job, JobError, QueueConfig, QueueStats};
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use tokio::time::Instant;

/// At most this many due retries move back per receive, like the Redis script, so that
/// one receive stays short even after an outage left many retries due.
const PROMOTE_PER_RECEIVE: usize = 100;

struct Lease {
    consumer: String,
    since: Instant,
    deliveries: u32,
}

#[derive(Default)]
struct Group {
    /// Entries up to this sequence number have been handed out to the group.
    last_delivered: u64,
    leases: BTreeMap<u64, Lease>,
}

#[derive(Default)]
pub(super) struct Stream {
    next_seq: u64,
    entries: BTreeMap<u64, Job>,
    groups: HashMap<String, Group>,
    /// Keyed by due time, then a counter that keeps equal due times apart.
    delayed: BTreeMap<(Instant, u64), Job>,
    next_delayed: u64,
    dead: BTreeMap<u64, DeadLetter>,
    next_dead: u64,
    /// dedup key → (job id, forgotten at).
    dedup: HashMap<String, (String, Instant)>,
}

/// In-process entry ids look like Redis ids (`<ms>-<seq>`) with a zero time part.
fn entry_id(seq: u64) -> String {
    format!("0-{seq}")
}

fn parse_id(id: &str) -> Result<u64, JobError> {
    id.strip_prefix("0-")
        .and_then(|seq| seq.parse().ok())
        .ok_or_else(|| JobError::Invalid(format!("not an id of this queue: {id}")))
}

impl Stream {
    pub(super) fn enqueue(
        &mut self,
        name: &str,
        job: &Job,
        config: &QueueConfig,
        now: Instant,
    ) -> Result<Enqueued, JobError> {
        job.checked_payload(config)?;
        if let Some(key) = &job.dedup_key {
            self.dedup.retain(|_, (_, until)| *until > now);
            if let Some((first, _)) = self.dedup.get(key) {
                return Ok(Enqueued::Duplicate {
                    job_id: first.clone(),
                });
            }
        }
        let depth = (self.entries.len() + self.delayed.len()) as u64;
        if depth >= config.max_depth {
            return Err(JobError::Full {
                stream: name.to_owned(),
                depth,
            });
        }
        self.append(job.clone());
        if let Some(key) = &job.dedup_key {
            self.dedup
                .insert(key.clone(), (job.id.clone(), now + config.dedup_window()));
        }
        Ok(Enqueued::Added)
    }

    fn append(&mut self, job: Job) {
        self.next_seq += 1;
        self.entries.insert(self.next_seq, job);
    }

    /// Leases up to `max` jobs: reclaimed ones first, then new ones. Also returns when the
    /// next thing becomes due that could change the answer (a retry or a lease expiring),
    /// so a waiting receive knows when to look again.
    pub(super) fn receive(
        &mut self,
        name: &str,
        group_name: &str,
        consumer: &str,
        max: usize,
        config: &QueueConfig,
        now: Instant,
    ) -> (Vec<Delivery>, Option<Instant>) {
        self.promote_due(now);
        let group = self.groups.entry(group_name.to_owned()).or_default();
        let delivery = |seq: u64, deliveries: u32, job: &Job| Delivery {
            stream: name.to_owned(),
            group: group_name.to_owned(),
            consumer: consumer.to_owned(),
            entry_id: entry_id(seq),
            deliveries,
            job: job.clone(),
        };
        let mut out = Vec::new();
        let mut abandoned = Vec::new();

        // Leases of consumers that went silent.
        let stale: Vec<u64> = group
            .leases
            .iter()
            .filter(|(_, lease)| now.duration_since(lease.since) >= config.visibility_timeout())
            .map(|(seq, _)| *seq)
            .take(max)
            .collect();
        for seq in stale {
            let Some(job) = self.entries.get(&seq) else {
                group.leases.remove(&seq); // deleted under the group's feet
                continue;
            };
            let Some(lease) = group.leases.get_mut(&seq) else {
                continue;
            };
            lease.deliveries += 1;
            lease.consumer = consumer.to_owned();
            lease.since = now;
            if lease.deliveries > config.max_attempts {
                abandoned.push((seq, lease.deliveries));
            } else {
                out.push(delivery(seq, lease.deliveries, job));
            }
        }
        for (seq, deliveries) in abandoned {
            group.leases.remove(&seq);
            if let Some(job) = self.entries.remove(&seq) {
                tracing::warn!(stream = name, job_id = %job.id, deliveries, "job abandoned by its consumers, dead-lettered");
                push_dead(
                    &mut self.dead,
                    &mut self.next_dead,
                    group_name,
                    job,
                    abandoned_error(deliveries),
                    config,
                );
            }
        }

        // New entries.
        let fresh: Vec<u64> = self
            .entries
            .range(group.last_delivered + 1..)
            .map(|(seq, _)| *seq)
            .take(max - out.len())
            .collect();
        for seq in fresh {
            group.last_delivered = seq;
            group.leases.insert(
                seq,
                Lease {
                    consumer: consumer.to_owned(),
                    since: now,
                    deliveries: 1,
                },
            );
            out.push(delivery(seq, 1, &self.entries[&seq]));
        }

        let next_retry = self.delayed.keys().next().map(|(due, _)| *due);
        let next_expiry = group
            .leases
            .values()
            .map(|lease| lease.since + config.visibility_timeout())
            .min();
        let wake = match (next_retry, next_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (out, wake)
    }

    fn promote_due(&mut self, now: Instant) {
        for _ in 0..PROMOTE_PER_RECEIVE {
            match self.delayed.first_key_value() {
                Some(((due, _), _)) if *due <= now => {
                    if let Some((_, job)) = self.delayed.pop_first() {
                        self.append(job);
                    }
                }
                _ => break,
            }
        }
    }

    /// Applies `settle` if `delivery`'s consumer still holds the lease.
    pub(super) fn settle(
        &mut self,
        delivery: &Delivery,
        settle: Settle,
        config: &QueueConfig,
        now: Instant,
    ) -> Result<(), JobError> {
        let seq = parse_id(&delivery.entry_id)?;
        let lost = || JobError::LeaseLost {
            job_id: delivery.job.id.clone(),
            entry_id: delivery.entry_id.clone(),
        };
        let group = self.groups.get_mut(&delivery.group).ok_or_else(lost)?;
        match group.leases.get(&seq) {
            Some(lease)
                if lease.consumer == delivery.consumer
                    && lease.deliveries == delivery.deliveries => {}
            _ => return Err(lost()),
        }
        group.leases.remove(&seq);
        let job = self.entries.remove(&seq).ok_or_else(lost)?;
        match settle {
            Settle::Ack => {}
            Settle::Retry { next, delay } => {
                self.next_delayed += 1;
                self.delayed.insert((now + delay, self.next_delayed), next);
            }
            Settle::Dead { error } => push_dead(
                &mut self.dead,
                &mut self.next_dead,
                &delivery.group,
                job,
                error,
                config,
            ),
        }
        Ok(())
    }

    pub(super) fn stats(&self, group: &str) -> QueueStats {
        let pending = self.groups.get(group).map_or(0, |g| g.leases.len()) as u64;
        QueueStats {
            ready: (self.entries.len() as u64).saturating_sub(pending),
            pending,
            delayed: self.delayed.len() as u64,
            dead: self.dead.len() as u64,
        }
    }

    pub(super) fn dead_letters(
        &self,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<DeadLetter>, JobError> {
        let start = match after {
            Some(id) => parse_id(id)? + 1,
            None => 0,
        };
        Ok(self
            .dead
            .range(start..)
            .take(max)
            .map(|(_, letter)| letter.clone())
            .collect())
    }

    pub(super) fn remove_dead_letter(&mut self, id: &str) -> Result<bool, JobError> {
        Ok(self.dead.remove(&parse_id(id)?).is_some())
    }
}

/// Records a dead letter, dropping the oldest past the cap (`dead_letter_max_len`).
fn push_dead(
    dead: &mut BTreeMap<u64, DeadLetter>,
    next_dead: &mut u64,
    group: &str,
    job: Job,
    error: String,
    config: &QueueConfig,
) {
    *next_dead += 1;
    dead.insert(
        *next_dead,
        DeadLetter {
            id: entry_id(*next_dead),
            group: group.to_owned(),
            job,
            error,
            failed_at: Utc::now(),
        },
    );
    while dead.len() as u64 > config.dead_letter_max_len {
        dead.pop_first();
    }
}
