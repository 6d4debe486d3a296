//! What the agent knows about each container of a pod: the run it is on, how the last one
//! ended, restarts and back-off. Kept in memory by the pod worker and saved beside the
//! pod's directory so that a restarted wisp adopts running containers with their counts.

use std::time::{Duration, Instant};

use miniserde::{Deserialize, Serialize};

/// A finished run of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    pub started_at: u64,
    pub finished_at: u64,
    pub container_id: String,
}

/// The state upstream's containerStatuses[].state reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    Waiting { reason: String, message: String },
    Running { started_at: u64 },
    Terminated(Terminated),
}

/// One container of a pod (init or app).
#[derive(Debug)]
pub struct ContainerRun {
    pub name: String,
    pub init: bool,
    pub state: RunState,
    pub last: Option<Terminated>,
    pub restart_count: u32,
    /// runc's id of the current or last run.
    pub id: Option<String>,
    pub pid: Option<i32>,
    pub image_id: String,
    pub ready: bool,
    /// The startup probe has passed (or there is none).
    pub started: bool,
    /// Back-off: no new run before this instant.
    pub not_before: Option<Instant>,
    pub backoff: Duration,
    /// Consecutive probe results (readiness, liveness, startup).
    pub probe_streaks: [ProbeStreak; 3],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeStreak {
    pub successes: i32,
    pub failures: i32,
}

/// Upstream's container restart back-off: 10 s doubling to 5 minutes.
pub const BACKOFF_START: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A run that lasted this long resets the back-off.
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

impl ContainerRun {
    pub fn new(name: &str, init: bool) -> ContainerRun {
        ContainerRun {
            name: name.to_owned(),
            init,
            state: RunState::Waiting {
                reason: "ContainerCreating".to_owned(),
                message: String::new(),
            },
            last: None,
            restart_count: 0,
            id: None,
            pid: None,
            image_id: String::new(),
            ready: false,
            started: false,
            not_before: None,
            backoff: Duration::ZERO,
            probe_streaks: [ProbeStreak::default(); 3],
        }
    }

    pub fn running(&self) -> bool {
        matches!(self.state, RunState::Running { .. })
    }

    pub fn terminated(&self) -> Option<&Terminated> {
        match &self.state {
            RunState::Terminated(t) => Some(t),
            _ => None,
        }
    }

    /// Whether this container has ever run (a restart, not a first start, comes next).
    pub fn has_run(&self) -> bool {
        self.id.is_some()
    }

    /// Records the end of the current run and arms the back-off for the next one: the
    /// first restart is immediate, then 10 s doubling to 5 minutes (upstream's kubelet);
    /// a run of 10 minutes or more starts the sequence again.
    pub fn finish(&mut self, t: Terminated, now: Instant) {
        let ran_for = Duration::from_secs(t.finished_at.saturating_sub(t.started_at));
        if ran_for >= BACKOFF_RESET {
            self.backoff = Duration::ZERO;
        }
        self.not_before = Some(now + self.backoff);
        self.backoff = if self.backoff.is_zero() {
            BACKOFF_START
        } else {
            (self.backoff * 2).min(BACKOFF_MAX)
        };
        self.state = RunState::Terminated(t);
        self.pid = None;
        self.ready = false;
        self.started = false;
        self.probe_streaks = [ProbeStreak::default(); 3];
    }

    /// The delay before the next restart as upstream's message words it ("back-off 20s").
    pub fn pending_delay(&self, now: Instant) -> Option<Duration> {
        self.not_before.filter(|t| *t > now).map(|t| t - now)
    }
}

/// What is saved per pod for adoption: per container, its current run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SavedPod {
    pub containers: Vec<SavedContainer>,
    /// When the pod first started on this node (unix seconds).
    pub start_time: u64,
    /// The pod's IP from its network set-up.
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedContainer {
    pub name: String,
    pub id: String,
    pub restart_count: u32,
    pub started_at: u64,
    pub image_id: String,
    pub last: Option<Terminated>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(started: u64, finished: u64) -> Terminated {
        Terminated {
            exit_code: 1,
            reason: "Error".into(),
            message: String::new(),
            started_at: started,
            finished_at: finished,
            container_id: "x".into(),
        }
    }

    #[test]
    fn back_off_doubles_to_five_minutes_and_resets_after_a_long_run() {
        let mut c = ContainerRun::new("c", false);
        let now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..8 {
            c.finish(ended(0, 1), now);
            delays.push((c.not_before.unwrap() - now).as_secs());
        }
        assert_eq!(delays, vec![0, 10, 20, 40, 80, 160, 300, 300]);
        c.finish(ended(0, 601), now);
        assert_eq!(c.not_before, Some(now), "a long run restarts at once");
        assert_eq!(c.backoff, BACKOFF_START);
    }
}
