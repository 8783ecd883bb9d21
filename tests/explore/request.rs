//! The shop's bugs, found by exploring its request-level targets.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tower::{BoxError, Layer, ServiceExt, service_fn};
use tower_chaos::ChaosLayer;

use tower_chaos::explore::{Exploration, ExploreError, Explorer, Limit, MenuFault, Verdict};

use crate::failing;
use crate::shop::{Bugs, Shop};

fn explore(bugs: Bugs) -> Exploration {
    let shop = Shop::default();
    shop.explorer("checkout").run(shop.test(bugs)).unwrap()
}

#[test]
fn the_fixed_shop_survives_every_single_fault_and_every_pair_a_fault_opens() {
    let outcome = explore(Bugs::default());
    outcome.assert_survives().unwrap();
    assert!(outcome.is_complete());
    // payments#1, inventory#1, shipping#1 in the baseline; retries and the
    // fallback only under faults.
    assert_eq!(outcome.baseline_points, 3);
    assert_eq!(outcome.new_points, 5, "{outcome}");
    assert!(
        outcome.points.iter().all(|t| t.verdict == Verdict::Passed),
        "{outcome}"
    );
    // Dynamic reduction: far fewer runs than every pair of points.
    assert!(
        outcome.runs * 5 < usize::try_from(outcome.brute_force).unwrap(),
        "{outcome}"
    );
}

#[test]
fn a_dependency_without_timeout_fails_on_a_hang_and_on_a_hanging_retry() {
    let outcome = explore(Bugs {
        no_inventory_timeout: true,
        ..Bugs::default()
    });
    assert_eq!(
        failing(&outcome),
        ["hang@inventory#1", "error@inventory#1 & hang@inventory#2"],
        "{outcome}"
    );
    assert_eq!(outcome.failures[0].error, "checkout did not answer within 5s");
}

#[test]
fn a_retry_without_idempotency_key_charges_twice_after_a_lost_reply() {
    let outcome = explore(Bugs {
        retry_without_key: true,
        ..Bugs::default()
    });
    assert_eq!(
        failing(&outcome),
        [
            "lost-reply@payments#1",
            "error@payments#1 & lost-reply@payments#2"
        ],
        "{outcome}"
    );
    assert_eq!(outcome.failures[0].error, "customer charged 2 times");
}

#[test]
fn a_broken_fallback_is_found_only_as_a_pair_with_its_primary() {
    let outcome = explore(Bugs {
        unguarded_fallback: true,
        ..Bugs::default()
    });
    assert_eq!(
        failing(&outcome),
        [
            "error@shipping#1 & error@flat-rate#1",
            "error@shipping#1 & hang@flat-rate#1",
            "error@shipping#1 & lost-reply@flat-rate#1",
        ],
        "{outcome}"
    );
    // Every single fault passes: the fallback is reached only when the
    // primary fails.
    assert!(
        outcome
            .points
            .iter()
            .filter(|t| t.with.is_empty())
            .all(|t| t.verdict == Verdict::Passed),
        "{outcome}"
    );
    // At each baseline point, hang and lost reply reach the same points as
    // the error (the retry, the fallback): their extensions are not
    // explored again.
    assert_eq!(outcome.deduplicated, 3 * 2, "{outcome}");
    let shown = outcome.to_string();
    assert!(
        shown.contains("failed      error@flat-rate#1  (with error@shipping#1)"),
        "{shown}"
    );
}

#[test]
fn max_faults_one_tries_single_faults_only() {
    let shop = Shop::default();
    let outcome = shop
        .explorer("singles")
        .max_faults(1)
        .run(shop.test(Bugs {
            unguarded_fallback: true,
            ..Bugs::default()
        }))
        .unwrap();
    outcome.assert_survives().unwrap();
    assert_eq!(outcome.runs, 1 + 3 * 3, "{outcome}");
    // Brute force counts the points single faults opened (the retries of
    // payments and inventory, the fallback) as well: 6 points x 3 faults.
    assert_eq!(
        (outcome.new_points, outcome.brute_force),
        (3, 1 + 6 * 3),
        "{outcome}"
    );
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let bugs = Bugs {
        retry_without_key: true,
        unguarded_fallback: true,
        ..Bugs::default()
    };
    let (a, b) = (explore(bugs), explore(bugs));
    assert_eq!(a, b);
    assert_eq!(a.to_string(), b.to_string());
    let shop = Shop::default();
    let other = shop.explorer("checkout").seed(8).run(shop.test(bugs)).unwrap();
    assert_eq!(
        failing(&other),
        failing(&a),
        "the faults found do not depend on the seed"
    );
    assert_ne!(other.failures[0].replay, a.failures[0].replay, "the run seeds do");
}

