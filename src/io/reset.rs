//! Abortive close: how a stream is made to send an RST when dropped.

use std::io;

/// A stream that can be closed abortively, so that the peer sees
/// `ConnectionReset`.
///
/// [`ChaosStream`](super::ChaosStream) calls
/// [`prepare_reset`](Self::prepare_reset) and then drops the inner stream
/// when a reset fires. For [`tokio::net::TcpStream`] this sets a zero linger
/// (`SO_LINGER` 0), so the drop sends a real RST. Streams with no abortive
/// close (in-memory pipes, Unix sockets) keep the default no-op: the local
/// side still gets `ConnectionReset`, the peer sees an ordinary close.
///
/// For your own stream type an empty impl is enough; forward to the socket
/// inside when there is one.
///
/// # Example
///
/// ```
/// use tower_chaos::io::Resettable;
///
/// struct MyStream;
/// impl Resettable for MyStream {}
///
/// assert!(MyStream.prepare_reset().is_ok());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `tower_chaos::io::Resettable`",
    label = "a `ChaosStream` needs to know how to reset this stream",
    note = "add `impl tower_chaos::io::Resettable for {Self} {{}}` (a reset then closes it \
            without an RST), or forward `prepare_reset` to the socket inside"
)]
pub trait Resettable {
    /// Prepares the stream so that dropping it aborts the connection.
    ///
    /// # Errors
    ///
    /// The socket option could not be set; the wrapper then drops the stream
    /// anyway (an ordinary close).
    fn prepare_reset(&self) -> io::Result<()> {
        Ok(())
    }
}

impl Resettable for tokio::net::TcpStream {
    fn prepare_reset(&self) -> io::Result<()> {
        self.set_zero_linger()
    }
}

impl Resettable for tokio::io::DuplexStream {}

#[cfg(unix)]
impl Resettable for tokio::net::UnixStream {}

impl<T: Resettable + ?Sized> Resettable for Box<T> {
    fn prepare_reset(&self) -> io::Result<()> {
        (**self).prepare_reset()
    }
}

impl<T: Resettable + ?Sized> Resettable for &mut T {
    fn prepare_reset(&self) -> io::Result<()> {
        (**self).prepare_reset()
    }
}

impl<T: Resettable + tokio::io::AsyncRead + tokio::io::AsyncWrite> Resettable for tokio::io::BufStream<T> {
    fn prepare_reset(&self) -> io::Result<()> {
        self.get_ref().prepare_reset()
    }
}

impl<T: Resettable + tokio::io::AsyncRead> Resettable for tokio::io::BufReader<T> {
    fn prepare_reset(&self) -> io::Result<()> {
        self.get_ref().prepare_reset()
    }
}

impl<T: Resettable + tokio::io::AsyncWrite> Resettable for tokio::io::BufWriter<T> {
    fn prepare_reset(&self) -> io::Result<()> {
        self.get_ref().prepare_reset()
    }
}
