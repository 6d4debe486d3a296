//! The board profiles shipped in targets/boards/, embedded at compile time so the tools
//! need no path to find them. Adding a board: add its file here and to targets/boards/.

use crate::board::{Board, ProfileError};

/// (file name, contents) of every profile, in the order tables list them.
const PROFILES: &[(&str, &str)] = &[
    (
        "jetson-orin.toml",
        include_str!("../boards/jetson-orin.toml"),
    ),
    (
        "jetson-nano.toml",
        include_str!("../boards/jetson-nano.toml"),
    ),
    ("zynqmp.toml", include_str!("../boards/zynqmp.toml")),
    ("zynq7000.toml", include_str!("../boards/zynq7000.toml")),
    ("rpi4.toml", include_str!("../boards/rpi4.toml")),
];

/// Every board profile, parsed and validated.
pub fn all_boards() -> Result<Vec<Board>, ProfileError> {
    PROFILES
        .iter()
        .map(|(file, text)| Board::parse(file, text))
        .collect()
}

/// The board called `name`, or `None` when no profile has that name.
pub fn find_board(name: &str) -> Result<Option<Board>, ProfileError> {
    Ok(all_boards()?.into_iter().find(|b| b.name == name))
}

/// The names of every board, for error messages and `--help`.
pub fn board_names() -> Vec<&'static str> {
    PROFILES
        .iter()
        .map(|(file, _)| file.trim_end_matches(".toml"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_shipped_profile_parses() {
        let boards = all_boards().unwrap();
        assert_eq!(boards.len(), 5);
        for b in &boards {
            assert!(b.binary_budget_bytes > 0, "{}", b.name);
            assert!(b.ram_idle_budget_bytes > 0, "{}", b.name);
            assert!(
                b.ram_loaded_budget_bytes >= b.ram_idle_budget_bytes,
                "{}",
                b.name
            );
        }
    }

    #[test]
    fn every_file_in_the_boards_dir_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/boards");
        let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        let embedded: BTreeSet<String> = PROFILES.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn the_boards_the_issue_names_have_their_cpus() {
        let cpus: Vec<(String, String)> = all_boards()
            .unwrap()
            .into_iter()
            .map(|b| (b.name, b.target_cpu))
            .collect();
        for (name, cpu) in [
            ("jetson-orin", "cortex-a78ae"),
            ("jetson-nano", "cortex-a57"),
            ("zynqmp", "cortex-a53"),
            ("zynq7000", "cortex-a9"),
            ("rpi4", "cortex-a72"),
        ] {
            assert!(cpus.contains(&(name.to_owned(), cpu.to_owned())), "{name}");
        }
    }

    #[test]
    fn static_musl_is_the_default_except_where_noted() {
        for b in all_boards().unwrap() {
            let musl = b.rust_target.ends_with("-musl");
            assert!(musl || b.rust_target_note.is_some(), "{}", b.name);
        }
    }

    #[test]
    fn boards_are_found_by_name() {
        assert_eq!(
            find_board("zynqmp").unwrap().unwrap().target_cpu,
            "cortex-a53"
        );
        assert!(find_board("nope").unwrap().is_none());
        assert!(board_names().contains(&"rpi4"));
    }
}
