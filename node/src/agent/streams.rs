//! What `kubectl logs`, `exec`, `attach` and `port-forward` reach on the node: container
//! logs read back from the CRI files (following new lines through the writer's signal,
//! no polling), processes started in a container with `runc exec` (pipes, or a terminal
//! through runc's console socket), and TCP connections opened inside the pod's network
//! namespace. The API server side (crate wisp-core, api::streams) calls these through
//! `wisp run`'s bridge after authorizing the request.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use async_io::Async;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::Ctx;
use super::exits::ExitWatch;
use super::logs::{self, LogPaths};
use crate::runtime::oci::{self, Stdio};

/// Why a stream cannot be served; the message reaches the client as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFailure {
    BadRequest(String),
    NotFound(String),
    Internal(String),
}

/// Which container.
#[derive(Debug, Clone)]
pub struct Target {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
}

#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    pub follow: bool,
    pub previous: bool,
    pub tail_lines: Option<u64>,
    pub since_unix: Option<i64>,
    pub timestamps: bool,
    pub limit_bytes: Option<u64>,
}

/// A process started in a container: channels as asked for, and its exit code.
pub struct Process {
    pub stdin: Option<Sender<Vec<u8>>>,
    pub stdout: Option<Receiver<Vec<u8>>>,
    pub stderr: Option<Receiver<Vec<u8>>>,
    pub resize: Option<Sender<(u16, u16)>>,
    pub exit: std::pin::Pin<Box<dyn std::future::Future<Output = Result<i32, String>>>>,
}

/// A connection to a port in the pod.
pub struct Connection {
    pub to_pod: Sender<Vec<u8>>,
    pub from_pod: Receiver<Vec<u8>>,
}

/// A handle the API server's bridge holds; it works once the agent has started.
#[derive(Clone, Default)]
pub struct Streams {
    ctx: Rc<std::cell::RefCell<Option<Rc<Ctx>>>>,
}

impl Streams {
    pub(super) fn install(&self, ctx: &Rc<Ctx>) {
        *self.ctx.borrow_mut() = Some(Rc::clone(ctx));
    }

    fn ctx(&self) -> Result<Rc<Ctx>, StreamFailure> {
        self.ctx
            .borrow()
            .clone()
            .ok_or_else(|| StreamFailure::Internal("the node agent is not running".into()))
    }

    /// The container's log (see [`LogRequest`]) as a stream of byte chunks.
    pub fn logs(&self, t: &Target, req: LogRequest) -> Result<Receiver<Vec<u8>>, StreamFailure> {
        let ctx = self.ctx()?;
        let paths = LogPaths::new(
            &ctx.host.log_root,
            &t.namespace,
            &t.pod,
            &t.uid,
            &t.container,
        );
        let runs = log_runs(&paths.dir);
        let file = if req.previous {
            runs.iter().rev().nth(1).copied().ok_or_else(|| {
                StreamFailure::BadRequest(format!(
                    "previous terminated container \"{}\" in pod \"{}\" not found",
                    t.container, t.pod
                ))
            })?
        } else {
            *runs.last().ok_or_else(|| {
                StreamFailure::BadRequest(format!(
                    "container \"{}\" in pod \"{}\" is waiting to start: ContainerCreating",
                    t.container, t.pod
                ))
            })?
        };
        let path = paths.file(file);
        let signal = (req.follow && !req.previous).then(|| ctx.log_signal(&t.uid, &t.container));
        let (tx, rx) = async_channel::bounded(16);
        ctx.executor.spawn(send_log(path, req, signal, tx)).detach();
        Ok(rx)
    }

    /// Runs `command` in the container's current run.
    pub fn exec(
        &self,
        t: &Target,
        command: Vec<String>,
        stdin: bool,
        tty: bool,
    ) -> Result<Process, StreamFailure> {
        let ctx = self.ctx()?;
        let id = ctx.running_id(&t.uid, &t.container).ok_or_else(|| {
            StreamFailure::BadRequest(format!(
                "container {} is not valid for pod {}",
                t.container, t.pod
            ))
        })?;
        let cdir = ctx
            .host
            .container_dir_of(&id)
            .ok_or_else(|| StreamFailure::NotFound(format!("container {id} not found")))?;
        let process = oci::exec_process_json(&cdir, &command, tty)
            .map_err(|e| StreamFailure::Internal(e.to_string()))?;
        if tty {
            exec_tty(&ctx, &id, &process)
        } else {
            exec_pipes(&ctx, &id, &process, stdin)
        }
    }

    /// Node and container usage for metrics.k8s.io.
    pub async fn metrics(&self) -> Result<super::metrics::Sample, StreamFailure> {
        let ctx = self.ctx()?;
        Ok(super::metrics::sample(&ctx).await)
    }

