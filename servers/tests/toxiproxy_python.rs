//! toxiproxy's Python client (`toxiproxy-python`, from the virtual
//! environment `scripts/test-all` makes) drives `tower-chaos serve`: the
//! script `toxiproxy_python.py` creates a proxy in front of its own echo
//! server, adds, lists and removes toxics, checks the bytes a connection
//! sees, the errors the client raises from our status codes, `down()` and
//! `reset()`.
//!
//! The server runs in-process (the `tower_chaos_cli` library the binary
//! runs, on a free port); the script talks to it over HTTP on 127.0.0.1,
//! as to a `tower-chaos serve` process. Fails, naming `scripts/test-all`,
//! when the virtual environment is missing.

use std::path::Path;
use std::process::Command;

use tokio::net::TcpListener;
use tower_chaos_cli::{Registry, serve};

#[test]
fn the_python_client_drives_tower_chaos_serve() {
    let venv = tower_chaos_servers::require(tower_chaos_servers::VENV);
    let python = Path::new(&venv).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/test-all`",
        python.display()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let api = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind api");
        let api = listener.local_addr().expect("api address");
        tokio::spawn(serve(listener, Registry::new(Some(5)), std::future::pending()));
        api
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/toxiproxy_python.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(api.port().to_string())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "toxiproxy_python.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
