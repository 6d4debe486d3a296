//! `--crates`: which crate each byte of code comes from. Reads the symbol table of an
//! unstripped (release-syms) ELF, demangles each name and charges its size to the crate
//! that owns it. Generic code is charged to the crate of the type it was instantiated
//! for (`<alloc::vec::Vec<T> as core::ops::Drop>::drop` counts for alloc), as cargo-bloat
//! does; symbols that are not Rust (musl, glibc, compiler-rt) go to `[C]`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSymbol, SymbolKind};

/// The label for symbols that do not demangle as Rust.
pub const NON_RUST: &str = "[C]";

const PRIMITIVES: &[&str] = &[
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f32", "f64", "!", "()",
];

/// A symbol with its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub size: u64,
}

#[derive(Debug)]
pub enum SymbolError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    Parse {
        path: PathBuf,
        message: String,
    },
    NoSymbols {
        path: PathBuf,
    },
}

impl fmt::Display for SymbolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymbolError::Read { path, source } => write!(f, "{}: {source}", path.display()),
            SymbolError::Parse { path, message } => write!(f, "{}: {message}", path.display()),
            SymbolError::NoSymbols { path } => write!(
                f,
                "{}: no symbols (stripped? build with --profile release-syms)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SymbolError {}

/// The sized code and data symbols of an ELF file, one per address (aliases dropped).
pub fn read_symbols(path: &Path) -> Result<Vec<Symbol>, SymbolError> {
    let data = std::fs::read(path).map_err(|source| SymbolError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file = object::File::parse(&*data).map_err(|e| SymbolError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mut seen = BTreeSet::new();
    let symbols: Vec<Symbol> = file
        .symbols()
        .filter(|s| s.is_definition() && s.size() > 0)
        .filter(|s| matches!(s.kind(), SymbolKind::Text | SymbolKind::Data))
        .filter(|s| seen.insert(s.address()))
        .filter_map(|s| {
            Some(Symbol {
                name: s.name().ok()?.to_owned(),
                size: s.size(),
            })
        })
        .collect();
    if symbols.is_empty() {
        return Err(SymbolError::NoSymbols {
            path: path.to_owned(),
        });
    }
    Ok(symbols)
}

/// Bytes per crate, largest first (ties by name).
pub fn attribute(symbols: &[Symbol]) -> Vec<(String, u64)> {
    let mut per_crate: BTreeMap<String, u64> = BTreeMap::new();
    for s in symbols {
        *per_crate.entry(crate_of_symbol(&s.name)).or_default() += s.size;
    }
    let mut sorted: Vec<(String, u64)> = per_crate.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted
}

/// The crate a (mangled) symbol belongs to.
pub fn crate_of_symbol(mangled: &str) -> String {
    match rustc_demangle::try_demangle(mangled) {
        Ok(demangled) => crate_of_path(&format!("{demangled:#}")),
        Err(_) => NON_RUST.to_owned(),
    }
}

/// The crate of a demangled path such as `core::fmt::write` or `<A as B>::f`.
pub fn crate_of_path(path: &str) -> String {
    let Some(inner) = path.strip_prefix('<') else {
        return crate_name(first_segment(path));
    };
    let (self_ty, trait_path) = split_qualified(inner);
    let self_ty = strip_type_decorations(self_ty);
    if self_ty.starts_with('<') {
        // `<<A>::f::Local as Trait>::m`: a type local to a function of A.
        return crate_of_path(self_ty);
    }
    let self_crate = first_segment(self_ty);
    let is_path = self_ty.contains("::") && !PRIMITIVES.contains(&self_crate);
    match trait_path {
        _ if is_path => crate_name(self_crate),
        Some(t) => crate_of_path(strip_type_decorations(t)),
        // Inherent methods of primitives (`<char>::escape_debug_ext`, `<[u8]>::starts_with`)
        // are defined in core (a few in alloc and std).
        None => "core".to_owned(),
    }
}

/// v0 mangling puts std's exported shims (allocator, panic entry points) under the
/// pseudo-crate `__rustc`.
fn crate_name(segment: &str) -> String {
    match segment {
        "__rustc" => "std".to_owned(),
        other => other.to_owned(),
    }
}

/// Splits `A as B>::rest` into (`A`, Some(`B`)), or `A>::rest` into (`A`, None), honouring
/// nested angle brackets.
fn split_qualified(inner: &str) -> (&str, Option<&str>) {
    let mut depth = 0usize;
    for (i, c) in inner.char_indices() {
        match c {
            // The `>` of a `->` in a fn pointer type closes nothing.
            '>' if inner[..i].ends_with('-') => {}
            '<' => depth += 1,
            '>' if depth == 0 => return (&inner[..i], None),
            '>' => depth -= 1,
            ' ' if depth == 0 && inner[i..].starts_with(" as ") => {
                let rest = &inner[i + 4..];
                let (trait_path, _) = split_qualified(rest);
                return (&inner[..i], Some(trait_path));
            }
            _ => {}
        }
    }
    (inner, None)
}

fn strip_type_decorations(mut ty: &str) -> &str {
    for prefix in ["&mut ", "&", "*const ", "*mut ", "dyn ", "[", "("] {
        if let Some(rest) = ty.strip_prefix(prefix) {
            ty = rest;
            return strip_type_decorations(ty);
        }
    }
    ty
}

fn first_segment(path: &str) -> &str {
    let end = path
        .find(['<', ':', ' ', ';', ',', ']', ')'])
        .unwrap_or(path.len());
    &path[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_belong_to_their_first_segment() {
        assert_eq!(crate_of_path("core::fmt::write"), "core");
        assert_eq!(crate_of_path("wisp_store::log::append::<u8>"), "wisp_store");
        assert_eq!(
            crate_of_path("core::fmt::num::<impl core::fmt::Display for u32>::fmt"),
            "core"
        );
    }

    #[test]
    fn trait_impls_belong_to_the_type_unless_it_is_primitive() {
        assert_eq!(
            crate_of_path("<alloc::vec::Vec<u8> as core::ops::drop::Drop>::drop"),
            "alloc"
        );
        assert_eq!(
            crate_of_path("<&mut wisp_core::Server as core::fmt::Debug>::fmt"),
            "wisp_core"
        );
        assert_eq!(
            crate_of_path("<u32 as wisp_store::Encode>::encode"),
            "wisp_store"
        );
        assert_eq!(crate_of_path("<[u8] as rustls::Codec>::read"), "rustls");
        assert_eq!(crate_of_path("<std::io::Stdout>::lock"), "std");
        assert_eq!(
            crate_of_path("<hashbrown::raw::RawTable<(K, V)> as core::ops::drop::Drop>::drop"),
            "hashbrown"
        );
    }

    #[test]
    fn nested_and_primitive_self_types_find_their_crate() {
        assert_eq!(
            crate_of_path(
                "<<std::sys::backtrace::BacktraceLock>::print::DisplayBacktrace as core::fmt::Display>::fmt"
            ),
            "std"
        );
        assert_eq!(
            crate_of_path(
                "<&[u8] as <alloc::ffi::c_str::CString>::new::SpecNewImpl>::spec_new_impl"
            ),
            "alloc"
        );
        assert_eq!(crate_of_path("<char>::escape_debug_ext"), "core");
        assert_eq!(crate_of_path("<[u8]>::starts_with"), "core");
        assert_eq!(crate_of_path("<&T as core::fmt::Debug>::fmt"), "core");
        assert_eq!(
            crate_of_path("<fn() -> u8 as wisp_core::Handler>::call"),
            "wisp_core"
        );
        assert_eq!(crate_of_path("__rustc::__rdl_alloc"), "std");
    }

    #[test]
    fn mangled_names_are_demangled_and_c_symbols_set_apart() {
        assert_eq!(
            crate_of_symbol("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core"
        );
        assert_eq!(crate_of_symbol("_ZN4wisp4main17h0123456789abcdefE"), "wisp");
        assert_eq!(crate_of_symbol("memcpy"), NON_RUST);
        assert_eq!(crate_of_symbol("__libc_start_main"), NON_RUST);
    }

    #[test]
    fn sizes_are_summed_per_crate_and_sorted_largest_first() {
        let symbols = [
            ("_ZN4core3fmt5write17h0123456789abcdefE", 300),
            ("_ZN4core3fmt3num17h0123456789abcdefE", 100),
            ("_ZN4wisp4main17h0123456789abcdefE", 50),
            ("memcpy", 200),
            ("malloc", 150),
        ]
        .map(|(name, size)| Symbol {
            name: name.to_owned(),
            size,
        });
        assert_eq!(
            attribute(&symbols),
            [
                ("core".to_owned(), 400),
                (NON_RUST.to_owned(), 350),
                ("wisp".to_owned(), 50)
            ]
        );
    }

    #[test]
    fn reading_this_test_binary_finds_std_symbols() {
        let exe = std::env::current_exe().unwrap();
        let symbols = read_symbols(&exe).unwrap();
        let crates = attribute(&symbols);
        assert!(crates.iter().any(|(c, _)| c == "std"), "{crates:?}");
    }

    #[test]
    fn a_non_elf_file_is_a_parse_error_naming_it() {
        let e = read_symbols(Path::new("Cargo.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Cargo.toml:"), "{e}");
    }
}
