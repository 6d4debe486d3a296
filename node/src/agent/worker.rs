//! One task per pod: it owns the pod's containers from sandbox to teardown. It wakes only
//! for a change of the pod, a container exit, a back-off or grace-period deadline, or a
//! probe timer; each wake reconciles what runs with what the spec asks, then reports the
//! status if it changed.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use wisp_proto::FromNode;

use super::exits::{Exit, ExitWatch};
use super::launch::{self, LaunchError, Sandbox, Started};
use super::state::{ContainerRun, RunState, Terminated};
use super::status::{self, Conditions, PodView};
use super::{Ctx, env, logs, time};
use crate::runtime::podspec::{Container, ContainerRestartPolicy, Pod, PullPolicy, RestartPolicy};

/// What wakes a pod worker.
#[derive(Debug)]
pub enum Input {
    /// The pod object changed.
    Pod(Box<Pod>),
    /// The pod object is gone from the store.
    Removed,
    /// A container's init process exited.
    Exited { id: String, exit: Exit },
    /// A probe's verdict for a container run (index into readiness/liveness/startup).
    Probe { id: String, kind: usize, ok: bool },
    /// The node is under pressure and this pod was chosen: fail it, killing its containers
    /// at once (a hard eviction has no grace period).
    Evict { message: String },
    /// A ConfigMap or Secret changed: refresh the file volumes if the pod uses it.
    ConfigChanged { namespace: String, name: String },
}

pub struct PodWorker {
    ctx: Rc<Ctx>,
    pod: Pod,
    inputs: Receiver<Input>,
    self_tx: Sender<Input>,
    init: Vec<ContainerRun>,
    app: Vec<ContainerRun>,
    sandbox: Option<Sandbox>,
    conditions: Conditions,
    start_time: u64,
    last_sent: Vec<u8>,
    failure: Option<(String, String)>,
    stopping: Option<Stopping>,
    removed: bool,
    /// Sandbox set-up failed: retry not before this.
    sandbox_retry: Option<Instant>,
    /// The pod had already finished (Succeeded or Failed) when this worker started, e.g.
    /// before a wisp restart: it is never run again, only torn down when deleted.
    finished_phase: Option<String>,
    /// When the projected ServiceAccount tokens are renewed (unix seconds).
    token_renew_at: Option<u64>,
    /// Probe timers of each running container, cancelled with the run.
    probe_tasks: std::collections::HashMap<String, Vec<async_executor::Task<()>>>,
}

struct Stopping {
    deadline: Instant,
    /// preStop hooks ran and SIGTERM was sent.
    termed: bool,
    /// SIGKILL was sent.
    killed: bool,
}

impl PodWorker {
    pub fn new(
        ctx: Rc<Ctx>,
        pod: Pod,
        inputs: Receiver<Input>,
        self_tx: Sender<Input>,
        finished_phase: Option<String>,
    ) -> Self {
        let init = pod
            .spec
            .init_containers
            .iter()
            .map(|c| ContainerRun::new(&c.name, true))
            .collect();
        let app = pod
            .spec
            .containers
            .iter()
            .map(|c| ContainerRun::new(&c.name, false))
            .collect();
        PodWorker {
            ctx,
            pod,
            inputs,
            self_tx,
            init,
            app,
            sandbox: None,
            conditions: Conditions::default(),
            start_time: time::now_secs(),
            last_sent: Vec::new(),
            failure: None,
            stopping: None,
            removed: false,
            sandbox_retry: None,
            finished_phase,
            token_renew_at: None,
            probe_tasks: std::collections::HashMap::new(),
        }
    }

    /// Runs the pod until it is deleted and torn down.
    pub async fn run(mut self) {
        self.adopt().await;
        loop {
            if self.reconcile().await {
                break;
            }
            self.report().await;
            let input = match self.next_deadline() {
                Some(at) => {
                    let wait = async { self.inputs.recv().await.ok() };
                    let timer = async {
                        async_io::Timer::at(at).await;
                        None
                    };
                    match futures_lite::future::or(wait, timer).await {
                        Some(input) => Some(input),
                        None if self.inputs.is_closed() => break,
                        None => None,
                    }
                }
                None => match self.inputs.recv().await {
                    Ok(input) => Some(input),
                    Err(_) => break,
                },
            };
            if let Some(input) = input {
                self.apply(input).await;
            }
            while let Ok(input) = self.inputs.try_recv() {
                self.apply(input).await;
            }
        }
    }

