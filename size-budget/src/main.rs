//! size-budget: checks wisp against the budgets in targets/boards/. The default mode
//! builds (or takes) the release binary per board and fails when one is over its binary
//! budget; `--crates` attributes an unstripped build's bytes to crates; `ram` measures
//! the resident memory of a running native `wisp run`.
//!
//! Exit status: 0 within budget, 1 over budget, 2 when the check could not be made.

mod crate_sizes;
mod proc_status;
mod ram;
mod ready_process;
mod size_table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use lexopt::prelude::*;
use wisp_targets::{Board, BuildProfile, BuildRequest, all_boards, board_names, find_board};

use crate::ram::{RamOptions, Workload};
use crate::size_table::SizeRow;

const HELP: &str = "\
Usage: size-budget [--board NAME]... [--all] [--no-build] [--binary PATH]
                   [--budget-bytes N] [--crates]
       size-budget ram --board native|NAME [--workload idle|api-2000] [--wisp PATH]
                   [--settle SECS] [--samples N] [--ready-timeout SECS] [--budget-bytes N]

Binary size (default): builds each board's release binary with the same command as
`cargo xtask build` (all boards unless --board is given), prints board, target, bytes,
budget and headroom, and exits 1 when a binary is over its board's budget.
  --no-build         take the binary already built by `cargo xtask build`
  --binary PATH      take this binary (with exactly one --board)
  --budget-bytes N   use N instead of the boards' budgets (to show the check fails)
  --crates           build the unstripped release-syms profile and print the bytes
                     each crate contributes, largest first (no budget check)

RAM (`ram`): starts the native `wisp run --data-dir <tmp>`, waits for `wisp ready`,
runs the workload, settles, samples VmRSS/VmHWM from /proc and exits 1 when the
highest VmRSS is over the budget (`--board native`: the smallest budget of any board).
  --workload NAME      idle (default), or api-2000: 2,000 ConfigMaps created with one
                       `kubectl create` (kubectl on PATH), against the loaded budget
  --wisp PATH          the binary (default target/release/wisp)
  --settle SECS        wait after ready before sampling (default 5)
  --samples N          samples one second apart (default 5)
  --ready-timeout SECS (default 30)
";

type Error = Box<dyn std::error::Error>;

#[derive(Debug, Default)]
struct SizeArgs {
    boards: Vec<String>,
    no_build: bool,
    binary: Option<PathBuf>,
    budget_bytes: Option<u64>,
    crates: bool,
}

#[derive(Debug)]
struct RamArgs {
    board: Option<String>,
    workload: String,
    wisp: Option<PathBuf>,
    settle: u64,
    samples: u32,
    ready_timeout: u64,
    budget_bytes: Option<u64>,
}

enum Verdict {
    Within,
    Over(Vec<String>),
}

