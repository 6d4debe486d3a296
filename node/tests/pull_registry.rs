//! Registry pulls against a real `docker-registry` on loopback (TLS with a test CA, htpasswd
//! or token auth), with images built here and pushed by skopeo.

mod pull_support;

use pull_support::*;
use wisp_node::pull::{
    Credentials, Mirror, Platform, PullConfig, PullError, PullProgress, Pulled, TransportError,
    credentials_from_dockerconfigjson, pull, resolve_digest,
};

fn creds(password: &str) -> Credentials {
    Credentials {
        username: USER.into(),
        password: password.into(),
        identity_token: None,
    }
}

fn trusting(pki: &TestPki) -> PullConfig {
    PullConfig {
        extra_ca_pem: vec![pki.ca_pem.clone().into_bytes()],
        ..PullConfig::default()
    }
}

fn arm64() -> Platform {
    Platform::new("linux", "arm64", Some("v8"))
}

fn pull_into(
    registry: &Registry,
    repo: &str,
    reference: &str,
    platform: &Platform,
    creds: Option<&Credentials>,
    cfg: &PullConfig,
    sink: &MemorySink,
) -> (Result<Pulled, PullError>, Vec<PullProgress>) {
    let mut events = Vec::new();
    let result = pull(
        &registry.host,
        repo,
        reference,
        platform,
        creds,
        cfg,
        sink,
        &mut |event| events.push(event),
    );
    (result, events)
}

/// A TLS + htpasswd registry holding `repo:single` (one arm64 image).
fn registry_with_single_image(pki: &TestPki, repo: &str) -> (Registry, BuiltImage) {
    let registry = Registry::start(Some(pki), Auth::Htpasswd);
    let mut layout = Layout::new();
    let image = layout.tag_image("single", "arm64", None);
    registry.push(&layout.dir.0, "single", repo, Some((USER, PASSWORD)));
    (registry, image)
}

#[test]
fn pulls_a_single_manifest_image_then_skips_stored_blobs() {
    if !tools_present() {
        return;
    }
    let pki = TestPki::new();
    let (registry, image) = registry_with_single_image(&pki, "apps/hello");
    let (cfg, creds, sink) = (trusting(&pki), creds(PASSWORD), MemorySink::default());
    let (pulled, events) = pull_into(
        &registry,
        "apps/hello",
        "single",
        &arm64(),
        Some(&creds),
        &cfg,
        &sink,
    );
    let pulled = pulled.expect("pull succeeds");
    assert_eq!(pulled.manifest_digest, image.manifest_digest);
    assert_eq!(pulled.repo_digest, image.manifest_digest);
    assert_eq!(pulled.config_digest, image.config_digest);
    assert_eq!(pulled.layers, vec![image.layer_digest.clone()]);
    assert_eq!(sha256(&pulled.manifest), image.manifest_digest);
    assert_eq!(sink.get(&image.layer_digest), Some(image.layer.clone()));
    assert!(sink.get(&image.config_digest).is_some());
    assert_eq!(
        sink.get(&image.manifest_digest),
        Some(pulled.manifest.clone())
    );
    let done = events
        .iter()
        .filter(|e| matches!(e, PullProgress::BlobDone { .. }))
        .count();
    assert_eq!(done, 2, "{events:?}");

    // Second pull: everything is in the sink, nothing is downloaded again.
    let (again, events) = pull_into(
        &registry,
        "apps/hello",
        "single",
        &arm64(),
        Some(&creds),
        &cfg,
        &sink,
    );
    assert_eq!(again.unwrap(), pulled);
    let cached = events
        .iter()
        .filter(|e| matches!(e, PullProgress::BlobCached { .. }))
        .count();
    let started = events
        .iter()
        .filter(|e| matches!(e, PullProgress::BlobStarted { .. }))
        .count();
    assert_eq!((cached, started), (2, 0), "{events:?}");

    // By digest, and the HEAD-only resolution agrees.
    let (by_digest, _) = pull_into(
        &registry,
        "apps/hello",
        &image.manifest_digest,
        &arm64(),
        Some(&creds),
        &cfg,
        &sink,
    );
    assert_eq!(by_digest.unwrap().manifest_digest, image.manifest_digest);
    let resolved = resolve_digest(&registry.host, "apps/hello", "single", Some(&creds), &cfg);
    assert_eq!(resolved.unwrap(), image.manifest_digest);
}

