//! A misconfiguration never passes silently: fault sets no layer reads are
//! reported, typed handles install and clear each kind, and rules marked
//! `expect_to_fire` fail a verification naming them when they never fired.

use crate::support;

use support::{Counted, assert_contains, call, seen_passed_faulted, u32_layer};
use tower::Layer;
use tower_chaos::{Chaos, ChaosLayer, Fault, FaultHandle, FaultKind, FaultSet, Target, Trigger};

fn target(name: &str) -> Target {
    Target::builder(name).seed(5).build().unwrap()
}

/// The target "db" and a `u32` layer of it over a counting echo.
fn db() -> (Target, Chaos<Counted, u32>) {
    let t = target("db");
    let svc = ChaosLayer::<u32>::for_target(&t).layer(Counted::default());
    (t, svc)
}

/// `db()` with the layer's typed handle to its faults.
fn db_with_handle() -> (Target, FaultHandle<Fault<u32>, u32>, Chaos<Counted, u32>) {
    let t = target("db");
    let chaos: ChaosLayer<u32> = ChaosLayer::for_target(&t);
    let svc = chaos.layer(Counted::default());
    (t, chaos.faults(), svc)
}

/// Calls a counting echo behind `chaos` with 0, 1 and 2; its target.
async fn call_three(chaos: ChaosLayer<u32>) -> Target {
    let mut svc = chaos.layer(Counted::default());
    for i in 0..3 {
        let _ = call(&mut svc, i).await;
    }
    chaos.target().clone()
}