#[test]
fn a_replay_line_reproduces_its_failure_alone() {
    let bugs = Bugs {
        unguarded_fallback: true,
        ..Bugs::default()
    };
    let outcome = explore(bugs);
    let shop = Shop::default();
    for failure in &outcome.failures {
        let replay = shop
            .explorer("replay")
            .replay(&failure.replay, shop.test(bugs))
            .unwrap();
        assert_eq!(
            replay.error.as_deref(),
            Some(failure.error.as_str()),
            "{}",
            failure.replay
        );
        assert!(replay.not_reached.is_empty());
        assert_eq!(replay.faults, failure.faults);
    }
    // Without its primary's fault, the fallback is never reached.
    let alone = shop
        .explorer("replay")
        .replay("seed=1; error@flat-rate#1", shop.test(bugs))
        .unwrap();
    assert!(alone.passed());
    assert_eq!(alone.not_reached.len(), 1);
}

#[test]
fn the_budget_reports_what_it_skipped() {
    let shop = Shop::default();
    let bugs = Bugs {
        unguarded_fallback: true,
        ..Bugs::default()
    };
    let outcome = shop.explorer("budget").max_runs(5).run(shop.test(bugs)).unwrap();
    assert_eq!(outcome.runs, 5);
    assert_eq!(outcome.stopped_by, Some(Limit::Runs(5)));
    assert!(!outcome.is_complete());
    // 4 of the 9 singles run; 5 skipped, and the 3 + 3 pairs that the
    // errors at payments#1 and inventory#1 opened (their retries).
    assert_eq!(outcome.skipped.len(), 11, "{outcome}");
    assert_eq!(outcome.skipped[5], "error@payments#1 & error@payments#2");
    let skipped_rows = outcome
        .points
        .iter()
        .filter(|t| t.verdict == Verdict::Skipped)
        .count();
    assert_eq!(skipped_rows, 11);
    assert!(
        outcome
            .to_string()
            .contains("stopped by max_runs = 5: 11 planned runs skipped"),
        "{outcome}"
    );

    // No time left after the baseline: every single is skipped.
    let outcome = shop
        .explorer("no time")
        .max_wall_time(Duration::from_nanos(1))
        .run(shop.test(bugs))
        .unwrap();
    assert_eq!((outcome.runs, outcome.skipped.len()), (1, 9));
    assert_eq!(outcome.stopped_by, Some(Limit::WallTime(Duration::from_nanos(1))));
}

#[test]
fn a_custom_menu_and_a_caller_timeout_are_what_gets_tried() {
    let shop = Shop::default();
    let outcome = Explorer::new("menus")
        .target_with_menu(&shop.payments, [MenuFault::LostReply])
        .target(&shop.inventory)
        .caller_timeout(Duration::from_secs(1))
        .max_faults(1)
        .seed(3)
        .run(shop.test(Bugs {
            retry_without_key: true,
            ..Bugs::default()
        }))
        .unwrap();
    let tried: Vec<String> = outcome.points.iter().map(|t| t.injection.to_string()).collect();
    assert_eq!(
        tried,
        [
            "lost-reply@payments#1",
            "error@inventory#1",
            "hang@inventory#1",
            "lost-reply@inventory#1",
            "delay:1001ms@inventory#1",
        ]
    );
    assert_eq!(failing(&outcome), ["lost-reply@payments#1"]);
}

