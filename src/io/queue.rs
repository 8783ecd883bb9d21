//! A growable byte queue whose chunks carry a release time: the buffer behind
//! per-chunk latency. Allocated once per direction, only when latency (or a
//! data onset) is on; it grows as the backlog does, up to
//! [`MAX_LATENCY_BUFFER`].

use std::collections::VecDeque;

use tokio::time::Instant;

use super::MAX_LATENCY_BUFFER;

/// The first allocation of a direction's queue; it doubles when full.
pub(crate) const INITIAL_CAPACITY: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct DelayQueue {
    buf: Box<[u8]>,
    /// The most the buffer may grow to.
    max: usize,
    head: usize,
    len: usize,
    /// `(bytes left in the chunk, release time)`, oldest first; release
    /// times never decrease, so order is preserved.
    chunks: VecDeque<(usize, Instant)>,
    last_release: Option<Instant>,
}

impl DelayQueue {
    pub(crate) fn new(initial: usize, max: usize) -> Self {
        let max = max.max(1);
        Self {
            buf: vec![0; initial.clamp(1, max)].into_boxed_slice(),
            max,
            head: 0,
            len: 0,
            chunks: VecDeque::with_capacity(64),
            last_release: None,
        }
    }

    /// A queue with the default sizes.
    pub(crate) fn standard() -> Self {
        Self::new(INITIAL_CAPACITY, MAX_LATENCY_BUFFER)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left before the queue reaches its bound (growing if needed).
    pub(crate) fn free(&self) -> usize {
        self.max - self.len
    }

    /// The release time for a chunk due at `at`: never before the chunk
    /// ahead of it, never later than `at` otherwise (delays of queued chunks
    /// do not add up).
    pub(crate) fn release_time(&self, at: Instant) -> Instant {
        match self.last_release {
            Some(last) if last > at => last,
            _ => at,
        }
    }

    /// Makes everything queued due at `now` at the latest (a latency fault
    /// switched off or changed releases what it holds, as toxiproxy does).
    pub(crate) fn release_all(&mut self, now: Instant) {
        for chunk in &mut self.chunks {
            chunk.1 = chunk.1.min(now);
        }
        self.last_release = self.last_release.map(|t| t.min(now));
    }

    fn tail(&self) -> usize {
        (self.head + self.len) % self.buf.len()
    }

    /// Doubles the buffer (up to the bound), keeping the bytes in order.
    fn grow(&mut self) {
        let cap = self.buf.len();
        let new_cap = cap.saturating_mul(2).min(self.max);
        if new_cap <= cap {
            return;
        }
        let mut buf = vec![0; new_cap].into_boxed_slice();
        let first = (cap - self.head).min(self.len);
        buf[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        buf[first..self.len].copy_from_slice(&self.buf[..self.len - first]);
        self.buf = buf;
        self.head = 0;
    }

    /// The contiguous free region after the tail, to read into (grows the
    /// buffer when it is full and below its bound).
    pub(crate) fn spare_mut(&mut self) -> &mut [u8] {
        if self.len == self.buf.len() {
            self.grow();
        }
        if self.len == self.buf.len() {
            return &mut [];
        }
        let tail = self.tail();
        let end = if tail >= self.head {
            self.buf.len()
        } else {
            self.head
        };
        &mut self.buf[tail..end]
    }

    /// Records `n` bytes written into [`spare_mut`](Self::spare_mut) as one
    /// chunk released at `release` (clamped to keep order).
    pub(crate) fn commit(&mut self, n: usize, release: Instant) {
        if n == 0 {
            return;
        }
        let release = self.release_time(release);
        self.len += n;
        self.chunks.push_back((n, release));
        self.last_release = Some(release);
    }

    /// Copies as much of `data` as fits; returns how much.
    pub(crate) fn push(&mut self, data: &[u8], release: Instant) -> usize {
        let mut done = 0;
        while done < data.len() {
            let spare = self.spare_mut();
            let n = spare.len().min(data.len() - done);
            if n == 0 {
                break;
            }
            spare[..n].copy_from_slice(&data[done..done + n]);
            self.len += n;
            done += n;
        }
        if done > 0 {
            self.len -= done;
            self.commit(done, release);
        }
        done
    }

    /// Contiguous bytes at the head that are due at `now`, at most `max`
    /// (at least 1); `Err(Some(t))` when the head is due at `t`,
    /// `Err(None)` when empty.
    pub(crate) fn due(&self, now: Instant, max: usize) -> Result<usize, Option<Instant>> {
        let contiguous = (self.buf.len() - self.head).min(self.len).min(max.max(1));
        let mut due = 0;
        for &(n, release) in &self.chunks {
            if release > now {
                if due == 0 {
                    return Err(Some(release));
                }
                break;
            }
            due += n;
            if due >= contiguous {
                break;
            }
        }
        if due == 0 {
            return Err(None);
        }
        Ok(due.min(contiguous))
    }

    /// The first `n` bytes at the head (`n` ≤ what [`due`](Self::due) gave).
    pub(crate) fn front(&self, n: usize) -> &[u8] {
        &self.buf[self.head..self.head + n]
    }

    pub(crate) fn consume(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.0 > n {
                front.0 -= n;
                n = 0;
            } else {
                n -= front.0;
                self.chunks.pop_front();
            }
        }
        if self.len == 0 {
            self.head = 0;
        }
    }

    /// Empties the queue; returns how many bytes were discarded.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.len;
        self.head = 0;
        self.len = 0;
        self.chunks.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    impl DelayQueue {
        fn due_all(&self, now: Instant) -> Result<usize, Option<Instant>> {
            self.due(now, usize::MAX)
        }
    }

    #[test]
    fn releases_in_order_without_adding_delays() {
        let t0 = Instant::now();
        let mut q = DelayQueue::new(8, 8);
        assert_eq!(q.push(b"abc", t0 + Duration::from_millis(10)), 3);
        // Arrives later with a shorter delay: released with the first, not after.
        assert_eq!(q.push(b"de", t0 + Duration::from_millis(5)), 2);
        assert_eq!(q.due_all(t0), Err(Some(t0 + Duration::from_millis(10))));
        assert_eq!(q.due_all(t0 + Duration::from_millis(10)), Ok(5));
        assert_eq!(q.front(5), b"abcde");
        q.consume(4);
        assert_eq!(q.len(), 1);
        assert_eq!(q.push(b"fghijklm", t0), 7);
        assert_eq!(q.free(), 0);
        // wraps: contiguous part first
        let due = q.due_all(t0 + Duration::from_millis(10)).unwrap();
        assert_eq!(q.front(due), b"efgh");
        q.consume(due);
        let due = q.due_all(t0 + Duration::from_millis(10)).unwrap();
        assert_eq!(q.front(due), b"ijkl");
        q.consume(due);
        assert!(q.is_empty());
        assert_eq!(q.due_all(t0), Err(None));
        assert_eq!(q.push(b"xy", t0), 2);
        assert_eq!(q.clear(), 2);
    }

    #[test]
    fn grows_up_to_its_bound_keeping_order() {
        let t0 = Instant::now();
        let mut q = DelayQueue::new(4, 16);
        assert_eq!(q.push(b"abcd", t0), 4);
        q.consume(2);
        // wrapped tail, then growth: order kept across the copy
        assert_eq!(q.push(b"efghij", t0), 6);
        assert_eq!(q.capacity(), 8);
        assert_eq!(q.push(b"klmnopqrstuvwxyz", t0), 8);
        assert_eq!((q.capacity(), q.len(), q.free()), (16, 16, 0));
        let mut out = Vec::new();
        while let Ok(n) = q.due(t0, 5) {
            assert!(n <= 5);
            out.extend_from_slice(q.front(n));
            q.consume(n);
        }
        assert_eq!(out, b"cdefghijklmnopqr");
    }

    #[test]
    fn release_all_makes_held_bytes_due_now() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        let mut q = DelayQueue::new(8, 8);
        q.push(b"ab", later);
        assert_eq!(q.due(t0, 8), Err(Some(later)));
        q.release_all(t0);
        assert_eq!(q.due(t0, 8), Ok(2));
        // a chunk arriving after the release is not held back by the old time
        assert_eq!(q.release_time(t0), t0);
    }
}