#[tokio::test]
async fn faults_for_another_request_type_are_reported_as_unread() {
    let (t, mut svc) = db();
    // Issue 12's case: `u64` faults on a target whose layer handles `u32`.
    t.set_faults(FaultSet::new().with(Fault::<u64>::injected_error()))
        .unwrap();
    assert_eq!(call(&mut svc, 1).await.unwrap(), 1);

    let report = t.report();
    assert_eq!(seen_passed_faulted(&report), (1, 1, 0));
    assert_eq!(report.unread_fault_sets.len(), 1, "{report}");
    let unread = &report.unread_fault_sets[0];
    assert_eq!(unread.rules, 1);
    assert_eq!(
        unread.fault_set,
        "FaultSet<Fault<u64, Box<dyn Error + Send + Sync>>, u64>"
    );
    let text = report.to_string();
    assert!(
        text.contains(
            "WARNING: FaultSet<Fault<u64, Box<dyn Error + Send + Sync>>, u64> (1 rules) installed, \
             but no layer of this target reads it: it injects nothing"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn faults_for_another_error_type_are_reported_as_unread() {
    let (t, mut svc) = db();
    // The layer's error type is `BoxError`; these build `io::Error`s.
    let set: FaultSet<Fault<u32, std::io::Error>, u32> =
        FaultSet::new().with(Fault::error(|_: &u32| std::io::Error::other("x")));
    t.set_faults(set).unwrap();
    assert_eq!(call(&mut svc, 1).await.unwrap(), 1);

    let report = t.report();
    assert_eq!(report.faulted, 0);
    assert_eq!(
        report.unread_fault_sets[0].fault_set,
        "FaultSet<Fault<u32, Error>, u32>"
    );
}

#[tokio::test]
async fn a_layer_attached_after_the_set_clears_the_warning() {
    let t = target("db");
    t.set_faults(FaultSet::new().with(Fault::<u32>::injected_error().when(Trigger::first(1))))
        .unwrap();
    assert_eq!(t.report().unread_fault_sets.len(), 1);

    let mut svc = ChaosLayer::<u32>::for_target(&t).layer(Counted::default());
    let report = t.report();
    assert!(report.unread_fault_sets.is_empty(), "{report}");
    assert!(!report.to_string().contains("WARNING"), "{report}");
    assert!(call(&mut svc, 1).await.is_err());
    assert_eq!(t.report().injected(FaultKind::Error), 1);
}

#[tokio::test]
async fn a_service_built_without_a_layer_reads_its_slot() {
    let t = target("db");
    let mut svc = Chaos::<_, u32>::new(Counted::default(), &t);
    t.set_faults(FaultSet::new().with(Fault::<u32>::injected_error()))
        .unwrap();
    assert!(t.report().unread_fault_sets.is_empty());
    assert!(call(&mut svc, 1).await.is_err());
}

#[test]
fn builders_install_where_their_layer_reads() {
    let chaos = u32_layer("db", 1, [Fault::hang().into()]);
    assert!(chaos.target().report().unread_fault_sets.is_empty());
}

#[test]
fn empty_sets_are_not_reported_as_unread() {
    let t = target("db");
    t.clear_faults::<Fault<u64>, u64>();
    t.set_faults(FaultSet::<Fault<u64>, u64>::new()).unwrap();
    assert!(t.report().unread_fault_sets.is_empty());
}

#[tokio::test]
async fn the_typed_handle_installs_and_clears_the_layers_faults() {
    let (t, faults, mut svc) = db_with_handle();
    faults.set(FaultSet::new().with(Fault::injected_error())).unwrap();
    assert!(call(&mut svc, 1).await.is_err());
    faults.clear();
    assert_eq!(call(&mut svc, 2).await.unwrap(), 2);
    assert!(t.report().unread_fault_sets.is_empty());
}

#[tokio::test]
async fn clear_all_faults_clears_every_kind_and_the_unread_report() {
    let (t, mut svc) = db();
    t.set_faults(FaultSet::new().with(Fault::<u32>::injected_error()))
        .unwrap();
    t.set_faults(FaultSet::new().with(Fault::<u64>::injected_error()))
        .unwrap();
    assert!(call(&mut svc, 1).await.is_err());
    assert_eq!(t.report().unread_fault_sets.len(), 1);

    t.clear_all_faults();
    assert_eq!(call(&mut svc, 2).await.unwrap(), 2);
    assert!(t.report().unread_fault_sets.is_empty());
}

#[tokio::test]
async fn expected_rules_that_fired_verify() {
    let chaos = u32_layer(
        "db",
        1,
        [Fault::injected_error().when(Trigger::first(2)).expect_to_fire()],
    );
    let t = call_three(chaos).await;
    let report = t.report();
    assert_eq!(report.expected.len(), 1);
    assert_eq!(report.expected[0].fired, 2);
    report.verify_expected().unwrap();
    report.assert_expected_fired();
}

#[tokio::test]
async fn every_expected_rule_that_never_fired_is_named() {
    let chaos = u32_layer(
        "db",
        1,
        [
            Fault::injected_error()
                .when(Trigger::first(1))
                .named("fires")
                .expect_to_fire(),
            Fault::hang()
                .when(Trigger::after(50))
                .named("too-late")
                .expect_to_fire(),
            Fault::hang().when(Trigger::after(60)).expect_to_fire(),
            // Not expected: never fires, never listed.
            Fault::hang().when(Trigger::after(70)),
        ],
    );
    let t = call_three(chaos).await;
    let err = t.report().verify_expected().unwrap_err();
    let names: Vec<_> = err.not_fired().iter().map(|e| (e.rule, e.name.clone())).collect();
    assert_eq!(names, vec![(1, Some("too-late".into())), (2, None)]);
    assert_eq!(
        err.to_string(),
        "target `db` (seed 1): 2 rules expected to fire never fired:\n\
         \x20 - rule `too-late` (#1 of FaultSet<Fault<u32, Box<dyn Error + Send + Sync>>, u32>)\n\
         \x20 - rule #2 of FaultSet<Fault<u32, Box<dyn Error + Send + Sync>>, u32>\n"
    );
    let text = t.report().to_string();
    assert!(
        text.contains("expected to fire, never fired: rule `too-late`"),
        "{text}"
    );
}

#[test]
fn expected_rules_in_an_unread_set_fail_with_a_note() {
    let t = target("db");
    let _chaos = ChaosLayer::<u32>::for_target(&t);
    t.set_faults(FaultSet::new().with(Fault::<u64>::hang().named("stall").expect_to_fire()))
        .unwrap();
    let text = t.report().verify_expected().unwrap_err().to_string();
    assert_contains(
        &text,
        &[
            "rule `stall`",
            "note: no layer of the target reads FaultSet<Fault<u64,",
        ],
    );
}

#[test]
#[should_panic(expected = "rule `stall` (#0 of FaultSet<Fault<u32")]
fn assert_expected_fired_panics_with_the_list() {
    let chaos = u32_layer("db", 1, [Fault::hang().named("stall").expect_to_fire()]);
    chaos.target().report().assert_expected_fired();
}

#[tokio::test]
async fn expectations_outlive_a_replaced_set() {
    let chaos = u32_layer("db", 1, [Fault::hang().named("never").expect_to_fire()]);
    chaos.clear_faults();
    let err = chaos.target().report().verify_expected().unwrap_err();
    assert_eq!(err.not_fired()[0].name.as_deref(), Some("never"));
}

#[cfg(feature = "http")]
mod http {
    use super::*;
    use tower::ServiceExt;
    use tower_chaos::http::{HttpChaosLayer, SyntheticResponse};

    fn ok() -> impl tower::Service<
        ::http::Request<()>,
        Response = ::http::Response<http_body_util::Empty<bytes::Bytes>>,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone {
        tower::service_fn(|_: ::http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(::http::Response::new(http_body_util::Empty::new()))
        })
    }

    #[tokio::test]
    async fn http_faults_on_a_target_with_only_a_chaos_layer_are_unread() {
        let t = target("api");
        let _requests = ChaosLayer::<u32>::for_target(&t);
        t.http_faults()
            .set(FaultSet::new().with(SyntheticResponse::bad_gateway()))
            .unwrap();
        let report = t.report();
        assert_eq!(
            report.unread_fault_sets[0].fault_set,
            "FaultSet<HttpFault, dyn RequestView>"
        );

        let svc = HttpChaosLayer::for_target(&t).layer(ok());
        assert!(t.report().unread_fault_sets.is_empty());
        let res = svc.clone().oneshot(::http::Request::new(())).await.unwrap();
        assert_eq!(res.status(), 502);
        t.clear_http_faults();
        let res = svc.oneshot(::http::Request::new(())).await.unwrap();
        assert_eq!(res.status(), 200);
    }

    #[tokio::test]
    async fn the_http_layers_handle_and_clear() {
        let layer = HttpChaosLayer::builder("api").seed(1).build().unwrap();
        let faults = layer.faults();
        let svc = layer.layer(ok());
        faults
            .set(
                FaultSet::new().with(
                    SyntheticResponse::service_unavailable()
                        .when(Trigger::always())
                        .expect_to_fire(),
                ),
            )
            .unwrap();
        let res = svc.clone().oneshot(::http::Request::new(())).await.unwrap();
        assert_eq!(res.status(), 503);
        layer.clear_faults();
        let res = svc.oneshot(::http::Request::new(())).await.unwrap();
        assert_eq!(res.status(), 200);
        layer.target().report().assert_expected_fired();
    }
}

#[cfg(feature = "io")]
mod io {
    use super::*;
    use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
    use tower_chaos::io::{ChaosListener, ConnFault, ConnFaultSet, ConnectFaultsLayer, Proxy};

    #[tokio::test]
    async fn connection_readers_register_when_built() {
        let t = target("db");
        t.conn_faults()
            .set(ConnFaultSet::new().with(ConnFault::refuse()))
            .unwrap();
        assert_eq!(t.report().unread_fault_sets.len(), 1);
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _listener = ChaosListener::new(tcp, &t);
        assert!(t.report().unread_fault_sets.is_empty());

        let t = target("db");
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy::spawn(upstream.local_addr().unwrap(), &t).unwrap();
        proxy
            .set_faults(ConnFaultSet::new().with(ConnFault::refuse()))
            .unwrap();
        assert!(t.report().unread_fault_sets.is_empty());
        proxy.shutdown().await;
    }

    /// Reads what the upstream says through `proxy`: `None` when the
    /// connection is refused (reset after accept) or closed empty.
    async fn greeting(proxy: std::net::SocketAddr) -> Option<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let mut conn = tokio::net::TcpStream::connect(proxy).await.ok()?;
        let mut buf = Vec::new();
        match conn.read_to_end(&mut buf).await {
            Ok(_) if !buf.is_empty() => Some(buf),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_proxys_clear_faults_lets_connections_through() {
        use tokio::io::AsyncWriteExt;
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        let server = tokio::spawn(async move {
            loop {
                let (mut conn, _) = upstream.accept().await.unwrap();
                let _ = conn.write_all(b"hi").await;
            }
        });
        let t = target("db");
        let proxy = Proxy::spawn(upstream_addr, &t).unwrap();
        proxy
            .set_faults(ConnFaultSet::new().with(ConnFault::refuse().named("refused").expect_to_fire()))
            .unwrap();
        assert_eq!(greeting(proxy.local_addr()).await, None);
        proxy.clear_faults();
        assert_eq!(greeting(proxy.local_addr()).await.as_deref(), Some(&b"hi"[..]));
        t.report().assert_expected_fired();
        assert_eq!(t.report().injected(FaultKind::Refused), 1);
        proxy.shutdown().await;
        server.abort();
    }

    #[tokio::test]
    async fn clear_conn_faults_needs_no_turbofish() {
        let t = target("db");
        let mut connector = ServiceBuilder::new()
            .layer(ConnectFaultsLayer::for_target(&t))
            .service(service_fn(|host: &'static str| async move {
                Ok::<_, tower::BoxError>(host)
            }));
        t.conn_faults()
            .set(FaultSet::new().with(ConnFault::refuse().named("refused").expect_to_fire()))
            .unwrap();
        assert!(connector.ready().await.unwrap().call("db").await.is_err());
        t.clear_conn_faults();
        assert_eq!(connector.ready().await.unwrap().call("db").await.unwrap(), "db");
        t.report().assert_expected_fired();
    }
}

/// Issue 12's newcomer case: a `ChaosLayer` on an axum `Router` compiles
/// when its error type is inferred (`Infallible`), for the faults that need
/// no error; error faults are refused at compile time with a hint that
/// names `HttpChaosLayer` (see the `compile_fail` cases of `MatchesError`
/// and `FromInjected`).
#[tokio::test(start_paused = true)]
async fn a_chaos_layer_with_the_routers_error_type_delays_an_axum_router() {
    use std::time::Duration;
    use tower::ServiceExt;
    use tower_chaos::Latency;

    let chaos = ChaosLayer::builder("api")
        .seed(1)
        .fault(
            Fault::latency(Latency::fixed(Duration::from_millis(250)))
                .named("slow")
                .expect_to_fire(),
        )
        .build()
        .unwrap();
    let target = chaos.target().clone();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "hi" }))
        .layer(chaos);
    let start = tokio::time::Instant::now();
    let res = app
        .oneshot(axum::extract::Request::new(axum::body::Body::empty()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    target.report().assert_expected_fired();
}

#[tokio::test]
async fn a_named_rule_reinstalled_is_one_expectation_and_an_unnamed_one_is_one_per_install() {
    let (t, faults, mut svc) = db_with_handle();
    let named = || {
        Fault::injected_error()
            .when(Trigger::first(1))
            .named("boom")
            .expect_to_fire()
    };
    // Installed twice; fires only under the second installation.
    faults
        .set(
            FaultSet::new()
                .with(Fault::hang().when(Trigger::after(9)))
                .with(named()),
        )
        .unwrap();
    faults.set(FaultSet::new().with(named())).unwrap();
    assert!(call(&mut svc, 1).await.is_err());
    let report = t.report();
    assert_eq!(report.expected.len(), 1, "{report:?}");
    assert_eq!((report.expected[0].rule, report.expected[0].fired), (1, 1));
    report.assert_expected_fired();

    // Unnamed: the first installation never fired, and says so.
    let unnamed = || Fault::injected_error().when(Trigger::first(1)).expect_to_fire();
    faults.set(FaultSet::new().with(unnamed())).unwrap();
    faults.set(FaultSet::new().with(unnamed())).unwrap();
    assert!(call(&mut svc, 2).await.is_err());
    let err = t.report().verify_expected().unwrap_err();
    assert_eq!(err.not_fired().len(), 1);
    assert_eq!(
        (err.not_fired()[0].rule, err.not_fired()[0].name.clone()),
        (0, None)
    );
}

/// Scenario phases: a rule marked `expect_to_fire` in a phase is named
/// after the phase and stays one expectation however often the phase's
/// rules are reinstalled (here at every flap); the report names the
/// phase whose rule never fired.
#[cfg(feature = "scenario")]
#[tokio::test(start_paused = true)]
async fn a_scenario_phase_whose_expected_rule_never_fired_is_named() {
    use std::time::Duration;
    use tokio::time::{Instant, sleep_until};
    use tower::{BoxError, Service, ServiceExt};
    use tower_chaos::scenario::{Faults, Flap, Phase, Rehearsal, Scenario};

    const S: Duration = Duration::from_secs(1);
    let db = target("db");
    let errors = Faults::new().rule(
        Fault::<u32>::injected_error()
            .when(Trigger::always())
            .expect_to_fire(),
    );
    // Never reached: the phase sees ten calls at most.
    let late = Faults::new().rule(Fault::<u32>::hang().when(Trigger::after(1_000)).expect_to_fire());
    let s = Scenario::builder("expectations")
        .phase(
            Phase::new("flapping", "db")
                .at(10 * S)
                .lasting(20 * S)
                .faults(errors)
                .flap(Flap::new(5 * S, 5 * S)),
        )
        .phase(Phase::new("late", "db").at(40 * S).lasting(10 * S).faults(late))
        .duration(60 * S)
        .build()
        .unwrap();
    let run = tokio::spawn(Rehearsal::new(&s).bind::<u32, BoxError>(&db).run());
    let mut svc = ChaosLayer::<u32>::for_target(&db).layer(Counted::default());
    let start = Instant::now() + S / 2;
    for i in 0..60 {
        sleep_until(start + S * i).await;
        let _ = svc.ready().await.unwrap().call(i).await;
    }
    run.await.unwrap().unwrap();

    let report = db.report();
    let names: Vec<_> = report
        .expected
        .iter()
        .map(|e| (e.name.clone(), e.fired))
        .collect();
    assert_eq!(
        names,
        vec![(Some("flapping".into()), 10), (Some("late".into()), 0)],
        "{report}"
    );
    let err = report.verify_expected().unwrap_err();
    assert_eq!(err.not_fired().len(), 1);
    assert!(err.to_string().contains("rule `late`"), "{err}");
}