    fn key(&self) -> String {
        format!("{}/{}", self.pod.namespace, self.pod.name)
    }

    async fn apply(&mut self, input: Input) {
        match input {
            Input::Pod(pod) => {
                // A pod's containers are immutable but for images; the rest of the spec
                // (readiness gates aside) cannot change, so adopt the new object whole.
                self.pod = *pod;
            }
            Input::Removed => self.removed = true,
            Input::Exited { id, exit } => self.exited(&id, exit).await,
            Input::Probe { id, kind, ok } => self.probed(&id, kind, ok).await,
            Input::Evict { message } => {
                if self.failure.is_none() {
                    self.event(true, "Evicted", &message).await;
                    self.failure = Some(("Evicted".to_owned(), message));
                    self.stop_all(true).await;
                }
            }
            Input::ConfigChanged { namespace, name } => {
                let quoted = format!("\"{name}\"");
                let uses = namespace == self.pod.namespace
                    && self
                        .pod
                        .spec
                        .volumes
                        .iter()
                        .any(|v| v.source.contains(&quoted));
                if uses {
                    self.refresh_volumes().await;
                }
            }
        }
    }

    fn runs_mut(&mut self) -> impl Iterator<Item = &mut ContainerRun> {
        self.init.iter_mut().chain(self.app.iter_mut())
    }

    fn runs(&self) -> impl Iterator<Item = &ContainerRun> {
        self.init.iter().chain(self.app.iter())
    }

    fn spec_of(&self, name: &str) -> Option<&Container> {
        self.pod
            .spec
            .init_containers
            .iter()
            .chain(&self.pod.spec.containers)
            .find(|c| c.name == name)
    }

    /// Returns true when the worker is finished (pod torn down).
    async fn reconcile(&mut self) -> bool {
        let terminating = self.removed || self.pod.deletion_timestamp.is_some();
        if terminating {
            return self.terminate().await;
        }
        if self.finished_phase.is_some() {
            return false;
        }
        if self.deadline_exceeded() {
            self.failure = Some((
                "DeadlineExceeded".into(),
                "Pod was active on the node longer than the specified deadline".into(),
            ));
        }
        let phase = self.phase();
        if phase == "Succeeded" || phase == "Failed" {
            self.stop_all(false).await;
            if !self.runs().any(ContainerRun::running) {
                self.release_sandbox().await;
            }
            return false;
        }
        if self.sandbox.is_none() && !self.ensure_sandbox().await {
            return false;
        }
        if self.token_renew_at.is_some_and(|t| time::now_secs() >= t) {
            self.refresh_volumes().await;
        }
        if !self.run_init_containers().await {
            return false;
        }
        self.run_app_containers().await;
        false
    }

    fn deadline_exceeded(&self) -> bool {
        self.pod
            .spec
            .active_deadline_seconds
            .is_some_and(|d| time::now_secs() >= self.start_time + u64::try_from(d).unwrap_or(0))
    }

