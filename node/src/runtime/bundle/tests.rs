use super::*;
use crate::runtime::podspec::{Pod, PodSpec};

fn pod(json_spec: &str) -> Pod {
    let doc = format!(r#"{{"metadata":{{"name":"p","uid":"u"}},"spec":{json_spec}}}"#);
    PodSpec::from_pod_json(doc.as_bytes()).unwrap()
}

fn image() -> ImageDefaults {
    ImageDefaults {
        entrypoint: vec!["/entry".into()],
        cmd: vec!["serve".into(), "--port=80".into()],
        env: vec!["PATH=/image/bin".into(), "A=image".into(), "B=image".into()],
        working_dir: Some("/work".into()),
        user: String::new(),
    }
}

/// A rootfs holding only /etc/passwd and /etc/group, removed on drop.
struct Rootfs(PathBuf);

impl Rootfs {
    fn new(tag: &str) -> Rootfs {
        // Tests run in parallel: a counter keeps two rootfs with the same tag apart.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("wisp-bundle-{tag}-{}-{n}", std::process::id()));
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1001:1002::/home/app:/bin/sh\n").unwrap();
        fs::write(
            dir.join("etc/group"),
            "root:x:0:\nstaff:x:50:app,other\napp:x:1002:\nvideo:x:44:app\n",
        )
        .unwrap();
        Rootfs(dir)
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn spec<'a>(pod: &'a Pod, rootfs: &Rootfs, image: ImageDefaults) -> BundleSpec<'a> {
    BundleSpec {
        container: &pod.spec.containers[0],
        pod: &pod.spec,
        rootfs: rootfs.0.clone(),
        image,
        env: vec![
            ("B".into(), "container".into()),
            ("C".into(), "container".into()),
        ],
        mounts: vec![Mount {
            destination: "/data".into(),
            source: "/host/data".into(),
            kind: "bind".into(),
            options: vec!["rbind".into(), "ro".into()],
        }],
        namespaces: NamespacePaths {
            network: Some("/run/wisp/netns/u".into()),
            ..NamespacePaths::default()
        },
        cgroups_path: "/wisp/podu/c1".into(),
        hostname: "p".into(),
        annotations: BTreeMap::new(),
        terminal: false,
    }
}

fn field<'v>(value: &'v Value, path: &[&str]) -> &'v Value {
    path.iter().fold(value, |v, key| match v {
        Value::Object(o) => o
            .get(*key)
            .unwrap_or_else(|| panic!("no {key} in {path:?}")),
        _ => panic!("{key} of a non-object"),
    })
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                _ => panic!("not a string"),
            })
            .collect(),
        _ => panic!("not an array"),
    }
}

fn json(value: &Value) -> String {
    miniserde::json::to_string(value)
}

fn int(value: &Value) -> i64 {
    match value {
        Value::Number(miniserde::json::Number::I64(n)) => *n,
        other => panic!("not an i64: {}", miniserde::json::to_string(other)),
    }
}

