use crate::{BusError, Message, MessageSink};
use futures::future::BoxFuture;
use serde_json::json;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;
use tokio::sync::{broadcast, Mutex};

/// The embedded default's bus: every message is appended as one JSON line to a file (so a
/// newcomer can read what was published) and broadcast to in-process subscribers.
pub struct FileSink {
    path: PathBuf,
    file: Mutex<Option<tokio::fs::File>>,
    subscribers: broadcast::Sender<Message>,
}

impl FileSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let (subscribers, _) = broadcast::channel(1024);
        Self {
            path: path.into(),
            file: Mutex::new(None),
            subscribers,
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Messages published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.subscribers.subscribe()
    }
}

fn line(m: &Message) -> String {
    let headers: serde_json::Map<String, serde_json::Value> = m
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let value = match &m.readable {
        Some(readable) => readable.clone(),
        None => json!(String::from_utf8_lossy(&m.payload)),
    };
    let mut out =
        json!({ "topic": m.topic, "key": m.key, "headers": headers, "value": value }).to_string();
    out.push('\n');
    out
}

impl MessageSink for FileSink {
    fn publish<'a>(&'a self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut guard = self.file.lock().await;
            if guard.is_none() {
                if let Some(dir) = self.path.parent() {
                    tokio::fs::create_dir_all(dir).await?;
                }
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .await?;
                *guard = Some(file);
            }
            let text: String = batch.iter().map(line).collect();
            if let Some(file) = guard.as_mut() {
                file.write_all(text.as_bytes()).await?;
                file.flush().await?;
            }
            for m in batch {
                // No subscriber is fine: the file is the record.
                let _ = self.subscribers.send(m.clone());
            }
            Ok(())
        })
    }
}
