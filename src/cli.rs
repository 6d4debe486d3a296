//! Command-line grammar of `wisp`: subcommands, their flags and help texts, and dispatch.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use lexopt::prelude::*;

const MAIN_HELP: &str = "\
wisp: a whole single-node Kubernetes in one small binary

Usage: wisp <command> [options]

Commands:
  run          run the store, the control plane and the node agent
  kubeconfig   print the admin kubeconfig
  images       list, import, remove and prune node images
  check        check this host for what wisp needs (kernel, cgroups, runtimes, CNI)
  cleanup      remove wisp's rules, bridge, pod network state and containers (uninstall)
  version      print version, git commit, target and features
  help         print this help, or a command's: wisp help <command>

Options:
  -h, --help   print help (also after any command)
";

const RUN_HELP: &str = "\
Usage: wisp run [--config FILE] [--data-dir DIR]

Runs the store, the control plane (API on :6443) and the node agent in one process.
Logs one line when the API is ready.

Options:
  --config FILE    YAML config (default /etc/wisp/config.yaml if it exists, else built-in
                   defaults; every field is optional)
  --data-dir DIR   state directory (default /var/lib/wisp as root, else
                   ~/.local/share/wisp); overrides dataDir in the config
  -h, --help       print this help
";

const KUBECONFIG_HELP: &str = "\
Usage: wisp kubeconfig [--data-dir DIR]

Prints the admin kubeconfig that `wisp run` wrote to
<data-dir>/resources/kubeadmin/kubeconfig.

Options:
  --data-dir DIR   state directory (default as for `wisp run`)
  -h, --help       print this help
";

const CHECK_HELP: &str = "\
Usage: wisp check

Checks the host for what the node agent needs: kernel version, cgroup v1/v2/hybrid,
overlayfs, namespaces, nftables, an OCI runtime (runc or crun) and the CNI plugins.
Prints each check with pass/fail and, on failure, the fix. Exits 1 if a required check
fails.

Options:
  -h, --help   print this help
";

const VERSION_HELP: &str = "\
Usage: wisp version

Prints wisp's version, the git commit it was built from, the target triple and the
enabled features.

Options:
  -h, --help   print this help
";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help(&'static str),
    Version,
    Check,
    Run(RunArgs),
    Kubeconfig { data_dir: Option<PathBuf> },
    Images(crate::images_cmd::ImagesArgs),
    Cleanup(crate::cleanup_cmd::CleanupArgs),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunArgs {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

/// A command line that does not parse.
#[derive(Debug)]
pub struct UsageError(String);

impl UsageError {
    pub fn new(message: String) -> Self {
        UsageError(message)
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> Self {
        UsageError(e.to_string())
    }
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let mut parser = lexopt::Parser::from_args(args);
    let sub = match parser.next()? {
        None => return Ok(Command::Help(MAIN_HELP)),
        Some(Short('h') | Long("help")) => return Ok(Command::Help(MAIN_HELP)),
        Some(Long("version")) => return Ok(Command::Version),
        Some(Value(v)) => v.string()?,
        Some(other) => return Err(other.unexpected().into()),
    };
    match sub.as_str() {
        "run" => parse_run(&mut parser),
        "kubeconfig" => parse_kubeconfig(&mut parser),
        "images" => crate::images_cmd::parse(&mut parser),
        "cleanup" => crate::cleanup_cmd::parse(&mut parser),
        "check" => parse_no_args(&mut parser, CHECK_HELP, Command::Check),
        "version" => parse_no_args(&mut parser, VERSION_HELP, Command::Version),
        "help" => match parser.next()? {
            None => Ok(Command::Help(MAIN_HELP)),
            Some(Value(v)) => help_for(&v.string()?),
            Some(other) => Err(other.unexpected().into()),
        },
        other => Err(UsageError(format!("unknown command `{other}`"))),
    }
}

fn help_for(command: &str) -> Result<Command, UsageError> {
    Ok(Command::Help(match command {
        "run" => RUN_HELP,
        "kubeconfig" => KUBECONFIG_HELP,
        "images" => crate::images_cmd::IMAGES_HELP,
        "cleanup" => crate::cleanup_cmd::CLEANUP_HELP,
        "check" => CHECK_HELP,
        "version" => VERSION_HELP,
        other => return Err(UsageError(format!("unknown command `{other}`"))),
    }))
}

fn parse_run(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    let mut args = RunArgs::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("config") => args.config = Some(parser.value()?.into()),
            Long("data-dir") => args.data_dir = Some(parser.value()?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(RUN_HELP)),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Command::Run(args))
}

fn parse_kubeconfig(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    let mut data_dir = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("data-dir") => data_dir = Some(parser.value()?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(KUBECONFIG_HELP)),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Command::Kubeconfig { data_dir })
}

