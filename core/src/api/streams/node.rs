//! The boundary between the API server and whatever runs the containers: the node agent
//! implements [`PodStreams`] and installs it with
//! [`crate::api::server::ApiServer::with_pod_streams`]. The API server has already checked
//! the caller's rights, found the pod and resolved the container before it calls in, so an
//! implementation only has to produce bytes. Everything is single-threaded: futures and
//! channels need not be `Send`.

use std::fmt;

use crate::http::{ChunkStream, LocalBoxFuture};

/// Which container a stream is about. `container` is always a name from the pod's spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTarget {
    pub namespace: String,
    pub pod: String,
    /// The pod's metadata.uid, so a recreated pod of the same name is not confused.
    pub uid: String,
    pub container: String,
}

/// A pod addressed for port forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
}

/// `GET pods/NAME/log` options, validated as upstream's ValidatePodLogOptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep the stream open and send new lines until the container exits.
    pub follow: bool,
    /// The previous (terminated) instance of the container.
    pub previous: bool,
    /// Only the last N lines (N >= 0).
    pub tail_lines: Option<u64>,
    /// Only lines written at or after this time (Unix seconds); `sinceSeconds` is turned
    /// into this too.
    pub since_unix: Option<i64>,
    /// Prefix every line with its RFC 3339 (nanosecond) timestamp and a space.
    pub timestamps: bool,
    /// Stop after this many bytes (>= 1).
    pub limit_bytes: Option<u64>,
}

/// `pods/NAME/exec` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// `pods/NAME/attach` options: attach to the container's main process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// A terminal size the client asked for (columns, rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    pub width: u16,
    pub height: u16,
}

/// How an exec or attach ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// The process exited with this code (0 is success).
    Code(i32),
    /// The session failed for another reason (the runtime's message).
    Error(String),
}

/// A running exec or attach. Each channel is present exactly when the options asked for
/// it (stdout with tty carries both output streams; stderr is then None). Dropping
/// `stdin` is end of input; the API server drops the receivers and senders when the
/// client goes away, which the implementation should treat as a hang-up.
pub struct ExecSession {
    pub stdin: Option<async_channel::Sender<Vec<u8>>>,
    pub stdout: Option<async_channel::Receiver<Vec<u8>>>,
    pub stderr: Option<async_channel::Receiver<Vec<u8>>>,
    /// Present with tty: every resize the client sends.
    pub resize: Option<async_channel::Sender<TerminalSize>>,
    /// Resolves once the process is gone and its output channels are closed.
    pub exit: LocalBoxFuture<'static, ExitStatus>,
}

impl fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecSession")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("resize", &self.resize.is_some())
            .finish_non_exhaustive()
    }
}

/// A byte pipe to a port inside the pod. Dropping `to_pod` half-closes the connection
/// (the client finished sending); `from_pod` ends when the pod side closes.
pub struct Duplex {
    pub to_pod: async_channel::Sender<Vec<u8>>,
    pub from_pod: async_channel::Receiver<Vec<u8>>,
}

impl fmt::Debug for Duplex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Duplex")
    }
}

/// Why the node could not serve a stream. The message reaches the client as is (as
/// kubelet's errors do upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// The request cannot be served in the container's state, e.g. `container "c" in
    /// pod "p" is waiting to start: ContainerCreating`: 400.
    BadRequest(String),
    /// The container or its previous instance does not exist on the node: 404.
    NotFound(String),
    /// The node failed (runtime error, port not reachable): 500.
    Internal(String),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::BadRequest(m) | StreamError::NotFound(m) | StreamError::Internal(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for StreamError {}

/// What the node agent provides. Calls come after authorization and validation.
pub trait PodStreams {
    /// The container's log as a stream of chunks; with `follow` the stream ends when the
    /// container exits, otherwise at the end of what is written so far.
    fn logs(
        &self,
        target: StreamTarget,
        options: LogOptions,
    ) -> LocalBoxFuture<'_, Result<ChunkStream, StreamError>>;

    /// Starts `options.command` in the container.
    fn exec(
        &self,
        target: StreamTarget,
        options: ExecOptions,
    ) -> LocalBoxFuture<'_, Result<ExecSession, StreamError>>;

    /// Attaches to the container's main process; `exit` resolves when the client should
    /// be told the session is over (the process exited).
    fn attach(
        &self,
        target: StreamTarget,
        options: AttachOptions,
    ) -> LocalBoxFuture<'_, Result<ExecSession, StreamError>>;

    /// Connects to `port` in the pod's network namespace.
    fn port_forward(
        &self,
        pod: PodRef,
        port: u16,
    ) -> LocalBoxFuture<'_, Result<Duplex, StreamError>>;

    /// Resource usage of the node and its running containers (metrics.k8s.io).
    fn metrics(&self) -> LocalBoxFuture<'_, Result<Metrics, StreamError>> {
        Box::pin(async { Err(StreamError::Internal("no metrics source".into())) })
    }
}

/// A usage sample: CPU as a rate over `window_seconds`, memory as the working set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_nanocores: u64,
    pub memory_bytes: u64,
}

/// What `kubectl top` shows, as the node measured it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// RFC 3339 time of the sample.
    pub timestamp: String,
    pub window_seconds: u64,
    pub node_name: String,
    pub node: Usage,
    pub pods: Vec<PodUsage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    pub containers: Vec<(String, Usage)>,
}
