//! TLS faults (feature `tls`): a test certificate authority made at run
//! time ([`TestCa`]), TLS termination in the [`Proxy`](super::Proxy)
//! ([`TlsTerminator`]) and the handshake faults it injects ([`TlsFault`]).
//!
//! Certificates are made when a test runs (nothing is checked in), with
//! `rcgen` and rustls' `ring` provider; their keys are fresh random ECDSA
//! P-256 keys, so they differ between runs, while which connection gets
//! which fault is decided by the target's seed like every connection fault.
//!
//! The certificates that the faults present are fixed in time, not relative
//! to the clock, so that a test does not depend on when it runs: the valid
//! ones run from 2020-01-01 to 2100-01-01, the expired one from 2020-01-01 to
//! 2021-01-01. Clients check them against the system's clock (rustls does
//! not read tokio's), which `start_paused` does not move.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{ConfigError, FaultKind};

/// What a TLS fault does to one connection's handshake: the argument of
/// [`ConnFault::tls`](super::ConnFault::tls), decided once per connection
/// with the target's triggers when the [`Proxy`](super::Proxy) accepts it.
///
/// What the client sees, for a rustls client (hyper-util's legacy client
/// over tokio-rustls in `tests/io/io_tls.rs`; any client on rustls carries
/// the same error in its source chain):
///
/// | fault | the server | the client's error |
/// |---|---|---|
/// | [`Alert`](Self::Alert) | reads the ClientHello and answers a fatal `handshake_failure` alert | `rustls::Error::AlertReceived(AlertDescription::HandshakeFailure)` |
/// | [`Stall`](Self::Stall) | never answers the ClientHello | its own timeout |
/// | [`ExpiredCertificate`](Self::ExpiredCertificate) | presents a certificate that expired on 2021-01-01 | `InvalidCertificate(CertificateError::Expired)` (or `ExpiredContext`) |
/// | [`WrongHost`](Self::WrongHost) | presents a certificate for `wrong-host.invalid` | `InvalidCertificate(CertificateError::NotValidForName)` (or `NotValidForNameContext`) |
/// | [`UntrustedIssuer`](Self::UntrustedIssuer) | presents a certificate from a CA the client was not given | `InvalidCertificate(CertificateError::UnknownIssuer)` |
/// | [`Rotated`](Self::Rotated) | presents its next certificate ([`TlsTerminator::next_certificate`]), from the same CA with a new key | nothing, unless it pins the old certificate or key |
///
/// ```
/// use tower_chaos::FaultKind;
/// use tower_chaos::io::TlsFault;
///
/// assert_eq!(TlsFault::Alert.kind(), FaultKind::TlsAlert);
/// assert_eq!(TlsFault::Rotated.kind().as_str(), "tls-rotated");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFault {
    /// The handshake is refused with a fatal `handshake_failure` alert, as
    /// a server with no cipher suite, protocol version or certificate in
    /// common with the client answers.
    Alert,
    /// The ClientHello is never answered: the connection stays open and
    /// silent until the client gives up, the client closes, or the fault is
    /// switched off (the connection is then decided again and the handshake
    /// proceeds).
    Stall,
    /// The server's certificate expired (on 2021-01-01).
    ExpiredCertificate,
    /// The server's certificate names another host (`wrong-host.invalid`).
    WrongHost,
    /// The server's certificate is signed by a CA the client does not
    /// trust (made with the terminator, never handed to clients).
    UntrustedIssuer,
    /// The server presents the certificate of its next rotation: what every
    /// connection gets after [`TlsTerminator::rotate`], served to some
    /// connections first (a staged rollout across a fleet).
    Rotated,
}

impl TlsFault {
    /// Every TLS fault, in [`FaultKind`] order.
    ///
    /// ```
    /// use tower_chaos::io::TlsFault;
    /// assert_eq!(TlsFault::ALL.len(), 6);
    /// ```
    pub const ALL: &'static [Self] = &[
        Self::Alert,
        Self::Stall,
        Self::ExpiredCertificate,
        Self::WrongHost,
        Self::UntrustedIssuer,
        Self::Rotated,
    ];

    /// The kind of fault, as counted in reports.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::TlsFault;
    /// assert_eq!(TlsFault::WrongHost.kind(), FaultKind::TlsWrongHost);
    /// ```
    #[must_use]
    pub const fn kind(self) -> FaultKind {
        match self {
            Self::Alert => FaultKind::TlsAlert,
            Self::Stall => FaultKind::TlsStall,
            Self::ExpiredCertificate => FaultKind::TlsExpiredCertificate,
            Self::WrongHost => FaultKind::TlsWrongHost,
            Self::UntrustedIssuer => FaultKind::TlsUntrustedIssuer,
            Self::Rotated => FaultKind::TlsRotated,
        }
    }

    /// Whether every handshake given this fault fails (a rotated
    /// certificate is accepted by clients that trust the CA).
    #[cfg(feature = "scenario")]
    pub(crate) const fn fails_outright(self) -> bool {
        !matches!(self, Self::Rotated)
    }
}

