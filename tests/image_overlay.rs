//! The image store end to end as root: `wisp images import` a real busybox image, mount
//! its layers as an overlay rootfs, run /bin/busybox inside it through chroot, see the
//! second layer's whiteouts hide files, then remove and prune through the CLI (layers of a mounted rootfs survive).

use std::path::{Path, PathBuf};
use std::process::Command;

use wisp_node::image::testimage::{self, busybox_available};
use wisp_node::image::{ArchiveFormat, ImageStore, overlay};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("wisp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Unmounts on drop so a failed assertion does not leave a mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = overlay::unmount(&self.0);
    }
}

fn wisp(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wisp"))
        .args(["images"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wisp images {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sh_in(root: &Path, script: &str) -> String {
    let out = Command::new("chroot")
        .arg(root)
        .args(["/bin/sh", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn imported_busybox_runs_from_an_overlay() {
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "SKIP imported_busybox_runs_from_an_overlay: needs root (overlay mount, whiteouts)"
        );
        return;
    }
    if !busybox_available() {
        eprintln!(
            "SKIP imported_busybox_runs_from_an_overlay: /bin/busybox missing (busybox-static)"
        );
        return;
    }
    let tmp = TempDir::new("image-overlay");
    let archive = tmp.0.join("busybox.tar");
    let built = testimage::write_busybox_archive(&archive, "busybox:e2e", ArchiveFormat::Oci, true)
        .unwrap();
    let data = tmp.0.join("data");
    let imported = wisp(&data, &["import", archive.to_str().unwrap()]);
    assert!(
        imported.contains("imported docker.io/library/busybox:e2e"),
        "{imported}"
    );
    let listed = wisp(&data, &["list"]);
    assert!(
        listed.contains("docker.io/library/busybox:e2e") && listed.contains(&built.id[7..19]),
        "{listed}"
    );

    let store = ImageStore::open(&data.join("images")).unwrap();
    let info = store.resolve("busybox:e2e").unwrap();
    let lowers = store.lower_dirs(&info).unwrap();
    let (upper, work, rootfs) = (
        tmp.0.join("upper"),
        tmp.0.join("work"),
        tmp.0.join("rootfs"),
    );
    for dir in [&upper, &work, &rootfs] {
        std::fs::create_dir(dir).unwrap();
    }
    overlay::mount(&lowers, &upper, &work, &rootfs).unwrap();
    let mounted = Mounted(rootfs.clone());
    assert_eq!(
        sh_in(&rootfs, "echo hello from $(busybox | head -1 | cut -c1-7)"),
        "hello from BusyBox\n"
    );
    assert_eq!(
        sh_in(&rootfs, "cat /etc/layer2; ls /etc/opaque"),
        "second layer\nnew\n"
    );
    sh_in(
        &rootfs,
        "test ! -e /etc/removed && test ! -e /etc/opaque/old && touch /tmp/written",
    );
    assert!(
        upper.join("tmp/written").exists(),
        "writes land in the upper dir"
    );
    let removed = wisp(&data, &["remove", "busybox:e2e"]);
    assert_eq!(removed, "removed busybox:e2e\n");
    assert!(!wisp(&data, &["list"]).contains("busybox"));
    wisp(&data, &["prune"]);
    let kept = lowers.iter().all(|l| l.exists());
    assert!(kept, "prune kept the layers of a mounted rootfs");
    drop(mounted);
    let pruned = wisp(&data, &["prune"]);
    assert!(
        pruned.starts_with("freed ") && pruned.contains("MiB"),
        "layers freed: {pruned}"
    );
    assert!(!lowers[1].exists());
}

#[test]
fn deep_images_mount_past_the_option_page_limit() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP deep_images_mount_past_the_option_page_limit: needs root (overlay mount)");
        return;
    }
    let tmp = TempDir::new("image-deep");
    // 60 lower dirs with ~100-byte paths: ~6 KB of lowerdir, more than one page.
    let long = tmp.0.join("l".repeat(60));
    let lowers: Vec<PathBuf> = (0..60).map(|i| long.join(format!("{i:0>40}"))).collect();
    for (i, dir) in lowers.iter().enumerate() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("f{i}")), b"").unwrap();
    }
    let (upper, work, rootfs) = (tmp.0.join("u"), tmp.0.join("w"), tmp.0.join("r"));
    for dir in [&upper, &work, &rootfs] {
        std::fs::create_dir(dir).unwrap();
    }
    overlay::mount(&lowers, &upper, &work, &rootfs).unwrap();
    let _mounted = Mounted(rootfs.clone());
    assert!(rootfs.join("f0").exists() && rootfs.join("f59").exists());
}
