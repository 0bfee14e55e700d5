//! The listener [`crate::serve_on`] hands to axum: a TCP listener that closes when told to
//! stop accepting (at shutdown, before axum tells the connections to finish) and then answers
//! the connections still waiting in the kernel's accept queue with a clean 503, instead of
//! letting the kernel reset them. Without this, a client whose connection was established just
//! before the shutdown signal, but not yet accepted, saw its request die with "connection
//! reset" and no answer.
//!
//! What is left is a window of microseconds between the last empty accept and the close, where
//! a new connection is still reset. This file knows nothing of routes or batching: the answer's
//! bytes come from [`crate::error::shutting_down_response`].

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

/// How long answering the waiting connections may take at most, all together.
const DRAIN_DEADLINE: Duration = Duration::from_secs(1);
/// Most waiting connections answered; the kernel's accept queue is rarely longer.
const MAX_DRAINED: usize = 4096;
/// How long one waiting client gets to send its request head, or to read the answer.
const CLIENT_WAIT: Duration = Duration::from_millis(50);

/// How long connections accepted before the listener closed get to read their request before
/// axum's graceful shutdown treats them as idle and closes them.
pub(crate) const GRACE: Duration = Duration::from_millis(250);

/// A TCP listener that, told to stop (or dropped), closes and answers its accept queue with 503.
pub(crate) struct DrainingListener {
    inner: Option<tokio::net::TcpListener>,
    stop: tokio::sync::watch::Receiver<bool>,
    /// Whether `stop` can still turn true.
    watching: bool,
}

impl DrainingListener {
    /// Wraps `listener`; it closes once `stop` turns true.
    pub(crate) fn new(listener: tokio::net::TcpListener, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { inner: Some(listener), stop, watching: true }
    }

    /// Closes the listener and answers the connections in its queue.
    fn close(&mut self) {
        let Some(listener) = self.inner.take() else { return };
        // Non-blocking, as tokio left it: accept returns WouldBlock once the queue is empty.
        let Ok(listener) = listener.into_std() else { return };
        // Take the whole queue first and close at once, so the window in which a new
        // connection is still reset stays microseconds long; answer afterwards.
        let mut waiting = Vec::new();
        while waiting.len() < MAX_DRAINED {
            match listener.accept() {
                Ok((stream, _)) => waiting.push(stream),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        drop(listener);
        tracing::info!(waiting = waiting.len(), "stopped accepting connections");
        let deadline = Instant::now() + DRAIN_DEADLINE;
        for stream in waiting {
            if Instant::now() >= deadline {
                break;
            }
            answer_shutting_down(stream);
        }
    }
}

impl axum::serve::Listener for DrainingListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some(listener) = self.inner.as_mut() else { return std::future::pending().await };
            if !self.watching {
                return axum::serve::Listener::accept(listener).await;
            }
            let stopped = tokio::select! {
                connection = axum::serve::Listener::accept(listener) => return connection,
                result = self.stop.wait_for(|stop| *stop) => result.is_ok(),
            };
            if stopped {
                self.close();
            } else {
                // The sender is gone without asking to stop: keep accepting.
                self.watching = false;
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.inner {
            Some(listener) => listener.local_addr(),
            None => Err(std::io::Error::new(std::io::ErrorKind::NotConnected, "the listener is closed")),
        }
    }
}

impl Drop for DrainingListener {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads the request head (for the path, which picks the error shape), writes the 503, and
/// reads what the client still sends until it closes, so closing does not reset the
/// connection before the client has read the answer.
fn answer_shutting_down(stream: std::net::TcpStream) {
    let mut stream = stream;
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(CLIENT_WAIT));
    let _ = stream.set_write_timeout(Some(CLIENT_WAIT));
    let mut head = [0u8; 2048];
    let read = stream.read(&mut head).unwrap_or(0);
    let path = std::str::from_utf8(&head[..read])
        .ok()
        .and_then(|text| text.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_string();
    if stream.write_all(&crate::error::shutting_down_response(&path)).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut rest = [0u8; 8192];
    let until = Instant::now() + CLIENT_WAIT;
    while Instant::now() < until {
        match stream.read(&mut rest) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_waiting_at_shutdown_get_503_in_their_paths_shape() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_stop, never) = tokio::sync::watch::channel(false);
        let draining = DrainingListener::new(listener, never);
        // Established by the kernel, never accepted by the server.
        let mut clients = Vec::new();
        for path in ["/v1/embeddings", "/embed", "/api/v1/embed"] {
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            let body = "{\"input\": \"x\"}";
            let request = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            client.write_all(request.as_bytes()).unwrap();
            clients.push(client);
        }
        drop(draining);
        let mut answers = Vec::new();
        for mut client in clients {
            client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut answer = String::new();
            client.read_to_string(&mut answer).unwrap();
            answers.push(answer);
        }
        for answer in &answers {
            assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{answer}");
            assert!(answer.contains("\r\nretry-after: 1\r\n"), "{answer}");
        }
        let body = |answer: &str| -> serde_json::Value {
            serde_json::from_str(answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")).unwrap()
        };
        assert_eq!(body(&answers[0])["error"]["code"], "unavailable");
        assert_eq!(body(&answers[1])["error_type"], "Unhealthy");
        assert_eq!(body(&answers[2])["code"], 503);
        // Closed now: new connections are refused.
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