/// A [`TestCa`] or [`TlsTerminator`] could not be made.
///
/// ```
/// use tower_chaos::io::{TestCa, TlsError, TlsTerminator};
///
/// let ca = TestCa::new()?;
/// let err = TlsTerminator::builder(&ca).host("not a host!").build().unwrap_err();
/// assert!(matches!(err, TlsError::Config(_)));
/// assert_eq!(
///     err.to_string(),
///     "invalid `tls.hosts` = \"not a host!\": must be a DNS name or an IP address"
/// );
/// # Ok::<(), TlsError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A configuration value was rejected (names the field and the value).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Making a key, a certificate or a rustls configuration failed.
    #[error("cannot make the {what}: {source}")]
    Certificate {
        /// What was being made, e.g. `expired certificate`.
        what: &'static str,
        /// The error of `rcgen` or `rustls`.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl TlsError {
    fn making(what: &'static str) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> Self {
        move |source| Self::Certificate { what, source }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How long a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validity {
    /// 2020-01-01 to 2100-01-01.
    Valid,
    /// 2020-01-01 to 2021-01-01.
    Expired,
}

impl Validity {
    fn set(self, params: &mut CertificateParams) {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = match self {
            Self::Valid => date_time_ymd(2100, 1, 1),
            Self::Expired => date_time_ymd(2021, 1, 1),
        };
    }
}

/// A certificate authority made at run time for one test: its root
/// certificate goes to the clients (as PEM, DER, a rustls
/// [`RootCertStore`] or a ready [`ClientConfig`]), and a [`TlsTerminator`]
/// issues the servers' certificates from it.
///
/// # Clone
///
/// Clones share the same CA (its key and certificate).
///
/// # Example
///
/// ```
/// use tower_chaos::io::TestCa;
///
/// let ca = TestCa::new()?;
/// assert!(ca.root_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert_eq!(ca.root_store().len(), 1);
/// assert_eq!(ca.name(), "tower-chaos test CA");
/// // Each CA is new: two never trust each other's certificates.
/// assert_ne!(TestCa::new()?.root_der(), ca.root_der());
/// # Ok::<(), tower_chaos::io::TlsError>(())
/// ```
#[derive(Clone)]
pub struct TestCa {
    inner: Arc<Ca>,
}

struct Ca {
    name: String,
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
    pem: String,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA named `tower-chaos test CA`, with a fresh key. See
    /// [`TestCa`] for an example.
    ///
    /// # Errors
    ///
    /// [`TlsError::Certificate`] if the key or the certificate cannot be
    /// made.
    pub fn new() -> Result<Self, TlsError> {
        Self::named("tower-chaos test CA")
    }

    /// A new CA whose certificate's common name is `name`.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] for an empty name; [`TlsError::Certificate`]
    /// if the key or the certificate cannot be made.
    ///
    /// ```
    /// use tower_chaos::io::TestCa;
    /// assert_eq!(TestCa::named("payments CA")?.name(), "payments CA");
    /// let err = TestCa::named("").unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `test_ca.name` = \"\": must not be empty");
    /// # Ok::<(), tower_chaos::io::TlsError>(())
    /// ```
    pub fn named(name: &str) -> Result<Self, TlsError> {
        if name.is_empty() {
            return Err(ConfigError::invalid("test_ca.name", name, "must not be empty").into());
        }
        let what = "test CA certificate";
        let key = KeyPair::generate().map_err(|e| TlsError::making(what)(e.into()))?;
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Validity::Valid.set(&mut params);
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsError::making(what)(e.into()))?;
        Ok(Self {
            inner: Arc::new(Ca {
                name: name.to_owned(),
                pem: cert.pem(),
                der: cert.der().clone(),
                params,
                key,
            }),
        })
    }

    /// The CA's common name.
    ///
    /// ```
    /// assert_eq!(tower_chaos::io::TestCa::new()?.name(), "tower-chaos test CA");
    /// # Ok::<(), tower_chaos::io::TlsError>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The root certificate, DER-encoded (what reqwest's
    /// `Certificate::from_der` and rustls' [`RootCertStore::add`] take).
    ///
    /// ```
    /// let ca = tower_chaos::io::TestCa::new()?;
    /// assert_eq!(ca.root_der().first(), Some(&0x30)); // an ASN.1 SEQUENCE
    /// # Ok::<(), tower_chaos::io::TlsError>(())
    /// ```
    #[must_use]
    pub fn root_der(&self) -> &CertificateDer<'static> {
        &self.inner.der
    }

    /// The root certificate, PEM-encoded (for clients configured with a
    /// file or a string: `SSL_CERT_FILE`, `sslrootcert`, ...).
    ///
    /// ```
    /// let ca = tower_chaos::io::TestCa::new()?;
    /// assert!(ca.root_pem().trim_end().ends_with("-----END CERTIFICATE-----"));
    /// # Ok::<(), tower_chaos::io::TlsError>(())
    /// ```
    #[must_use]
    pub fn root_pem(&self) -> &str {
        &self.inner.pem
    }

    /// A rustls root store trusting this CA only.
    ///
    /// ```
    /// let ca = tower_chaos::io::TestCa::new()?;
    /// assert_eq!(ca.root_store().len(), 1);
    /// # Ok::<(), tower_chaos::io::TlsError>(())
    /// ```
    #[must_use]
    pub fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        // The certificate was made by rcgen just now: it parses.
        let _ = roots.add(self.inner.der.clone());
        roots
    }

    /// A rustls client configuration (the `ring` provider, TLS 1.2 and
    /// 1.3, no client certificate) trusting this CA only: what reqwest's
    /// `tls_backend_preconfigured`, hyper-rustls and tokio-rustls take.
    ///
    /// # Errors
    ///
    /// [`TlsError::Certificate`] if rustls rejects the configuration.
    ///
    /// ```
    /// let config = tower_chaos::io::TestCa::new()?.client_config()?;
    /// assert!(config.alpn_protocols.is_empty());
    /// # Ok::<(), tower_chaos::io::TlsError>(())
    /// ```
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        Ok(ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::making("client configuration")(e.into()))?
            .with_root_certificates(self.root_store())
            .with_no_client_auth())
    }

    /// A server certificate for `hosts`, with a fresh key, and the rustls
    /// configuration that presents it.
    fn issue(&self, hosts: &[String], validity: Validity, what: &'static str) -> Result<Leaf, TlsError> {
        let fail = |e: rcgen::Error| TlsError::making(what)(e.into());
        let key = KeyPair::generate().map_err(fail)?;
        let mut params = CertificateParams::new(hosts.to_vec()).map_err(fail)?;
        params
            .distinguished_name
            .push(DnType::CommonName, hosts.first().map_or("", String::as_str));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        validity.set(&mut params);
        let issuer = Issuer::from_params(&self.inner.params, &self.inner.key);
        let cert = params.signed_by(&key, &issuer).map_err(fail)?;
        let der = cert.der().clone();
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(vec![der.clone()], private)
            })
            .map_err(|e| TlsError::making(what)(e.into()))?;
        Ok(Leaf {
            der,
            config: Arc::new(config),
        })
    }
}

