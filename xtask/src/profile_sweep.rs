//! `cargo xtask profile-sweep`: the measurement behind the comments in the root
//! Cargo.toml's `[profile.release]`. Builds the board's release binary once as configured
//! and once per single-flag change (through `cargo --config`, so Cargo.toml is never
//! edited), then prints a markdown table of sizes for docs/budgets.md.

use std::time::Instant;

use wisp_targets::{BuildProfile, BuildRequest, find_board};

/// (label, cargo --config override) per variant; the empty override is the baseline.
const VARIANTS: &[(&str, &str)] = &[
    ("as configured", ""),
    ("opt-level = \"z\"", "profile.release.opt-level=\"z\""),
    ("opt-level = 3", "profile.release.opt-level=3"),
    ("lto = \"thin\"", "profile.release.lto=\"thin\""),
    ("lto = \"off\"", "profile.release.lto=\"off\""),
    ("codegen-units = 16", "profile.release.codegen-units=16"),
    ("panic = \"unwind\"", "profile.release.panic=\"unwind\""),
    ("strip = \"none\"", "profile.release.strip=\"none\""),
];

struct Measurement {
    label: &'static str,
    bytes: u64,
    seconds: f64,
}

pub fn run(board_name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let board = find_board(board_name)?.ok_or(format!("unknown board `{board_name}`"))?;
    let target_dir = wisp_targets::workspace_root()
        .join("target/sweep")
        .join(&board.target_cpu);
    let mut results = Vec::new();
    for (label, setting) in VARIANTS {
        let mut request = BuildRequest::new(&board, BuildProfile::Release, false);
        request.target_dir = Some(target_dir.clone());
        if !setting.is_empty() {
            request.config_overrides.push((*setting).to_owned());
        }
        eprintln!("profile-sweep: building `{label}`");
        let started = Instant::now();
        let path = request.run()?;
        results.push(Measurement {
            label,
            bytes: std::fs::metadata(&path)?.len(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    print!("{}", table(&board.name, &board.rust_target, &results));
    Ok(())
}

fn table(board: &str, triple: &str, results: &[Measurement]) -> String {
    let base = results.first().map_or(1, |m| m.bytes.max(1));
    let mut out = format!(
        "board {board} ({triple}), one change at a time from [profile.release]\n\n\
         | variant | bytes | vs configured | build s |\n|---|---:|---:|---:|\n"
    );
    for m in results {
        let delta = m.bytes as i64 - base as i64;
        let pct = delta as f64 * 100.0 / base as f64;
        out.push_str(&format!(
            "| {} | {} | {delta:+} ({pct:+.1}%) | {:.0} |\n",
            m.label, m.bytes, m.seconds
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_deltas_against_the_first_row() {
        let rows = [
            Measurement {
                label: "as configured",
                bytes: 1000,
                seconds: 10.0,
            },
            Measurement {
                label: "opt-level = 3",
                bytes: 1250,
                seconds: 12.0,
            },
        ];
        let t = table("zynqmp", "aarch64-unknown-linux-musl", &rows);
        assert!(
            t.contains("| as configured | 1000 | +0 (+0.0%) | 10 |"),
            "{t}"
        );
        assert!(
            t.contains("| opt-level = 3 | 1250 | +250 (+25.0%) | 12 |"),
            "{t}"
        );
    }

    #[test]
    fn every_variant_but_the_first_overrides_a_release_setting() {
        assert_eq!(VARIANTS[0].1, "");
        for (_, setting) in &VARIANTS[1..] {
            assert!(setting.starts_with("profile.release."), "{setting}");
        }
    }
}
