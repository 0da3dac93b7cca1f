//! The accept loop: plain hyper HTTP/1.1 connections on a loopback listener.
//!
//! hyper is driven directly (not through `axum::serve`) because two faults need to close a
//! connection without an answer: a service that returns `Err` makes hyper drop the
//! connection quietly, which is exactly what a client sees when a proxy or the network
//! loses a request. Connection tasks live in a `JoinSet` so shutdown aborts them all.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::routes;
use super::store::SandboxState;

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<SandboxState>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = state.clone();
                    connections.spawn(serve_connection(stream, state));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: tokio::net::TcpStream, state: Arc<SandboxState>) {
    let service = service_fn(move |req| routes::handle(state.clone(), req));
    // The error is either a client hanging up or an injected drop: nothing to report.
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
