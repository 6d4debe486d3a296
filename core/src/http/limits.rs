//! Every bound the server enforces on a client, in one place, with defaults sized for a
//! small board (and, for bodies, matching the upstream API server's 3 MiB).

use std::time::Duration;

/// Bounds on what one client may make the server hold or wait for.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request line plus headers; beyond it: 431.
    pub max_head_bytes: usize,
    /// Header count; beyond it: 431.
    pub max_headers: usize,
    /// Decoded body; beyond it: 413.
    pub max_body_bytes: usize,
    /// From accept to the end of the TLS handshake, and from a request's first byte to
    /// the end of its head. A client that trickles its head is dropped (slowloris).
    pub header_timeout: Duration,
    /// The whole request body must arrive within this.
    pub body_timeout: Duration,
    /// A kept-alive connection with no new request for this long is closed.
    pub idle_timeout: Duration,
    /// One write (a response, a chunk) that the client does not drain in this time ends
    /// the connection.
    pub write_timeout: Duration,
    /// Open connections; beyond it the oldest connection waiting on its client is closed
    /// for the new one (and the new one is closed only if none waits).
    pub max_connections: usize,
    /// Concurrent streaming and upgraded responses (watches, logs, exec); more get 429.
    pub max_streams: usize,
    /// Requests being handled at once, counted from a complete request to its answer
    /// written (streaming responses leave the count once their head is ready, as they
    /// have their own cap); more get 429 with Retry-After, as upstream's max-in-flight.
    pub max_in_flight: usize,
    /// After shutdown is signalled, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            max_body_bytes: 3 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(90),
            write_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_streams: 128,
            max_in_flight: 64,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}
