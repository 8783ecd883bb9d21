//! Runs per second of a whole exploration of the example checkout
//! (`examples/explore.rs`): the baseline, every single fault, the pairs
//! a fault opens, and the shrinking, each run on its own
//! paused-time runtime.
//!
//! `cargo bench --features explore --bench explore` — `all-bugs` is the
//! shop with its three planted bugs (24 runs, 7 minimal failing sets),
//! `fixed` the fixed shop (reported clean). Throughput is in runs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[allow(dead_code, unreachable_pub)] // the example's `main` is not used here
#[path = "../examples/explore.rs"]
mod shop;

use shop::{Bugs, Shop};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("explore");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    let all = Bugs {
        no_inventory_timeout: true,
        retry_without_key: true,
        unguarded_fallback: true,
    };
    for (id, bugs) in [("all-bugs", all), ("fixed", Bugs::default())] {
        let shop = Shop::default();
        let runs = shop.explorer(id).run(shop.test(bugs)).expect("exploration").runs;
        group.throughput(Throughput::Elements(runs as u64));
        group.bench_function(id, |b| {
            b.iter(|| black_box(shop.explorer(id).run(shop.test(bugs)).expect("exploration").runs));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