    /// The Node's name.
    pub fn node_name(&self) -> Option<String> {
        self.ctx.borrow().as_ref().map(|c| c.node_name.clone())
    }

    /// Opens a TCP connection to `port` inside the pod's network namespace.
    pub async fn port_forward(&self, uid: &str, port: u16) -> Result<Connection, StreamFailure> {
        let ctx = self.ctx()?;
        let netns = ctx.host.existing_namespaces(uid).network;
        let stream = connect_in(netns, port).await.map_err(|e| {
            StreamFailure::Internal(format!(
                "failed to connect to localhost:{port} inside namespace of pod: {e}"
            ))
        })?;
        let stream = Async::new(stream).map_err(|e| StreamFailure::Internal(e.to_string()))?;
        let stream = Rc::new(stream);
        let (to_pod, from_client) = async_channel::bounded::<Vec<u8>>(16);
        let (to_client, from_pod) = async_channel::bounded::<Vec<u8>>(16);
        let reader = Rc::clone(&stream);
        ctx.executor
            .spawn(async move {
                let mut reader = &*reader;
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = reader.read(&mut buf).await {
                    if n == 0 || to_client.send(buf[..n].to_vec()).await.is_err() {
                        break;
                    }
                }
            })
            .detach();
        ctx.executor
            .spawn(async move {
                let mut writer = &*stream;
                while let Ok(chunk) = from_client.recv().await {
                    if writer.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
            })
            .detach();
        Ok(Connection { to_pod, from_pod })
    }
}

/// Run numbers that have a log file, ascending.
fn log_runs(dir: &Path) -> Vec<u32> {
    let mut runs: Vec<u32> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    runs.sort_unstable();
    runs
}

/// Formats the records of one file and sends them; follows it while the run lasts.
async fn send_log(
    path: PathBuf,
    req: LogRequest,
    signal: Option<Rc<logs::LogSignal>>,
    tx: Sender<Vec<u8>>,
) {
    let mut budget = req.limit_bytes.unwrap_or(u64::MAX);
    let mut offset = 0u64;
    let mut partial = Vec::new();
    // The first pass honours tailLines; followed lines all go out.
    let mut first = true;
    loop {
        let listener = signal.as_ref().map(|s| s.written.listen());
        let finished = signal.as_ref().is_none_or(|s| s.finished.get());
        let p = path.clone();
        let (chunk, new_offset) = blocking::unblock(move || read_from(&p, offset)).await;
        offset = new_offset;
        let mut lines = Vec::new();
        partial.extend_from_slice(&chunk);
        while let Some(pos) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=pos).collect();
            if let Some(out) = format_line(&line[..line.len() - 1], &req) {
                lines.push(out);
            }
        }
        if first {
            if let Some(n) = req.tail_lines {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                let skip = lines.len().saturating_sub(n);
                lines.drain(..skip);
            }
            first = false;
        }
        for mut line in lines {
            if budget == 0 {
                return;
            }
            if line.len() as u64 > budget {
                line.truncate(usize::try_from(budget).unwrap_or(0));
            }
            budget -= line.len() as u64;
            if tx.send(line).await.is_err() {
                return;
            }
        }
        match listener {
            Some(listener) if !finished => listener.await,
            _ => return,
        }
    }
}

