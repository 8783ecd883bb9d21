//! Chaos is loud about being on. Its own binary: tracing's per-callsite
//! interest cache is process-wide, and tests running in parallel without a
//! subscriber would disable the callsites this test listens to.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::{Counted, call, u32_layer};
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

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Captures, until the guard drops, what this thread's `tracing` writes at
/// `level` and above.
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
    let built: Vec<&str> = text.lines().filter(|l| l.contains("chaos layer built")).collect();
    assert_eq!(built.len(), 1, "{text}");
    assert!(built[0].contains("INFO") && built[0].contains("tower_chaos") && built[0].contains("seed=77"));
    let injected = text.lines().filter(|l| l.contains("fault injected")).count();
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
