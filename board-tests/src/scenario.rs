//! The smoke scenario on one board: boot, kubectl through the forwarded port, a busybox
//! Deployment from the images dir becomes Ready, logs and exec work, the guest's budgets are
//! measured, then the power is cut while objects are being written and the board boots
//! again with every acknowledged object and the pod running.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wisp_targets::Board;

use crate::error::Error;
use crate::image::TEST_IMAGE;
use crate::kubectl::Kubectl;
use crate::qemu::{Vm, VmSpec};
use crate::report::Measurements;

pub struct Inputs<'a> {
    pub board: &'a Board,
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    pub work: &'a Path,
    pub api_port: u16,
    pub idle_write_seconds: u64,
}

const BOOT: Duration = Duration::from_secs(180);
const READY: Duration = Duration::from_secs(300);

/// One `@@STATS` line from the guest.
#[derive(Debug, Clone, Copy)]
struct Stats {
    rss_kib: u64,
    cpu_ticks: u64,
    write_sectors: u64,
    uptime_ms: u64,
}

pub fn run(inputs: &Inputs<'_>) -> Result<Measurements, Error> {
    let disk = inputs.work.join("data.img");
    create_data_disk(&disk)?;
    let mut m = Measurements {
        idle_write_seconds: inputs.idle_write_seconds,
        ..Measurements::default()
    };

    let mut vm = boot(inputs, &disk, "console-1.log")?;
    m.ready_ms = wait_ready(&mut vm)?;
    preflight(&mut vm, inputs)?;
    vm.send("kubeconfig")?;
    let text = vm.block("@@KUBECONFIG-BEGIN", "@@KUBECONFIG-END", READY)?;
    let kubectl =
        Kubectl::from_guest_kubeconfig(&text, inputs.api_port, &inputs.work.join("kubeconfig"))?;
    let node = format!("node/{}", inputs.board.name);
    kubectl.run(&["wait", "--for=condition=Ready", &node, "--timeout=300s"])?;
    step(
        inputs,
        &format!(
            "API reachable, {node} Ready; wisp ready {} ms after start",
            m.ready_ms
        ),
    );

    thread::sleep(Duration::from_secs(10));
    m.rss_idle_kib = stats(&mut vm)?.rss_kib;

    let started = Instant::now();
    kubectl.run_with_input(&["apply", "-f", "-"], Some(&deployment(&inputs.board.name)))?;
    kubectl.run(&["rollout", "status", "deployment/smoke", "--timeout=600s"])?;
    m.pod_ready_ms = millis(started.elapsed());
    step(
        inputs,
        &format!("Deployment ready in {} ms", m.pod_ready_ms),
    );
    check_logs_and_exec(&kubectl, inputs.board)?;
    step(inputs, "logs and exec answer");
    m.rss_loaded_kib = stats(&mut vm)?.rss_kib;
    let started_before_cut = container_started_at(&kubectl)?;

    measure_idle(&mut vm, &mut m, inputs)?;

    m.acknowledged_before_cut = power_cut_while_writing(vm, &kubectl, inputs)?;
    let mut vm = boot(inputs, &disk, "console-2.log")?;
    m.reboot_ready_ms = wait_ready(&mut vm)?;
    kubectl.run(&["wait", "--for=condition=Ready", &node, "--timeout=300s"])?;
    check_acknowledged(&kubectl, m.acknowledged_before_cut)?;
    kubectl.run(&["rollout", "status", "deployment/smoke", "--timeout=600s"])?;
    wait_for_new_container(&kubectl, &started_before_cut)?;
    check_logs_and_exec(&kubectl, inputs.board)?;
    step(
        inputs,
        &format!(
            "after the power cut: {} acknowledged objects back, pod running again",
            m.acknowledged_before_cut
        ),
    );
    vm.power_cut();
    Ok(m)
}

/// `wisp check` on the board's kernel must pass: the preflight an integrator runs.
fn preflight(vm: &mut Vm, inputs: &Inputs<'_>) -> Result<(), Error> {
    vm.send("check")?;
    let line = vm.wait_for("@@CHECKED", READY)?;
    if line.trim() != "@@CHECKED rc=0" {
        return Err(Error::Guest(format!(
            "`wisp check` failed in the guest ({line}): see {}",
            inputs.work.join("console-1.log").display()
        )));
    }
    step(inputs, "wisp check passes on the board's kernel");
    Ok(())
}

