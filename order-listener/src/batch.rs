//! When a consumer batch closes: at a number of messages or of bytes, whichever comes
//! first, so that a burst of large events cannot make the consumer hold more memory than
//! its settings allow. A message larger than the byte bound still forms a batch of one,
//! or it could never be consumed.

/// How much one batch may hold (`order_listener.batch_max_messages`, `…batch_max_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchBounds {
    pub max_messages: usize,
    pub max_bytes: usize,
}

/// The batch being filled.
#[derive(Debug, Clone, Copy)]
pub struct BatchFill {
    bounds: BatchBounds,
    messages: usize,
    bytes: usize,
}

impl BatchFill {
    pub fn new(bounds: BatchBounds) -> Self {
        Self {
            bounds,
            messages: 0,
            bytes: 0,
        }
    }

    /// Adds a message of `size` bytes if it fits; `false` means it belongs to the next
    /// batch. The first message of a batch always fits.
    pub fn offer(&mut self, size: usize) -> bool {
        let fits = self.messages == 0
            || (self.messages < self.bounds.max_messages
                && self.bytes.saturating_add(size) <= self.bounds.max_bytes);
        if fits {
            self.messages += 1;
            self.bytes = self.bytes.saturating_add(size);
        }
        fits
    }

    /// Whether no further message can join, so waiting for one is pointless.
    pub fn is_full(&self) -> bool {
        self.messages >= self.bounds.max_messages || self.bytes >= self.bounds.max_bytes
    }

    pub fn messages(&self) -> usize {
        self.messages
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(max_messages: usize, max_bytes: usize) -> BatchFill {
        BatchFill::new(BatchBounds {
            max_messages,
            max_bytes,
        })
    }

    #[test]
    fn a_batch_closes_at_its_message_count() {
        let mut batch = fill(3, 1_000_000);
        for _ in 0..3 {
            assert!(!batch.is_full());
            assert!(batch.offer(10));
        }
        assert!(batch.is_full());
        assert!(
            !batch.offer(10),
            "a fourth message waits for the next batch"
        );
        assert_eq!((batch.messages(), batch.bytes()), (3, 30));
    }

    #[test]
    fn a_batch_closes_before_the_message_that_would_pass_its_byte_bound() {
        let mut batch = fill(1024, 100);
        assert!(batch.offer(40));
        assert!(batch.offer(40));
        assert!(!batch.is_full());
        assert!(!batch.offer(40), "80 + 40 bytes is over the bound of 100");
        assert_eq!((batch.messages(), batch.bytes()), (2, 80));
        assert!(batch.offer(20), "80 + 20 bytes is exactly the bound");
        assert!(batch.is_full());
        assert!(!batch.offer(1));
    }

    #[test]
    fn a_message_larger_than_the_byte_bound_forms_a_batch_of_one() {
        let mut batch = fill(1024, 100);
        assert!(batch.offer(10));
        assert!(
            !batch.offer(500),
            "it does not join a batch that has messages"
        );
        let mut next = fill(1024, 100);
        assert!(next.offer(500), "it opens the next batch alone");
        assert!(next.is_full());
        assert!(!next.offer(1));
        assert_eq!((next.messages(), next.bytes()), (1, 500));
    }
}