/// A certificate and the server configuration that presents it.
#[derive(Clone)]
struct Leaf {
    der: CertificateDer<'static>,
    config: Arc<ServerConfig>,
}

/// The certificate in service and the one its next rotation installs.
struct Served {
    current: Leaf,
    next: Leaf,
}

/// TLS termination for a [`Proxy`](super::Proxy)
/// ([`Proxy::spawn_tls`](super::Proxy::spawn_tls)): the server
/// certificates, issued from a [`TestCa`] for the hosts clients connect to,
/// and the faulty ones its [`TlsFault`]s present — expired, for a wrong host,
/// from an untrusted issuer, and the next rotation's — all made when it is
/// built.
///
/// The proxy terminates TLS and speaks plain TCP to its upstream, so a
/// plain test server gets TLS clients.
///
/// [`rotate`](Self::rotate) swaps the certificate in service for the next
/// one at run time: new handshakes get it, connections already made keep
/// theirs.
///
/// # Clone
///
/// Clones share the certificates and their rotation.
///
/// # Example
///
/// ```
/// use tower_chaos::io::{TestCa, TlsTerminator};
///
/// let ca = TestCa::new()?;
/// let tls = TlsTerminator::builder(&ca).build()?;
/// assert_eq!(tls.hosts(), ["localhost", "127.0.0.1"]);
/// let before = tls.certificate();
/// let next = tls.next_certificate();
/// tls.rotate()?;
/// assert_eq!((tls.certificate(), tls.rotations()), (next, 1));
/// assert_ne!(tls.certificate(), before);
/// # Ok::<(), tower_chaos::io::TlsError>(())
/// ```
#[derive(Clone)]
pub struct TlsTerminator {
    inner: Arc<Terminator>,
}

