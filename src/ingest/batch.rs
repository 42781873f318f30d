//! Batch consumption: up to `BATCH` (1,024) messages from a consumer's queue per librdkafka call.
//!
//! rust-rdkafka's `BaseConsumer::poll` returns one message per call, and each call reads the
//! clock, takes the queue lock, wraps the message in a librdkafka event and allocates an `Arc`
//! for it. librdkafka's `rd_kafka_consume_batch_queue` (which rust-rdkafka does not wrap) serves
//! the same queue with one clock read and no allocation per batch; the messages are the ones the
//! fetcher already built, returned by pointer and destroyed after use. Reading a 5M-event
//! backlog this way took 0.68x the CPU per event of reading it with `poll` (`benches/e2e`).
//!
//! Messages come from the consumer queue; errors librdkafka reports for a partition come back
//! as messages with an error code ([`Msg::error`]), which the worker passes to
//! `IngestContext::kafka_error`. Client-level errors (all brokers down, transport failures,
//! refused credentials) do not: served through `rd_kafka_consume_batch_queue` they would find no
//! error callback (rust-rdkafka asks for error events instead) and librdkafka would only print
//! them. So the client's main queue is unforwarded from the consumer queue while the worker
//! runs, and [`BatchConsumer::serve_client_errors`] reads them from it between batches. Both
//! kinds are counted in `slostream_kafka_errors_total{kind}`. A worker of `--role all` assigns
//! partitions by hand, so there is no rebalance event to miss; an ingest member subscribes and
//! reads a queue of its own instead ([`BatchConsumer::with_worker_queue`]).

use std::ffi::CStr;
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaTopic;

/// Messages per call: enough to make the per-call costs vanish, few enough that a batch is
/// a small fraction of the prefetched messages it holds on to until the next call.
pub(crate) const BATCH: usize = 1024;

/// A consumer together with its queue handle and the messages of the last batch.
///
/// Field order matters: the batch (which holds messages and a reference to the consumer's
/// queue) is dropped before the consumer, as librdkafka requires.
pub struct BatchConsumer<C: ConsumerContext + 'static> {
    batch: Batch,
    consumer: BaseConsumer<C>,
}

struct Batch {
    /// Where messages are read from: the consumer queue, or (for a group member) a queue of the
    /// worker's own that each assigned partition's queue is forwarded to.
    queue: NonNull<rdsys::rd_kafka_queue_t>,
    /// The consumer queue when `queue` is the worker's own: where rebalance events stay, served
    /// by `BaseConsumer::poll`; `None` when it is `queue` itself.
    consumer_queue: Option<NonNull<rdsys::rd_kafka_queue_t>>,
    /// The client's main queue, where librdkafka puts client-level errors (see
    /// [`BatchConsumer::serve_client_errors`]).
    main: NonNull<rdsys::rd_kafka_queue_t>,
    messages: Box<[*mut rdsys::rd_kafka_message_t]>,
    len: usize,
}

