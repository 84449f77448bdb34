//! What the workers quarantined, from where each stage keeps it, and its replay through the
//! stage's normal path:
//!
//! | stage          | kept in                                  | id                      | a replay                                             |
//! |----------------|------------------------------------------|-------------------------|------------------------------------------------------|
//! | `order-intake` | the dead-letter topic                    | `dlq:<partition>:<offset>` | runs the event through the intake (recorded, or dead-lettered again with its reason) |
//! | `outbox`       | parked rows of the outbox                | `outbox:<event id>`     | un-parks the event: the relay publishes it next, its order's later events after it |
//! | `nod-feed`     | `nod_feed_quarantine`                    | `feed:<row id>`         | applies the entry as the feed follower does, and takes it out |
//! | `nod-jobs`, `mail-jobs` | the job stream's dead-letter stream | `nod-jobs:<entry>`, `mail-jobs:<entry>` | enqueues the job again as a first attempt and removes the letter |
//!
//! Every replay is recorded in `quarantine_replay`: a dead letter stays on its topic, and
//! its record is what keeps a second replay from running it again; for the other stages a
//! replayed item is gone from its quarantine, and the record says when it went.

use crate::dead_letters::{DeadLetterTopic, Letter};
use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use td_bus::{KafkaSink, MessageSink};
use td_jobs::{DeadLetter, Enqueued, Job, JobQueue, RedisQueue, MAX_BATCH};
use td_settings::Settings;
use td_store::{DatabaseConnection, TransactionTrait};

/// Where work was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Order events the intake refused, on the dead-letter topic.
    OrderIntake,
    /// Outbox events the relay cannot publish, parked in the outbox.
    Outbox,
    /// NOD feed entries that could not be applied.
    NodFeed,
    /// NOD jobs that failed for good.
    NodJobs,
    /// Mail jobs that failed for good.
    MailJobs,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::OrderIntake,
        Stage::Outbox,
        Stage::NodFeed,
        Stage::NodJobs,
        Stage::MailJobs,
    ];

    /// The name in `td_quarantined_total{stage}` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::OrderIntake => "order-intake",
            Stage::Outbox => "outbox",
            Stage::NodFeed => "nod-feed",
            Stage::NodJobs => "nod-jobs",
            Stage::MailJobs => "mail-jobs",
        }
    }

    /// The first part of the stage's item ids.
    fn prefix(self) -> &'static str {
        match self {
            Stage::OrderIntake => "dlq",
            Stage::Outbox => "outbox",
            Stage::NodFeed => "feed",
            Stage::NodJobs => "nod-jobs",
            Stage::MailJobs => "mail-jobs",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One quarantined item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// What `replay` takes.
    pub id: String,
    pub stage: Stage,
    /// Why it was quarantined, as the worker said it.
    pub reason: String,
    pub quarantined_at: DateTime<Utc>,
    /// What it is about: the order id, the ticket, the job's kind.
    pub subject: String,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Replayed {
    /// Run through its normal path now; `outcome` says what came of it.
    Done { outcome: String },
    /// Replayed before: nothing was done now.
    Already {
        outcome: String,
        replayed_at: DateTime<Utc>,
    },
}

/// An item id, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemId {
    DeadLetter { partition: i32, offset: i64 },
    Outbox(uuid::Uuid),
    Feed(i64),
    Job { stage: Stage, entry: String },
}

impl std::str::FromStr for ItemId {
    type Err = anyhow::Error;

    fn from_str(id: &str) -> anyhow::Result<Self> {
        let (prefix, rest) = id
            .split_once(':')
            .ok_or_else(|| anyhow!("{id:?} is not an item id (see `td-admin quarantine list`)"))?;
        Ok(match prefix {
            "dlq" => {
                let (partition, offset) = rest
                    .split_once(':')
                    .ok_or_else(|| anyhow!("{id:?}: a dead letter is dlq:<partition>:<offset>"))?;
                ItemId::DeadLetter {
                    partition: partition.parse().context("the partition")?,
                    offset: offset.parse().context("the offset")?,
                }
            }
            "outbox" => ItemId::Outbox(rest.parse().context("an outbox event id is a UUID")?),
            "feed" => ItemId::Feed(rest.parse().context("a feed entry id is a number")?),
            "nod-jobs" | "mail-jobs" if !rest.is_empty() => ItemId::Job {
                stage: if prefix == "nod-jobs" {
                    Stage::NodJobs
                } else {
                    Stage::MailJobs
                },
                entry: rest.to_owned(),
            },
            _ => bail!(
                "{id:?}: an item id starts with dlq:, outbox:, feed:, nod-jobs: or mail-jobs:"
            ),
        })
    }
}