struct Terminator {
    ca: TestCa,
    hosts: Vec<String>,
    served: Mutex<Served>,
    expired: Leaf,
    wrong_host: Leaf,
    untrusted: Leaf,
    rotations: AtomicU64,
}

impl fmt::Debug for TlsTerminator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTerminator")
            .field("ca", &self.inner.ca)
            .field("hosts", &self.inner.hosts)
            .field("rotations", &self.rotations())
            .finish_non_exhaustive()
    }
}

/// Builds a [`TlsTerminator`]; from [`TlsTerminator::builder`].
///
/// ```
/// use tower_chaos::io::{TestCa, TlsTerminator};
/// let ca = TestCa::new()?;
/// let tls = TlsTerminator::builder(&ca).host("api.internal").host("::1").build()?;
/// assert_eq!(tls.hosts(), ["api.internal", "::1"]);
/// # Ok::<(), tower_chaos::io::TlsError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TlsTerminatorBuilder {
    ca: TestCa,
    hosts: Vec<String>,
}

impl TlsTerminatorBuilder {
    /// Adds a host the certificates are for: a DNS name (`localhost`,
    /// `api.internal`) or an IP address (`127.0.0.1`, `::1`). Without any,
    /// the certificates are for `localhost` and `127.0.0.1`.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Makes the certificates: the one in service, the next rotation's,
    /// and the expired, wrong-host and untrusted ones (with the untrusted
    /// CA that signs the last).
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] naming `tls.hosts` and the host for a host that
    /// is neither a DNS name nor an IP address; [`TlsError::Certificate`]
    /// if a key, certificate or configuration cannot be made. See
    /// [`TlsError`] for an example.
    pub fn build(self) -> Result<TlsTerminator, TlsError> {
        let hosts = if self.hosts.is_empty() {
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
        } else {
            self.hosts
        };
        for host in &hosts {
            if ServerName::try_from(host.as_str()).is_err() {
                return Err(
                    ConfigError::invalid("tls.hosts", host, "must be a DNS name or an IP address").into(),
                );
            }
        }
        let ca = self.ca;
        let valid = Validity::Valid;
        let current = ca.issue(&hosts, valid, "server certificate")?;
        let next = ca.issue(&hosts, valid, "next server certificate")?;
        let expired = ca.issue(&hosts, Validity::Expired, "expired certificate")?;
        let wrong_host = ca.issue(
            &["wrong-host.invalid".to_owned()],
            valid,
            "wrong-host certificate",
        )?;
        let untrusted =
            TestCa::named("tower-chaos untrusted CA")?.issue(&hosts, valid, "untrusted certificate")?;
        tracing::info!(
            target: "tower_chaos",
            ca = %ca.name(),
            hosts = ?hosts,
            "chaos TLS terminator built: test certificates made"
        );
        Ok(TlsTerminator {
            inner: Arc::new(Terminator {
                ca,
                hosts,
                served: Mutex::new(Served { current, next }),
                expired,
                wrong_host,
                untrusted,
                rotations: AtomicU64::new(0),
            }),
        })
    }
}

impl TlsTerminator {
    /// A builder issuing from `ca`. See [`TlsTerminatorBuilder`].
    pub fn builder(ca: &TestCa) -> TlsTerminatorBuilder {
        TlsTerminatorBuilder {
            ca: ca.clone(),
            hosts: Vec::new(),
        }
    }

    /// The CA the valid certificates come from. See [`TlsTerminator`] for
    /// an example.
    #[must_use]
    pub fn ca(&self) -> &TestCa {
        &self.inner.ca
    }

    /// The hosts the certificates are for. See [`TlsTerminator`] for an
    /// example.
    #[must_use]
    pub fn hosts(&self) -> &[String] {
        &self.inner.hosts
    }

