//! One contract suite for both sinks: a batch is delivered whole, in order per key, with
//! its headers; the Kafka sink against the real broker (`TD_TEST_KAFKA`, default
//! 127.0.0.1:9092), the file sink against its event log.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::Message as _;
use std::time::Duration;
use td_bus::{FileSink, KafkaSink, Message, MessageSink};
use td_settings::Settings;

fn batch(topic: &str) -> Vec<Message> {
    (0..20)
        .map(|i| Message {
            topic: topic.to_owned(),
            key: format!("order-{}", i % 2),
            payload: format!("payload-{i}").into_bytes(),
            headers: vec![
                ("eventType".to_owned(), format!("Type{i}")),
                (
                    "traceparent".to_owned(),
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
                ),
            ],
            readable: Some(serde_json::json!({ "n": i })),
        })
        .collect()
}

/// What came back, as (key, payload, eventType header), in delivery order.
type Received = Vec<(String, String, String)>;

fn assert_delivered(sent: &[Message], received: &Received) {
    assert_eq!(received.len(), sent.len(), "every message once");
    for key in ["order-0", "order-1"] {
        let expected: Vec<String> = sent
            .iter()
            .filter(|m| m.key == key)
            .map(|m| String::from_utf8(m.payload.clone()).unwrap())
            .collect();
        let got: Vec<String> = received
            .iter()
            .filter(|(k, _, _)| k == key)
            .map(|(_, p, _)| p.clone())
            .collect();
        assert_eq!(got, expected, "order kept for {key}");
    }
    for (_, payload, event_type) in received {
        let n = payload.trim_start_matches("payload-");
        assert_eq!(
            event_type,
            &format!("Type{n}"),
            "headers travel with the message"
        );
    }
}

fn kafka_settings() -> Settings {
    let servers = std::env::var("TD_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
    Settings::load_from(
        None,
        [
            ("TD__KAFKA__BOOTSTRAP_SERVERS".to_owned(), servers),
            (
                "TD__KAFKA__PRODUCER__BATCH_NUM_MESSAGES".to_owned(),
                "1".to_owned(),
            ),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn kafka_sink_delivers_a_batch_in_order_with_headers() {
    let settings = kafka_settings();
    let topic = format!("bus-contract-{}", uuid::Uuid::new_v4().simple());
    let admin: AdminClient<_> = td_bus::client_config(&settings.kafka, &[])
        .create()
        .unwrap();
    admin
        .create_topics(
            &[NewTopic::new(&topic, 3, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();

    let sent = batch(&topic);
    let sink = KafkaSink::new(&settings.kafka).unwrap();
    sink.publish(&sent).await.unwrap();

    let consumer: StreamConsumer = td_bus::client_config(
        &settings.kafka,
        &[
            ("group.id".into(), format!("contract-{topic}")),
            ("auto.offset.reset".into(), "earliest".into()),
            ("enable.auto.commit".into(), "false".into()),
        ],
    )
    .create()
    .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut received = Received::new();
    while received.len() < sent.len() {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("messages arrive")
            .unwrap();
        let event_type = m
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "eventType"))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        received.push((
            String::from_utf8_lossy(m.key().unwrap()).into_owned(),
            String::from_utf8_lossy(m.payload().unwrap()).into_owned(),
            event_type,
        ));
    }
    assert_delivered(&sent, &received);
}

#[tokio::test]
async fn file_sink_delivers_a_batch_in_order_with_headers() {
    let path = std::env::temp_dir().join(format!(
        "bus-contract-{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ));
    let sink = FileSink::new(&path);
    let mut live = sink.subscribe();
    let sent = batch("events-dev");
    sink.publish(&sent).await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let received: Received = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let n = v["value"]["n"].as_u64().unwrap();
            (
                v["key"].as_str().unwrap().to_owned(),
                format!("payload-{n}"),
                v["headers"]["eventType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_delivered(&sent, &received);
    for m in &sent {
        assert_eq!(
            &live.recv().await.unwrap(),
            m,
            "subscribers see every message in order"
        );
    }
    std::fs::remove_file(&path).ok();
}