/// The quarantines of one environment, as the workers' settings name them.
pub struct Quarantine {
    db: DatabaseConnection,
    queue: Arc<dyn JobQueue>,
    dead_letters: DeadLetterTopic,
    intake: order_listener::Intake,
    nod_jobs: String,
    mail_jobs: String,
}

impl Quarantine {
    /// Connects to what the settings name: PostgreSQL, Redis and the broker.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let db = td_store::connect(
            settings.database.url.expose_secret(),
            settings.database.max_connections.min(4),
            settings.database.connect_timeout(),
            None,
        )
        .await
        .context("connecting to the database")?;
        let queue: Arc<dyn JobQueue> = Arc::new(
            RedisQueue::connect(settings.redis.url.expose_secret(), settings.jobs.clone())
                .await
                .context("connecting to Redis")?,
        );
        let sink: Arc<dyn MessageSink> =
            Arc::new(KafkaSink::new(&settings.kafka).context("the Kafka producer")?);
        Ok(Self::new(db, queue, sink, settings))
    }

    /// From connections made elsewhere; `dead_letters` is where the intake dead-letters an
    /// event that a replay finds still unusable.
    pub fn new(
        db: DatabaseConnection,
        queue: Arc<dyn JobQueue>,
        dead_letters: Arc<dyn MessageSink>,
        settings: &Settings,
    ) -> Self {
        let topic = settings.topic("order-events") + "-dlq";
        let intake = order_listener::Intake::new(
            db.clone(),
            dead_letters,
            topic.clone(),
            settings.intake.clone(),
        )
        .with_dead_letter_max_bytes(
            settings
                .kafka
                .producer_message_max_bytes()
                .unwrap_or(td_bus::DEFAULT_MESSAGE_MAX_BYTES),
        );
        Self {
            db,
            queue,
            dead_letters: DeadLetterTopic {
                kafka: settings.kafka.clone(),
                topic,
            },
            intake,
            nod_jobs: nod_distributor::streams(&settings.environment).stream,
            mail_jobs: mailer::streams(&settings.environment).stream,
        }
    }

    fn job_stream(&self, stage: Stage) -> &str {
        if stage == Stage::NodJobs {
            &self.nod_jobs
        } else {
            &self.mail_jobs
        }
    }

    /// What `stages` hold (every stage when empty), oldest first.
    pub async fn list(&self, stages: &[Stage]) -> anyhow::Result<Vec<Item>> {
        let stages = if stages.is_empty() {
            &Stage::ALL[..]
        } else {
            stages
        };
        let mut items = Vec::new();
        for stage in stages {
            let found = self
                .list_stage(*stage)
                .await
                .with_context(|| format!("reading the {stage} quarantine"))?;
            items.extend(found);
        }
        items.sort_by_key(|i| i.quarantined_at);
        Ok(items)
    }

    async fn list_stage(&self, stage: Stage) -> anyhow::Result<Vec<Item>> {
        Ok(match stage {
            Stage::OrderIntake => {
                let replayed: HashSet<String> = td_store::quarantine::replays(&self.db, "dlq:")
                    .await?
                    .into_iter()
                    .map(|r| r.item)
                    .collect();
                self.letters()
                    .await?
                    .into_iter()
                    .map(|l| dead_letter_item(&l))
                    .filter(|i| !replayed.contains(&i.id))
                    .collect()
            }
            Stage::Outbox => td_store::outbox::parked(&self.db)
                .await?
                .into_iter()
                .map(|row| Item {
                    id: format!("outbox:{}", row.event_id),
                    stage,
                    reason: row.park_reason.unwrap_or_default(),
                    quarantined_at: row.parked_at.unwrap_or_else(Utc::now),
                    subject: format!("order {} {}", row.message_key, row.event_type),
                })
                .collect(),
            Stage::NodFeed => td_store::nod::quarantined_feed_entries(&self.db)
                .await?
                .into_iter()
                .map(|row| Item {
                    id: format!("feed:{}", row.id),
                    stage,
                    subject: feed_subject(&row.entry),
                    reason: row.reason,
                    quarantined_at: row.quarantined_at,
                })
                .collect(),
            Stage::NodJobs | Stage::MailJobs => self
                .job_letters(stage)
                .await?
                .into_iter()
                .map(|letter| Item {
                    id: format!("{}:{}", stage.prefix(), letter.id),
                    stage,
                    subject: format!("{} job {}", letter.job.kind, letter.job.id),
                    reason: letter.error,
                    quarantined_at: letter.failed_at,
                })
                .collect(),
        })
    }

    async fn letters(&self) -> anyhow::Result<Vec<Letter>> {
        let topic = self.dead_letters.clone();
        tokio::task::spawn_blocking(move || topic.read_all()).await?
    }

    async fn job_letters(&self, stage: Stage) -> anyhow::Result<Vec<DeadLetter>> {
        let stream = self.job_stream(stage);
        let mut letters: Vec<DeadLetter> = Vec::new();
        loop {
            let after = letters.last().map(|l| l.id.clone());
            let page = self
                .queue
                .dead_letters(stream, after.as_deref(), MAX_BATCH)
                .await?;
            let full = page.len() == MAX_BATCH;
            letters.extend(page);
            if !full {
                return Ok(letters);
            }
        }
    }

    /// Runs the item `id` through its normal path once.
    pub async fn replay(&self, id: &str) -> anyhow::Result<Replayed> {
        let parsed: ItemId = id.parse()?;
        let previous = td_store::quarantine::replay_of(&self.db, id).await?;
        // A parked outbox event can be parked again after its replay; the others are
        // replayed once.
        if previous.is_some() && !matches!(parsed, ItemId::Outbox(_)) {
            return not_quarantined(id, previous);
        }
        let (stage, outcome) = match parsed {
            ItemId::DeadLetter { partition, offset } => (
                Stage::OrderIntake,
                self.replay_dead_letter(id, partition, offset).await?,
            ),
            ItemId::Outbox(event_id) => {
                if !td_store::quarantine::unpark_outbox_event(&self.db, event_id).await? {
                    return not_quarantined(id, previous);
                }
                (
                    Stage::Outbox,
                    "un-parked: the relay publishes it next".to_owned(),
                )
            }
            ItemId::Feed(row) => match self.replay_feed_entry(row).await? {
                Some(outcome) => (Stage::NodFeed, outcome),
                None => return not_quarantined(id, previous),
            },
            ItemId::Job { stage, entry } => match self.replay_job(stage, &entry).await? {
                Some(outcome) => (stage, outcome),
                None => return not_quarantined(id, previous),
            },
        };
        td_store::quarantine::record_replay(&self.db, id, stage.as_str(), &outcome, Utc::now())
            .await?;
        Ok(Replayed::Done { outcome })
    }

    async fn replay_dead_letter(
        &self,
        id: &str,
        partition: i32,
        offset: i64,
    ) -> anyhow::Result<String> {
        let topic = self.dead_letters.clone();
        let letter = tokio::task::spawn_blocking(move || topic.read_one(partition, offset))
            .await??
            .ok_or_else(|| anyhow!("{id} is not on {}", self.dead_letters.topic))?;
        if let Some(length) = &letter.truncated {
            bail!(
                "{id} holds only the first {} of the event's {length} bytes (it was cut to fit \
                 the dead-letter topic); produce the event again instead",
                letter.payload.len()
            );
        }
        let source = format!("replay of {id}");
        let outcome = self
            .intake
            .process(order_listener::Incoming {
                key: letter.key.as_deref(),
                payload: Some(&letter.payload),
                traceparent: None,
                source,
            })
            .await?;
        Ok(match outcome {
            order_listener::IntakeOutcome::Recorded(recorded) => {
                format!("recorded: {recorded:?}")
            }
            order_listener::IntakeOutcome::DeadLettered { reason } => {
                format!("dead-lettered again: {reason}")
            }
        })
    }

    /// Applies the parked feed entry `row` and takes it out, in one transaction; `None`
    /// when it is not parked. An entry that still cannot be applied stays parked.
    async fn replay_feed_entry(&self, row: i64) -> anyhow::Result<Option<String>> {
        let txn = self.db.begin().await?;
        let Some(parked) = td_store::quarantine::feed_entry(&txn, row).await? else {
            return Ok(None);
        };
        let entry: td_nod::Transaction = serde_json::from_value(parked.entry)
            .context("the parked entry is not a NOD feed entry")?;
        let Some(change) = nod_distributor::feed::change_of(&entry) else {
            bail!(
                "feed:{row} is for order group {} whose client reference is not ours",
                entry.order_group_id.as_str()
            );
        };
        let applied = td_store::nod::apply_change(&txn, &change)
            .await
            .with_context(|| format!("feed:{row} still cannot be applied; it stays parked"))?;
        td_store::quarantine::remove_feed_entry(&txn, row).await?;
        txn.commit().await?;
        Ok(Some(format!("applied: {applied:?}")))
    }

    /// Enqueues the dead job again as a first attempt, then removes its letter; `None` when
    /// there is no such letter.
    async fn replay_job(&self, stage: Stage, entry: &str) -> anyhow::Result<Option<String>> {
        let stream = self.job_stream(stage);
        let Some(letter) = self
            .job_letters(stage)
            .await?
            .into_iter()
            .find(|l| l.id == entry)
        else {
            return Ok(None);
        };
        let job = Job {
            attempt: 1,
            // A replay interrupted after the enqueue and run again adds the job once.
            dedup_key: Some(format!("replay:{entry}")),
            ..letter.job
        };
        let enqueued = self.queue.enqueue(stream, &job).await?;
        self.queue.remove_dead_letter(stream, entry).await?;
        Ok(Some(match enqueued {
            Enqueued::Added => format!("enqueued again on {stream} as job {}", job.id),
            Enqueued::Duplicate { job_id } => format!("already enqueued again as job {job_id}"),
        }))
    }
}

