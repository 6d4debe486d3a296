//! Liveness, readiness and startup probes with upstream's timing fields. Each probe of a
//! running container is one timer task (cancelled with the run); a check runs off the
//! executor: `exec` through the runtime, `httpGet` and `tcpSocket` from a short-lived
//! thread that enters the pod's network namespace (so probes work with or without a pod
//! network, as the kubelet's probes reach the pod IP). The worker hears only verdict
//! changes after success/failure thresholds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use async_channel::Sender;
use async_executor::Task;

use super::Ctx;
use super::launch::Sandbox;
use super::worker::Input;
use crate::runtime::podspec::{Container, Handler, IntOrString, Probe};

pub const READINESS: usize = 0;
pub const LIVENESS: usize = 1;
pub const STARTUP: usize = 2;

/// Starts the container's probes; dropping the tasks stops them.
pub fn spawn(
    ctx: &Rc<Ctx>,
    spec: &Container,
    sandbox: Option<&Sandbox>,
    tx: &Sender<Input>,
    id: &str,
) -> Vec<Task<()>> {
    let target = target(spec, sandbox, id);
    [
        (READINESS, &spec.readiness_probe),
        (LIVENESS, &spec.liveness_probe),
        (STARTUP, &spec.startup_probe),
    ]
    .into_iter()
    .filter_map(|(kind, probe)| {
        let probe = probe.clone()?;
        let (ctx, tx, target) = (Rc::clone(ctx), tx.clone(), target.clone());
        Some(ctx.executor.clone().spawn(async move {
            run(ctx, kind, probe, target, tx).await;
        }))
    })
    .collect()
}

/// Where a container's probes and hooks reach it.
pub fn target(spec: &Container, sandbox: Option<&Sandbox>, id: &str) -> Target {
    Target {
        netns: sandbox.and_then(|s| s.netns.clone()),
        container_id: id.to_owned(),
        ports: spec
            .ports
            .iter()
            .filter_map(|p| Some((p.name.clone()?, p.container_port)))
            .collect(),
    }
}

#[derive(Clone)]
pub struct Target {
    netns: Option<PathBuf>,
    container_id: String,
    ports: Vec<(String, i32)>,
}

async fn run(ctx: Rc<Ctx>, kind: usize, probe: Probe, target: Target, tx: Sender<Input>) {
    let secs = |n: i32| Duration::from_secs(u64::try_from(n.max(0)).unwrap_or(0));
    async_io::Timer::after(secs(probe.initial_delay_seconds)).await;
    let (mut successes, mut failures) = (0, 0);
    // Readiness starts false, liveness and startup start "not failed".
    let mut verdict: Option<bool> = None;
    loop {
        let ok = check(&ctx, &probe, &target).await;
        if ok {
            successes += 1;
            failures = 0;
        } else {
            failures += 1;
            successes = 0;
        }
        let new = if successes >= probe.success_threshold.max(1) {
            Some(true)
        } else if failures >= probe.failure_threshold.max(1) {
            Some(false)
        } else {
            verdict
        };
        if new != verdict
            && let Some(ok) = new
        {
            verdict = new;
            let input = Input::Probe {
                id: target.container_id.clone(),
                kind,
                ok,
            };
            if tx.send(input).await.is_err() {
                return;
            }
            if kind == LIVENESS && !ok {
                return;
            }
            if kind == STARTUP && ok {
                return;
            }
        }
        async_io::Timer::after(secs(probe.period_seconds.max(1))).await;
    }
}

async fn check(ctx: &Ctx, probe: &Probe, target: &Target) -> bool {
    let timeout = Duration::from_secs(u64::try_from(probe.timeout_seconds.max(1)).unwrap_or(1));
    run_handler(ctx, &probe.handler, target, timeout).await
}

/// Runs a probe or lifecycle-hook handler; true on success.
pub async fn run_handler(ctx: &Ctx, handler: &Handler, target: &Target, timeout: Duration) -> bool {
    match handler {
        Handler::Exec { command } => {
            let host = std::sync::Arc::clone(&ctx.host);
            let (id, command) = (target.container_id.clone(), command.clone());
            blocking::unblock(move || {
                super::launch::exec_status(&host, &id, &command, timeout) == Some(0)
            })
            .await
        }
        Handler::HttpGet(get) => {
            let Some(port) = port_of(&get.port, target) else {
                return false;
            };
            let request = format!(
                "GET {} HTTP/1.1\r\nHost: {}:{port}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n{}\r\n",
                if get.path.is_empty() { "/" } else { &get.path },
                get.host.as_deref().unwrap_or("127.0.0.1"),
                get.headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}\r\n"))
                    .collect::<String>()
            );
            in_netns(target.netns.clone(), port, timeout, Some(request)).await
        }
        Handler::TcpSocket { port, .. } => {
            let Some(port) = port_of(port, target) else {
                return false;
            };
            in_netns(target.netns.clone(), port, timeout, None).await
        }
        Handler::Sleep { seconds } => {
            let secs = u64::try_from(*seconds).unwrap_or(0);
            async_io::Timer::after(Duration::from_secs(secs).min(timeout)).await;
            true
        }
        Handler::Grpc { .. } => false,
    }
}

fn port_of(port: &IntOrString, target: &Target) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => target
            .ports
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, p)| u16::try_from(*p).ok()),
    }
}

/// Connects to 127.0.0.1:port inside the pod's network namespace (the host's for
/// hostNetwork pods); with a request, success is an HTTP status from 200 to 399.
async fn in_netns(
    netns: Option<PathBuf>,
    port: u16,
    timeout: Duration,
    request: Option<String>,
) -> bool {
    let (tx, rx) = async_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("wisp-probe".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let ok =
                enter(netns.as_deref()).is_ok() && probe_once(port, timeout, request.as_deref());
            let _ = tx.try_send(ok);
        });
    spawned.is_ok() && rx.recv().await.unwrap_or(false)
}

fn enter(netns: Option<&std::path::Path>) -> std::io::Result<()> {
    let Some(path) = netns else {
        return Ok(());
    };
    let fd = std::fs::File::open(path)?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&fd),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    Ok(())
}

fn probe_once(port: u16, timeout: Duration, request: Option<&str>) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let Some(request) = request else {
        return true;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 64];
    let Ok(n) = stream.read(&mut head) else {
        return false;
    };
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .is_some_and(|code| (200..400).contains(&code))
}
