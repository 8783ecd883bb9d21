//! Chaos is loud about being on. Its own binary: tracing's per-callsite
//! interest cache is process-wide, and tests running in parallel without a
//! subscriber would disable the callsites this test listens to.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::{Counted, call, u32_layer};
use tower::Layer;
use tower_chaos::{ChaosLayer, Fault, Trigger, telemetry};

/// Captures what `tracing` writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The lines of `text` that contain `needle`.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

/// Captures what `tracing` writes at `level` and above, in this thread,
/// until the guard drops.
fn capture(level: tracing::Level) -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (out, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn chaos_is_loud_in_tracing() {
    let (out, _guard) = capture(tracing::Level::DEBUG);

    let chaos = u32_layer("loud", 77, [Fault::injected_error().when(Trigger::first(2))]);
    let mut svc = chaos.layer(Counted::default());
    for i in 0..4 {
        let _ = call(&mut svc, i).await;
    }
    let text = out.text();
    let built = lines_with(&text, "chaos layer built");
    assert_eq!(built.len(), 1, "{text}");
    assert!(built[0].contains("INFO") && built[0].contains("tower_chaos") && built[0].contains("seed=77"));
    let injected = lines_with(&text, "fault injected").len();
    assert_eq!(injected, 2, "{text}");
    assert!(text.contains("kind=\"error\""), "{text}");
}

#[tokio::test]
async fn a_fault_set_no_layer_reads_warns() {
    let (out, _guard) = capture(tracing::Level::WARN);

    let target = tower_chaos::Target::builder("silent").seed(3).build().unwrap();
    let _layer: ChaosLayer<u32> = ChaosLayer::for_target(&target);
    // Read by the layer: no warning.
    target
        .set_faults(tower_chaos::FaultSet::new().with(Fault::<u32>::hang()))
        .unwrap();
    // `u64` requests: no layer reads them.
    target
        .set_faults(tower_chaos::FaultSet::new().with(Fault::<u64>::hang()))
        .unwrap();
    let text = out.text();
    let warned = lines_with(&text, "no layer of this target reads");
    assert_eq!(warned.len(), 1, "{text}");
    assert!(
        warned[0].contains("WARN") && warned[0].contains("tower_chaos"),
        "{text}"
    );
    assert!(warned[0].contains("chaos_target=silent"), "{text}");
    assert!(warned[0].contains("FaultSet<Fault<u64,"), "{text}");
}

/// The reqwest middleware announces itself once, and each injection.
#[cfg(feature = "reqwest-middleware")]
#[tokio::test]
async fn the_reqwest_middleware_is_loud_in_tracing() {
    use tower_chaos::http::{ChaosMiddleware, SyntheticResponse};

    let (out, _guard) = capture(tracing::Level::DEBUG);
    let chaos = ChaosMiddleware::builder("loud-client")
        .seed(78)
        .fault(SyntheticResponse::service_unavailable())
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(chaos)
        .build();
    for _ in 0..2 {
        // Answered by the middleware: nothing listens on port 9.
        let response = client.get("http://127.0.0.1:9/").send().await.unwrap();
        assert_eq!(response.status(), 503);
    }
    let text = out.text();
    let built = lines_with(&text, "reqwest chaos middleware built");
    assert_eq!(built.len(), 1, "{text}");
    assert!(
        built[0].contains("INFO")
            && built[0].contains("chaos_target=loud-client")
            && built[0].contains("seed=78")
    );
    let injected = lines_with(&text, "fault injected").len();
    assert_eq!(injected, 2, "{text}");
}

/// Runs `f` under a `DEBUG` subscriber and gives the lines of its
/// injection events.
async fn injection_lines<F: std::future::Future<Output = ()>>(f: F) -> Vec<String> {
    let (out, _guard) = capture(tracing::Level::DEBUG);
    f.await;
    let text = out.text();
    lines_with(&text, telemetry::INJECTED_MESSAGE)
        .into_iter()
        .filter(|l| l.contains(telemetry::TRACING_TARGET))
        .map(str::to_owned)
        .collect()
}

/// `name=value` as the fmt subscriber writes a field.
fn field(name: &str, value: &str) -> String {
    format!("{name}={value}")
}

/// Asserts that `line` carries each `(name, value)` field.
fn assert_fields(line: &str, fields: &[(&str, &str)]) {
    for &(name, value) in fields {
        let f = field(name, value);
        assert!(line.contains(&f), "{f} in {line}");
    }
}

#[tokio::test]
async fn injections_carry_the_documented_field_names() {
    let lines = injection_lines(async {
        let chaos = u32_layer(
            "payments",
            1234,
            [
                Fault::injected_error()
                    .when(Trigger::first(1))
                    .named("first-fails"),
                Fault::hang().when(Trigger::first(2)),
            ],
        );
        let mut svc = chaos.layer(Counted::default());
        let _ = call(&mut svc, 1).await; // the error (rule 0)
        // The hang (rule 1): polled once, then dropped.
        let mut hung = std::pin::pin!(call(&mut svc, 2));
        assert!(support::poll_once(&mut hung).is_none());
    })
    .await;
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let error = &lines[0];
    for f in [
        field(telemetry::FAULT_KIND, "\"error\""),
        field(telemetry::FAULT_TARGET, "payments"),
        field(telemetry::FAULT_RULE, "\"first-fails\""),
        field(telemetry::FAULT_RULE_INDEX, "0"),
        field(telemetry::FAULT_SEED, "1234"),
        field(telemetry::ERROR_TYPE, "injected_error"),
    ] {
        assert!(error.contains(&f), "{f} in {error}");
    }
    assert!(!error.contains(telemetry::FAULT_DELAY_NS), "{error}");
    let hang = &lines[1];
    assert_fields(
        hang,
        &[
            (telemetry::FAULT_KIND, "\"hang\""),
            (telemetry::FAULT_RULE_INDEX, "1"),
            (telemetry::ERROR_TYPE, "timeout"),
        ],
    );
    // An unnamed rule has no `fault.rule`.
    assert!(!hang.contains(&format!("{}=", telemetry::FAULT_RULE)), "{hang}");
}

#[tokio::test(start_paused = true)]
async fn a_delay_carries_its_nanoseconds_and_no_error_type() {
    let lines = injection_lines(async {
        let delay = tower_chaos::Latency::fixed(std::time::Duration::from_millis(250));
        let chaos = u32_layer("slow", 1, [Fault::latency(delay).into()]);
        let mut svc = chaos.layer(Counted::default());
        call(&mut svc, 1).await.unwrap();
    })
    .await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_fields(&lines[0], &[(telemetry::FAULT_DELAY_NS, "250000000")]);
    assert!(!lines[0].contains(telemetry::ERROR_TYPE), "{}", lines[0]);
}

#[cfg(feature = "http")]
#[tokio::test]
async fn a_synthesized_status_reports_its_code_as_error_type() {
    use tower::{Service, ServiceExt};
    use tower_chaos::http::{HttpChaosLayer, HttpFault, SyntheticResponse};

    let lines = injection_lines(async {
        let layer = HttpChaosLayer::builder("s3")
            .seed(5)
            .fault(HttpFault::Respond(SyntheticResponse::service_unavailable()))
            .fault(
                HttpFault::Respond(SyntheticResponse::grpc_unavailable()).when(tower_chaos::Trigger::never()),
            )
            .build()
            .unwrap();
        let mut svc = layer.layer(tower::service_fn(|_req: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }));
        let response = svc
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(String::new()))
            .await
            .unwrap();
        assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    })
    .await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_fields(
        &lines[0],
        &[
            (telemetry::FAULT_KIND, "\"status\""),
            (telemetry::ERROR_TYPE, "503"),
        ],
    );
}