fn main() -> ExitCode {
    match run() {
        Ok(Verdict::Within) => ExitCode::SUCCESS,
        Ok(Verdict::Over(messages)) => {
            for m in messages {
                eprintln!("size-budget: {m}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("size-budget: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<Verdict, Error> {
    let mut parser = lexopt::Parser::from_env();
    let mut size = SizeArgs::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Value(v) if v == "ram" && size.boards.is_empty() => {
                return ram_mode(parse_ram(&mut parser)?);
            }
            Long("board") => size.boards.push(parser.value()?.string()?),
            Long("all") => size.boards.clear(),
            Long("no-build") => size.no_build = true,
            Long("binary") => size.binary = Some(parser.value()?.into()),
            Long("budget-bytes") => size.budget_bytes = Some(parser.value()?.parse()?),
            Long("crates") => size.crates = true,
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(Verdict::Within);
            }
            other => return Err(other.unexpected().into()),
        }
    }
    size_mode(size)
}

fn parse_ram(parser: &mut lexopt::Parser) -> Result<RamArgs, Error> {
    let mut args = RamArgs {
        board: None,
        workload: "idle".to_owned(),
        wisp: None,
        settle: 5,
        samples: 5,
        ready_timeout: 30,
        budget_bytes: None,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("board") => args.board = Some(parser.value()?.string()?),
            Long("workload") => args.workload = parser.value()?.string()?,
            Long("wisp") => args.wisp = Some(parser.value()?.into()),
            Long("settle") => args.settle = parser.value()?.parse()?,
            Long("samples") => args.samples = parser.value()?.parse()?,
            Long("ready-timeout") => args.ready_timeout = parser.value()?.parse()?,
            Long("budget-bytes") => args.budget_bytes = Some(parser.value()?.parse()?),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(args)
}

fn selected_boards(names: &[String]) -> Result<Vec<Board>, Error> {
    if names.is_empty() {
        return Ok(all_boards()?);
    }
    names
        .iter()
        .map(|name| {
            find_board(name)?.ok_or_else(|| {
                format!(
                    "unknown board `{name}` (boards: {})",
                    board_names().join(", ")
                )
                .into()
            })
        })
        .collect()
}

fn size_mode(args: SizeArgs) -> Result<Verdict, Error> {
    let boards = selected_boards(&args.boards)?;
    if args.binary.is_some() && boards.len() != 1 {
        return Err("--binary needs exactly one --board".into());
    }
    let profile = if args.crates {
        BuildProfile::ReleaseSyms
    } else {
        BuildProfile::Release
    };
    let mut rows = Vec::new();
    for board in &boards {
        let path = binary_for(board, profile, &args)?;
        if args.crates {
            print_crates(board, &path)?;
            continue;
        }
        rows.push(SizeRow {
            board: board.name.clone(),
            target: board.rust_target.clone(),
            bytes: std::fs::metadata(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .len(),
            budget: args.budget_bytes.unwrap_or(board.binary_budget_bytes),
        });
    }
    if args.crates {
        return Ok(Verdict::Within);
    }
    print!("{}", size_table::format_table(&rows));
    let over = size_table::over_budget_messages(&rows);
    Ok(if over.is_empty() {
        Verdict::Within
    } else {
        Verdict::Over(over)
    })
}

fn binary_for(board: &Board, profile: BuildProfile, args: &SizeArgs) -> Result<PathBuf, Error> {
    if let Some(path) = &args.binary {
        return Ok(path.clone());
    }
    let request = BuildRequest::new(board, profile, false);
    if !args.no_build {
        return Ok(request.run()?);
    }
    let path = request.output_path()?;
    if !path.is_file() {
        return Err(format!(
            "{} is missing: run `cargo xtask build --board {} --profile {}` or drop --no-build",
            path.display(),
            board.name,
            profile.name()
        )
        .into());
    }
    Ok(path)
}

fn print_crates(board: &Board, path: &std::path::Path) -> Result<(), Error> {
    let symbols = crate_sizes::read_symbols(path)?;
    let crates = crate_sizes::attribute(&symbols);
    let total: u64 = crates.iter().map(|(_, b)| b).sum();
    println!(
        "{} ({}): {} bytes in {} symbols",
        board.name,
        path.display(),
        total,
        symbols.len()
    );
    for (name, bytes) in &crates {
        let share = *bytes as f64 * 100.0 / total.max(1) as f64;
        println!("  {name:<24} {bytes:>10} {share:>5.1}%");
    }
    Ok(())
}

fn ram_mode(args: RamArgs) -> Result<Verdict, Error> {
    let workload = Workload::from_name(&args.workload)?;
    let board_name = args
        .board
        .ok_or("ram needs --board native or --board NAME")?;
    let budget = match args.budget_bytes {
        Some(n) => n,
        None => ram_budget(&board_name, workload)?,
    };
    let options = RamOptions {
        wisp: args
            .wisp
            .unwrap_or_else(|| ram::default_wisp_binary(&wisp_targets::workspace_root())),
        workload,
        ready_timeout: Duration::from_secs(args.ready_timeout),
        settle: Duration::from_secs(args.settle),
        samples: args.samples.max(1),
        interval: Duration::from_secs(1),
    };
    let report = ram::measure_wisp(&options)?;
    print!(
        "{}",
        ram::format_report(&board_name, workload, &report, budget)
    );
    Ok(if report.peak_rss > budget {
        Verdict::Over(vec![format!(
            "{board_name}: wisp run ({}) peaked at {} bytes VmRSS, over the budget of {budget} bytes",
            workload.name(),
            report.peak_rss
        )])
    } else {
        Verdict::Within
    })
}

/// `native` takes the smallest budget of any board, so passing it passes every board.
fn ram_budget(board_name: &str, workload: Workload) -> Result<u64, Error> {
    let boards = if board_name == "native" {
        all_boards()?
    } else {
        selected_boards(&[board_name.to_owned()])?
    };
    boards
        .iter()
        .map(|b| workload.budget_of(b))
        .min()
        .ok_or_else(|| "no board profiles".into())
}
