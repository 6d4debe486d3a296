//! The budget table: each figure measured in the guest beside the board's budget from
//! targets/, and whether it passed. Timing figures are compared with the real-board goal
//! times the emulation allowance; RSS and bytes written are compared as they are.

use std::fmt::Write as _;

use wisp_targets::Board;

/// Emulated timing figures may be this many times the real-board goal. QEMU's TCG runs
/// ARM code on this 2-core x86 host about 5 to 20 times slower than the boards run it,
/// and CI machines are noisy: a generous fixed limit, not a ratio (docs/boards.md).
pub const EMULATION_TIMING_ALLOWANCE: u64 = 10;

/// What one board's run measured.
#[derive(Debug, Default, Clone)]
pub struct Measurements {
    pub ready_ms: u64,
    pub rss_idle_kib: u64,
    pub rss_loaded_kib: u64,
    pub idle_cpu_ms_per_minute: u64,
    pub idle_write_bytes: u64,
    pub idle_write_seconds: u64,
    pub pod_ready_ms: u64,
    pub reboot_ready_ms: u64,
    pub acknowledged_before_cut: usize,
}

pub struct Row {
    pub figure: &'static str,
    pub measured: String,
    pub budget: String,
    pub pass: bool,
}

/// The gated rows for `board`.
pub fn rows(board: &Board, m: &Measurements) -> Vec<Row> {
    let goals = &board.guest_budgets;
    let kib = |bytes: u64| bytes / 1024;
    let ready_limit = goals.ready_ms * EMULATION_TIMING_ALLOWANCE;
    let cpu_limit = goals.idle_cpu_ms_per_minute * EMULATION_TIMING_ALLOWANCE;
    // The figure is per 5 idle minutes; a shorter window gets a proportional budget.
    let write_limit = goals.idle_disk_write_bytes * m.idle_write_seconds / 300;
    vec![
        Row {
            figure: "start to ready (ms)",
            measured: m.ready_ms.to_string(),
            budget: format!(
                "{ready_limit} ({} x{EMULATION_TIMING_ALLOWANCE})",
                goals.ready_ms
            ),
            pass: m.ready_ms <= ready_limit,
        },
        Row {
            figure: "RSS idle, no pods (KiB)",
            measured: m.rss_idle_kib.to_string(),
            budget: kib(board.ram_idle_budget_bytes).to_string(),
            pass: m.rss_idle_kib <= kib(board.ram_idle_budget_bytes),
        },
        Row {
            figure: "RSS with the scenario's pod (KiB)",
            measured: m.rss_loaded_kib.to_string(),
            budget: kib(board.ram_loaded_budget_bytes).to_string(),
            pass: m.rss_loaded_kib <= kib(board.ram_loaded_budget_bytes),
        },
        Row {
            figure: "CPU idle (ms per 60 s)",
            measured: m.idle_cpu_ms_per_minute.to_string(),
            budget: format!(
                "{cpu_limit} ({} x{EMULATION_TIMING_ALLOWANCE})",
                goals.idle_cpu_ms_per_minute
            ),
            pass: m.idle_cpu_ms_per_minute <= cpu_limit,
        },
        Row {
            figure: "data disk writes idle (bytes)",
            measured: format!("{} in {} s", m.idle_write_bytes, m.idle_write_seconds),
            budget: write_limit.to_string(),
            pass: m.idle_write_bytes <= write_limit,
        },
    ]
}

/// The table as Markdown, with the ungated figures after it.
pub fn render(board: &Board, m: &Measurements) -> String {
    let mut out = format!(
        "\nboard {} ({}, {} {} MiB)\n",
        board.name, board.qemu_system.machine, board.qemu_system.cpu, board.qemu_system.memory_mib
    );
    out.push_str("| figure | measured | budget | |\n| --- | ---: | ---: | --- |\n");
    for row in rows(board, m) {
        let verdict = if row.pass { "ok" } else { "OVER BUDGET" };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {verdict} |",
            row.figure, row.measured, row.budget
        );
    }
    let _ = writeln!(
        out,
        "not gated: Deployment ready {} ms after apply; after the power cut, ready {} ms after start with all {} acknowledged objects",
        m.pod_ready_ms, m.reboot_ready_ms, m.acknowledged_before_cut
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> Board {
        wisp_targets::find_board("zynqmp").unwrap().unwrap()
    }

    #[test]
    fn figures_within_budget_pass_and_one_over_fails() {
        let good = Measurements {
            ready_ms: 5_000,
            rss_idle_kib: 8_000,
            rss_loaded_kib: 12_000,
            idle_cpu_ms_per_minute: 100,
            idle_write_bytes: 0,
            idle_write_seconds: 300,
            ..Measurements::default()
        };
        assert!(rows(&board(), &good).iter().all(|r| r.pass));
        let over = Measurements {
            idle_write_bytes: 4096,
            ..good.clone()
        };
        let failed: Vec<_> = rows(&board(), &over)
            .into_iter()
            .filter(|r| !r.pass)
            .map(|r| r.figure)
            .collect();
        assert_eq!(failed, ["data disk writes idle (bytes)"]);
        let slow = Measurements {
            ready_ms: 20_001,
            ..good
        };
        assert!(!rows(&board(), &slow)[0].pass);
    }
}
