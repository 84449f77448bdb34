//! Generated bad input through the real intake on PostgreSQL: order events, valid ones and
//! mutations of valid ones (fields removed, wrong types, huge numbers, huge strings,
//! control characters, unicode edge cases, deep nesting, duplicate keys, broken bytes), in
//! batches as the consumer takes them. Each event must be either recorded or dead-lettered
//! with a reason; no batch may fail as if the database were down (the consumer would retry
//! it for ever); every unmutated event beside them is recorded; and the outbox relay, run
//! after each batch against a broker that refuses messages over 1 MB, never stops and
//! leaves nothing waiting.

use futures::future::BoxFuture;
use order_listener::{Incoming, Intake, IntakeOutcome, Relay};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use td_bus::{BusError, Message, MessageSink};
use td_domain::Limits;
use td_store::outbox;
use td_store::record::RecordOutcome;

const EXAMPLES: [&str; 3] = [
    include_str!("../../examples/orders/zone-ticket.json"),
    include_str!("../../examples/orders/rail-with-change.json"),
    include_str!("../../examples/orders/family-with-supplement.json"),
];

/// What a broker does with messages: keeps them, and refuses one larger than it accepts.
#[derive(Default)]
struct Broker {
    kept: Mutex<Vec<Message>>,
}

const BROKER_MAX_BYTES: usize = 1_000_000;

impl MessageSink for Broker {
    fn publish<'a>(&'a self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut kept = self.kept.lock().unwrap();
            for (index, message) in batch.iter().enumerate() {
                if message.payload.len() + message.key.len() > BROKER_MAX_BYTES {
                    return Err(BusError::Rejected {
                        index,
                        reason: "message larger than the broker accepts".into(),
                    });
                }
                kept.push(message.clone());
            }
            Ok(())
        })
    }
}

/// One way to spoil a valid event. `at` picks the place (a field or element) it applies
/// to, among all places of the event.
#[derive(Debug, Clone)]
enum Mutation {
    Remove {
        at: prop::sample::Index,
    },
    WrongType {
        at: prop::sample::Index,
        kind: u8,
    },
    HugeNumber {
        at: prop::sample::Index,
        which: u8,
    },
    HugeString {
        at: prop::sample::Index,
        len: usize,
    },
    Control {
        at: prop::sample::Index,
        which: u8,
    },
    Unicode {
        at: prop::sample::Index,
        which: u8,
    },
    LoneSurrogate {
        at: prop::sample::Index,
    },
    Deep {
        at: prop::sample::Index,
        depth: usize,
    },
    DuplicateKey {
        at: prop::sample::Index,
    },
    Truncate {
        at: prop::sample::Index,
    },
    NotUtf8 {
        at: prop::sample::Index,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        at().prop_map(|at| Mutation::Remove { at }),
        (at(), 0u8..6).prop_map(|(at, kind)| Mutation::WrongType { at, kind }),
        (at(), 0u8..8).prop_map(|(at, which)| Mutation::HugeNumber { at, which }),
        (
            at(),
            prop::sample::select(vec![300usize, 5_000, 70_000, 1_100_000])
        )
            .prop_map(|(at, len)| Mutation::HugeString { at, len }),
        (at(), 0u8..7).prop_map(|(at, which)| Mutation::Control { at, which }),
        (at(), 0u8..8).prop_map(|(at, which)| Mutation::Unicode { at, which }),
        at().prop_map(|at| Mutation::LoneSurrogate { at }),
        (at(), prop::sample::select(vec![40usize, 200, 5_000]))
            .prop_map(|(at, depth)| Mutation::Deep { at, depth }),
        at().prop_map(|at| Mutation::DuplicateKey { at }),
        at().prop_map(|at| Mutation::Truncate { at }),
        at().prop_map(|at| Mutation::NotUtf8 { at }),
    ]
}

/// A JSON place: a path of object keys and array indexes.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn places(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(Step::Key(key.clone()));
                out.push(path.clone());
                places(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Step::Index(i));
                out.push(path.clone());
                places(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'v>(value: &'v mut Value, path: &[Step]) -> &'v mut Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn pick(event: &Value, at: &prop::sample::Index) -> Vec<Step> {
    let mut all = Vec::new();
    places(event, &mut Vec::new(), &mut all);
    at.get(&all).clone()
}

