//! How cheap can a layer's response future be? The floor under
//! `benches/overhead.rs`'s `chaos-*` ids, measured in the same loop.
//!
//! `cargo bench --bench floor` — each iteration drives 1000 calls
//! (`ready().await` + `call().await`) on a current-thread runtime, as in
//! `overhead`. Ids:
//!
//! * `bare`: the `service_fn` alone.
//! * `newtype`: a layer whose future is a plain wrapper of the inner one.
//! * `newtype-counted`: the same plus one relaxed load and one shared
//!   `fetch_add` per call (what counting every call across clones costs).
//! * `enum-floor`: a future that can also hold a boxed faulted state (as
//!   any layer that delays, hangs or answers without calling the inner
//!   service must), built with the same care as ours: cold drop by value,
//!   cold poll returning only `bool`; its whole decision is one `fetch_add`
//!   and a compare that never fires.
//!
//! `docs/BENCHMARKS.md` uses the ratio `enum-floor` / `bare` to explain why
//! `chaos-armed` cannot come within 1.25× of `identity` in this loop.

use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pin_project_lite::pin_project;
use tower::{BoxError, Service, ServiceExt, service_fn};

const CALLS: u64 = 1000;
type Output = Result<u64, BoxError>;

fn bare() -> impl Service<u64, Response = u64, Error = BoxError, Future = Ready<Output>> + Clone {
    service_fn(|x: u64| ready(Ok::<_, BoxError>(x)))
}

async fn drive<S: Service<u64, Response = u64, Error = BoxError>>(svc: &mut S) {
    for i in 0..CALLS {
        let out = svc.ready().await.unwrap().call(black_box(i)).await.unwrap();
        black_box(out);
    }
}

pin_project! {
    struct Wrapped<F> { #[pin] inner: F }
}

impl<F: Future> Future for Wrapped<F> {
    type Output = F::Output;
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

#[derive(Clone)]
struct Newtype<S> {
    inner: S,
    counter: Option<(Arc<AtomicBool>, Arc<AtomicU64>)>,
}

impl<S: Service<u64>> Service<u64> for Newtype<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = Wrapped<S::Future>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }
    #[inline]
    fn call(&mut self, req: u64) -> Self::Future {
        if let Some((on, calls)) = &self.counter {
            if on.load(Ordering::Relaxed) {
                calls.fetch_add(1, Ordering::Relaxed);
            }
        }
        Wrapped {
            inner: self.inner.call(req),
        }
    }
}

/// A faulted state: here only a held result.
struct Held(Option<Output>);

/// Dropped by value in a cold function, so the enum's drop glue inlines.
struct Cold(Option<Box<Held>>);

impl Drop for Cold {
    #[inline]
    fn drop(&mut self) {
        if let Some(held) = self.0.take() {
            drop_cold(held);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_cold(held: Box<Held>) {
    drop(held);
}

#[cold]
#[inline(never)]
fn advance(held: &mut Held, cx: &mut Context<'_>) -> bool {
    let _ = cx;
    held.0.is_some()
}

#[cold]
#[inline(never)]
fn fault() -> Cold {
    Cold(Some(Box::new(Held(Some(Err("injected".into()))))))
}

pin_project! {
    #[project = EitherProj]
    enum Either<F> { Pass { #[pin] inner: F }, Faulted { cold: Cold } }
}

impl<F: Future<Output = Output>> Future for Either<F> {
    type Output = Output;
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        match self.project() {
            EitherProj::Pass { inner } => inner.poll(cx),
            EitherProj::Faulted { cold } => {
                let Some(held) = &mut cold.0 else {
                    return Poll::Pending;
                };
                if !advance(held, cx) {
                    return Poll::Pending;
                }
                match held.0.take() {
                    Some(output) => Poll::Ready(output),
                    None => Poll::Pending,
                }
            }
        }
    }
}

#[derive(Clone)]
struct EnumFloor<S> {
    inner: S,
    calls: Arc<AtomicU64>,
}

impl<S: Service<u64, Response = u64, Error = BoxError>> Service<u64> for EnumFloor<S> {
    type Response = u64;
    type Error = BoxError;
    type Future = Either<S::Future>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }
    #[inline]
    fn call(&mut self, req: u64) -> Self::Future {
        if self.calls.fetch_add(1, Ordering::Relaxed) == u64::MAX {
            return Either::Faulted { cold: fault() };
        }
        Either::Pass {
            inner: self.inner.call(req),
        }
    }
}

fn floor(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Elements(CALLS));
    let mut svc = bare();
    group.bench_function("bare", |b| b.iter(|| rt.block_on(drive(&mut svc))));
    let mut svc = Newtype {
        inner: bare(),
        counter: None,
    };
    group.bench_function("newtype", |b| b.iter(|| rt.block_on(drive(&mut svc))));
    let mut svc = Newtype {
        inner: bare(),
        counter: Some((Arc::new(AtomicBool::new(true)), Arc::new(AtomicU64::new(0)))),
    };
    group.bench_function("newtype-counted", |b| b.iter(|| rt.block_on(drive(&mut svc))));
    let mut svc = EnumFloor {
        inner: bare(),
        calls: Arc::new(AtomicU64::new(0)),
    };
    group.bench_function("enum-floor", |b| b.iter(|| rt.block_on(drive(&mut svc))));
    group.finish();
}

criterion_group!(benches, floor);
criterion_main!(benches);
