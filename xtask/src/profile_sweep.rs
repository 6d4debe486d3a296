//! `cargo xtask profile-sweep`: the measurement behind the comments in the root
//! Cargo.toml's `[profile.release]`. Builds the board's release binary once as configured
//! and once per single-flag change (through `cargo --config`, so Cargo.toml is never
//! edited), then prints a markdown table of sizes for docs/budgets.md.
//!
//! Two sizes per build: the file, which is what ships and what budgets check, and the
//! bytes of its file-backed loadable sections. The aarch64 linker aligns segments to
//! 64 KiB in the file, so the file size moves in 64 KiB steps and hides smaller effects;
//! the section bytes show them.

use std::time::Instant;

use object::{Object, ObjectSection, SectionFlags, SectionKind};
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
    section_bytes: u64,
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
        let seconds = started.elapsed().as_secs_f64();
        let data = std::fs::read(&path)?;
        results.push(Measurement {
            label,
            bytes: data.len() as u64,
            section_bytes: loadable_section_bytes(&data)?,
            seconds,
        });
    }
    print!("{}", table(&board.name, &board.rust_target, &results));
    Ok(())
}

/// Bytes of the allocated sections that occupy file space (code, read-only data, data,
/// unwind tables), without .bss, symbols and alignment padding.
fn loadable_section_bytes(elf: &[u8]) -> Result<u64, object::Error> {
    let file = object::File::parse(elf)?;
    Ok(file
        .sections()
        .filter(|s| match s.flags() {
            SectionFlags::Elf { sh_flags, .. } => sh_flags.0 & object::elf::SHF_ALLOC.0 != 0,
            _ => false,
        })
        .filter(|s| {
            !matches!(
                s.kind(),
                SectionKind::UninitializedData | SectionKind::UninitializedTls
            )
        })
        .map(|s| s.size())
        .sum())
}

fn table(board: &str, triple: &str, results: &[Measurement]) -> String {
    let mut out = format!(
        "board {board} ({triple}), one change at a time from [profile.release]\n\n\
         | variant | file bytes | vs configured | section bytes | vs configured | build s |\n\
         |---|---:|---:|---:|---:|---:|\n"
    );
    let Some(base) = results.first() else {
        return out;
    };
    for m in results {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.0} |\n",
            m.label,
            m.bytes,
            delta(m.bytes, base.bytes),
            m.section_bytes,
            delta(m.section_bytes, base.section_bytes),
            m.seconds
        ));
    }
    out
}

fn delta(value: u64, base: u64) -> String {
    let d = value as i64 - base as i64;
    format!("{d:+} ({:+.1}%)", d as f64 * 100.0 / base.max(1) as f64)
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
                section_bytes: 800,
                seconds: 10.0,
            },
            Measurement {
                label: "opt-level = 3",
                bytes: 1250,
                section_bytes: 780,
                seconds: 12.0,
            },
        ];
        let t = table("zynqmp", "aarch64-unknown-linux-musl", &rows);
        assert!(
            t.contains("| as configured | 1000 | +0 (+0.0%) | 800 | +0 (+0.0%) | 10 |"),
            "{t}"
        );
        assert!(
            t.contains("| opt-level = 3 | 1250 | +250 (+25.0%) | 780 | -20 (-2.5%) | 12 |"),
            "{t}"
        );
    }

    #[test]
    fn section_bytes_of_this_test_binary_are_below_its_file_size() {
        let data = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let sections = loadable_section_bytes(&data).unwrap();
        assert!(sections > 0 && sections < data.len() as u64, "{sections}");
    }

    #[test]
    fn every_variant_but_the_first_overrides_a_release_setting() {
        assert_eq!(VARIANTS[0].1, "");
        for (_, setting) in &VARIANTS[1..] {
            assert!(setting.starts_with("profile.release."), "{setting}");
        }
    }
}
