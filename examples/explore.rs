//! Exploring a checkout's fault space (`cargo run --example explore
//! --features explore`, add `-- --fixed` for the fixed shop).
//!
//! A checkout over four dependencies, each a tower `service_fn` behind a
//! `ChaosLayer`, called in process (no socket): `payments` (charged with
//! up to three attempts), `inventory` (reserved the same way), `shipping`
//! (a quote) and `flat-rate` (the quote's fallback, reached only when
//! `shipping` fails). Each [`Bugs`] flag plants one resilience bug that
//! real services have; the explorer finds each with its minimal fault set,
//! and reports the fixed shop clean. `tests/explore` asserts what this
//! prints; `benches/explore.rs` times it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower::{BoxError, Layer, Service, ServiceExt, service_fn};
use tower_chaos::ChaosLayer;
use tower_chaos::explore::Explorer;

/// The bugs planted; `Bugs::default()` is the fixed shop.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bugs {
    /// Inventory is called without a timeout: a hang hangs the checkout.
    pub no_inventory_timeout: bool,
    /// Payment retries carry no idempotency key: a lost reply charges twice.
    pub retry_without_key: bool,
    /// The quote's fallback is called without a timeout and its error is
    /// not handled: only a failing primary reaches it.
    pub unguarded_fallback: bool,
}

/// A charge request: cents, and the idempotency key if the caller sends one.
#[derive(Debug, Clone, Copy)]
pub struct Charge {
    /// The amount.
    pub cents: u64,
    /// The idempotency key, if the caller sends one.
    pub key: Option<u64>,
}

/// The shop's targets (built once; each run builds fresh services on them).
#[derive(Debug, Clone)]
pub struct Shop {
    /// The card charges.
    pub payments: ChaosLayer<Charge>,
    /// Stock reservations.
    pub inventory: ChaosLayer<u64>,
    /// The shipping quote.
    pub shipping: ChaosLayer<u64>,
    /// The quote's fallback.
    pub flat_rate: ChaosLayer<u64>,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(1);
const ATTEMPTS: usize = 3;
/// What the user waits for at most.
pub const DEADLINE: Duration = Duration::from_secs(5);

impl Default for Shop {
    /// The four targets, seeded.
    fn default() -> Self {
        Self {
            payments: ChaosLayer::builder("payments").seed(1).build().unwrap(),
            inventory: ChaosLayer::builder("inventory").seed(2).build().unwrap(),
            shipping: ChaosLayer::builder("shipping").seed(3).build().unwrap(),
            flat_rate: ChaosLayer::builder("flat-rate").seed(4).build().unwrap(),
        }
    }
}

impl Shop {
    /// An explorer over the four targets, seeded.
    pub fn explorer(&self, name: &str) -> Explorer {
        Explorer::new(name)
            .target(&self.payments)
            .target(&self.inventory)
            .target(&self.shipping)
            .target(&self.flat_rate)
            .seed(7)
    }

    /// The test the explorer runs: one checkout, answered within the
    /// deadline, placed, and charged exactly once.
    pub fn test(
        &self,
        bugs: Bugs,
    ) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>>>> {
        let shop = self.clone();
        move || {
            let shop = shop.clone();
            Box::pin(async move {
                let charges = Arc::new(Mutex::new(Vec::<Option<u64>>::new()));
                let placed = tokio::time::timeout(DEADLINE, shop.checkout(bugs, &charges))
                    .await
                    .map_err(|_| format!("checkout did not answer within {DEADLINE:?}"))??;
                let charged = charges.lock().unwrap().len();
                if charged != 1 {
                    return Err(format!("customer charged {charged} times"));
                }
                if placed == 0 {
                    return Err("order placed without a shipping quote".into());
                }
                Ok(())
            })
        }
    }

    /// Places an order of 250 cents; the shipping quote it got.
    async fn checkout(&self, bugs: Bugs, charges: &Arc<Mutex<Vec<Option<u64>>>>) -> Result<u64, String> {
        let ledger = Arc::clone(charges);
        let payments = self.payments.layer(service_fn(move |c: Charge| {
            let ledger = Arc::clone(&ledger);
            async move {
                let mut ledger = ledger.lock().unwrap();
                // The payment provider deduplicates retries by key.
                if c.key.is_none() || !ledger.contains(&c.key) {
                    ledger.push(c.key);
                }
                Ok::<_, BoxError>(c.cents)
            }
        }));
        let inventory = self
            .inventory
            .layer(service_fn(|_item: u64| async { Ok::<_, BoxError>(1) }));
        let shipping = self
            .shipping
            .layer(service_fn(|_to: u64| async { Ok::<_, BoxError>(500) }));
        let flat_rate = self
            .flat_rate
            .layer(service_fn(|_to: u64| async { Ok::<_, BoxError>(700) }));

        let charge = Charge {
            cents: 250,
            key: (!bugs.retry_without_key).then_some(42),
        };
        retry(&payments, charge, Some(CALL_TIMEOUT))
            .await
            .map_err(|e| format!("payment failed: {e}"))?;
        let inventory_timeout = (!bugs.no_inventory_timeout).then_some(CALL_TIMEOUT);
        retry(&inventory, 7, inventory_timeout)
            .await
            .map_err(|e| format!("inventory failed: {e}"))?;
        let quote = match call(&shipping, 1, Some(CALL_TIMEOUT)).await {
            Ok(q) => q,
            Err(_) if bugs.unguarded_fallback => call(&flat_rate, 1, None)
                .await
                .map_err(|e| format!("no quote: {e}"))?,
            // A flat default when even the fallback fails.
            Err(_) => call(&flat_rate, 1, Some(CALL_TIMEOUT)).await.unwrap_or(900),
        };
        Ok(quote)
    }
}

/// One call, with a timeout if given.
async fn call<S, R>(svc: &S, req: R, timeout: Option<Duration>) -> Result<S::Response, String>
where
    S: Service<R, Error = BoxError> + Clone,
{
    let fut = svc.clone().oneshot(req);
    match timeout {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .map_err(|_| "timed out".to_owned())?,
        None => fut.await,
    }
    .map_err(|e| e.to_string())
}

/// Up to [`ATTEMPTS`] calls until one succeeds.
async fn retry<S, R: Copy>(svc: &S, req: R, timeout: Option<Duration>) -> Result<S::Response, String>
where
    S: Service<R, Error = BoxError> + Clone,
{
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match call(svc, req, timeout).await {
            Ok(r) => return Ok(r),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn main() {
    let fixed = std::env::args().any(|a| a == "--fixed");
    let bugs = if fixed {
        Bugs::default()
    } else {
        Bugs {
            no_inventory_timeout: true,
            retry_without_key: true,
            unguarded_fallback: true,
        }
    };
    let shop = Shop::default();
    let started = std::time::Instant::now();
    let outcome = match shop.explorer("checkout").run(shop.test(bugs)) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("exploration could not run: {e}");
            std::process::exit(2);
        }
    };
    println!("{outcome}");
    println!(
        "{} runs instead of {} (brute force), in {:?}",
        outcome.runs,
        outcome.brute_force,
        started.elapsed()
    );
    if let Err(e) = outcome.assert_survives() {
        println!("{e}");
    }
}
