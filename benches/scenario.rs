//! Wall time to replay the 14-hour AWS us-east-1 2025-10 preset under
//! paused time with a steady client, against the same client and layers
//! with no rehearsal running, measured in one run.
//!
//! `cargo bench --features full --bench scenario` — each iteration replays
//! the preset's 14 h 52 min (53,519 calls, one a second, each opening a
//! connection through the target's connect faults and sending a request
//! through its HTTP chaos layer) on a current-thread runtime whose clock
//! is paused. `steady-client` is that client alone; `rehearsal` adds the
//! rehearsal: the timeline's cuts, the DNS outage and the report.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::{Builder, Runtime};
use tower_chaos::scenario::presets;

#[path = "../tests/support/replay.rs"]
mod replay;

fn paused_runtime() -> Runtime {
    Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

fn bench(c: &mut Criterion) {
    let scenario = presets::aws_dynamodb_dns_2025();
    let mut group = c.benchmark_group("replay-aws-dynamodb-dns-2025");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    for (id, rehearse) in [("steady-client", false), ("rehearsal", true)] {
        group.bench_function(id, |b| {
            b.iter(|| {
                // A fresh paused runtime each time: its clock starts at zero.
                let rt = paused_runtime();
                black_box(rt.block_on(replay::steady(&scenario, rehearse)).calls)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