const MARKER: &str = "__mutation_marker__";

/// The event's bytes with `mutation` applied.
fn spoil(mut event: Value, mutation: &Mutation) -> Vec<u8> {
    match mutation {
        Mutation::Remove { at } => {
            let path = pick(&event, at);
            let (last, parent) = path.split_last().expect("a place");
            match (at_mut(&mut event, parent), last) {
                (Value::Object(map), Step::Key(k)) => {
                    map.remove(k);
                }
                (Value::Array(items), Step::Index(i)) => {
                    items.remove(*i);
                }
                _ => unreachable!("a place is a key of an object or an index of an array"),
            }
        }
        Mutation::WrongType { at, kind } => {
            let path = pick(&event, at);
            *at_mut(&mut event, &path) = match kind {
                0 => Value::Null,
                1 => json!(7),
                2 => json!("x"),
                3 => json!([]),
                4 => json!({}),
                _ => json!(true),
            };
        }
        Mutation::HugeNumber { at, which } => {
            let path = pick(&event, at);
            *at_mut(&mut event, &path) = match which {
                0 => json!(u64::MAX),
                1 => json!(i64::MIN),
                2 => json!(-1),
                3 => json!(1e308),
                4 => json!(i32::MAX as u64 + 1),
                5 => json!(0.5),
                6 => json!(u32::MAX as u64 + 1),
                _ => json!(-0.0),
            };
        }
        Mutation::HugeString { at, len } => {
            let path = pick(&event, at);
            *at_mut(&mut event, &path) = json!("Ø".repeat(*len / 2));
        }
        Mutation::Control { at, which } => {
            let c = ['\0', '\u{1}', '\u{8}', '\u{1b}', '\u{7f}', '\u{85}', '\n'][*which as usize];
            append(&mut event, at, &c.to_string());
        }
        Mutation::Unicode { at, which } => {
            let s = [
                "\u{202e}",
                "😀",
                "e\u{301}",
                "\u{feff}",
                "\u{10ffff}",
                "\u{fffd}",
                "\u{2028}",
                "Ω",
            ][*which as usize];
            append(&mut event, at, s);
        }
        Mutation::LoneSurrogate { at } => {
            // JSON text may escape a lone surrogate, which no UTF-8 string can hold.
            let path = pick(&event, at);
            *at_mut(&mut event, &path) = json!(MARKER);
            return replace_marker(&event, &format!("\"{}\\ud800\"", "a"));
        }
        Mutation::Deep { at, depth } => {
            let path = pick(&event, at);
            *at_mut(&mut event, &path) = json!(MARKER);
            let nested = format!("{}1{}", "[".repeat(*depth), "]".repeat(*depth));
            return replace_marker(&event, &nested);
        }
        Mutation::DuplicateKey { at } => {
            // The same key twice in one object, the second with another value.
            let path = pick(&event, at);
            let (last, parent) = path.split_last().expect("a place");
            if let (Value::Object(map), Step::Key(key)) = (at_mut(&mut event, parent), last) {
                let key = key.clone();
                map.insert(MARKER.to_owned(), json!(0));
                let text = serde_json::to_string(&event).unwrap();
                let duplicate = format!("{}:\"other\"", serde_json::to_string(&key).unwrap());
                return text
                    .replacen(&format!("\"{MARKER}\":0"), &duplicate, 1)
                    .into_bytes();
            }
            // An array element: the event's own top-level key twice instead.
            let text = serde_json::to_string(&event).unwrap();
            return text
                .replacen('{', "{\"type\":\"OrderCancelled\",", 1)
                .into_bytes();
        }
        Mutation::Truncate { at } => {
            let bytes = serde_json::to_vec(&event).unwrap();
            let cut = at.index(bytes.len());
            return bytes[..cut].to_vec();
        }
        Mutation::NotUtf8 { at } => {
            let mut bytes = serde_json::to_vec(&event).unwrap();
            let place = at.index(bytes.len());
            bytes.insert(place, 0xff);
            return bytes;
        }
    }
    serde_json::to_vec(&event).unwrap()
}

/// Appends `s` to the string at the place (or puts it there when it holds no string).
fn append(event: &mut Value, at: &prop::sample::Index, s: &str) {
    let path = pick(event, at);
    let place = at_mut(event, &path);
    *place = match place {
        Value::String(old) => json!(format!("{old}{s}")),
        _ => json!(s),
    };
}

