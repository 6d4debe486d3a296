//! The bridge between the API server's pod streams (wisp-core `api::streams`: logs, exec,
//! attach, port-forward, already authorized and validated) and the node agent that serves
//! them (wisp-node `agent::streams`). Both run on `wisp run`'s one thread.

use std::rc::Rc;

use wisp_core::api::streams::node::{
    AttachOptions, Duplex, ExecOptions, ExecSession, ExitStatus, LogOptions, Metrics, PodRef,
    PodStreams, PodUsage, StreamError, StreamTarget, TerminalSize, Usage,
};
use wisp_core::http::{ChunkStream, LocalBoxFuture};
use wisp_node::agent::streams::{LogRequest, StreamFailure, Streams, Target};

pub struct NodeStreams {
    pub streams: Streams,
}

fn target(t: &StreamTarget) -> Target {
    Target {
        namespace: t.namespace.clone(),
        pod: t.pod.clone(),
        uid: t.uid.clone(),
        container: t.container.clone(),
    }
}

fn error(f: StreamFailure) -> StreamError {
    match f {
        StreamFailure::BadRequest(m) => StreamError::BadRequest(m),
        StreamFailure::NotFound(m) => StreamError::NotFound(m),
        StreamFailure::Internal(m) => StreamError::Internal(m),
    }
}

impl NodeStreams {
    fn session(
        &self,
        t: &StreamTarget,
        command: Vec<String>,
        want: (bool, bool, bool, bool),
    ) -> Result<ExecSession, StreamError> {
        let (stdin, stdout, stderr, tty) = want;
        let p = self
            .streams
            .exec(&target(t), command, stdin, tty)
            .map_err(error)?;
        // Resizes are forwarded while the API server waits for the exit (no extra task).
        let (resize, resizes) = match p.resize {
            Some(sizes) => {
                let (tx, rx) = async_channel::bounded::<TerminalSize>(4);
                (Some(tx), Some((rx, sizes)))
            }
            None => (None, None),
        };
        let forward = async move {
            if let Some((rx, sizes)) = resizes {
                while let Ok(size) = rx.recv().await {
                    if sizes.send((size.width, size.height)).await.is_err() {
                        break;
                    }
                }
            }
            std::future::pending::<()>().await;
        };
        let exit = futures_lite::future::or(p.exit, async move {
            forward.await;
            Ok(0)
        });
        Ok(ExecSession {
            stdin: if stdin { p.stdin } else { None },
            stdout: if stdout { p.stdout } else { None },
            stderr: if stderr && !tty { p.stderr } else { None },
            resize,
            exit: Box::pin(async move {
                match exit.await {
                    Ok(code) => ExitStatus::Code(code),
                    Err(m) => ExitStatus::Error(m),
                }
            }),
        })
    }
}

impl PodStreams for NodeStreams {
    fn logs(
        &self,
        t: StreamTarget,
        o: LogOptions,
    ) -> LocalBoxFuture<'_, Result<ChunkStream, StreamError>> {
        Box::pin(async move {
            let request = LogRequest {
                follow: o.follow,
                previous: o.previous,
                tail_lines: o.tail_lines,
                since_unix: o.since_unix,
                timestamps: o.timestamps,
                limit_bytes: o.limit_bytes,
            };
            let rx = self.streams.logs(&target(&t), request).map_err(error)?;
            let stream: ChunkStream = Box::pin(rx);
            Ok(stream)
        })
    }

    fn exec(
        &self,
        t: StreamTarget,
        o: ExecOptions,
    ) -> LocalBoxFuture<'_, Result<ExecSession, StreamError>> {
        Box::pin(async move { self.session(&t, o.command, (o.stdin, o.stdout, o.stderr, o.tty)) })
    }

    fn attach(
        &self,
        t: StreamTarget,
        o: AttachOptions,
    ) -> LocalBoxFuture<'_, Result<ExecSession, StreamError>> {
        Box::pin(async move {
            if o.stdin {
                return Err(StreamError::BadRequest(
                    "wisp does not attach to a container's stdin yet".into(),
                ));
            }
            let request = LogRequest {
                follow: true,
                tail_lines: Some(0),
                ..LogRequest::default()
            };
            let rx = self.streams.logs(&target(&t), request).map_err(error)?;
            let (tx, out) = async_channel::bounded(16);
            let done = async move {
                while let Ok(chunk) = rx.recv().await {
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
                ExitStatus::Code(0)
            };
            Ok(ExecSession {
                stdin: None,
                stdout: o.stdout.then_some(out),
                stderr: None,
                resize: None,
                exit: Box::pin(done),
            })
        })
    }

    fn metrics(&self) -> LocalBoxFuture<'_, Result<Metrics, StreamError>> {
        Box::pin(async move {
            let s = self.streams.metrics().await.map_err(error)?;
            let usage = |u: wisp_node::agent::metrics::Usage| Usage {
                cpu_nanocores: u.cpu_nanocores,
                memory_bytes: u.memory_bytes,
            };
            Ok(Metrics {
                timestamp: s.timestamp,
                window_seconds: s.window_seconds,
                node_name: self.streams.node_name().unwrap_or_default(),
                node: usage(s.node),
                pods: s
                    .pods
                    .into_iter()
                    .map(|p| PodUsage {
                        namespace: p.namespace,
                        name: p.name,
                        containers: p
                            .containers
                            .into_iter()
                            .map(|(n, u)| (n, usage(u)))
                            .collect(),
                    })
                    .collect(),
            })
        })
    }

    fn port_forward(
        &self,
        pod: PodRef,
        port: u16,
    ) -> LocalBoxFuture<'_, Result<Duplex, StreamError>> {
        Box::pin(async move {
            let c = self
                .streams
                .port_forward(&pod.uid, port)
                .await
                .map_err(error)?;
            Ok(Duplex {
                to_pod: c.to_pod,
                from_pod: c.from_pod,
            })
        })
    }
}

/// The bridge as the API server takes it.
pub fn install(streams: Streams) -> Rc<dyn PodStreams> {
    Rc::new(NodeStreams { streams })
}