#[test]
fn command_and_args_follow_the_upstream_rules() {
    let img = image();
    let cases = [
        (r#"{"name":"c"}"#, vec!["/entry", "serve", "--port=80"]),
        (r#"{"name":"c","args":["x"]}"#, vec!["/entry", "x"]),
        (r#"{"name":"c","command":["/bin/sh"]}"#, vec!["/bin/sh"]),
        (
            r#"{"name":"c","command":["/bin/sh"],"args":["-c","true"]}"#,
            vec!["/bin/sh", "-c", "true"],
        ),
    ];
    for (container, want) in cases {
        let p = pod(&format!(r#"{{"containers":[{container}]}}"#));
        assert_eq!(
            process_args(&p.spec.containers[0], &img).unwrap(),
            want,
            "{container}"
        );
    }
    let p = pod(r#"{"containers":[{"name":"c"}]}"#);
    assert!(matches!(
        process_args(&p.spec.containers[0], &ImageDefaults::default()),
        Err(BundleError::NoCommand)
    ));
}

#[test]
fn env_overlays_image_env_and_keeps_order() {
    let rootfs = Rootfs::new("env");
    let p = pod(r#"{"containers":[{"name":"c"}]}"#);
    let config = build_config(&spec(&p, &rootfs, image())).unwrap();
    assert_eq!(
        strings(field(&config, &["process", "env"])),
        vec![
            "HOSTNAME=p",
            "PATH=/image/bin",
            "A=image",
            "B=container",
            "C=container"
        ]
    );
    assert_eq!(json(field(&config, &["process", "cwd"])), "\"/work\"");
    let no_path = ImageDefaults {
        env: vec![],
        ..image()
    };
    let config = build_config(&spec(&p, &rootfs, no_path)).unwrap();
    assert!(strings(field(&config, &["process", "env"])).contains(&format!("PATH={DEFAULT_PATH}")));
}

fn user_of(pod_json: &str, image_user: &str) -> Result<ProcessUser, BundleError> {
    let rootfs = Rootfs::new(&format!("user{}", image_user.len() + pod_json.len()));
    let p = pod(pod_json);
    user::resolve(&p.spec.containers[0], &p.spec, image_user, &rootfs.0)
}

#[test]
fn user_comes_from_run_as_or_the_image_passwd() {
    let plain = r#"{"containers":[{"name":"c"}]}"#;
    assert_eq!(
        user_of(plain, "").unwrap(),
        ProcessUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![]
        }
    );
    assert_eq!(
        user_of(plain, "app").unwrap(),
        ProcessUser {
            uid: 1001,
            gid: 1002,
            additional_gids: vec![44, 50]
        }
    );
    assert_eq!(
        user_of(plain, "nobody:staff").unwrap(),
        ProcessUser {
            uid: 65534,
            gid: 50,
            additional_gids: vec![]
        }
    );
    assert_eq!(
        user_of(plain, "4000:4001").unwrap(),
        ProcessUser {
            uid: 4000,
            gid: 4001,
            additional_gids: vec![]
        }
    );
    let run_as = r#"{"securityContext":{"runAsUser":1000,"fsGroup":2000,"supplementalGroups":[3000]},
        "containers":[{"name":"c","securityContext":{"runAsGroup":7}}]}"#;
    assert_eq!(
        user_of(run_as, "app").unwrap(),
        ProcessUser {
            uid: 1000,
            gid: 7,
            additional_gids: vec![2000, 3000]
        }
    );
    assert!(matches!(user_of(plain, "ghost"), Err(BundleError::UnknownUser(u)) if u == "ghost"));
}

#[test]
fn run_as_non_root_refuses_root_and_names() {
    let non_root = r#"{"securityContext":{"runAsNonRoot":true},"containers":[{"name":"c"}]}"#;
    assert!(matches!(user_of(non_root, ""), Err(BundleError::RunAsRoot)));
    assert!(matches!(
        user_of(non_root, "0"),
        Err(BundleError::RunAsRoot)
    ));
    assert!(matches!(
        user_of(non_root, "app"),
        Err(BundleError::NonNumericUser(_))
    ));
    assert_eq!(user_of(non_root, "1001").unwrap().uid, 1001);
    let explicit_root =
        r#"{"containers":[{"name":"c","securityContext":{"runAsNonRoot":true,"runAsUser":0}}]}"#;
    let err = user_of(explicit_root, "1001").unwrap_err();
    assert!(err.is_config_error());
    assert_eq!(
        err.to_string(),
        "container has runAsNonRoot and image will run as root"
    );
}

#[test]
fn security_settings_reach_the_config() {
    let rootfs = Rootfs::new("sec");
    let p = pod(
        r#"{"securityContext":{"seccompProfile":{"type":"RuntimeDefault"},
        "sysctls":[{"name":"net.core.somaxconn","value":"1024"}]},
        "containers":[{"name":"c","securityContext":{"readOnlyRootFilesystem":true,
          "capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}},
          "resources":{"limits":{"cpu":"250m","memory":"64Mi"}}}]}"#,
    );
    let config = build_config(&spec(&p, &rootfs, image())).unwrap();
    assert_eq!(json(field(&config, &["root", "readonly"])), "true");
    assert_eq!(
        strings(field(&config, &["process", "capabilities", "bounding"])),
        vec!["CAP_NET_BIND_SERVICE"]
    );
    assert_eq!(
        json(field(&config, &["process", "noNewPrivileges"])),
        "true"
    );
    assert_eq!(
        json(field(&config, &["linux", "seccomp", "defaultAction"])),
        "\"SCMP_ACT_ALLOW\""
    );
    assert_eq!(
        json(field(&config, &["linux", "sysctl", "net.core.somaxconn"])),
        "\"1024\""
    );
    assert_eq!(
        int(field(&config, &["linux", "resources", "memory", "limit"])),
        64 << 20
    );
    assert_eq!(
        int(field(&config, &["linux", "resources", "memory", "swap"])),
        64 << 20
    );
    assert_eq!(
        int(field(&config, &["linux", "resources", "cpu", "quota"])),
        25_000
    );
    assert_eq!(
        int(field(&config, &["linux", "resources", "cpu", "shares"])),
        256
    );
    assert_eq!(
        int(field(&config, &["process", "oomScoreAdj"])),
        -997,
        "limits only: Guaranteed"
    );
    assert_eq!(
        strings(field(&config, &["linux", "maskedPaths"])).len(),
        MASKED_PATHS.len()
    );
    let text = miniserde::json::to_string(&config);
    assert!(
        text.contains(r#""path":"/run/wisp/netns/u","type":"network""#),
        "{text}"
    );
    assert!(text.contains(r#""destination":"/data""#));
}

#[test]
fn privileged_gets_everything_and_no_filters() {
    let rootfs = Rootfs::new("priv");
    let p = pod(
        r#"{"securityContext":{"seccompProfile":{"type":"RuntimeDefault"}},
        "containers":[{"name":"c","securityContext":{"privileged":true}}]}"#,
    );
    let config = build_config(&spec(&p, &rootfs, image())).unwrap();
    let mut everything: Vec<String> = ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    security::within_bounding_set(&mut everything, security::own_bounding_set());
    assert_eq!(
        strings(field(&config, &["process", "capabilities", "effective"])),
        everything
    );
    assert_eq!(
        json(field(&config, &["process", "noNewPrivileges"])),
        "false"
    );
    let Value::Object(linux) = field(&config, &["linux"]) else {
        panic!()
    };
    assert!(!linux.contains_key("seccomp") && !linux.contains_key("maskedPaths"));
}

#[test]
fn unconfined_is_the_default_and_localhost_is_refused() {
    let rootfs = Rootfs::new("seccomp");
    let p = pod(r#"{"containers":[{"name":"c"}]}"#);
    let Value::Object(linux) = field(
        &build_config(&spec(&p, &rootfs, image())).unwrap(),
        &["linux"],
    )
    .clone() else {
        panic!()
    };
    assert!(!linux.contains_key("seccomp"));
    let p = pod(
        r#"{"containers":[{"name":"c","securityContext":{"seccompProfile":{"type":"Localhost","localhostProfile":"x.json"}}}]}"#,
    );
    assert!(matches!(
        build_config(&spec(&p, &rootfs, image())),
        Err(BundleError::UnsupportedSeccomp(_))
    ));
}

#[test]
fn passwd_symlinks_resolve_inside_the_rootfs() {
    let rootfs = Rootfs::new("symlinks");
    let etc = rootfs.0.join("etc");
    fs::rename(etc.join("passwd"), rootfs.0.join("real-passwd")).unwrap();
    std::os::unix::fs::symlink("/real-passwd", etc.join("passwd")).unwrap();
    fs::remove_file(etc.join("group")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", etc.join("group")).unwrap();
    let p = pod(r#"{"containers":[{"name":"c"}]}"#);
    let user = user::resolve(&p.spec.containers[0], &p.spec, "app", &rootfs.0).unwrap();
    assert_eq!(
        user,
        ProcessUser {
            uid: 1001,
            gid: 1002,
            additional_gids: vec![]
        },
        "/dev/zero inside the rootfs is absent"
    );
    fs::remove_file(etc.join("passwd")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", etc.join("passwd")).unwrap();
    assert!(
        matches!(
            user::resolve(&p.spec.containers[0], &p.spec, "root", &rootfs.0),
            Err(BundleError::UnknownUser(_))
        ),
        "a link to /etc/passwd must not reach the host's file"
    );
}
