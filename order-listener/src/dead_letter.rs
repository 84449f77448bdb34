//! The dead letter of one order event: the event as it came, with its reason and source in
//! headers, kept under the producer's largest message. An event that was near the limit
//! on its way in would pass it with the added headers, the producer would refuse it, and
//! the consumer would retry it for ever; so a payload that does not fit is cut to what
//! fits, and the `truncated` header gives its original length (likewise a key with
//! `key_truncated`).

use td_bus::Message;

/// Room kept for librdkafka's framing of one record beyond its key, payload and headers
/// (its own bound is a few dozen bytes), with margin.
const RECORD_OVERHEAD: usize = 512;
/// Framing of one header beyond its name and value (two length varints).
const HEADER_OVERHEAD: usize = 10;
/// Room kept for the `truncated` and `key_truncated` headers once a cut is needed.
const TRUNCATION_HEADERS: usize = 2 * (HEADER_OVERHEAD + "key_truncated".len() + 20);

/// What a dead letter is made from.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    /// `topic/partition@offset`, empty when unknown.
    pub source: &'a str,
    pub reason: &'a str,
}

/// The message to publish, at most `max_bytes` as the producer counts it.
pub fn message(letter: DeadLetter<'_>, max_bytes: usize) -> Message {
    let mut headers = vec![("reason".to_owned(), header_safe(letter.reason))];
    if !letter.source.is_empty() {
        headers.push(("source".to_owned(), letter.source.to_owned()));
    }
    let mut key = letter
        .key
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default();
    let mut payload = letter.payload;
    let framed = RECORD_OVERHEAD + headers_size(&headers);
    if framed + key.len() + payload.len() > max_bytes {
        let mut room = max_bytes.saturating_sub(framed + TRUNCATION_HEADERS);
        if key.len() > room {
            headers.push(("key_truncated".to_owned(), key.len().to_string()));
            key.truncate(floor_char_boundary(&key, room));
        }
        room -= key.len();
        headers.push(("truncated".to_owned(), payload.len().to_string()));
        payload = &payload[..payload.len().min(room)];
    }
    let readable = serde_json::json!({
        "reason": letter.reason,
        "source": letter.source,
        "payload": String::from_utf8_lossy(payload),
    });
    Message {
        topic: letter.topic.to_owned(),
        key,
        payload: payload.to_vec(),
        headers,
        readable: Some(readable),
    }
}

/// The size the producer counts for `message` (key, payload, headers), framing included.
pub fn wire_size(message: &Message) -> usize {
    RECORD_OVERHEAD + message.key.len() + message.payload.len() + headers_size(&message.headers)
}

fn headers_size(headers: &[(String, String)]) -> usize {
    headers
        .iter()
        .map(|(name, value)| HEADER_OVERHEAD + name.len() + value.len())
        .sum()
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    (0..=at.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

/// A header value on one line and of bounded size.
fn header_safe(reason: &str) -> String {
    let one_line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter<'a>(key: &'a [u8], payload: &'a [u8]) -> DeadLetter<'a> {
        DeadLetter {
            topic: "order-events-dev-dlq",
            key: Some(key),
            payload,
            source: "order-events-dev/3@42",
            reason: "not JSON: expected value at line 1 column 1",
        }
    }

    fn header<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
        message
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_letter_that_fits_is_published_whole() {
        let payload = vec![b'x'; 5_000];
        let m = message(letter(b"ORDER1", &payload), 1_000_000);
        assert_eq!(m.payload, payload);
        assert_eq!(m.key, "ORDER1");
        assert_eq!(header(&m, "source"), Some("order-events-dev/3@42"));
        assert!(header(&m, "reason").unwrap().starts_with("not JSON"));
        assert_eq!(header(&m, "truncated"), None);
    }

    #[test]
    fn a_payload_that_would_pass_the_limit_with_the_headers_is_cut_to_fit() {
        // As large as the producer accepts on its own, so only the added headers pass it.
        let payload: Vec<u8> = (0..1_000_000 - RECORD_OVERHEAD - 6)
            .map(|i| (i % 251) as u8)
            .collect();
        let m = message(letter(b"ORDER1", &payload), 1_000_000);
        assert!(wire_size(&m) <= 1_000_000, "{}", wire_size(&m));
        assert_eq!(
            header(&m, "truncated"),
            Some(payload.len().to_string().as_str())
        );
        assert!(m.payload.len() > 990_000, "{}", m.payload.len());
        assert_eq!(m.payload[..], payload[..m.payload.len()]);
        assert_eq!(m.key, "ORDER1");
        assert!(header(&m, "reason").is_some());
    }

    #[test]
    fn a_key_too_large_for_the_limit_is_cut_too_on_a_character_boundary() {
        let key = "é".repeat(3_000);
        let payload = vec![b'x'; 100];
        // Two limits a byte apart: one of them falls inside a two-byte character.
        for limit in [4_000, 4_001] {
            let m = message(letter(key.as_bytes(), &payload), limit);
            assert!(wire_size(&m) <= limit, "{}", wire_size(&m));
            assert_eq!(header(&m, "key_truncated"), Some("6000"));
            assert_eq!(header(&m, "truncated"), Some("100"));
            assert!(
                key.starts_with(&m.key) && m.key.len() > 3_000,
                "{}",
                m.key.len()
            );
        }
    }
}
