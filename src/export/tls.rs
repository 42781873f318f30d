//! HTTPS for `exporter.tls`: a listener that hands `axum::serve` connections whose TLS
//! handshake has completed, so plain and TLS serving share one server, one router and one
//! graceful shutdown.
//!
//! Handshakes run on tasks of their own, each bounded by [`HANDSHAKE_TIMEOUT`]: a client that
//! connects and sends nothing (or plain HTTP, which fails the handshake) holds up no other
//! client's connection. Failed handshakes are logged at debug level only: port scanners and
//! load-balancer checks make them routine.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Longest a connection may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections whose handshake completed, waiting for the server to take them.
const QUEUED: usize = 64;

/// TCP accepted and TLS completed behind it; dropping it (when the server stops) stops both.
pub struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`, handshaking with `server`.
    pub fn new(tcp: TcpListener, server: Arc<ServerConfig>) -> io::Result<TlsListener> {
        let local_addr = tcp.local_addr()?;
        let (tx, handshaken) = mpsc::channel(QUEUED);
        tokio::spawn(accept(tcp, TlsAcceptor::from(server), tx));
        Ok(TlsListener { handshaken, local_addr })
    }
}

/// Accepts until the listener is dropped; each handshake on a task of its own.
async fn accept(mut tcp: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>) {
    loop {
        // axum's accept for TCP, which retries (and logs) errors such as too many open files.
        let (stream, peer) = tokio::select! {
            () = tx.closed() => return,
            accepted = axum::serve::Listener::accept(&mut tcp) => accepted,
        };
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accept task only ends once this receiver is gone; never reached while it lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}