#[test]
fn a_panicking_test_is_a_failure_with_its_message() {
    let shop = Shop::default();
    let layer = shop.inventory.clone();
    let outcome = Explorer::new("panics")
        .target(&shop.inventory)
        .max_faults(1)
        .seed(1)
        .run(move || {
            let mut svc = tower::Layer::layer(
                &layer,
                tower::service_fn(|n: u64| async move { Ok::<_, tower::BoxError>(n) }),
            );
            async move {
                use tower::{Service, ServiceExt};
                let got =
                    tokio::time::timeout(Duration::from_secs(1), svc.ready().await.unwrap().call(1)).await;
                assert!(matches!(got, Ok(Ok(1))), "inventory answered {got:?}");
                Ok::<(), String>(())
            }
        })
        .unwrap();
    assert_eq!(outcome.failures.len(), 3);
    assert!(
        outcome
            .failures
            .iter()
            .all(|f| f.error.starts_with("panicked: inventory answered")),
        "{outcome}"
    );
}

#[test]
fn bad_settings_are_typed_errors_naming_field_and_value() {
    let shop = Shop::default();
    let test = || async { Ok::<(), String>(()) };
    let cases: [(Explorer, &str); 6] = [
        (
            Explorer::new("x"),
            "invalid `explorer.targets` = 0: add at least one target",
        ),
        (
            shop.explorer("x").max_faults(64),
            "invalid `explorer.max_faults` = 64: must be within 1..=63",
        ),
        (
            shop.explorer("x").max_runs(0),
            "invalid `explorer.max_runs` = 0: must be at least 1",
        ),
        (
            shop.explorer("x").run_timeout(Duration::ZERO),
            "invalid `explorer.run_timeout` = 0ns: must be more than zero",
        ),
        (
            shop.explorer("x").target(&shop.payments),
            "invalid `explorer.target` = \"payments\": two targets with the same name",
        ),
        (
            Explorer::new("x").target_with_menu(&shop.payments, []),
            "invalid `explorer.menu` = \"payments\": must list at least one fault",
        ),
    ];
    for (explorer, message) in cases {
        let err = explorer.run(test).unwrap_err();
        assert!(matches!(err, ExploreError::Config(_)), "{err:?}");
        assert_eq!(err.to_string(), message);
    }
    let err = shop
        .explorer("x")
        .replay("seed=1; hang@payments", test)
        .unwrap_err();
    assert!(matches!(err, ExploreError::Spec { .. }), "{err:?}");

    let odd: ChaosLayer<u64> = ChaosLayer::builder("a & b").seed(1).build().unwrap();
    let err = Explorer::new("x").target(&odd).run(test).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid `explorer.target` = \"a & b\""),
        "{err}"
    );
    shop.payments.target().disable();
    let err = shop.explorer("x").run(test).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid `explorer.target` = \"payments\": is disabled"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn inside_a_tokio_runtime_the_explorer_refuses_rather_than_panics() {
    let shop = Shop::default();
    let err = shop
        .explorer("nested")
        .run(shop.test(Bugs::default()))
        .unwrap_err();
    assert!(matches!(err, ExploreError::InsideRuntime), "{err:?}");
    assert!(err.to_string().contains("plain `#[test]`"));
}

#[cfg(feature = "serde")]
#[test]
fn the_report_serialises_with_its_points_failures_and_replays() {
    let outcome = explore(Bugs {
        retry_without_key: true,
        ..Bugs::default()
    });
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["seed"], 7);
    assert_eq!(json["runs"], outcome.runs);
    assert_eq!(json["stopped_by"], serde_json::Value::Null);
    let failure = &json["failures"][0];
    assert_eq!(failure["error"], "customer charged 2 times");
    assert_eq!(failure["faults"][0]["fault"], "LostReply");
    assert_eq!(failure["faults"][0]["point"]["target"], "payments");
    assert_eq!(failure["faults"][0]["point"]["signature"], "Call");
    assert_eq!(failure["replay"], outcome.failures[0].replay);
    assert_eq!(json["points"][0]["verdict"], "passed");
}

/// A write retried once, then a read; every call tolerant, within 1 s.
fn write_then_read(
    layer: &ChaosLayer<&'static str>,
) -> impl FnMut() -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
    let layer = layer.clone();
    move || {
        let svc = layer.layer(service_fn(
            |op: &'static str| async move { Ok::<_, BoxError>(op) },
        ));
        Box::pin(async move {
            let call = |op| tokio::time::timeout(Duration::from_secs(1), svc.clone().oneshot(op));
            if !matches!(call("write").await, Ok(Ok(_))) {
                let _ = call("write").await;
            }
            let _ = call("read").await;
            Ok(())
        })
    }
}

