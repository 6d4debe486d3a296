//! The exit status CI relies on, from the real size-budget binary: 1 when a binary is
//! over budget (with a message naming board, size and budget), 0 within it, 2 on errors.
//! The binary measured is this test executable: any file has a size.

use std::process::{Command, Output};

fn size_budget(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_size-budget"))
        .args(args)
        .output()
        .unwrap()
}

fn this_binary() -> String {
    std::env::current_exe().unwrap().display().to_string()
}

#[test]
fn a_binary_over_budget_exits_1_naming_board_size_and_budget() {
    let exe = this_binary();
    let size = std::fs::metadata(&exe).unwrap().len();
    let budget = (size - 1).to_string();
    let out = size_budget(&[
        "--board",
        "zynqmp",
        "--binary",
        &exe,
        "--budget-bytes",
        &budget,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "size-budget: zynqmp: binary is {size} bytes, over its budget of {budget} bytes by 1 bytes"
    );
    assert!(stderr.contains(&expected), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OVER"), "{stdout}");
}

#[test]
fn a_binary_within_budget_exits_0_and_prints_the_table() {
    let exe = this_binary();
    let size = std::fs::metadata(&exe).unwrap().len();
    let budget = size.to_string();
    let out = size_budget(&[
        "--board",
        "zynqmp",
        "--binary",
        &exe,
        "--budget-bytes",
        &budget,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("board"), "{stdout}");
    assert!(stdout.contains("zynqmp"), "{stdout}");
}

#[test]
fn an_unknown_board_exits_2() {
    let out = size_budget(&["--board", "pdp11", "--no-build"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown board `pdp11`"));
}

#[test]
fn ram_mode_fails_clearly_when_wisp_exits_before_ready() {
    let out = size_budget(&["ram", "--board", "native", "--wisp", "/bin/false"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("before printing `wisp ready`"), "{stderr}");
}