fn step(inputs: &Inputs<'_>, what: &str) {
    eprintln!("board-test {}: {what}", inputs.board.name);
}

fn boot(inputs: &Inputs<'_>, disk: &Path, log: &str) -> Result<Vm, Error> {
    let spec = VmSpec {
        board: inputs.board,
        kernel: inputs.kernel,
        initramfs: inputs.initramfs,
        disk,
        api_port: inputs.api_port,
        console_log: inputs.work.join(log),
    };
    let mut vm = Vm::boot(&spec)?;
    vm.wait_for("@@BOOTED", BOOT)?;
    if vm.console_contains("@@MODULE-FAILED") || vm.console_contains("@@DISK-FAILED") {
        return Err(Error::Guest(format!(
            "a kernel module or the data disk failed at boot: see {}",
            inputs.work.join(log).display()
        )));
    }
    Ok(vm)
}

/// Milliseconds from wisp's start to its ready line, by the guest's clock.
fn wait_ready(vm: &mut Vm) -> Result<u64, Error> {
    let start = uptime_ms(&vm.wait_for("@@WISP-START", READY)?)?;
    let ready = uptime_ms(&vm.wait_for("@@READY", READY)?)?;
    Ok(ready.saturating_sub(start))
}

fn uptime_ms(line: &str) -> Result<u64, Error> {
    let value = line.split_whitespace().nth(1).unwrap_or_default();
    parse_seconds(value).ok_or_else(|| Error::Guest(format!("no uptime in `{line}`")))
}

fn parse_seconds(value: &str) -> Option<u64> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    let fraction = format!("{fraction:0<3}");
    Some(whole.parse::<u64>().ok()? * 1000 + fraction.get(..3)?.parse::<u64>().ok()?)
}

fn stats(vm: &mut Vm) -> Result<Stats, Error> {
    vm.send("stats")?;
    let line = vm.wait_for("@@STATS", READY)?;
    parse_stats(&line).ok_or_else(|| Error::Guest(format!("unreadable `{line}`")))
}

fn parse_stats(line: &str) -> Option<Stats> {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    Some(Stats {
        rss_kib: field("rss_kib")?.parse().ok()?,
        cpu_ticks: field("cpu_ticks")?.parse().ok()?,
        write_sectors: field("write_sectors")?.parse().ok()?,
        uptime_ms: parse_seconds(field("uptime")?)?,
    })
}

/// CPU over 60 idle seconds (normalised to the guest's own clock), then bytes written to
/// the data disk over the idle window, after a sync so earlier writes are not counted.
fn measure_idle(vm: &mut Vm, m: &mut Measurements, inputs: &Inputs<'_>) -> Result<(), Error> {
    let before = stats(vm)?;
    thread::sleep(Duration::from_secs(60));
    let after = stats(vm)?;
    // USER_HZ is 100 on Linux: one tick is 10 ms.
    let cpu_ms = (after.cpu_ticks - before.cpu_ticks) * 10;
    let elapsed = (after.uptime_ms - before.uptime_ms).max(1);
    m.idle_cpu_ms_per_minute = cpu_ms * 60_000 / elapsed;
    step(inputs, &format!("idle CPU {cpu_ms} ms over {elapsed} ms"));

    vm.send("sync")?;
    vm.wait_for("@@SYNCED", READY)?;
    let before = stats(vm)?;
    thread::sleep(Duration::from_secs(inputs.idle_write_seconds));
    let after = stats(vm)?;
    m.idle_write_bytes = (after.write_sectors - before.write_sectors) * 512;
    step(
        inputs,
        &format!(
            "{} bytes written in {} idle s",
            m.idle_write_bytes, inputs.idle_write_seconds
        ),
    );
    Ok(())
}