#[test]
fn keys_name_the_retry_as_the_new_point_where_call_order_shifts_the_read() {
    let db: ChaosLayer<&'static str> = ChaosLayer::builder("db").seed(1).build().unwrap();
    let pairs = |outcome: &Exploration| -> Vec<String> {
        let mut at: Vec<String> = outcome
            .points
            .iter()
            .filter(|t| !t.with.is_empty())
            .map(|t| t.injection.point.to_string())
            .collect();
        at.dedup();
        at
    };
    let by_order = Explorer::new("order")
        .target(&db)
        .seed(1)
        .run(write_then_read(&db))
        .unwrap();
    let by_key = Explorer::new("key")
        .target_keyed(&db, |op: &&'static str| (*op).to_owned())
        .seed(1)
        .run(write_then_read(&db))
        .unwrap();
    by_order.assert_survives().unwrap();
    by_key.assert_survives().unwrap();
    // By order, the retry takes the read's place (`db#2`, a baseline
    // point) and the read becomes `db#3`: the pairs fault the read.
    assert_eq!(pairs(&by_order), ["db#3"], "{by_order}");
    // By key, the read stays `read#1`: the pairs fault the retry.
    assert_eq!(pairs(&by_key), ["db key=write#2"], "{by_key}");
}

#[test]
fn a_budget_that_ends_during_shrinking_leaves_the_failure_marked_not_minimal() {
    let bugs = Bugs {
        unguarded_fallback: true,
        ..Bugs::default()
    };
    let full = explore(bugs);
    let shop = Shop::default();
    // The last run of the full exploration shrinks its last failing pair.
    let cut = shop
        .explorer("checkout")
        .max_runs(full.runs - 1)
        .run(shop.test(bugs))
        .unwrap();
    assert_eq!(cut.stopped_by, Some(Limit::Runs(full.runs - 1)));
    assert_eq!(cut.failures.len(), full.failures.len());
    let last = cut.failures.last().unwrap();
    assert!(!last.minimal);
    assert!(last.to_string().contains("(not shrunk: budget)"), "{last}");
    assert!(cut.failures[..cut.failures.len() - 1].iter().all(|f| f.minimal));
}

#[test]
fn a_report_read_inside_a_run_counts_that_run_only() {
    let shop = Shop::default();
    let (inventory, target) = (shop.inventory.clone(), shop.inventory.target().clone());
    let outcome = Explorer::new("reads its report")
        .target(&shop.inventory)
        .max_faults(1)
        .seed(2)
        .run(move || {
            let (svc, target) = (
                inventory.layer(service_fn(|n: u64| async move { Ok::<_, BoxError>(n) })),
                target.clone(),
            );
            async move {
                for n in 0..2 {
                    let _ = tokio::time::timeout(Duration::from_secs(1), svc.clone().oneshot(n)).await;
                }
                let report = target.report();
                match (report.seen, report.faulted) {
                    (2, 0 | 1) => Ok(()),
                    (seen, faulted) => Err(format!("the report counts {seen} calls, {faulted} faulted")),
                }
            }
        })
        .unwrap();
    outcome.assert_survives().unwrap();
    assert_eq!(outcome.runs, 1 + 2 * 3);
}

#[test]
fn three_faults_exhaust_three_attempts_and_are_found_as_a_triple() {
    let shop = Shop::default();
    let outcome = shop
        .explorer("depth 3")
        .max_faults(3)
        .run(shop.test(Bugs::default()))
        .unwrap();
    let found = failing(&outcome);
    // Each triple is a fault at every attempt of payments or of
    // inventory; the first fault opening each retry is the error (the
    // hang and the lost reply reach the same points: deduplicated).
    assert_eq!(found.len(), 2 * 3, "{outcome}");
    for f in &found[..3] {
        assert!(
            f.starts_with("error@payments#1 & error@payments#2 & "),
            "{outcome}"
        );
    }
    for f in &found[3..] {
        assert!(
            f.starts_with("error@inventory#1 & error@inventory#2 & "),
            "{outcome}"
        );
    }
    assert_eq!(
        outcome.failures[0].error,
        "payment failed: tower-chaos injected an error fault on target `payments`"
    );
}
