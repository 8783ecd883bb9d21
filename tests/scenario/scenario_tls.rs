//! The certificate-expiry preset (`azure_storage_2013`, feature `tls`)
//! replayed under paused time through a TLS-terminating `Proxy`: a client
//! that makes a new connection per call fails every handshake of the
//! expiry with the client's own "certificate expired" and recovers on the
//! renewed certificate (the terminator rotated when the phase ends), while
//! a connection made before the expiry never sees it.

use std::time::Duration;

use crate::support::io::echo_server;

use crate::support::tls::{connect, fault_seen, presented};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tokio_rustls::client::TlsStream;
use tower_chaos::io::{Proxy, TestCa, TlsFault, TlsTerminator};
use tower_chaos::scenario::{Rehearsal, presets};
use tower_chaos::{FaultKind, Target};

const MIN: Duration = Duration::from_secs(60);

async fn ping(conn: &mut TlsStream<TcpStream>) -> bool {
    let mut byte = [0u8; 1];
    conn.write_all(b"p").await.is_ok() && conn.read_exact(&mut byte).await.is_ok()
}

#[tokio::test(start_paused = true)]
async fn azure_storage_2013_fails_new_handshakes_for_12_hours_only() {
    let s = presets::azure_storage_2013();
    let expired = s.phase("certificate-expired").unwrap();
    assert_eq!(
        (expired.start(), expired.duration()),
        (presets::LEAD_IN, 12 * 60 * MIN)
    );
    assert_eq!(s.duration(), expired.end() + presets::LEAD_OUT);
    let (from, to) = (expired.start(), expired.end());

    let ca = TestCa::new().unwrap();
    let storage = Target::builder("storage").seed(3).build().unwrap();
    let terminator = TlsTerminator::builder(&ca).build().unwrap();
    let proxy = Proxy::spawn_tls(echo_server().await.unwrap(), &storage, terminator).unwrap();
    let rehearsal = Rehearsal::new(&s).target(&storage);
    rehearsal.check().unwrap();
    let probe = rehearsal.probe("storage").unwrap();
    let run = tokio::spawn(rehearsal.run());
    let start = Instant::now();

    // A connection made before the expiry, kept across it.
    let mut kept = connect(&ca, proxy.local_addr()).await.unwrap();
    let served = proxy.tls().unwrap().certificate();
    assert_eq!(presented(&kept), Some(served.clone()));
    let renewed_cert = proxy.tls().unwrap().next_certificate();

    // A new connection every 5 minutes, half off the boundaries.
    let (mut calls, mut kept_ok) = (Vec::new(), 0);
    let mut i = 0;
    loop {
        let at = MIN * 5 / 2 + MIN * 5 * i;
        if at >= s.duration() {
            break;
        }
        sleep_until(start + at).await;
        if at >= to && proxy.tls().unwrap().rotations() == 0 {
            // The fix: the renewed certificate goes in service.
            proxy.tls().unwrap().rotate().unwrap();
        }
        let t = Instant::now();
        let outcome = match connect(&ca, proxy.local_addr()).await {
            Ok(mut conn) => {
                assert!(ping(&mut conn).await);
                Ok(presented(&conn))
            }
            Err(err) => {
                assert_eq!(fault_seen(&err), Some(TlsFault::ExpiredCertificate), "{err:?}");
                Err(err)
            }
        };
        probe.record(t, outcome.as_ref().map(|_| ()).map_err(|_| "certificate expired"));
        calls.push((at, outcome.ok().flatten()));
        kept_ok += u32::from(ping(&mut kept).await);
        i += 1;
    }
    let report = run.await.unwrap().unwrap();

    // 2 calls of lead-in, 144 during the expiry, 2 after the renewal.
    assert_eq!(calls.len(), 148);
    let during = calls.iter().filter(|(at, _)| (from..to).contains(at));
    assert!(during.clone().all(|(_, cert)| cert.is_none()));
    assert_eq!(during.count(), 144);
    assert!(calls[..2].iter().all(|(_, cert)| cert.as_ref() == Some(&served)));
    assert!(
        calls[146..]
            .iter()
            .all(|(_, cert)| cert.as_ref() == Some(&renewed_cert))
    );
    assert_eq!(
        kept_ok, 148,
        "the connection made before the expiry never sees it"
    );

    let injected = storage.report();
    assert_eq!(injected.injected(FaultKind::TlsExpiredCertificate), 144);
    assert_eq!((injected.faulted, injected.total_injected()), (144, 144));
    assert_eq!(proxy.stats().tls_failed, 144);
    let p = report.phase("certificate-expired").unwrap();
    assert_eq!((p.caller.ok, p.caller.calls), (0, 144));
    assert_eq!(p.caller.errors, [("certificate expired".to_owned(), 144)]);
    report.assert_recovered_within("storage", 5 * MIN).unwrap();
}

/// The TLS faults in a scenario file's `connection` table: the preset's
/// phase written by hand, and a parameter they do not take refused.
#[cfg(feature = "serde")]
#[test]
fn tls_faults_in_connection_tables() {
    use tower_chaos::scenario::{Format, Scenario};
    let text = r#"
name = "expiry"
duration = "1h"
[[phases]]
name = "storage-certificate-expiry"
target = "storage"
at = "10m"
for = "30m"
[[phases.connection]]
fault = "tls_expired_certificate"
"#;
    let parsed = Scenario::parse(text, Format::Toml).unwrap();
    let block = presets::certificate_expiry("storage", 10 * MIN, 30 * MIN);
    let phase = parsed.phase("storage-certificate-expiry").unwrap();
    assert_eq!(phase, &block);
    assert!(phase.is_down());

    let (line, _, field, msg) =
        crate::support::scenario::bad_table("connection", "fault = \"tls_alert\"\ndirection = \"upstream\"");
    assert_eq!(
        (line, field.as_deref()),
        (Some(5), Some("phases[0].connection[0]")),
        "{msg}"
    );
    assert!(msg.contains("not `tls_alert`"), "{msg}");
}