    fn served(&self) -> std::sync::MutexGuard<'_, Served> {
        // Nothing panics while the lock is held; a poisoned lock still
        // holds whole certificates.
        self.inner.served.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The certificate in service (DER), presented to connections without a
    /// certificate fault. See [`TlsTerminator`] for an example.
    #[must_use]
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.served().current.der.clone()
    }

    /// The certificate the next [`rotate`](Self::rotate) puts in service,
    /// which [`TlsFault::Rotated`] presents before that. See
    /// [`TlsTerminator`] for an example.
    #[must_use]
    pub fn next_certificate(&self) -> CertificateDer<'static> {
        self.served().next.der.clone()
    }

    /// How many times [`rotate`](Self::rotate) ran. See [`TlsTerminator`]
    /// for an example.
    #[must_use]
    pub fn rotations(&self) -> u64 {
        self.inner.rotations.load(Ordering::Relaxed)
    }

    /// Rotates the certificate: the next one goes in service (new
    /// handshakes get it; connections already made keep theirs) and a new
    /// next one is issued from the CA. Logged through `tracing`.
    ///
    /// # Errors
    ///
    /// [`TlsError::Certificate`] if the new next certificate cannot be
    /// made; nothing changes then. See [`TlsTerminator`] for an example.
    pub fn rotate(&self) -> Result<(), TlsError> {
        let fresh = self
            .inner
            .ca
            .issue(&self.inner.hosts, Validity::Valid, "next server certificate")?;
        {
            let mut served = self.served();
            served.current = std::mem::replace(&mut served.next, fresh);
        }
        let n = self.inner.rotations.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            target: "tower_chaos",
            ca = %self.inner.ca.name(),
            rotations = n,
            "chaos TLS terminator rotated its certificate: new handshakes get the new one"
        );
        Ok(())
    }

    /// The server configuration for a handshake given `fault`.
    pub(crate) fn config_for(&self, fault: Option<TlsFault>) -> Arc<ServerConfig> {
        let t = &*self.inner;
        match fault {
            None | Some(TlsFault::Alert | TlsFault::Stall) => Arc::clone(&self.served().current.config),
            Some(TlsFault::Rotated) => Arc::clone(&self.served().next.config),
            Some(TlsFault::ExpiredCertificate) => Arc::clone(&t.expired.config),
            Some(TlsFault::WrongHost) => Arc::clone(&t.wrong_host.config),
            Some(TlsFault::UntrustedIssuer) => Arc::clone(&t.untrusted.config),
        }
    }
}

/// A TLS record's header: content type, version, length.
const RECORD_HEADER: usize = 5;
const HANDSHAKE: u8 = 22;
/// A fatal (2) `handshake_failure` (40) alert (21) record, TLS 1.2 record
/// version, as a server sends it before any key is agreed.
const HANDSHAKE_FAILURE_ALERT: [u8; 7] = [21, 3, 3, 0, 2, 2, 40];

/// Reads the client's first handshake record (its ClientHello), answers a
/// fatal `handshake_failure` alert and closes, after reading what the
/// client sends until it closes (so the close is a FIN, not a reset over
/// unread bytes).
pub(crate) async fn refuse_handshake(client: &mut TcpStream) -> io::Result<()> {
    let mut header = [0; RECORD_HEADER];
    client.read_exact(&mut header).await?;
    if header[0] == HANDSHAKE {
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut body = vec![0; len];
        client.read_exact(&mut body).await?;
        client.write_all(&HANDSHAKE_FAILURE_ALERT).await?;
    }
    client.shutdown().await?;
    tokio::io::copy(client, &mut tokio::io::sink()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_map_to_their_kinds_in_order() {
        let kinds: Vec<_> = TlsFault::ALL.iter().map(|f| f.kind()).collect();
        let start = FaultKind::ALL
            .iter()
            .position(|k| *k == FaultKind::TlsAlert)
            .unwrap();
        assert_eq!(kinds, FaultKind::ALL[start..start + kinds.len()]);
    }

    #[test]
    fn an_empty_host_list_means_the_defaults_and_bad_hosts_are_named() {
        let ca = TestCa::new().unwrap();
        let err = TlsTerminator::builder(&ca).host("").build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid `tls.hosts` = \"\": must be a DNS name or an IP address"
        );
    }

    #[test]
    fn the_faulty_configs_differ_from_the_served_one() {
        let ca = TestCa::new().unwrap();
        let tls = TlsTerminator::builder(&ca).build().unwrap();
        let served = tls.config_for(None);
        assert!(Arc::ptr_eq(&served, &tls.config_for(Some(TlsFault::Alert))));
        for f in [
            TlsFault::Rotated,
            TlsFault::ExpiredCertificate,
            TlsFault::WrongHost,
            TlsFault::UntrustedIssuer,
        ] {
            assert!(!Arc::ptr_eq(&served, &tls.config_for(Some(f))), "{f:?}");
        }
        let next = tls.config_for(Some(TlsFault::Rotated));
        tls.rotate().unwrap();
        assert!(Arc::ptr_eq(&next, &tls.config_for(None)));
    }
}
