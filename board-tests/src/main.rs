//! `board-test`: boots wisp on emulated ARM boards and checks the smoke scenario and the
//! guest budgets (docs/boards.md "Board tests").
//!
//! For each board: the cross-built static wisp (built here, or `--no-build` to take the
//! one `cargo xtask build --board NAME` left), Debian's kernel and packages for the board's
//! architecture (cached), an initramfs, a fresh data disk, then the scenario in
//! scenario.rs under qemu-system, and the budget table.

mod cpio;
mod error;
mod image;
mod kubectl;
mod modules;
mod packages;
mod qemu;
mod report;
mod scenario;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use wisp_targets::{
    Board, BuildProfile, BuildRequest, all_boards, board_names, find_board, workspace_root,
};

use crate::error::Error;

const HELP: &str = "\
Usage: board-test [--board NAME]... [--all] [options]

Boots wisp on emulated boards (qemu-system, software emulation) and runs the smoke
scenario: kubectl through a forwarded port, a busybox Deployment from the images dir,
logs and exec, budgets measured in the guest, a power cut while writing, a reboot.

Options:
  --board NAME            a board profile from targets/boards (repeatable)
  --all                   every board profile
  --no-build              use the binary `cargo xtask build --board NAME` left
  --idle-write-seconds N  idle window for the disk-write figure (default 300)
  --cache DIR             Debian packages cache (default target/board-tests/cache)
  --work DIR              images, disks, console logs (default target/board-tests)
  --port N                first host port forwarded to the guests' API (default 16443)

A missing prerequisite (qemu-system, apt-get, kubectl, mkfs.ext4, readelf) is reported
as SKIPPED; with WISP_BOARD_TESTS_REQUIRED=1 (CI) it is a failure.
";

struct Args {
    boards: Vec<String>,
    all: bool,
    build: bool,
    idle_write_seconds: u64,
    cache: PathBuf,
    work: PathBuf,
    port: u16,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let target = workspace_root().join("target/board-tests");
    let mut args = Args {
        boards: Vec::new(),
        all: false,
        build: true,
        idle_write_seconds: 300,
        cache: target.join("cache"),
        work: target,
        port: 16443,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("board") => args.boards.push(parser.value()?.string()?),
            Long("all") => args.all = true,
            Long("no-build") => args.build = false,
            Long("idle-write-seconds") => args.idle_write_seconds = parser.value()?.parse()?,
            Long("cache") => args.cache = parser.value()?.into(),
            Long("work") => args.work = parser.value()?.into(),
            Long("port") => args.port = parser.value()?.parse()?,
            Short('h') | Long("help") => {
                print!("{HELP}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("board-test: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("board-test: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every selected board; true when all passed within budget.
fn run(args: &Args) -> Result<bool, Error> {
    let boards = selected_boards(args)?;
    let mut all_passed = true;
    let mut tables = Vec::new();
    for (index, board) in boards.iter().enumerate() {
        if let Some(missing) = missing_prerequisite(board) {
            let required = std::env::var("WISP_BOARD_TESTS_REQUIRED").is_ok_and(|v| v == "1");
            eprintln!("board-test {}: SKIPPED: {missing}", board.name);
            all_passed &= !required;
            continue;
        }
        let port = args.port + u16::try_from(index).unwrap_or(0);
        let started = Instant::now();
        match run_board(board, args, port) {
            Ok(m) => {
                let table = report::render(board, &m);
                let within = report::rows(board, &m).iter().all(|r| r.pass);
                all_passed &= within;
                println!("{table}");
                println!(
                    "board {}: {} in {} s",
                    board.name,
                    if within { "passed" } else { "OVER BUDGET" },
                    started.elapsed().as_secs()
                );
                tables.push(table);
            }
            Err(e) => {
                eprintln!(
                    "board-test {}: FAILED after {} s: {e}",
                    board.name,
                    started.elapsed().as_secs()
                );
                all_passed = false;
            }
        }
    }
    if boards.len() > 1 {
        println!("\nsummary:{}", tables.concat());
    }
    Ok(all_passed)
}

fn selected_boards(args: &Args) -> Result<Vec<Board>, Error> {
    if args.all {
        return all_boards().map_err(|e| Error::Profile(e.to_string()));
    }
    if args.boards.is_empty() {
        return Err(Error::Profile(format!(
            "name a --board ({}) or --all",
            board_names().join(", ")
        )));
    }
    args.boards
        .iter()
        .map(|name| {
            find_board(name)
                .map_err(|e| Error::Profile(e.to_string()))?
                .ok_or_else(|| {
                    Error::Profile(format!(
                        "no board `{name}` (boards: {})",
                        board_names().join(", ")
                    ))
                })
        })
        .collect()
}

fn missing_prerequisite(board: &Board) -> Option<String> {
    let tools = [
        (
            board.qemu_system.binary.as_str(),
            "apt-get install qemu-system-arm (it holds qemu-system-aarch64 too)",
        ),
        ("apt-get", "a Debian host"),
        ("dpkg-deb", "a Debian host"),
        ("kubectl", "kubectl on PATH"),
        ("mkfs.ext4", "apt-get install e2fsprogs"),
        ("readelf", "apt-get install binutils"),
    ];
    tools
        .iter()
        .find(|(tool, _)| !on_path(tool))
        .map(|(tool, fix)| format!("{tool} not found ({fix})"))
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

fn run_board(board: &Board, args: &Args, port: u16) -> Result<report::Measurements, Error> {
    let request = BuildRequest::new(board, BuildProfile::Release, false);
    let wisp = if args.build {
        request.run().map_err(|e| Error::Image(e.to_string()))?
    } else {
        let path = request
            .output_path()
            .map_err(|e| Error::Image(e.to_string()))?;
        if !path.is_file() {
            return Err(Error::Image(format!(
                "{} does not exist: run `cargo xtask build --board {}` or drop --no-build",
                path.display(),
                board.name
            )));
        }
        path
    };
    let work = args.work.join(&board.name);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let qemu = &board.qemu_system;
    let unpacked = packages::prepare(&args.cache, &qemu.debian_arch, &qemu.kernel_flavour)?;
    let initramfs = image::build(board, &unpacked, &wisp, &work)?;
    eprintln!(
        "board-test {}: image {} with kernel {}",
        board.name,
        initramfs.display(),
        unpacked.kernel_release
    );
    scenario::run(&scenario::Inputs {
        board,
        kernel: &unpacked.kernel(),
        initramfs: &initramfs,
        work: &work,
        api_port: port,
        idle_write_seconds: args.idle_write_seconds,
    })
}
