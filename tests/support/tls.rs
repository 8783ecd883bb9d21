//! Helpers for the TLS tests (feature `tls`): which TLS fault a client's
//! error shows, and a raw tokio-rustls connection to a proxy.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{AlertDescription, CertificateError};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tower_chaos::io::{TestCa, TlsFault};

/// The rustls error in `err`'s source chain (an `io::Error`'s inner error
/// is not its `source`, so both are looked into).
pub fn rustls_error<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(found) = e
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The TLS fault whose error a client reports in `err`, read from the
/// rustls error in its chain: the kind the client sees, not a marker.
pub fn fault_seen(err: &(dyn Error + 'static)) -> Option<TlsFault> {
    use CertificateError::{Expired, ExpiredContext, NotValidForName, NotValidForNameContext, UnknownIssuer};
    match rustls_error(err)? {
        rustls::Error::AlertReceived(AlertDescription::HandshakeFailure) => Some(TlsFault::Alert),
        rustls::Error::InvalidCertificate(e) => match e {
            Expired | ExpiredContext { .. } => Some(TlsFault::ExpiredCertificate),
            NotValidForName | NotValidForNameContext { .. } => Some(TlsFault::WrongHost),
            UnknownIssuer => Some(TlsFault::UntrustedIssuer),
            _ => None,
        },
        _ => None,
    }
}

/// A TLS connection to `addr` for `localhost`, trusting `ca`.
pub async fn connect(ca: &TestCa, addr: SocketAddr) -> io::Result<TlsStream<TcpStream>> {
    connect_as(ca, addr, "localhost").await
}

/// A TLS connection to `addr` for `host` (the name the client checks the
/// certificate against), trusting `ca`.
pub async fn connect_as(ca: &TestCa, addr: SocketAddr, host: &str) -> io::Result<TlsStream<TcpStream>> {
    let config = ca.client_config().map_err(io::Error::other)?;
    let name = ServerName::try_from(host.to_owned()).map_err(io::Error::other)?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, TcpStream::connect(addr).await?)
        .await
}

/// The certificate the server presented on `conn`.
pub fn presented(conn: &TlsStream<TcpStream>) -> Option<CertificateDer<'static>> {
    conn.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first().cloned())
}
