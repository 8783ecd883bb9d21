//! Replay specs: one line that names a run's seed and fault set,
//! `seed=7; lost-reply@payments#1 & status:503@inventory GET /stock#1`.

use super::error::ExploreError;
use super::menu::MenuFault;
use super::point::{Injection, Point, Signature};

/// The faults, `&`-separated (`none` for the empty set).
pub(crate) fn list(faults: &[Injection]) -> String {
    if faults.is_empty() {
        return "none".to_owned();
    }
    faults
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" & ")
}

/// The replay spec of a run.
pub(crate) fn format(seed: u64, faults: &[Injection]) -> String {
    format!("seed={seed}; {}", list(faults))
}

/// Reads a spec back; `targets` are the explorer's target names, which
/// tell where a point's target name ends.
pub(crate) fn parse(spec: &str, targets: &[&str]) -> Result<(u64, Vec<Injection>), ExploreError> {
    let bad = |reason: String| ExploreError::Spec {
        spec: spec.to_owned(),
        reason,
    };
    let (seed, faults) = spec
        .split_once(';')
        .ok_or_else(|| bad("expected `seed=<u64>; <fault>@<point> & ...`".into()))?;
    let seed = seed
        .trim()
        .strip_prefix("seed=")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| bad(format!("`{}` is not `seed=<u64>`", seed.trim())))?;
    let faults = faults.trim();
    if faults == "none" {
        return Ok((seed, Vec::new()));
    }
    let mut out = Vec::new();
    for item in faults.split(" & ") {
        let (fault, point) = item
            .trim()
            .split_once('@')
            .ok_or_else(|| bad(format!("`{item}` is not `<fault>@<point>`")))?;
        let fault: MenuFault = fault.parse().map_err(|e| bad(format!("{e}")))?;
        out.push(Injection::new(point_of(point, targets).map_err(bad)?, fault));
    }
    Ok((seed, out))
}

fn point_of(text: &str, targets: &[&str]) -> Result<Point, String> {
    let (at, n) = text
        .rsplit_once('#')
        .ok_or_else(|| format!("`{text}` has no `#<occurrence>`"))?;
    let occurrence: u32 = n
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("`{n}` in `{text}` is not an occurrence (>= 1)"))?;
    // The longest target name that `at` starts with, followed by nothing
    // (a call) or by a space (an HTTP signature).
    let target = targets
        .iter()
        .filter(|t| at == **t || at.strip_prefix(**t).is_some_and(|r| r.starts_with(' ')))
        .max_by_key(|t| t.len())
        .ok_or_else(|| {
            format!(
                "`{text}` names no target of this explorer ({})",
                targets.join(", ")
            )
        })?;
    let rest = at[target.len()..].trim_start();
    let signature = if rest.is_empty() {
        Signature::Call
    } else if let Some(key) = rest.strip_prefix("key=") {
        Signature::Key(key.to_owned())
    } else if rest == "connect" {
        Signature::Connect {
            host: None,
            port: None,
        }
    } else if let Some(addr) = rest.strip_prefix("connect ") {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("`{addr}` is not `<host>:<port>`"))?;
        let port = match port {
            "?" => None,
            p => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("`{p}` in `{text}` is not a port"))?,
            ),
        };
        Signature::Connect {
            host: (host != "?").then(|| host.to_owned()),
            port,
        }
    } else {
        let (method, path) = rest
            .split_once(' ')
            .ok_or_else(|| format!("`{rest}` is not `<METHOD> <path>`"))?;
        Signature::Http {
            method: method.to_owned(),
            path: path.to_owned(),
        }
    };
    Ok(Point::new(*target, signature, occurrence))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any fault set over targets whose names hold no ` & ` (the
        /// explorer refuses those) reads back as written.
        #[test]
        fn any_spec_reads_back(
            seed in proptest::prelude::any::<u64>(),
            items in proptest::collection::vec(
                (0usize..2, 0u8..4, "[a-z/{}@#;.-]{1,8}", 1u32..5, 0usize..6),
                0..4,
            ),
        ) {
            let targets = ["db", "db replica"];
            let faults = [MenuFault::Error, MenuFault::Status(503), MenuFault::Refused, MenuFault::Delay(std::time::Duration::from_millis(7)), MenuFault::TruncateBody(0), MenuFault::DnsFailure];
            let faults: Vec<Injection> = items
                .into_iter()
                .map(|(t, sig, text, n, f)| {
                    let signature = match sig {
                        0 => Signature::Call,
                        1 => Signature::Key(text),
                        2 => Signature::Http { method: "GET".into(), path: format!("/{text}") },
                        _ => Signature::Connect { host: Some(text), port: Some(5432) },
                    };
                    Injection::new(Point::new(targets[t], signature, n), faults[f])
                })
                .collect();
            let spec = format(seed, &faults);
            proptest::prop_assert_eq!(parse(&spec, &targets).unwrap(), (seed, faults), "{}", spec);
        }
    }

    #[test]
    fn a_spec_reads_back_what_it_prints() {
        let faults = vec![
            Injection::new(Point::new("pay ments", Signature::Call, 2), MenuFault::LostReply),
            Injection::new(
                Point::new(
                    "pay",
                    Signature::Http {
                        method: "GET".into(),
                        path: "/a b".into(),
                    },
                    1,
                ),
                MenuFault::Status(503),
            ),
        ];
        let connects = [
            Injection::new(
                Point::new(
                    "db",
                    Signature::Connect {
                        host: None,
                        port: None,
                    },
                    2,
                ),
                MenuFault::Refused,
            ),
            Injection::new(
                Point::new(
                    "db",
                    Signature::Connect {
                        host: Some("db.internal".into()),
                        port: Some(5432),
                    },
                    1,
                ),
                MenuFault::DnsFailure,
            ),
        ];
        let keyed = [Injection::new(
            Point::new("pay", Signature::Key("refund 2".into()), 1),
            MenuFault::Hang,
        )];
        assert_eq!(
            parse("seed=2; hang@pay key=refund 2#1", &["pay"]).unwrap(),
            (2, keyed.to_vec())
        );
        let spec = format(3, &connects);
        assert_eq!(
            spec,
            "seed=3; refused@db connect#2 & dns-failure@db connect db.internal:5432#1"
        );
        assert_eq!(parse(&spec, &["db"]).unwrap(), (3, connects.to_vec()));
        let spec = format(9, &faults);
        assert_eq!(spec, "seed=9; lost-reply@pay ments#2 & status:503@pay GET /a b#1");
        assert_eq!(parse(&spec, &["pay", "pay ments"]).unwrap(), (9, faults));
        assert_eq!(parse("seed=1; none", &["x"]).unwrap(), (1, vec![]));
        for bad in [
            "",
            "seed=x; none",
            "seed=1; hang@y#1",
            "seed=1; hang@x#0",
            "seed=1; boom@x#1",
            "seed=1; hang@x",
        ] {
            assert!(parse(bad, &["x"]).is_err(), "{bad}");
        }
    }
}
