//! Writes the busybox test image the integration tests use, for trying wisp by hand and
//! for benchmarks: `cargo run -p wisp-node --example write_test_image -- OUT.tar [REF]`.

use wisp_node::image::ArchiveFormat;
use wisp_node::image::testimage::write_busybox_archive;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: write_test_image OUT.tar [REFERENCE]");
        std::process::exit(2);
    };
    let reference = args
        .next()
        .unwrap_or_else(|| "wisp.test/busybox:1.0".to_owned());
    match write_busybox_archive(out.as_ref(), &reference, ArchiveFormat::Oci, false) {
        Ok(image) => println!("{out}: {reference} {}", image.manifest_digest),
        Err(e) => {
            eprintln!("write_test_image: {e}");
            std::process::exit(1);
        }
    }
}