    fn phase(&self) -> &'static str {
        status::phase(&self.view())
    }

    fn view(&self) -> PodView<'_> {
        PodView {
            pod: &self.pod,
            init: &self.init,
            app: &self.app,
            pod_ip: self.sandbox.as_ref().and_then(|s| s.ip.as_deref()),
            host_ip: self.ctx.host_ip.borrow().clone(),
            start_time: self.start_time,
            failure: self.failure.as_ref().map(|(r, m)| (r.as_str(), m.as_str())),
        }
    }

    async fn ensure_sandbox(&mut self) -> bool {
        if self.sandbox_retry.is_some_and(|t| t > Instant::now()) {
            return false;
        }
        let host = Arc::clone(&self.ctx.host);
        let pod = self.pod.clone();
        let volumes = match super::volumes::fetch(&self.ctx, &self.pod).await {
            Ok(fetched) => {
                self.token_renew_at = fetched.renew_at;
                fetched.plans
            }
            Err(message) => {
                self.event(true, "FailedMount", &message).await;
                self.sandbox_retry = Some(Instant::now() + Duration::from_secs(10));
                self.set_all_waiting("ContainerCreating", "");
                return false;
            }
        };
        let slot = self.ctx.launches.acquire().await;
        let created = blocking::unblock(move || launch::create_sandbox(&host, &pod, volumes)).await;
        drop(slot);
        match created {
            Ok(sandbox) => {
                self.ctx.set_pod_ip(&self.pod.uid, sandbox.ip.as_deref());
                self.sandbox = Some(sandbox);
                self.sandbox_retry = None;
                // NetworkPolicy must know the address before the containers send or
                // receive anything.
                self.ctx.policy_rules_current().await;
                true
            }
            Err(e) => {
                self.event(true, "FailedCreatePodSandBox", &e.to_string())
                    .await;
                self.sandbox_retry = Some(Instant::now() + Duration::from_secs(10));
                false
            }
        }
    }

    fn set_all_waiting(&mut self, reason: &str, message: &str) {
        for c in self.runs_mut() {
            if !c.has_run() {
                c.state = RunState::Waiting {
                    reason: reason.to_owned(),
                    message: message.to_owned(),
                };
            }
        }
    }

    /// Init containers one at a time, in order; sidecars (restartPolicy Always) keep
    /// running. Returns whether all are done (the app containers may start).
    async fn run_init_containers(&mut self) -> bool {
        for i in 0..self.init.len() {
            let sidecar = self.pod.spec.init_containers[i].restart_policy
                == Some(ContainerRestartPolicy::Always);
            let c = &self.init[i];
            if sidecar && c.running() {
                continue;
            }
            if !sidecar && c.terminated().is_some_and(|t| t.exit_code == 0) {
                continue;
            }
            if c.running() {
                return false;
            }
            if c.terminated().is_some()
                && !sidecar
                && self.pod.spec.restart_policy == RestartPolicy::Never
            {
                return false;
            }
            self.start_when_due(true, i).await;
            if !(sidecar && self.init[i].running()) {
                return false;
            }
        }
        true
    }

    async fn run_app_containers(&mut self) {
        for i in 0..self.app.len() {
            let c = &self.app[i];
            if c.running() {
                continue;
            }
            let restart = match (c.terminated(), self.pod.spec.restart_policy) {
                (None, _) => true,
                (Some(_), RestartPolicy::Always) => true,
                (Some(t), RestartPolicy::OnFailure) => t.exit_code != 0,
                (Some(_), RestartPolicy::Never) => false,
            };
            if restart {
                self.start_when_due(false, i).await;
            }
        }
    }

    /// Starts a container now, or shows CrashLoopBackOff until its back-off ends.
    async fn start_when_due(&mut self, init: bool, i: usize) {
        let now = Instant::now();
        let key = self.key();
        let uid = self.pod.uid.clone();
        let run = if init {
            &mut self.init[i]
        } else {
            &mut self.app[i]
        };
        if let Some(delay) = run.pending_delay(now) {
            if let RunState::Terminated(t) = &run.state {
                run.last = Some(t.clone());
            }
            if run.has_run() {
                let secs = run.backoff.as_secs() / 2;
                let secs = secs.max(delay.as_secs());
                run.state = RunState::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: format!(
                        "back-off {secs}s restarting failed container={} pod={}_{}({uid})",
                        run.name,
                        key.split('/').nth(1).unwrap_or(""),
                        key.split('/').next().unwrap_or("")
                    ),
                };
            }
            return;
        }
        let Some(spec) = self
            .spec_of(&if init { &self.init[i] } else { &self.app[i] }.name)
            .cloned()
        else {
            return;
        };
        self.start(&spec, init, i).await;
    }

    async fn start(&mut self, spec: &Container, init: bool, i: usize) {
        let env = match env::resolve(&self.ctx, &self.pod, spec).await {
            Ok(env) => env,
            Err(message) => {
                self.start_failed(init, i, "CreateContainerConfigError", &message)
                    .await;
                return;
            }
        };
        let Some(sandbox) = self.sandbox.clone() else {
            return;
        };
        let run = if init { &self.init[i] } else { &self.app[i] };
        let attempt = if run.has_run() {
            run.restart_count + 1
        } else {
            0
        };
        let host = Arc::clone(&self.ctx.host);
        // The image catalog is a file: read it off the executor thread.
        let (probe_host, image) = (Arc::clone(&host), spec.image.clone());
        let pulled = blocking::unblock(move || probe_host.image_present(&image)).await;
        let pull_secrets = if pulled && spec.image_pull_policy != PullPolicy::Always {
            Vec::new()
        } else {
            self.pull_secrets().await
        };
        let plan = launch::ContainerPlan {
            pod: self.pod.clone(),
            container: spec.clone(),
            env,
            attempt,
            pull_secrets,
            share_pid_of: self
                .pod
                .spec
                .share_process_namespace
                .then(|| self.runs().find_map(|c| c.pid))
                .flatten(),
        };
        if !pulled {
            self.event(
                false,
                "Pulling",
                &format!("Pulling image \"{}\"", spec.image),
            )
            .await;
        }
        let slot = self.ctx.launches.acquire().await;
        let result =
            blocking::unblock(move || launch::start_container(&host, &sandbox, &plan)).await;
        drop(slot);
        match result {
            Ok(started) => self.started(spec, init, i, attempt, started).await,
            Err(e) => {
                let (reason, message) = e.reason_and_message();
                self.start_failed(init, i, reason, &message).await;
            }
        }
    }

    async fn started(&mut self, spec: &Container, init: bool, i: usize, attempt: u32, s: Started) {
        let now = time::now_secs();
        let run = if init {
            &mut self.init[i]
        } else {
            &mut self.app[i]
        };
        if let RunState::Terminated(t) = &run.state {
            run.last = Some(t.clone());
        }
        if run.has_run() {
            run.restart_count += 1;
        }
        debug_assert_eq!(run.restart_count, attempt);
        run.state = RunState::Running { started_at: now };
        run.id = Some(s.id.clone());
        self.ctx.set_running(&self.pod.uid, &spec.name, Some(&s.id));
        run.pid = Some(s.pid);
        run.image_id = s.image_id.clone();
        run.started = spec.startup_probe.is_none();
        run.ready = spec.readiness_probe.is_none() && run.started && !init;
        run.not_before = None;
        self.watch(s);
        self.save();
        self.event(
            false,
            "Started",
            &format!("Started container {}", spec.name),
        )
        .await;
        let id = run_id(self, init, i);
        if let Some(hook) = &spec.lifecycle.post_start {
            let target = super::probes::target(spec, self.sandbox.as_ref(), &id);
            if !super::probes::run_handler(&self.ctx, hook, &target, self.grace()).await {
                // Upstream kills a container whose postStart hook failed; the exit then
                // follows the restart policy.
                let message = format!("PostStartHook failed for container {}", spec.name);
                self.event(true, "FailedPostStartHook", &message).await;
                let host = Arc::clone(&self.ctx.host);
                let kill_id = id.clone();
                let _ = blocking::unblock(move || launch::signal(&host, &kill_id, 9)).await;
            }
        }
        let tasks =
            super::probes::spawn(&self.ctx, spec, self.sandbox.as_ref(), &self.self_tx, &id);
        self.probe_tasks.insert(id, tasks);
    }

    /// The pod's termination grace period (the deletion's, when it has one).
    fn grace(&self) -> Duration {
        let secs = self
            .pod
            .grace
            .unwrap_or(self.pod.spec.termination_grace_period_seconds)
            .max(0);
        Duration::from_secs(u64::try_from(secs).unwrap_or(30))
    }

    /// Runs the preStop hooks of the running containers, all within the grace period.
    async fn pre_stop_hooks(&self) {
        let hooks: Vec<_> = self
            .runs()
            .filter(|c| c.running())
            .filter_map(|c| {
                let spec = self.spec_of(&c.name)?;
                let hook = spec.lifecycle.pre_stop.clone()?;
                let target = super::probes::target(spec, self.sandbox.as_ref(), c.id.as_deref()?);
                Some((hook, target))
            })
            .collect();
        let grace = self.grace();
        for (hook, target) in hooks {
            let ctx = &self.ctx;
            let _ = futures_lite::future::or(
                super::probes::run_handler(ctx, &hook, &target, grace),
                async {
                    async_io::Timer::after(grace).await;
                    false
                },
            )
            .await;
        }
    }

    /// The registry credentials of the pod's imagePullSecrets (missing ones are skipped,
    /// as upstream: the pull then fails with the registry's answer).
    async fn pull_secrets(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for name in &self.pod.spec.image_pull_secrets {
            let data = super::env::read_data(
                &self.ctx,
                wisp_proto::ObjectKind::Secret,
                &self.pod.namespace,
                name,
            )
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
            out.extend(
                data.into_iter()
                    .filter(|(k, _)| k == ".dockerconfigjson" || k == ".dockercfg")
                    .map(|(_, v)| v),
            );
        }
        out
    }

    /// Follows a started container: its exit and its two log streams.
    fn watch(&self, s: Started) {
        let tx = self.self_tx.clone();
        let id = s.id.clone();
        let executor = &self.ctx.executor;
        match ExitWatch::new(s.pid) {
            Ok(watch) => executor
                .spawn(async move {
                    let exit = watch.exited().await;
                    let _gone = tx.send(Input::Exited { id, exit }).await;
                })
                .detach(),
            Err(_) => {
                let _full = tx.try_send(Input::Exited {
                    id,
                    exit: Exit::Unknown,
                });
            }
        }
        if let Some(streams) = s.logs {
            let signal = self.ctx.log_signal(&self.pod.uid, &s.name);
            signal.finished.set(false);
            if let Ok(writer) =
                logs::CriWriter::open(&streams.file, self.ctx.log_max_bytes, Rc::clone(&signal))
            {
                let writer = Rc::new(writer);
                let (w1, w2) = (Rc::clone(&writer), writer);
                executor
                    .spawn(async move {
                        futures_lite::future::zip(
                            logs::copy_stream(streams.stdout, "stdout", w1),
                            logs::copy_stream(streams.stderr, "stderr", w2),
                        )
                        .await;
                        signal.finished.set(true);
                        signal.written.notify(usize::MAX);
                    })
                    .detach();
            }
        }
    }

    async fn start_failed(&mut self, init: bool, i: usize, reason: &str, message: &str) {
        let run = if init {
            &mut self.init[i]
        } else {
            &mut self.app[i]
        };
        run.state = RunState::Waiting {
            reason: reason.to_owned(),
            message: message.to_owned(),
        };
        // Retried on the back-off schedule, as upstream retries a failed sync.
        run.not_before = Some(Instant::now() + Duration::from_secs(10));
        self.event(true, "Failed", &format!("Error: {message}"))
            .await;
    }

    async fn exited(&mut self, id: &str, exit: Exit) {
        let finished_at = time::now_secs();
        self.probe_tasks.remove(id);
        let host = Arc::clone(&self.ctx.host);
        let id_owned = id.to_owned();
        let outcome = blocking::unblock(move || launch::collect(&host, &id_owned)).await;
        let uid = self.pod.uid.clone();
        let ctx = Rc::clone(&self.ctx);
        let Some(run) = self.runs_mut().find(|c| c.id.as_deref() == Some(id)) else {
            return;
        };
        let RunState::Running { started_at } = run.state else {
            return;
        };
        ctx.set_running(&uid, &run.name, None);
        let code = exit.code();
        let reason = if outcome.oom_killed {
            "OOMKilled"
        } else if exit == Exit::Unknown {
            "ContainerStatusUnknown"
        } else if code == 0 {
            "Completed"
        } else {
            "Error"
        };
        let t = Terminated {
            exit_code: code,
            reason: reason.to_owned(),
            message: outcome.termination_message,
            started_at,
            finished_at,
            container_id: id.to_owned(),
        };
        run.finish(t, Instant::now());
        self.save();
    }

    async fn probed(&mut self, id: &str, kind: usize, ok: bool) {
        let Some(run) = self.runs_mut().find(|c| c.id.as_deref() == Some(id)) else {
            return;
        };
        if !run.running() {
            return;
        }
        match kind {
            super::probes::READINESS => run.ready = ok && run.started,
            super::probes::STARTUP => {
                run.started = ok;
            }
            _ => {
                // Liveness failed past its threshold: kill; the exit restarts it.
                if !ok {
                    let host = Arc::clone(&self.ctx.host);
                    let id = id.to_owned();
                    let _ = blocking::unblock(move || launch::signal(&host, &id, 9)).await;
                }
            }
        }
    }

    /// Rewrites the file volumes (ConfigMap, Secret, projected, downward API) so running
    /// containers see the new content, as the kubelet's periodic sync does.
    async fn refresh_volumes(&mut self) {
        let Some(sandbox) = self.sandbox.as_ref().filter(|s| !s.released) else {
            return;
        };
        let uses_files = self
            .pod
            .spec
            .volumes
            .iter()
            .any(|v| matches!(v.kind.as_str(), "configMap" | "secret" | "projected"));
        if !uses_files {
            return;
        }
        let dir = sandbox.dir.join("volumes");
        let Ok(fetched) = super::volumes::fetch(&self.ctx, &self.pod).await else {
            return;
        };
        self.token_renew_at = fetched.renew_at;
        let plans = fetched.plans;
        let fs_group = self
            .pod
            .spec
            .security_context
            .fs_group
            .and_then(|g| u32::try_from(g).ok());
        blocking::unblock(move || {
            for (name, plan) in plans {
                if let super::volumes::VolumePlan::Files(files) = &plan {
                    let _ = super::volumes::write_atomically(&dir.join(&name), files, fs_group);
                }
            }
        })
        .await;
    }

    /// Stops every running container; `force` skips the grace period.
    async fn stop_all(&mut self, force: bool) {
        let running: Vec<String> = self
            .runs()
            .filter(|c| c.running())
            .filter_map(|c| c.id.clone())
            .collect();
        if running.is_empty() {
            return;
        }
        let now = Instant::now();
        let grace = self.grace();
        let stopping = self.stopping.get_or_insert(Stopping {
            deadline: now + grace,
            termed: false,
            killed: false,
        });
        let kill = force || stopping.deadline <= now;
        let signal = match (kill, stopping.termed, stopping.killed) {
            (true, _, false) => 9,
            (false, false, _) => 15,
            _ => return,
        };
        if signal == 9 {
            stopping.killed = true;
        } else {
            stopping.termed = true;
            self.pre_stop_hooks().await;
        }
        let host = Arc::clone(&self.ctx.host);
        let _ = blocking::unblock(move || {
            for id in running {
                let _ = launch::signal(&host, &id, signal);
            }
        })
        .await;
    }

    /// Graceful deletion: SIGTERM, SIGKILL at the deadline, then teardown and the final
    /// delete. Returns true once done.
    async fn terminate(&mut self) -> bool {
        self.stop_all(self.removed).await;
        if self.runs().any(ContainerRun::running) {
            return false;
        }
        self.release_sandbox().await;
        let host = Arc::clone(&self.ctx.host);
        let uid = self.pod.uid.clone();
        let _ = blocking::unblock(move || launch::forget_pod(&host, &uid)).await;
        self.ctx.drop_log_signals(&self.pod.uid);
        if !self.removed {
            self.report().await;
            let _ = self
                .ctx
                .link
                .send(FromNode::PodTerminated {
                    namespace: self.pod.namespace.clone(),
                    name: self.pod.name.clone(),
                    uid: self.pod.uid.clone(),
                })
                .await;
        }
        true
    }

    async fn release_sandbox(&mut self) {
        let Some(sandbox) = self.sandbox.as_ref() else {
            return;
        };
        if sandbox.released {
            return;
        }
        let host = Arc::clone(&self.ctx.host);
        let mut owned = sandbox.clone();
        let pod = self.pod.clone();
        owned = blocking::unblock(move || {
            launch::destroy_sandbox(&host, &pod, &mut owned);
            owned
        })
        .await;
        // The address is free for another pod: no policy may name it for this one.
        self.ctx.set_pod_ip(&self.pod.uid, None);
        self.sandbox = Some(owned);
    }

    /// The next instant a timer must wake the worker. Only future instants count: what
    /// was due has been acted on by the reconcile that just ran (or is not wanted, such as
    /// the restart of a container whose pod does not restart), and a past deadline would
    /// spin the worker.
    fn next_deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            if t > now {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for c in self.runs() {
            if !c.running()
                && let Some(t) = c.not_before
            {
                consider(t);
            }
        }
        if let Some(s) = &self.stopping
            && !s.killed
        {
            consider(s.deadline);
        }
        if let Some(t) = self.sandbox_retry {
            consider(t);
        }
        if let Some(at) = self.token_renew_at {
            let left = at.saturating_sub(time::now_secs());
            consider(now + Duration::from_secs(left.max(1)));
        }
        if let Some(d) = self.pod.spec.active_deadline_seconds
            && self.failure.is_none()
        {
            let left =
                (self.start_time + u64::try_from(d).unwrap_or(0)).saturating_sub(time::now_secs());
            consider(Instant::now() + Duration::from_secs(left));
        }
        next
    }

    async fn report(&mut self) {
        if self.finished_phase.is_some() {
            return;
        }
        let mut conditions = std::mem::take(&mut self.conditions);
        let status = status::build(&self.view(), &mut conditions);
        self.conditions = conditions;
        let bytes = super::json::to_bytes(&status);
        if bytes == self.last_sent {
            return;
        }
        self.last_sent = bytes.clone();
        let _ = self
            .ctx
            .link
            .send(FromNode::PodStatus {
                namespace: self.pod.namespace.clone(),
                name: self.pod.name.clone(),
                uid: self.pod.uid.clone(),
                status_json: bytes,
            })
            .await;
    }

    async fn event(&self, warning: bool, reason: &str, message: &str) {
        let _ = self
            .ctx
            .link
            .send(FromNode::Event(wisp_proto::Event {
                namespace: self.pod.namespace.clone(),
                involved_kind: "Pod".into(),
                involved_name: self.pod.name.clone(),
                involved_uid: self.pod.uid.clone(),
                field_path: String::new(),
                reason: reason.into(),
                message: message.into(),
                warning,
            }))
            .await;
    }

    /// Saves what a restarted wisp needs to adopt the running containers.
    fn save(&self) {
        let saved = super::state::SavedPod {
            containers: self
                .runs()
                .filter_map(|c| {
                    Some(super::state::SavedContainer {
                        name: c.name.clone(),
                        id: c.id.clone()?,
                        restart_count: c.restart_count,
                        started_at: match c.state {
                            RunState::Running { started_at } => started_at,
                            _ => 0,
                        },
                        image_id: c.image_id.clone(),
                        last: c.last.clone(),
                    })
                })
                .collect(),
            start_time: self.start_time,
            ip: self.sandbox.as_ref().and_then(|s| s.ip.clone()),
        };
        self.ctx.host.save_pod(&self.pod.uid, &saved);
    }

    /// After a wisp restart: containers of this pod that still run are taken over with
    /// their ids, pids, restart counts and start times; their logs are followed again.
    async fn adopt(&mut self) {
        let Some(saved) = self.ctx.host.load_pod(&self.pod.uid) else {
            return;
        };
        self.start_time = saved.start_time;
        let host = Arc::clone(&self.ctx.host);
        let pod = self.pod.clone();
        let Ok(Some((sandbox, alive))) =
            blocking::unblock(move || launch::adopt(&host, &pod, &saved)).await
        else {
            return;
        };
        self.ctx.set_pod_ip(&self.pod.uid, sandbox.ip.as_deref());
        self.sandbox = Some(sandbox);
        for a in alive {
            let Some(run) = self.runs_mut().find(|c| c.name == a.saved.name) else {
                continue;
            };
            run.id = Some(a.saved.id.clone());
            run.restart_count = a.saved.restart_count;
            run.image_id = a.saved.image_id.clone();
            run.last = a.saved.last.clone();
            match a.started {
                Some(started) => {
                    run.state = RunState::Running {
                        started_at: a.saved.started_at,
                    };
                    run.pid = Some(started.pid);
                    self.ctx
                        .set_running(&self.pod.uid, &a.saved.name, Some(&a.saved.id));
                    let spec = self.spec_of(&a.saved.name).cloned();
                    let run = self.runs_mut().find(|c| c.name == a.saved.name);
                    if let (Some(run), Some(spec)) = (run, spec) {
                        run.started = spec.startup_probe.is_none();
                        run.ready = spec.readiness_probe.is_none() && !run.init;
                    }
                    let id = started.id.clone();
                    self.watch(started);
                    if let Some(spec) = self.spec_of(&a.saved.name).cloned() {
                        let tasks = super::probes::spawn(
                            &self.ctx,
                            &spec,
                            self.sandbox.as_ref(),
                            &self.self_tx,
                            &id,
                        );
                        self.probe_tasks.insert(id, tasks);
                    }
                }
                None => {
                    run.state = RunState::Terminated(Terminated {
                        exit_code: 137,
                        reason: "ContainerStatusUnknown".into(),
                        message: "The container could not be located when wisp restarted".into(),
                        started_at: a.saved.started_at,
                        finished_at: time::now_secs(),
                        container_id: a.saved.id.clone(),
                    });
                }
            }
        }
    }
}

fn run_id(w: &PodWorker, init: bool, i: usize) -> String {
    let run = if init { &w.init[i] } else { &w.app[i] };
    run.id.clone().unwrap_or_default()
}

impl LaunchError {
    fn reason_and_message(&self) -> (&'static str, String) {
        (self.reason(), self.to_string())
    }
}
