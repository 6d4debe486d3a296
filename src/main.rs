//! The `wisp` command line. Parsing and dispatch only: each command's work lives in the
//! crates (wisp-core, wisp-node, wisp-store) or in the modules beside this file.

mod cleanup_cmd;
mod cli;
mod config;
mod images_cmd;
mod pod_streams;
mod run;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)) {
        Ok(command) => match cli::execute(command) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("wisp: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("wisp: {e}");
            eprintln!("run `wisp --help` for usage");
            ExitCode::from(2)
        }
    }
}