fn replace_marker(event: &Value, with: &str) -> Vec<u8> {
    serde_json::to_string(event)
        .unwrap()
        .replacen(&format!("\"{MARKER}\""), with, 1)
        .into_bytes()
}

/// One batch: events from the examples, each spoilt or not.
fn batch() -> impl Strategy<Value = Vec<(usize, Option<Mutation>)>> {
    prop::collection::vec(
        (0..EXAMPLES.len(), prop::option::weighted(0.7, mutation())),
        1..5,
    )
}

static NEXT_ORDER: AtomicUsize = AtomicUsize::new(0);

/// An example as a new order of its own: (order id, event).
fn fresh(example: usize) -> (String, Value) {
    let mut event: Value = serde_json::from_str(EXAMPLES[example]).unwrap();
    let id = format!("GEN{:06}", NEXT_ORDER.fetch_add(1, Ordering::Relaxed));
    event["eventId"] = json!(uuid::Uuid::new_v4());
    event["order"]["id"] = json!(id);
    (id, event)
}

struct Harness {
    db: td_testkit::TestDb,
    intake: Intake,
    relay: Relay,
    broker: Arc<Broker>,
}

impl Harness {
    async fn check(&self, batch: &[(usize, Option<Mutation>)]) -> Result<(), String> {
        let events: Vec<(String, bool, Vec<u8>)> = batch
            .iter()
            .map(|(example, mutation)| {
                let (id, event) = fresh(*example);
                match mutation {
                    Some(m) => (id, true, spoil(event, m)),
                    None => (id, false, serde_json::to_vec(&event).unwrap()),
                }
            })
            .collect();
        let incoming: Vec<Incoming<'_>> = events
            .iter()
            .map(|(id, _, payload)| Incoming {
                key: Some(id.as_bytes()),
                payload: Some(payload),
                source: format!("orders/0@{id}"),
                ..Default::default()
            })
            .collect();
        let outcomes = self
            .intake
            .process_all(&incoming)
            .await
            .map_err(|e| format!("the batch failed as if to be retried: {e}"))?;
        for ((id, spoilt, _), outcome) in events.iter().zip(&outcomes) {
            match outcome {
                IntakeOutcome::DeadLettered { reason } if *spoilt => {
                    if reason.trim().is_empty() {
                        return Err(format!("{id}: dead-lettered without a reason"));
                    }
                }
                IntakeOutcome::Recorded(_) if *spoilt => {}
                IntakeOutcome::Recorded(RecordOutcome::Applied { .. }) => {}
                other => return Err(format!("{id}, a valid event, came to {other:?}")),
            }
        }
        // The relay publishes or parks everything it finds, and never stops.
        for _ in 0..100 {
            match self.relay.step().await {
                Ok(order_listener::relay::Step::Published(0)) => break,
                Ok(_) => {}
                Err(err) => return Err(format!("the relay failed: {err}")),
            }
        }
        let waiting = outbox::unpublished(&self.db.db, 1)
            .await
            .map_err(|e| e.to_string())?;
        if !waiting.is_empty() {
            return Err(format!("the relay left events waiting: {waiting:?}"));
        }
        // Every valid order's lifecycle events reached the broker.
        let kept = self.broker.kept.lock().unwrap();
        for (id, spoilt, _) in &events {
            if !spoilt && !kept.iter().any(|m| &m.key == id) {
                return Err(format!("no event of {id}, a valid order, was published"));
            }
        }
        Ok(())
    }
}

#[test]
fn generated_bad_input_is_recorded_or_dead_lettered_and_nothing_stops() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let harness = runtime.block_on(async {
        let db = td_testkit::postgres().await;
        let broker = Arc::new(Broker::default());
        let dead_letters = Arc::new(Broker::default());
        Harness {
            intake: Intake::new(
                db.db.clone(),
                dead_letters,
                "dlq".to_owned(),
                Limits::default(),
            ),
            relay: Relay::new(db.db.clone(), broker.clone(), "gen".to_owned()),
            broker,
            db,
        }
    });
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&batch(), |batch| {
        runtime
            .block_on(harness.check(&batch))
            .map_err(TestCaseError::fail)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