/// An item that is not (or no longer) in its quarantine: replayed before (`previous`), or
/// unknown.
fn not_quarantined(
    id: &str,
    previous: Option<td_store::entity::quarantine_replay::Model>,
) -> anyhow::Result<Replayed> {
    match previous {
        Some(done) => Ok(Replayed::Already {
            outcome: done.outcome,
            replayed_at: done.replayed_at,
        }),
        None => bail!("{id} is not quarantined (see `td-admin quarantine list`)"),
    }
}

fn dead_letter_item(letter: &Letter) -> Item {
    Item {
        id: format!("dlq:{}:{}", letter.partition, letter.offset),
        stage: Stage::OrderIntake,
        reason: letter.reason.clone(),
        quarantined_at: letter.at,
        subject: match &letter.key {
            Some(key) => format!("order {} ({})", String::from_utf8_lossy(key), letter.source),
            None => format!("no key ({})", letter.source),
        },
    }
}

fn feed_subject(entry: &serde_json::Value) -> String {
    let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).unwrap_or("?");
    format!("{} of ticket {}", field("kind"), field("clientReference"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_name_their_stage_and_place() {
        assert_eq!(
            "dlq:2:41".parse::<ItemId>().unwrap(),
            ItemId::DeadLetter {
                partition: 2,
                offset: 41
            }
        );
        assert_eq!("feed:7".parse::<ItemId>().unwrap(), ItemId::Feed(7));
        assert_eq!(
            "mail-jobs:1733-0".parse::<ItemId>().unwrap(),
            ItemId::Job {
                stage: Stage::MailJobs,
                entry: "1733-0".into()
            }
        );
        for bad in [
            "",
            "dlq:1",
            "dlq:a:1",
            "outbox:7",
            "feed:",
            "nod-jobs:",
            "x:1",
        ] {
            assert!(bad.parse::<ItemId>().is_err(), "{bad:?}");
        }
    }
}
