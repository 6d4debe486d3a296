//! What a handler answers: a status, headers and either a whole body or a stream of chunks
//! (watch, logs) that the connection writes out as they come, each chunk flushed.

use crate::status::ApiError;

pub const JSON: &str = "application/json";

/// A stream of body chunks; the connection task drives it and drops it when the client
/// goes away, which ends the producer.
pub use crate::http::ChunkStream;

pub enum Body {
    Bytes(Vec<u8>),
    /// Shared stored bytes (an object's JSON as the store holds it), written without a copy.
    Shared(std::sync::Arc<[u8]>),
    Stream(ChunkStream),
}

pub struct ApiResponse {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Set on a `101 Switching Protocols`: what takes the connection over (exec, attach,
    /// port-forward); the body is then empty.
    pub upgrade: Option<crate::http::UpgradeFn>,
    /// Annotations for the request's audit line (Pod Security audit mode), never sent.
    pub audit_annotations: Vec<(String, String)>,
}

impl std::fmt::Debug for ApiResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl ApiResponse {
    pub fn json(status: u16, body: Vec<u8>) -> ApiResponse {
        ApiResponse {
            status,
            content_type: JSON.to_owned(),
            headers: Vec::new(),
            upgrade: None,
            audit_annotations: Vec::new(),
            body: Body::Bytes(body),
        }
    }

    pub fn shared(status: u16, body: std::sync::Arc<[u8]>) -> ApiResponse {
        ApiResponse {
            status,
            content_type: JSON.to_owned(),
            headers: Vec::new(),
            upgrade: None,
            audit_annotations: Vec::new(),
            body: Body::Shared(body),
        }
    }

    pub fn text(status: u16, body: &str) -> ApiResponse {
        ApiResponse {
            status,
            content_type: "text/plain; charset=utf-8".to_owned(),
            headers: Vec::new(),
            upgrade: None,
            audit_annotations: Vec::new(),
            body: Body::Bytes(body.as_bytes().to_vec()),
        }
    }

    pub fn stream(content_type: &str, chunks: ChunkStream) -> ApiResponse {
        ApiResponse {
            status: 200,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            upgrade: None,
            audit_annotations: Vec::new(),
            body: Body::Stream(chunks),
        }
    }

    /// A `101 Switching Protocols` with `headers` (Upgrade, Connection, ...) that hands
    /// the connection to `run`.
    pub fn upgrade<F, Fut>(headers: Vec<(String, String)>, run: F) -> ApiResponse
    where
        F: FnOnce(crate::http::UpgradedStream) -> Fut + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        let run: crate::http::UpgradeFn = Box::new(move |stream| Box::pin(run(stream)));
        ApiResponse {
            status: 101,
            content_type: String::new(),
            headers,
            body: Body::Bytes(Vec::new()),
            upgrade: Some(run),
            audit_annotations: Vec::new(),
        }
    }

    pub fn error(e: &ApiError) -> ApiResponse {
        let mut r = ApiResponse::json(e.code, e.to_json().into_bytes());
        if let Some(secs) = e.details.retry_after {
            r.headers.push(("Retry-After".to_owned(), secs.to_string()));
        }
        r
    }

    pub fn with_header(mut self, name: &str, value: String) -> ApiResponse {
        self.headers.push((name.to_owned(), value));
        self
    }

    /// Adds `Warning: 299 - "text"` headers, which kubectl prints.
    pub fn with_warnings(mut self, warnings: &[String]) -> ApiResponse {
        for w in warnings {
            let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
            self.headers
                .push(("Warning".to_owned(), format!("299 - \"{escaped}\"")));
        }
        self
    }
}
