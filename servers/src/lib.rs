//! Where the real servers of the `servers` suites are.
//!
//! `scripts/test-all` (the README's test command) installs and starts them
//! on loopback and exports their addresses; a suite asks here and fails,
//! naming the script, when one is missing — a server suite never skips.
//!
//! ```
//! // Set by scripts/test-all; a missing variable is an error naming it.
//! let err = tower_chaos_servers::from_env("TOWER_CHAOS_NO_SUCH_SERVER").unwrap_err();
//! assert!(err.contains("TOWER_CHAOS_NO_SUCH_SERVER"));
//! assert!(err.contains("scripts/test-all"));
//! ```

/// The environment variable holding the PostgreSQL URL
/// (`postgres://postgres@127.0.0.1:PORT/postgres`).
pub const POSTGRES: &str = "TOWER_CHAOS_POSTGRES";

/// The environment variable holding moto's server endpoint
/// (`http://127.0.0.1:PORT`).
pub const MOTO: &str = "TOWER_CHAOS_MOTO";

/// The environment variable holding the Python virtual environment with
/// the Python tools (moto, toxiproxy-python).
pub const VENV: &str = "TOWER_CHAOS_VENV";

/// The value of `var`, or an error saying how to get the server it names.
///
/// # Errors
///
/// When `var` is unset or empty.
///
/// ```
/// // SAFETY-free: a variable this process sets for itself.
/// assert!(tower_chaos_servers::from_env("PATH").is_ok());
/// ```
pub fn from_env(var: &str) -> Result<String, String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!(
            "`{var}` is not set: this suite drives a real server that `bash scripts/test-all` \
             (the README's test command) installs, starts on 127.0.0.1 and exports as `{var}`"
        )),
    }
}

/// [`from_env`], panicking with its message: for tests.
///
/// ```should_panic
/// tower_chaos_servers::require("TOWER_CHAOS_NO_SUCH_SERVER");
/// ```
#[must_use]
pub fn require(var: &str) -> String {
    from_env(var).unwrap_or_else(|e| panic!("{e}"))
}
