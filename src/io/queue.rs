//! A bounded byte queue whose chunks carry a release time: the buffer behind
//! per-chunk latency. Allocated once per direction, only when latency is on.

use std::collections::VecDeque;

use tokio::time::Instant;

/// Bytes held by latency, per direction.
pub(crate) const QUEUE_CAPACITY: usize = 256 * 1024;

#[derive(Debug)]
pub(crate) struct DelayQueue {
    buf: Box<[u8]>,
    head: usize,
    len: usize,
    /// `(bytes left in the chunk, release time)`, oldest first; release
    /// times never decrease, so order is preserved.
    chunks: VecDeque<(usize, Instant)>,
    last_release: Option<Instant>,
}

impl DelayQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
            chunks: VecDeque::with_capacity(64),
            last_release: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn free(&self) -> usize {
        self.buf.len() - self.len
    }

    /// The release time for a chunk arriving now with `delay`: never before
    /// the chunk ahead of it, never later than its own arrival + delay
    /// otherwise (delays of queued chunks do not add up).
    pub(crate) fn release_time(&self, at: Instant) -> Instant {
        match self.last_release {
            Some(last) if last > at => last,
            _ => at,
        }
    }

    fn tail(&self) -> usize {
        (self.head + self.len) % self.buf.len()
    }

    /// The contiguous free region after the tail, to read into.
    pub(crate) fn spare_mut(&mut self) -> &mut [u8] {
        if self.free() == 0 {
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

    /// Contiguous bytes at the head that are due at `now`; `Err(Some(t))`
    /// when the head is due at `t`, `Err(None)` when empty.
    pub(crate) fn due(&self, now: Instant) -> Result<usize, Option<Instant>> {
        let contiguous = (self.buf.len() - self.head).min(self.len);
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

    #[test]
    fn releases_in_order_without_adding_delays() {
        let t0 = Instant::now();
        let mut q = DelayQueue::new(8);
        assert_eq!(q.push(b"abc", t0 + Duration::from_millis(10)), 3);
        // Arrives later with a shorter delay: released with the first, not after.
        assert_eq!(q.push(b"de", t0 + Duration::from_millis(5)), 2);
        assert_eq!(q.due(t0), Err(Some(t0 + Duration::from_millis(10))));
        assert_eq!(q.due(t0 + Duration::from_millis(10)), Ok(5));
        assert_eq!(q.front(5), b"abcde");
        q.consume(4);
        assert_eq!(q.len(), 1);
        assert_eq!(q.push(b"fghijklm", t0), 7);
        assert_eq!(q.free(), 0);
        // wraps: contiguous part first
        let due = q.due(t0 + Duration::from_millis(10)).unwrap();
        assert_eq!(q.front(due), b"efgh");
        q.consume(due);
        let due = q.due(t0 + Duration::from_millis(10)).unwrap();
        assert_eq!(q.front(due), b"ijkl");
        q.consume(due);
        assert!(q.is_empty());
        assert_eq!(q.due(t0), Err(None));
        assert_eq!(q.push(b"xy", t0), 2);
        assert_eq!(q.clear(), 2);
    }
}
