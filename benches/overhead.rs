//! What a chaos layer costs when no fault fires, against tower's identity
//! layer and the peers, measured in one run.
//!
//! `cargo bench --bench overhead` — each iteration drives 1000 calls
//! (`ready().await` + `call().await`) on a current-thread runtime.
//! `cargo bench --features http --bench overhead` adds `http-bare` and
//! `http-armed`: in-memory `http::Request`s through an HTTP `service_fn`,
//! bare and through `HttpChaosLayer`.

use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tower::layer::util::Identity;
use tower::{BoxError, Layer, Service, ServiceExt, service_fn};
use tower_chaos::{ChaosLayer, Fault, Latency, Trigger};

const CALLS: u64 = 1000;

fn bare() -> impl Service<u64, Response = u64, Error = BoxError, Future = Ready<Result<u64, BoxError>>> + Clone
{
    service_fn(|x: u64| ready(Ok::<_, BoxError>(x)))
}

async fn drive<S>(svc: &mut S)
where
    S: Service<u64, Response = u64, Error = BoxError>,
{
    for i in 0..CALLS {
        let out = svc.ready().await.unwrap().call(black_box(i)).await.unwrap();
        black_box(out);
    }
}

fn bench_one<S>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    id: &str,
    mut svc: S,
) where
    S: Service<u64, Response = u64, Error = BoxError>,
{
    c.bench_function(id, |b| b.iter(|| rt.block_on(drive(&mut svc))));
}

fn armed_faults(builder: tower_chaos::ChaosLayerBuilder<u64>) -> tower_chaos::ChaosLayerBuilder<u64> {
    builder
        .seed(1)
        .fault(
            Fault::latency(Latency::uniform(
                Duration::from_millis(1),
                Duration::from_millis(5),
            ))
            .when(Trigger::rate(1e-12)),
        )
        .fault(Fault::injected_error().when(Trigger::rate(1e-12)))
}

fn overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("overhead");
    group.throughput(Throughput::Elements(CALLS));

    bench_one(&mut group, &rt, "bare", bare());
    bench_one(&mut group, &rt, "identity", Identity::new().layer(bare()));

    let disabled = armed_faults(ChaosLayer::builder("bench-disabled"))
        .build()
        .unwrap();
    disabled.target().disable();
    bench_one(&mut group, &rt, "chaos-disabled", disabled.layer(bare()));

    let armed = armed_faults(ChaosLayer::builder("bench-armed")).build().unwrap();
    bench_one(&mut group, &rt, "chaos-armed", armed.layer(bare()));
    assert_eq!(
        armed.target().report().total_injected(),
        0,
        "armed faults must not fire in the bench"
    );

    let tower_fault = tower_fault::latency::LatencyLayer::new(0.0, 1..5);
    bench_one(&mut group, &rt, "tower-fault", tower_fault.layer(bare()));

    let resilience = tower_resilience_chaos::ChaosLayer::builder()
        .name("bench")
        .error_rate(0.0)
        .error_fn(|_req: &u64| BoxError::from("chaos"))
        .latency_rate(0.0)
        .min_latency(Duration::from_millis(1))
        .max_latency(Duration::from_millis(5))
        .seed(1)
        .build();
    bench_one(
        &mut group,
        &rt,
        "tower-resilience-chaos",
        resilience.layer(bare()),
    );

    #[cfg(feature = "http")]
    http_ids::bench(&mut group, &rt);

    group.finish();
}

#[cfg(feature = "http")]
mod http_ids {
    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::hint::black_box;

    use bytes::Bytes;
    use criterion::BenchmarkGroup;
    use criterion::measurement::WallTime;
    use http::{Method, Request, Response, Uri};
    use http_body_util::Empty;
    use tokio::runtime::Runtime;
    use tower::{Layer, Service, ServiceExt, service_fn};
    use tower_chaos::Trigger;
    use tower_chaos::http::{BodyFault, HttpChaosLayer, RequestMatcher, SyntheticResponse};

    use super::CALLS;

    type Reply = Response<Empty<Bytes>>;

    fn bare()
    -> impl Service<
        Request<()>,
        Response = Reply,
        Error = Infallible,
        Future = Ready<Result<Reply, Infallible>>,
    > + Clone {
        service_fn(|_: Request<()>| ready(Ok::<_, Infallible>(Response::new(Empty::new()))))
    }

    /// An in-memory request as a server hands it over: method and path,
    /// every other one a PUT (so `PUT /items/*` matchers do their work).
    fn request(i: u64) -> Request<()> {
        let mut request = Request::new(());
        if i % 2 == 1 {
            *request.method_mut() = Method::PUT;
        }
        *request.uri_mut() = Uri::from_static("/items/42");
        request
    }

    async fn drive<S, B>(svc: &mut S)
    where
        S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    {
        for i in 0..CALLS {
            let out = svc
                .ready()
                .await
                .unwrap()
                .call(black_box(request(i)))
                .await
                .unwrap();
            black_box(out);
        }
    }

    fn bench_one<S, B>(c: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, id: &str, mut svc: S)
    where
        S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    {
        c.bench_function(id, |b| b.iter(|| rt.block_on(drive(&mut svc))));
    }

    pub(super) fn bench(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime) {
        bench_one(group, rt, "http-bare", bare());

        // A status fault, a body fault and a matching fault, armed at a rate
        // that never fires.
        let never = || Trigger::rate(1e-12);
        let armed =
            HttpChaosLayer::builder("bench-http")
                .seed(1)
                .fault(SyntheticResponse::service_unavailable().when(never()))
                .fault(BodyFault::truncate_after(100).when(never()))
                .fault(SyntheticResponse::s3_slow_down().when(
                    RequestMatcher::method(Method::PUT) & RequestMatcher::path_glob("/items/*") & never(),
                ))
                .build()
                .unwrap();
        bench_one(group, rt, "http-armed", armed.layer(bare()));
        let report = armed.target().report();
        assert_eq!(
            report.total_injected(),
            0,
            "armed faults must not fire in the bench"
        );
        assert!(report.seen > 0);
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