fn parse_no_args(
    parser: &mut lexopt::Parser,
    help: &'static str,
    command: Command,
) -> Result<Command, UsageError> {
    match parser.next()? {
        None => Ok(command),
        Some(Short('h') | Long("help")) => Ok(Command::Help(help)),
        Some(other) => Err(other.unexpected().into()),
    }
}

/// Runs a parsed command. Errors are one line, printed by `main`.
pub fn execute(command: Command) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match command {
        Command::Help(text) => {
            write_stdout(text);
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            print_version();
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => Ok(run_check()),
        Command::Run(args) => {
            crate::run::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kubeconfig { data_dir } => {
            crate::run::print_kubeconfig(data_dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Images(args) => {
            crate::images_cmd::execute(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cleanup(args) => {
            crate::cleanup_cmd::execute(args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes to stdout, ignoring a closed pipe (`wisp version | head -1` must not abort).
pub fn write_stdout(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn print_version() {
    let features: &[&str] = &[];
    let features = if features.is_empty() {
        "none".to_owned()
    } else {
        features.join(",")
    };
    write_stdout(&format!(
        "wisp {}\ncommit:   {}\ntarget:   {}\nprofile:  {}\nfeatures: {features}\n",
        env!("CARGO_PKG_VERSION"),
        env!("WISP_GIT_COMMIT"),
        env!("WISP_TARGET"),
        env!("WISP_PROFILE"),
    ));
}

fn run_check() -> ExitCode {
    use wisp_node::preflight::{self, Severity};
    let results = preflight::run_all(&preflight::HostPaths::default());
    let mut required_failed = false;
    for r in &results {
        let mark = match (r.passed, r.severity) {
            (true, _) => "pass",
            (false, Severity::Required) => "FAIL",
            (false, Severity::Optional) => "warn",
        };
        write_stdout(&format!("{mark:<5} {:<12} {}\n", r.name, r.detail));
        if !r.passed {
            write_stdout(&format!("      fix: {}\n", r.fix));
            required_failed |= r.severity == Severity::Required;
        }
    }
    if required_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn no_arguments_prints_main_help() {
        assert_eq!(parse_str(&[]).unwrap(), Command::Help(MAIN_HELP));
    }

    #[test]
    fn every_subcommand_has_help() {
        for (cmd, text) in [
            ("run", RUN_HELP),
            ("kubeconfig", KUBECONFIG_HELP),
            ("check", CHECK_HELP),
            ("version", VERSION_HELP),
            ("cleanup", crate::cleanup_cmd::CLEANUP_HELP),
        ] {
            assert_eq!(parse_str(&[cmd, "--help"]).unwrap(), Command::Help(text));
            assert_eq!(parse_str(&["help", cmd]).unwrap(), Command::Help(text));
        }
    }

    #[test]
    fn run_takes_config_and_data_dir() {
        let cmd = parse_str(&["run", "--config", "/c.yaml", "--data-dir=/d"]).unwrap();
        assert_eq!(
            cmd,
            Command::Run(RunArgs {
                config: Some("/c.yaml".into()),
                data_dir: Some("/d".into())
            })
        );
    }

    #[test]
    fn unknown_input_is_a_usage_error() {
        assert!(parse_str(&["frobnicate"]).is_err());
        assert!(parse_str(&["run", "--bogus"]).is_err());
        assert!(parse_str(&["check", "extra"]).is_err());
        let e = parse_str(&["run", "--config"]).unwrap_err();
        assert!(e.to_string().contains("config"), "{e}");
    }
}