/// Creates ConfigMaps one after another from a second thread and kills QEMU while one is
/// in flight; returns how many were acknowledged (created with success) before the cut.
fn power_cut_while_writing(vm: Vm, kubectl: &Kubectl, inputs: &Inputs<'_>) -> Result<usize, Error> {
    let acknowledged = Arc::new(Mutex::new(0usize));
    let stop = Arc::new(AtomicBool::new(false));
    thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = format!("cut-{n}");
                if kubectl
                    .run(&["create", "configmap", &name, "--from-literal=n=1"])
                    .is_err()
                {
                    break;
                }
                *acknowledged.lock().unwrap_or_else(|p| p.into_inner()) = n + 1;
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        while *acknowledged.lock().unwrap_or_else(|p| p.into_inner()) < 10
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(20));
        }
        // Half a typical round trip later a create is on its way through the store.
        thread::sleep(Duration::from_millis(70));
        vm.power_cut();
        stop.store(true, Ordering::Relaxed);
        let _ = writer.join();
    });
    let count = *acknowledged.lock().unwrap_or_else(|p| p.into_inner());
    step(
        inputs,
        &format!("power cut after {count} acknowledged writes"),
    );
    if count < 10 {
        return Err(Error::Scenario(format!(
            "only {count} ConfigMaps were created before the power cut"
        )));
    }
    Ok(count)
}

fn container_started_at(kubectl: &Kubectl) -> Result<String, Error> {
    let jsonpath = "-o=jsonpath={.items[*].status.containerStatuses[*].state.running.startedAt}";
    Ok(kubectl
        .run(&["get", "pods", "-l", "app=smoke", jsonpath])?
        .trim()
        .to_owned())
}

/// The power cut killed the container; after the reboot the pod is Running again only once
/// a container started after the cut runs. (Until the node agent reports, the API still
/// shows the status written before the cut, as upstream's does after a kubelet restart.)
fn wait_for_new_container(kubectl: &Kubectl, before: &str) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let now = container_started_at(kubectl)?;
        if !now.is_empty() && now != before {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Scenario(format!(
                "no container started after the power cut (startedAt {now:?}, before the cut {before:?})"
            )));
        }
        thread::sleep(Duration::from_secs(2));
    }
}

fn check_acknowledged(kubectl: &Kubectl, count: usize) -> Result<(), Error> {
    let names = kubectl.run(&["get", "configmaps", "-o", "name"])?;
    let missing: Vec<String> = (0..count)
        .map(|n| format!("configmap/cut-{n}"))
        .filter(|name| !names.lines().any(|l| l.trim() == name))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Scenario(format!(
            "acknowledged objects lost in the power cut: {missing:?}"
        )));
    }
    Ok(())
}

fn check_logs_and_exec(kubectl: &Kubectl, board: &Board) -> Result<(), Error> {
    let logs = kubectl.run(&["logs", "deployment/smoke"])?;
    if !logs.contains("hello from the board") {
        return Err(Error::Scenario(format!("kubectl logs showed {logs:?}")));
    }
    let machine = kubectl.run(&["exec", "deployment/smoke", "--", "uname", "-m"])?;
    let expected = if board.qemu_system.debian_arch == "armhf" {
        "armv7l"
    } else {
        "aarch64"
    };
    if machine.trim() != expected {
        return Err(Error::Scenario(format!(
            "kubectl exec uname -m said {machine:?}, expected {expected}"
        )));
    }
    Ok(())
}

fn deployment(board: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: smoke
  labels: {{board: {board}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: smoke}}
  template:
    metadata:
      labels: {{app: smoke}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: busybox
        image: {TEST_IMAGE}
        imagePullPolicy: Never
        command: ["sh", "-c", "echo hello from the board; while true; do sleep 3600; done"]
"#
    )
}

fn create_data_disk(path: &Path) -> Result<(), Error> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    file.set_len(1 << 30).map_err(|e| Error::io(path, e))?;
    drop(file);
    crate::error::command_output(
        std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "wispdata"])
            // Initialise inode tables and journal now: lazy init would write in the guest
            // for minutes after the first mount and spoil the idle-write figure.
            .args(["-E", "lazy_itable_init=0,lazy_journal_init=0"])
            .arg(path),
    )?;
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_parse() {
        let s = parse_stats("@@STATS rss_kib=7420 cpu_ticks=153 write_sectors=20480 uptime=63.07")
            .unwrap();
        assert_eq!(
            (s.rss_kib, s.cpu_ticks, s.write_sectors, s.uptime_ms),
            (7420, 153, 20480, 63_070)
        );
        assert!(parse_stats("@@STATS rss_kib= cpu_ticks=1").is_none());
    }

    #[test]
    fn uptimes_are_read_to_the_millisecond() {
        assert_eq!(parse_seconds("12.5"), Some(12_500));
        assert_eq!(parse_seconds("3.07"), Some(3_070));
        assert_eq!(parse_seconds("7"), Some(7_000));
        assert_eq!(parse_seconds("x"), None);
    }
}