impl<C: ConsumerContext + 'static> BatchConsumer<C> {
    /// Takes over `consumer` and a handle on its consumer queue (it must have a `group.id`).
    pub fn new(consumer: BaseConsumer<C>) -> Result<Self, KafkaError> {
        // SAFETY: the client pointer is valid while `consumer` lives, and the queue reference
        // it returns is released in `Batch::drop`, before `consumer` is dropped.
        let queue = unsafe { rdsys::rd_kafka_queue_get_consumer(consumer.client().native_client().ptr()) };
        let queue = NonNull::new(queue)
            .ok_or_else(|| KafkaError::ClientCreation("librdkafka has no consumer queue (no group.id?)".into()))?;
        // SAFETY: as above; released in `Batch::drop` too.
        let main = unsafe { rdsys::rd_kafka_queue_get_main(consumer.client().native_client().ptr()) };
        let Some(main) = NonNull::new(main) else {
            // SAFETY: the reference taken above, released once.
            unsafe { rdsys::rd_kafka_queue_destroy(queue.as_ptr()) };
            return Err(KafkaError::ClientCreation("librdkafka has no main queue".into()));
        };
        // rust-rdkafka forwards the main queue to the consumer queue. Served by
        // `rd_kafka_consume_batch_queue`, a client-level error there finds no error callback
        // (rust-rdkafka asks for error events instead) and librdkafka only logs it itself, so
        // slostream would never count it. Unforwarded, the errors wait on the main queue as
        // events until `serve_client_errors` reads them. Fetched messages never pass through
        // the main queue, and a worker neither rebalances nor commits.
        // SAFETY: a valid queue; a null destination stops forwarding.
        unsafe { rdsys::rd_kafka_queue_forward(main.as_ptr(), std::ptr::null_mut()) };
        let messages = vec![std::ptr::null_mut(); BATCH].into_boxed_slice();
        Ok(BatchConsumer { batch: Batch { queue, consumer_queue: None, main, messages, len: 0 }, consumer })
    }

    /// Takes over a consumer that subscribes to a group: messages are read from a queue of the
    /// worker's own, which [`Self::forward`] connects each assigned partition to, while
    /// rebalance events stay on the consumer queue for `BaseConsumer::poll` (and the context's
    /// rebalance hook) to serve. Batch-reading the consumer queue itself would hand rebalance
    /// events to `rd_kafka_consume_batch_queue`, which, with no native rebalance callback
    /// (rust-rdkafka sets none), "forces unassign" of every partition.
    pub fn with_worker_queue(consumer: BaseConsumer<C>) -> Result<Self, KafkaError> {
        let mut b = BatchConsumer::new(consumer)?;
        // SAFETY: a valid client; the new queue is released in `Batch::drop`.
        let own = unsafe { rdsys::rd_kafka_queue_new(b.consumer.client().native_client().ptr()) };
        let own = NonNull::new(own).ok_or_else(|| KafkaError::ClientCreation("librdkafka made no queue".into()))?;
        b.batch.consumer_queue = Some(std::mem::replace(&mut b.batch.queue, own));
        Ok(b)
    }

    /// Forwards the queues of `partitions` to the worker's own queue (see
    /// [`Self::with_worker_queue`]); call before assigning them, so no message reaches the
    /// consumer queue.
    pub fn forward(&self, partitions: &rdkafka::TopicPartitionList) {
        let client = self.consumer.client().native_client().ptr();
        for e in partitions.elements() {
            let Ok(topic) = std::ffi::CString::new(e.topic()) else { continue };
            // SAFETY: a valid client and C string; the partition queue reference is released
            // right away (the forward keeps its own).
            unsafe {
                let pq = rdsys::rd_kafka_queue_get_partition(client, topic.as_ptr(), e.partition());
                if !pq.is_null() {
                    rdsys::rd_kafka_queue_forward(pq, self.batch.queue.as_ptr());
                    rdsys::rd_kafka_queue_destroy(pq);
                }
            }
        }
    }

    /// Hands every client-level error queued since the last call (all brokers down, transport
    /// failures, refused credentials) to `on_error` with librdkafka's description; other client
    /// events are dropped. Never blocks: call it between batches.
    pub fn serve_client_errors(&self, mut on_error: impl FnMut(KafkaError, &str)) {
        loop {
            // SAFETY: the main queue is valid while `self` lives (see `new`).
            let event = unsafe { rdsys::rd_kafka_queue_poll(self.batch.main.as_ptr(), 0) };
            if event.is_null() {
                return;
            }
            // SAFETY: `event` is valid until destroyed below; its error string is a C string
            // owned by the event.
            unsafe {
                if rdsys::rd_kafka_event_type(event) == rdsys::RD_KAFKA_EVENT_ERROR {
                    let code = RDKafkaErrorCode::from(rdsys::rd_kafka_event_error(event));
                    let text = rdsys::rd_kafka_event_error_string(event);
                    let reason = if text.is_null() { "" } else { CStr::from_ptr(text).to_str().unwrap_or("") };
                    on_error(KafkaError::Global(code), reason);
                }
                rdsys::rd_kafka_event_destroy(event);
            }
        }
    }

    /// The consumer, for assigning partitions and reading its context.
    pub(crate) fn consumer(&self) -> &BaseConsumer<C> {
        &self.consumer
    }

    /// Releases the previous batch, then waits up to `timeout` for messages and returns those
    /// that arrived (possibly none); they stay readable until the next poll.
    pub fn poll(&mut self, timeout: Duration) -> &[Msg] {
        let b = &mut self.batch;
        b.release();
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: the queue is valid (see `new`), and the array has room for `messages.len()`
        // pointers, which librdkafka fills from the start.
        let n = unsafe {
            rdsys::rd_kafka_consume_batch_queue(b.queue.as_ptr(), timeout_ms, b.messages.as_mut_ptr(), b.messages.len())
        };
        b.len = n.max(0) as usize;
        self.messages()
    }

    /// The messages of the last [`Self::poll`].
    #[inline]
    pub(crate) fn messages(&self) -> &[Msg] {
        let b = &self.batch;
        // SAFETY: `Msg` is a transparent wrapper of a non-null message pointer, and the first
        // `len` entries are the messages the last poll returned; they live until the next
        // `release`, which needs `&mut self` and so cannot overlap the returned borrow.
        unsafe { std::slice::from_raw_parts(b.messages.as_ptr().cast::<Msg>(), b.len) }
    }
}