/// Reads what was appended since `offset` (from 0 again if the file was rotated).
fn read_from(path: &Path, offset: u64) -> (Vec<u8>, u64) {
    let Ok(mut f) = File::open(path) else {
        return (Vec::new(), offset);
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let start = if len < offset { 0 } else { offset };
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_ok() {
        let _ = f.take(4 << 20).read_to_end(&mut buf);
    }
    let end = start + buf.len() as u64;
    (buf, end)
}

/// One CRI record as `kubectl logs` prints it.
fn format_line(record: &[u8], req: &LogRequest) -> Option<Vec<u8>> {
    let r = logs::parse_record(record)?;
    if let Some(since) = req.since_unix {
        let (secs, _) = super::time::parse(r.timestamp)?;
        if i64::try_from(secs).unwrap_or(i64::MAX) < since {
            return None;
        }
    }
    let mut out = Vec::with_capacity(r.text.len() + 40);
    if req.timestamps {
        out.extend_from_slice(r.timestamp.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(r.text);
    if !r.partial {
        out.push(b'\n');
    }
    Some(out)
}

fn internal(e: impl std::fmt::Display) -> StreamFailure {
    StreamFailure::Internal(e.to_string())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), StreamFailure> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(internal)
}

fn exec_pipes(
    ctx: &Rc<Ctx>,
    id: &str,
    process: &str,
    stdin: bool,
) -> Result<Process, StreamFailure> {
    let (in_read, in_write) = if stdin {
        let (r, w) = pipe()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let (out_read, out_write) = pipe()?;
    let (err_read, err_write) = pipe()?;
    let child = ctx
        .host
        .runtime
        .exec(
            id,
            process,
            Stdio::Fds {
                stdin: in_read,
                stdout: out_write,
                stderr: err_write,
            },
        )
        .map_err(internal)?;
    let stdout = forward_output(ctx, out_read)?;
    let stderr = forward_output(ctx, err_read)?;
    let stdin = match in_write {
        Some(w) => Some(forward_input(ctx, w)?),
        None => None,
    };
    let exit = Box::pin(async move {
        let pid = child.id();
        let status = blocking::unblock(move || {
            let mut child = child;
            child.wait()
        })
        .await;
        crate::runtime::reaper::release(pid);
        status
            .map_err(|e| e.to_string())?
            .code()
            .ok_or_else(|| "exec ended by a signal".to_owned())
    });
    Ok(Process {
        stdin,
        stdout: Some(stdout),
        stderr: Some(stderr),
        resize: None,
        exit,
    })
}

fn forward_output(ctx: &Ctx, fd: OwnedFd) -> Result<Receiver<Vec<u8>>, StreamFailure> {
    let mut reader = Async::new(File::from(fd)).map_err(internal)?;
    let (tx, rx) = async_channel::bounded(16);
    ctx.executor
        .spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 || tx.send(buf[..n].to_vec()).await.is_err() {
                    break;
                }
            }
        })
        .detach();
    Ok(rx)
}

fn forward_input(ctx: &Ctx, fd: OwnedFd) -> Result<Sender<Vec<u8>>, StreamFailure> {
    let mut writer = Async::new(File::from(fd)).map_err(internal)?;
    let (tx, rx) = async_channel::bounded::<Vec<u8>>(16);
    ctx.executor
        .spawn(async move {
            while let Ok(chunk) = rx.recv().await {
                if writer.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            // Dropping the writer closes the pipe: end of input for the process.
        })
        .detach();
    Ok(tx)
}

fn exec_tty(ctx: &Rc<Ctx>, id: &str, process: &str) -> Result<Process, StreamFailure> {
    let dir = ctx.host.run_dir.join("console");
    std::fs::create_dir_all(&dir).map_err(internal)?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let socket_path = dir.join(format!("{nonce:x}.sock"));
    let pid_file = dir.join(format!("{nonce:x}.pid"));
    let socket = oci::ConsoleSocket::bind(&socket_path).map_err(internal)?;
    let result = ctx
        .host
        .runtime
        .exec_tty(id, process, &socket_path, &pid_file);
    let master = socket.receive_master(Duration::from_secs(5));
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(&pid_file);
    let pid = result.map_err(internal)?;
    let master = master.map_err(internal)?;
    let watch = ExitWatch::new(pid).map_err(internal)?;
    let writer_fd = master.try_clone().map_err(internal)?;
    let resize_fd = master.try_clone().map_err(internal)?;
    let stdout = forward_output(ctx, master)?;
    let stdin = forward_input(ctx, writer_fd)?;
    let (resize, sizes) = async_channel::bounded::<(u16, u16)>(4);
    ctx.executor
        .spawn(async move {
            while let Ok((cols, rows)) = sizes.recv().await {
                let size = rustix::termios::Winsize {
                    ws_row: rows,
                    ws_col: cols,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                let _ = rustix::termios::tcsetwinsize(&resize_fd, size);
            }
        })
        .detach();
    let exit = Box::pin(async move { Ok(watch.exited().await.code()) });
    Ok(Process {
        stdin: Some(stdin),
        stdout: Some(stdout),
        stderr: None,
        resize: Some(resize),
        exit,
    })
}

/// Connects from a short-lived thread inside the pod's network namespace; the socket
/// stays in that namespace after the thread ends.
async fn connect_in(netns: Option<PathBuf>, port: u16) -> std::io::Result<TcpStream> {
    let (tx, rx) = async_channel::bounded(1);
    std::thread::Builder::new()
        .name("wisp-portfwd".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let result = (|| {
                if let Some(path) = &netns {
                    let fd = File::open(path)?;
                    rustix::thread::move_into_link_name_space(
                        std::os::fd::AsFd::as_fd(&fd),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )?;
                }
                TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], port)),
                    Duration::from_secs(5),
                )
            })();
            let _ = tx.try_send(result);
        })?;
    rx.recv()
        .await
        .map_err(|_| std::io::Error::other("the connecting thread died"))?
}
