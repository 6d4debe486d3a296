//! `cargo xtask`: build tasks that need no Docker. `build` cross-builds wisp for one board
//! profile (or all), `profile-sweep` measures what each release-profile flag does to the
//! binary size, `boards` lists the profiles.

mod profile_sweep;

use std::process::ExitCode;

use lexopt::prelude::*;
use wisp_targets::{BuildProfile, BuildRequest, all_boards, board_names, find_board};

const HELP: &str = "\
Usage: cargo xtask <task> [options]

Tasks:
  build           cross-build wisp for board profiles (targets/boards/*.toml)
  profile-sweep   build the release binary once per profile flag change and print sizes
  boards          list the board profiles

build options:
  --board NAME         the board to build (repeatable)
  --all                every board
  --profile NAME       release (default) or release-syms (unstripped)
  --gnu                the board's glibc target instead of its default
  --dry-run            print the cargo command instead of running it

profile-sweep options:
  --board NAME         the board to measure on (default zynqmp: aarch64 musl)

Each build prints the path of the binary on stdout; cargo's output goes to stderr.
";

type Error = Box<dyn std::error::Error>;

struct BuildArgs {
    boards: Vec<String>,
    all: bool,
    profile: BuildProfile,
    gnu: bool,
    dry_run: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let mut parser = lexopt::Parser::from_env();
    let task = match parser.next()? {
        Some(Value(v)) => v.string()?,
        Some(Short('h') | Long("help")) | None => {
            print!("{HELP}");
            return Ok(());
        }
        Some(other) => return Err(other.unexpected().into()),
    };
    match task.as_str() {
        "build" => build(parse_build(&mut parser)?),
        "profile-sweep" => profile_sweep::run(&parse_sweep(&mut parser)?),
        "boards" => list_boards(),
        other => Err(format!("unknown task `{other}` (try --help)").into()),
    }
}

fn parse_build(parser: &mut lexopt::Parser) -> Result<BuildArgs, Error> {
    let mut args = BuildArgs {
        boards: Vec::new(),
        all: false,
        profile: BuildProfile::Release,
        gnu: false,
        dry_run: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("board") => args.boards.push(parser.value()?.string()?),
            Long("all") => args.all = true,
            Long("profile") => {
                let name = parser.value()?.string()?;
                args.profile = BuildProfile::from_name(&name).ok_or(format!(
                    "unknown profile `{name}` (release or release-syms)"
                ))?;
            }
            Long("gnu") => args.gnu = true,
            Long("dry-run") => args.dry_run = true,
            other => return Err(other.unexpected().into()),
        }
    }
    // Exactly one of --all and --board: --all with no board names, or names without --all.
    let one_choice = args.all == args.boards.is_empty();
    if !one_choice {
        return Err("give --board NAME or --all".into());
    }
    Ok(args)
}

fn parse_sweep(parser: &mut lexopt::Parser) -> Result<String, Error> {
    let mut board = "zynqmp".to_owned();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("board") => board = parser.value()?.string()?,
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(board)
}

fn build(args: BuildArgs) -> Result<(), Error> {
    let boards = if args.all {
        all_boards()?
    } else {
        let mut boards = Vec::new();
        for name in &args.boards {
            boards.push(find_board(name)?.ok_or_else(|| unknown_board(name))?);
        }
        boards
    };
    for board in &boards {
        let request = BuildRequest::new(board, args.profile, args.gnu);
        if args.dry_run {
            println!("{:?}", request.command()?);
            continue;
        }
        let started = std::time::Instant::now();
        let path = request.run()?;
        eprintln!(
            "xtask: built {} in {:.1} s",
            board.name,
            started.elapsed().as_secs_f64()
        );
        println!("{}", path.display());
    }
    Ok(())
}

fn unknown_board(name: &str) -> Error {
    format!(
        "unknown board `{name}` (boards: {})",
        board_names().join(", ")
    )
    .into()
}

fn list_boards() -> Result<(), Error> {
    for b in all_boards()? {
        println!(
            "{:<12} {:<31} {:<13} {}",
            b.name, b.rust_target, b.target_cpu, b.description
        );
    }
    Ok(())
}
