//! `wisp images`: list, import, remove and prune images in `<data-dir>/images`, the same
//! store the node agent runs containers from (it may be running at the same time).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use wisp_node::image::{ImageStore, Platform, Progress};

use crate::cli::{Command, UsageError, write_stdout};

pub const IMAGES_HELP: &str = "\
Usage: wisp images <list|import FILE...|remove REF|prune> [--data-dir DIR]

Manages the node's image store (<data-dir>/images).

Commands:
  list           print every image: reference, id, size
  import FILE... import OCI or `docker save` archives (.tar or .tar.gz), this host's
                 platform from multi-platform archives
  remove REF     forget a reference (or, given an id, the image with all its names)
  prune          delete untagged images and the blobs and layers no image needs
                 (blobs written in the last 10 minutes are kept: a pull may own them)

Options:
  --data-dir DIR   state directory (default as for `wisp run`)
  -h, --help       print this help
";

#[derive(Debug, PartialEq, Eq)]
pub enum ImagesAction {
    List,
    Import(Vec<PathBuf>),
    Remove(String),
    Prune,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ImagesArgs {
    pub action: ImagesAction,
    pub data_dir: Option<PathBuf>,
}

pub fn parse(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    let mut data_dir = None;
    let mut words: Vec<String> = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("data-dir") => data_dir = Some(parser.value()?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(IMAGES_HELP)),
            Value(v) => words.push(v.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    let usage = |m: &str| Err(UsageError::new(format!("images: {m}")));
    let action = match words.split_first() {
        None => return usage("missing command (list, import, remove or prune)"),
        Some((cmd, rest)) => match (cmd.as_str(), rest) {
            ("list" | "ls", []) => ImagesAction::List,
            ("import" | "load", []) => return usage("import needs at least one FILE"),
            ("import" | "load", files) => {
                ImagesAction::Import(files.iter().map(PathBuf::from).collect())
            }
            ("remove" | "rm", [reference]) => ImagesAction::Remove(reference.clone()),
            ("remove" | "rm", _) => return usage("remove takes exactly one REF"),
            ("prune", []) => ImagesAction::Prune,
            ("list" | "ls" | "prune", _) => return usage(&format!("{cmd} takes no arguments")),
            (other, _) => return usage(&format!("unknown command `{other}`")),
        },
    };
    Ok(Command::Images(ImagesArgs { action, data_dir }))
}

pub fn execute(args: ImagesArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = crate::run::effective_config(None, args.data_dir)?;
    let root = config.resolved_data_dir().join("images");
    let store =
        ImageStore::open(&root).map_err(|e| format!("image store {}: {e}", root.display()))?;
    match args.action {
        ImagesAction::List => list(&store),
        ImagesAction::Import(files) => import(&store, &files),
        ImagesAction::Remove(reference) => {
            store.remove(&reference)?;
            write_stdout(&format!("removed {reference}\n"));
            Ok(())
        }
        ImagesAction::Prune => {
            let named: HashSet<String> = store
                .list()?
                .into_iter()
                .filter(|i| !i.references.is_empty())
                .map(|i| i.id)
                .collect();
            let freed = store.prune(&named)?;
            write_stdout(&format!("freed {}\n", human_bytes(freed)));
            Ok(())
        }
    }
}

fn list(store: &ImageStore) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = format!("{:<60} {:<12} {:>10}\n", "REFERENCE", "ID", "SIZE");
    for info in store.list()? {
        let id = info.id.strip_prefix("sha256:").unwrap_or(&info.id);
        let size = human_bytes(info.size);
        let names = if info.references.is_empty() {
            vec!["<none>".to_string()]
        } else {
            info.references
        };
        for name in names {
            out.push_str(&format!(
                "{name:<60} {:<12} {size:>10}\n",
                &id[..12.min(id.len())]
            ));
        }
    }
    write_stdout(&out);
    Ok(())
}

fn import(store: &ImageStore, files: &[PathBuf]) -> Result<(), Box<dyn std::error::Error>> {
    let platform = Platform::host();
    for file in files {
        let started = Instant::now();
        let mut last = Instant::now();
        let mut report = |p: Progress| {
            if last.elapsed() >= Duration::from_secs(1) && p.bytes_done < p.bytes_total {
                last = Instant::now();
                eprintln!(
                    "importing {}: {} of {}",
                    file.display(),
                    human_bytes(p.bytes_done),
                    human_bytes(p.bytes_total)
                );
            }
        };
        let infos = store
            .import_archive(file, &platform, &mut report)
            .map_err(|e| format!("import {}: {e}", file.display()))?;
        for info in infos {
            let name = info
                .references
                .first()
                .cloned()
                .unwrap_or_else(|| info.id.clone());
            write_stdout(&format!(
                "imported {name} ({}, {:.1} s)\n",
                human_bytes(info.size),
                started.elapsed().as_secs_f64()
            ));
        }
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn parse_str(args: &[&str]) -> Result<Command, UsageError> {
        crate::cli::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn subcommands_parse() {
        let cmd =
            parse_str(&["images", "import", "a.tar", "b.tar.gz", "--data-dir", "/d"]).unwrap();
        let expected = ImagesArgs {
            action: ImagesAction::Import(vec!["a.tar".into(), "b.tar.gz".into()]),
            data_dir: Some("/d".into()),
        };
        assert_eq!(cmd, Command::Images(expected));
        assert_eq!(
            parse_str(&["images", "list"]).unwrap(),
            Command::Images(ImagesArgs {
                action: ImagesAction::List,
                data_dir: None
            })
        );
        let rm = parse_str(&["images", "rm", "busybox"]).unwrap();
        assert_eq!(
            rm,
            Command::Images(ImagesArgs {
                action: ImagesAction::Remove("busybox".into()),
                data_dir: None
            })
        );
        assert_eq!(
            parse_str(&["images", "--help"]).unwrap(),
            Command::Help(IMAGES_HELP)
        );
        assert_eq!(
            parse_str(&["help", "images"]).unwrap(),
            Command::Help(IMAGES_HELP)
        );
    }

    #[test]
    fn bad_usage_is_one_clear_line() {
        for args in [
            &["images"][..],
            &["images", "import"],
            &["images", "remove"],
            &["images", "list", "x"],
            &["images", "pull", "x"],
        ] {
            let e = parse_str(args).unwrap_err().to_string();
            assert!(e.starts_with("images: ") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }
}
