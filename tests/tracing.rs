//! Chaos is loud about being on. Its own binary: tracing's per-callsite
//! interest cache is process-wide, and tests running in parallel without a
//! subscriber would disable the callsites this test listens to.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::{Counted, call};
use tower::Layer;
use tower_chaos::{ChaosLayer, Fault, Trigger};

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

#[tokio::test]
async fn chaos_is_loud_in_tracing() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let chaos: ChaosLayer<u32> = ChaosLayer::builder("loud")
        .seed(77)
        .fault(Fault::injected_error().when(Trigger::first(2)))
        .build()
        .unwrap();
    let mut svc = chaos.layer(Counted::default());
    for i in 0..4 {
        let _ = call(&mut svc, i).await;
    }
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let built: Vec<&str> = text.lines().filter(|l| l.contains("chaos layer built")).collect();
    assert_eq!(built.len(), 1, "{text}");
    assert!(built[0].contains("INFO") && built[0].contains("tower_chaos") && built[0].contains("seed=77"));
    let injected = text.lines().filter(|l| l.contains("fault injected")).count();
    assert_eq!(injected, 2, "{text}");
    assert!(text.contains("kind=\"error\""), "{text}");
}

#[tokio::test]
async fn a_fault_set_no_layer_reads_warns() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let warned: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("no layer of this target reads"))
        .collect();
    assert_eq!(warned.len(), 1, "{text}");
    assert!(
        warned[0].contains("WARN") && warned[0].contains("tower_chaos"),
        "{text}"
    );
    assert!(warned[0].contains("chaos_target=silent"), "{text}");
    assert!(warned[0].contains("FaultSet<Fault<u64,"), "{text}");
}