impl Batch {
    fn release(&mut self) {
        for m in &mut self.messages[..self.len] {
            // SAFETY: returned by `rd_kafka_consume_batch_queue` and not destroyed yet.
            unsafe { rdsys::rd_kafka_message_destroy(*m) };
            *m = std::ptr::null_mut();
        }
        self.len = 0;
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.release();
        // SAFETY: the references taken in `BatchConsumer::new`, released once. The main queue
        // is forwarded to the consumer queue again first: closing the consumer (rust-rdkafka's
        // drop, next) serves that queue and waits for what librdkafka posts to the main one.
        unsafe {
            let consumer_queue = self.consumer_queue.unwrap_or(self.queue);
            rdsys::rd_kafka_queue_forward(self.main.as_ptr(), consumer_queue.as_ptr());
            rdsys::rd_kafka_queue_destroy(self.queue.as_ptr());
            if let Some(q) = self.consumer_queue {
                rdsys::rd_kafka_queue_destroy(q.as_ptr());
            }
            rdsys::rd_kafka_queue_destroy(self.main.as_ptr());
        }
    }
}

/// One message of a batch, borrowed until the next [`BatchConsumer::poll`].
#[repr(transparent)]
pub struct Msg(NonNull<rdsys::rd_kafka_message_t>);

impl Msg {
    #[inline]
    fn raw(&self) -> &rdsys::rd_kafka_message_t {
        // SAFETY: a message of the current batch (see `BatchConsumer::poll`).
        unsafe { self.0.as_ref() }
    }

    /// The error librdkafka reports in place of a message, if this is one.
    pub fn error(&self) -> Option<KafkaError> {
        let err = self.raw().err;
        (err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
            .then(|| KafkaError::MessageConsumption(RDKafkaErrorCode::from(err)))
    }

    /// The message's value, if it has one.
    #[inline]
    pub fn payload(&self) -> Option<&[u8]> {
        let m = self.raw();
        // SAFETY: librdkafka's payload pointer and length describe one buffer owned by the message.
        (!m.payload.is_null()).then(|| unsafe { std::slice::from_raw_parts(m.payload.cast::<u8>(), m.len) })
    }

    /// The message's key, if it has one.
    pub(crate) fn key(&self) -> Option<&[u8]> {
        let m = self.raw();
        // SAFETY: as for the payload.
        (!m.key.is_null()).then(|| unsafe { std::slice::from_raw_parts(m.key.cast::<u8>(), m.key_len) })
    }

    /// The partition the message was read from.
    #[inline]
    pub(crate) fn partition(&self) -> i32 {
        self.raw().partition
    }

    /// The message's offset in its partition.
    #[inline]
    pub(crate) fn offset(&self) -> i64 {
        self.raw().offset
    }

    /// librdkafka's handle of the message's topic: one per topic and client, so comparing it is
    /// enough to tell topics apart without reading the name.
    #[inline]
    pub(crate) fn topic_ptr(&self) -> *const RDKafkaTopic {
        self.raw().rkt.cast_const()
    }

    /// The topic name ("" if librdkafka gave none or it is not UTF-8, neither of which happens
    /// for a fetched message).
    pub(crate) fn topic(&self) -> &str {
        let rkt = self.raw().rkt;
        if rkt.is_null() {
            return "";
        }
        // SAFETY: the topic handle lives as long as the message, and its name is a C string.
        unsafe { CStr::from_ptr(rdsys::rd_kafka_topic_name(rkt)) }.to_str().unwrap_or("")
    }
}