#[test]
fn index_resolves_to_the_board_platform() {
    if !tools_present() {
        return;
    }
    let pki = TestPki::new();
    let registry = Registry::start(Some(&pki), Auth::Htpasswd);
    let mut layout = Layout::new();
    let (arm64_image, arm64_desc) = layout.image("arm64", None);
    let (armv7_image, armv7_desc) = layout.image("arm", Some("v7"));
    let index_digest = layout.tag_index("multi", &[arm64_desc, armv7_desc]);
    registry.push(&layout.dir.0, "multi", "multi", Some((USER, PASSWORD)));
    let (cfg, creds) = (trusting(&pki), creds(PASSWORD));

    for (platform, want) in [
        (arm64(), &arm64_image),
        (Platform::new("linux", "arm64", None), &arm64_image),
        (Platform::new("linux", "arm", Some("v7")), &armv7_image),
    ] {
        let sink = MemorySink::default();
        let (pulled, _) = pull_into(
            &registry,
            "multi",
            "multi",
            &platform,
            Some(&creds),
            &cfg,
            &sink,
        );
        let pulled = pulled.unwrap_or_else(|e| panic!("{platform}: {e}"));
        assert_eq!(pulled.manifest_digest, want.manifest_digest, "{platform}");
        assert_eq!(pulled.repo_digest, index_digest, "{platform}");
        assert_eq!(
            sink.get(&want.layer_digest),
            Some(want.layer.clone()),
            "{platform}"
        );
        assert!(
            sink.get(&index_digest).is_some(),
            "index stored for {platform}"
        );
        let config = String::from_utf8(sink.get(&pulled.config_digest).unwrap()).unwrap();
        let arch = format!(r#""architecture":"{}""#, platform.architecture);
        assert!(config.contains(&arch), "{platform}: {config}");
    }

    let amd64 = Platform::new("linux", "amd64", None);
    let (err, _) = pull_into(
        &registry,
        "multi",
        "multi",
        &amd64,
        Some(&creds),
        &cfg,
        &MemorySink::default(),
    );
    let err = err.unwrap_err();
    let PullError::NoMatchingPlatform { available, .. } = &err else {
        panic!("wrong error: {err}");
    };
    assert_eq!(available, &["linux/arm64", "linux/arm/v7"]);
    assert!(err.to_string().contains("linux/amd64"), "{err}");

    let resolved = resolve_digest(&registry.host, "multi", "multi", Some(&creds), &cfg);
    assert_eq!(resolved.unwrap(), index_digest);
}

#[test]
fn wrong_or_missing_credentials_are_unauthorized_and_missing_images_not_found() {
    if !tools_present() {
        return;
    }
    let pki = TestPki::new();
    let (registry, _) = registry_with_single_image(&pki, "hello");
    let cfg = trusting(&pki);
    let sink = MemorySink::default();
    for given in [Some(creds("wrong-password")), None] {
        let (err, _) = pull_into(
            &registry,
            "hello",
            "single",
            &arm64(),
            given.as_ref(),
            &cfg,
            &sink,
        );
        let err = err.unwrap_err();
        assert!(matches!(err, PullError::Unauthorized { .. }), "{err}");
    }
    let good = creds(PASSWORD);
    let (err, _) = pull_into(
        &registry,
        "hello",
        "nope",
        &arm64(),
        Some(&good),
        &cfg,
        &sink,
    );
    let err = err.unwrap_err();
    assert!(matches!(err, PullError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("hello:nope"), "{err}");
    assert!(sink.blobs.lock().unwrap().is_empty());
}

#[test]
fn tampered_blob_is_detected_and_not_stored() {
    if !tools_present() {
        return;
    }
    let pki = TestPki::new();
    let (registry, image) = registry_with_single_image(&pki, "hello");
    // Same length, different bytes: only the digest check can notice.
    let path = registry.blob_path(&image.layer_digest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let sink = MemorySink::default();
    let (err, _) = pull_into(
        &registry,
        "hello",
        "single",
        &arm64(),
        Some(&creds(PASSWORD)),
        &trusting(&pki),
        &sink,
    );
    let err = err.unwrap_err();
    let PullError::DigestMismatch { expected, actual } = &err else {
        panic!("wrong error: {err}");
    };
    assert_eq!(expected, &image.layer_digest);
    assert_eq!(actual, &sha256(&bytes));
    assert_eq!(sink.get(&image.layer_digest), None);
    assert_eq!(
        *sink.rejected.lock().unwrap(),
        vec![image.layer_digest.clone()]
    );
    // The manifest is only stored after all its blobs: it must not be there.
    assert_eq!(sink.get(&image.manifest_digest), None);

    // A manifest altered in storage no longer matches the digest the tag points at.
    let path = registry.blob_path(&image.manifest_digest);
    let manifest = std::fs::read_to_string(&path).unwrap();
    let altered = manifest.replace("config.v1+json", "config.v2+json");
    assert_ne!(altered, manifest);
    std::fs::write(&path, &altered).unwrap();
    let (err, _) = pull_into(
        &registry,
        "hello",
        "single",
        &arm64(),
        Some(&creds(PASSWORD)),
        &trusting(&pki),
        &sink,
    );
    let err = err.unwrap_err();
    let PullError::DigestMismatch { expected, actual } = &err else {
        panic!("wrong error: {err}");
    };
    assert_eq!(expected, &image.manifest_digest);
    assert_eq!(actual, &sha256(altered.as_bytes()));
}

#[test]
fn untrusted_ca_fails_tls_unless_trusted_or_insecure() {
    if !tools_present() {
        return;
    }
    let pki = TestPki::new();
    let (registry, image) = registry_with_single_image(&pki, "hello");
    let good = creds(PASSWORD);
    let sink = MemorySink::default();
    let (err, _) = pull_into(
        &registry,
        "hello",
        "single",
        &arm64(),
        Some(&good),
        &PullConfig::default(),
        &sink,
    );
    let err = err.unwrap_err();
    assert!(
        matches!(err, PullError::Transport(TransportError::Tls { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    let other_ca = TestPki::new();
    let (err, _) = pull_into(
        &registry,
        "hello",
        "single",
        &arm64(),
        Some(&good),
        &trusting(&other_ca),
        &sink,
    );
    assert!(matches!(
        err.unwrap_err(),
        PullError::Transport(TransportError::Tls { .. })
    ));

    let insecure = PullConfig {
        insecure_registries: vec![registry.host.clone()],
        ..PullConfig::default()
    };
    let (pulled, _) = pull_into(
        &registry,
        "hello",
        "single",
        &arm64(),
        Some(&good),
        &insecure,
        &sink,
    );
    assert_eq!(pulled.unwrap().manifest_digest, image.manifest_digest);
}

#[test]
fn plain_http_registry_only_when_listed_insecure() {
    if !tools_present() {
        return;
    }
    let registry = Registry::start(None, Auth::None);
    let mut layout = Layout::new();
    let image = layout.tag_image("v1", "arm64", None);
    registry.push(&layout.dir.0, "v1", "plain", None);
    let sink = MemorySink::default();
    let (err, _) = pull_into(
        &registry,
        "plain",
        "v1",
        &arm64(),
        None,
        &PullConfig::default(),
        &sink,
    );
    let err = err.unwrap_err();
    assert!(
        matches!(err, PullError::Transport(TransportError::Tls { .. })),
        "{err}"
    );
    let insecure = PullConfig {
        insecure_registries: vec![registry.host.clone()],
        ..PullConfig::default()
    };
    let (pulled, _) = pull_into(&registry, "plain", "v1", &arm64(), None, &insecure, &sink);
    assert_eq!(pulled.unwrap().manifest_digest, image.manifest_digest);
}

#[test]
fn bearer_token_flow_through_a_token_server() {
    if !tools_present() {
        return;
    }
    let pki = TestPki::new();
    let tokens = TokenServer::start();
    let registry = Registry::start(Some(&pki), Auth::Token(&tokens));
    let mut layout = Layout::new();
    let image = layout.tag_image("v1", "arm64", None);
    registry.push(&layout.dir.0, "v1", "team/app", Some((USER, PASSWORD)));
    let cfg = trusting(&pki);
    let sink = MemorySink::default();
    let before = tokens.request_count();
    let (pulled, _) = pull_into(
        &registry,
        "team/app",
        "v1",
        &arm64(),
        Some(&creds(PASSWORD)),
        &cfg,
        &sink,
    );
    assert_eq!(pulled.unwrap().manifest_digest, image.manifest_digest);
    let after = tokens.request_count();
    // One token serves the manifest and both blobs.
    assert_eq!(after - before, 1);

    // Credentials as an imagePullSecret carries them, and an identity token instead.
    let secret = format!(
        r#"{{"auths":{{"https://{}/v1/":{{"auth":"{}"}}}}}}"#,
        registry.host,
        base64_creds()
    );
    let from_secret = credentials_from_dockerconfigjson(secret.as_bytes(), &registry.host);
    let sink = MemorySink::default();
    let (pulled, _) = pull_into(
        &registry,
        "team/app",
        "v1",
        &arm64(),
        from_secret.as_ref(),
        &cfg,
        &sink,
    );
    assert_eq!(pulled.unwrap().manifest_digest, image.manifest_digest);
    let identity = Credentials {
        username: String::new(),
        password: String::new(),
        identity_token: Some(REFRESH_TOKEN.into()),
    };
    let sink = MemorySink::default();
    let (pulled, _) = pull_into(
        &registry,
        "team/app",
        "v1",
        &arm64(),
        Some(&identity),
        &cfg,
        &sink,
    );
    assert_eq!(pulled.unwrap().manifest_digest, image.manifest_digest);
    let stale = Credentials {
        identity_token: Some("stale".into()),
        ..identity
    };
    let (err, _) = pull_into(
        &registry,
        "team/app",
        "v1",
        &arm64(),
        Some(&stale),
        &cfg,
        &MemorySink::default(),
    );
    assert!(matches!(err.unwrap_err(), PullError::Unauthorized { .. }));

    let (err, _) = pull_into(
        &registry,
        "team/app",
        "v1",
        &arm64(),
        Some(&creds("bad")),
        &cfg,
        &MemorySink::default(),
    );
    let err = err.unwrap_err();
    assert!(matches!(err, PullError::Unauthorized { .. }), "{err}");
}

/// Stand-in for what `docker-registry` with the filesystem driver cannot do: a registry that
/// answers blob requests with a redirect to separate storage (as S3-backed ones do). Both
/// are scripted servers; the storage answers chunked.
#[test]
fn blob_redirects_reach_storage_without_registry_credentials() {
    let layer = vec![42u8; 300_000];
    let config = br#"{"architecture":"arm64","os":"linux"}"#.to_vec();
    let (layer_digest, config_digest) = (sha256(&layer), sha256(&config));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let blobs = [
        (layer_digest.clone(), layer.clone()),
        (config_digest.clone(), config),
    ];
    let storage = ScriptedServer::start(move |req| {
        let digest = req
            .target
            .trim_start_matches("/bucket/")
            .split('?')
            .next()
            .unwrap();
        match blobs.iter().find(|(d, _)| d == digest) {
            Some((_, data)) => chunked_response("200 OK", &[], data, 65_536),
            None => response("404 Not Found", &[], b""),
        }
    });
    let storage_host = storage.host.clone();
    let good = format!("Basic {}", base64_creds());
    let registry = ScriptedServer::start(move |req| {
        if req.header("authorization") != Some(good.as_str()) {
            return response(
                "401 Unauthorized",
                &[("WWW-Authenticate", r#"Basic realm="scripted""#)],
                b"",
            );
        }
        if req.target == "/v2/app/manifests/v1" {
            let content_type = (
                "Content-Type",
                "application/vnd.docker.distribution.manifest.v2+json",
            );
            return response("200 OK", &[content_type], manifest.as_bytes());
        }
        let digest = req
            .target
            .strip_prefix("/v2/app/blobs/")
            .unwrap_or_default();
        let location = format!("http://{storage_host}/bucket/{digest}?signature=abc");
        response("307 Temporary Redirect", &[("Location", &location)], b"")
    });
    let cfg = PullConfig {
        insecure_registries: vec![registry.host.clone()],
        ..PullConfig::default()
    };
    let sink = MemorySink::default();
    let result = pull(
        &registry.host,
        "app",
        "v1",
        &arm64(),
        Some(&creds(PASSWORD)),
        &cfg,
        &sink,
        &mut |_| {},
    );
    let pulled = result.expect("pull through redirects");
    assert_eq!(pulled.layers, vec![layer_digest.clone()]);
    assert_eq!(sink.get(&layer_digest), Some(layer));
    let storage_requests = storage.requests();
    assert_eq!(storage_requests.len(), 2);
    for req in &storage_requests {
        assert_eq!(
            req.header("authorization"),
            None,
            "credentials leaked to storage"
        );
        assert!(req.target.ends_with("?signature=abc"), "{}", req.target);
    }
}

fn base64_creds() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
}

#[test]
fn mirrors_are_tried_first_and_passed_over_when_they_fail() {
    if !tools_present() {
        return;
    }
    let pki = TestPki::new();
    let (upstream, image) = registry_with_single_image(&pki, "hello");
    let mirror = Registry::start(None, Auth::None);
    let mut layout = Layout::new();
    let copy = layout.tag_image("single", "arm64", None);
    assert_eq!(
        copy.manifest_digest, image.manifest_digest,
        "layouts are deterministic"
    );
    mirror.push(&layout.dir.0, "single", "hello", None);
    let empty_mirror = Registry::start(None, Auth::None);
    let dead = format!("127.0.0.1:{}", free_port());
    let good = creds(PASSWORD);

    // The registry itself is down; its mirror serves the image.
    let cfg = PullConfig {
        insecure_registries: vec![mirror.host.clone()],
        mirrors: vec![Mirror {
            registry: dead.clone(),
            endpoints: vec![mirror.host.clone()],
        }],
        ..PullConfig::default()
    };
    let sink = MemorySink::default();
    let result = pull(
        &dead,
        "hello",
        "single",
        &arm64(),
        Some(&good),
        &cfg,
        &sink,
        &mut |_| {},
    );
    assert_eq!(result.unwrap().manifest_digest, image.manifest_digest);
    let resolved = resolve_digest(&dead, "hello", "single", Some(&good), &cfg);
    assert_eq!(resolved.unwrap(), image.manifest_digest);

    // Mirrors that are down or lack the image are passed over for the registry.
    let cfg = PullConfig {
        insecure_registries: vec![empty_mirror.host.clone()],
        mirrors: vec![Mirror {
            registry: upstream.host.clone(),
            endpoints: vec![dead.clone(), empty_mirror.host.clone()],
        }],
        ..trusting(&pki)
    };
    let sink = MemorySink::default();
    let result = pull(
        &upstream.host,
        "hello",
        "single",
        &arm64(),
        Some(&good),
        &cfg,
        &sink,
        &mut |_| {},
    );
    assert_eq!(result.unwrap().manifest_digest, image.manifest_digest);

    // With every endpoint failing, the registry's own error is reported.
    let cfg = PullConfig {
        mirrors: vec![Mirror {
            registry: dead.clone(),
            endpoints: vec![empty_mirror.host.clone()],
        }],
        insecure_registries: vec![empty_mirror.host.clone()],
        ..PullConfig::default()
    };
    let err = pull(
        &dead,
        "hello",
        "single",
        &arm64(),
        None,
        &cfg,
        &MemorySink::default(),
        &mut |_| {},
    );
    let err = err.unwrap_err();
    assert!(
        matches!(err, PullError::Transport(TransportError::Connect { .. })),
        "{err}"
    );
}

#[test]
fn a_silent_registry_times_out() {
    // Accepted by the kernel's backlog, never answered.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let cfg = PullConfig {
        timeout: std::time::Duration::from_millis(300),
        ..PullConfig::default()
    };
    let started = std::time::Instant::now();
    let err = pull(
        &host,
        "app",
        "v1",
        &arm64(),
        None,
        &cfg,
        &MemorySink::default(),
        &mut |_| {},
    );
    let err = err.unwrap_err();
    assert!(
        matches!(err, PullError::Transport(TransportError::Io { .. })),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}
