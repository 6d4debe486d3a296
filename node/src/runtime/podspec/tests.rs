use super::*;

const FULL_POD: &str = r#"{
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web", "namespace": "prod", "uid": "1234-abcd",
    "labels": {"app": "web"}, "annotations": {"note": "x"},
    "deletionTimestamp": "2026-11-21T09:00:00Z", "deletionGracePeriodSeconds": 5,
    "resourceVersion": "42", "creationTimestamp": "2026-11-21T08:00:00Z"},
  "spec": {
    "nodeName": "board", "restartPolicy": "OnFailure", "hostNetwork": true,
    "shareProcessNamespace": true, "hostname": "h", "subdomain": "s",
    "dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"]},
    "serviceAccountName": "sa", "automountServiceAccountToken": false,
    "imagePullSecrets": [{"name": "regcred"}], "enableServiceLinks": false,
    "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "runAsNonRoot": true,
      "fsGroup": 2000, "supplementalGroups": [4000, 5000],
      "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
      "seccompProfile": {"type": "RuntimeDefault"}},
    "initContainers": [{"name": "init", "image": "busybox:1.36", "restartPolicy": "Always"}],
    "containers": [{
      "name": "app", "image": "registry.local:5000/app", "command": ["/bin/app"], "args": ["-v"],
      "workingDir": "/srv",
      "env": [{"name": "A", "value": "1"},
              {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
      "envFrom": [{"configMapRef": {"name": "cm"}}],
      "ports": [{"name": "http", "containerPort": 8080, "hostPort": 80, "protocol": "UDP"}],
      "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "0.1"}},
      "volumeMounts": [{"name": "data", "mountPath": "/data", "subPath": "x", "readOnly": true}],
      "securityContext": {"privileged": false, "readOnlyRootFilesystem": true,
        "allowPrivilegeEscalation": false,
        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}},
      "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http",
        "httpHeaders": [{"name": "X", "value": "y"}]}, "periodSeconds": 5},
      "readinessProbe": {"tcpSocket": {"port": 8080}, "failureThreshold": 1},
      "startupProbe": {"grpc": {"port": 9000, "service": "svc"}},
      "lifecycle": {"preStop": {"sleep": {"seconds": 3}},
                    "postStart": {"exec": {"command": ["touch", "/x"]}}},
      "stdin": true, "tty": true, "terminationMessagePolicy": "FallbackToLogsOnError"
    }],
    "volumes": [{"name": "data", "emptyDir": {"medium": "Memory"}},
                {"name": "cfg", "configMap": {"name": "cm"}}]
  }
}"#;

fn full() -> Pod {
    PodSpec::from_pod_json(FULL_POD.as_bytes()).unwrap()
}

#[test]
fn metadata_is_read() {
    let pod = full();
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str(), pod.uid.as_str()),
        ("prod", "web", "1234-abcd")
    );
    assert_eq!(pod.labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(pod.annotations.len(), 1);
    assert_eq!(
        pod.deletion_timestamp.as_deref(),
        Some("2026-11-21T09:00:00Z")
    );
    assert_eq!(pod.grace, Some(5));
    assert_eq!(pod.resource_version, "42");
    assert_eq!(
        pod.creation_timestamp.as_deref(),
        Some("2026-11-21T08:00:00Z")
    );
}

#[test]
fn pod_level_fields_are_read() {
    let spec = full().spec;
    assert_eq!(spec.node_name.as_deref(), Some("board"));
    assert_eq!(spec.restart_policy, RestartPolicy::OnFailure);
    assert_eq!(spec.termination_grace_period_seconds, 30);
    assert!(spec.host_network && spec.share_process_namespace && !spec.host_pid);
    assert_eq!(spec.dns_policy, DnsPolicy::None);
    assert_eq!(
        spec.dns_config.as_deref(),
        Some(r#"{"nameservers":["1.1.1.1"]}"#)
    );
    assert_eq!(spec.service_account_name, "sa");
    assert_eq!(spec.automount_service_account_token, Some(false));
    assert_eq!(spec.image_pull_secrets, vec!["regcred".to_string()]);
    assert!(!spec.enable_service_links && !spec.set_hostname_as_fqdn);
    let sc = &spec.security_context;
    assert_eq!(
        (sc.run_as_user, sc.run_as_group, sc.fs_group),
        (Some(1000), Some(3000), Some(2000))
    );
    assert_eq!(sc.supplemental_groups, vec![4000, 5000]);
    assert_eq!(
        sc.sysctls,
        vec![(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "0".to_string()
        )]
    );
    assert_eq!(sc.seccomp_profile, Some(SeccompProfile::RuntimeDefault));
    assert_eq!(
        spec.init_containers[0].restart_policy,
        Some(ContainerRestartPolicy::Always)
    );
    assert_eq!(
        spec.init_containers[0].image_pull_policy,
        PullPolicy::IfNotPresent
    );
}

#[test]
fn volumes_keep_their_source_as_json() {
    let volumes = full().spec.volumes;
    assert_eq!(
        volumes[0],
        Volume {
            name: "data".into(),
            kind: "emptyDir".into(),
            source: r#"{"medium":"Memory"}"#.into()
        }
    );
    assert_eq!(volumes[1].kind, "configMap");
}

#[test]
fn container_fields_are_read() {
    let spec = full().spec;
    let c = &spec.containers[0];
    assert_eq!(
        c.image_pull_policy,
        PullPolicy::Always,
        "untagged image defaults to Always"
    );
    assert_eq!(
        (c.command.clone(), c.args.clone()),
        (vec!["/bin/app".to_string()], vec!["-v".to_string()])
    );
    assert_eq!(c.working_dir.as_deref(), Some("/srv"));
    assert_eq!(
        c.env[0],
        EnvVar {
            name: "A".into(),
            value: Some("1".into()),
            value_from: None
        }
    );
    assert_eq!(
        c.env[1].value_from.as_deref(),
        Some(r#"{"fieldRef":{"fieldPath":"status.podIP"}}"#)
    );
    assert!(c.env_from.is_some());
    assert_eq!(c.ports[0].container_port, 8080);
    assert_eq!(c.ports[0].host_port, Some(80));
    assert_eq!(c.ports[0].protocol, "UDP");
    assert_eq!(
        c.resources.limits,
        ResourceList {
            cpu_millis: Some(500),
            memory_bytes: Some(128 << 20),
            ephemeral_storage_bytes: None
        }
    );
    assert_eq!(c.resources.requests.cpu_millis, Some(100));
    assert_eq!(
        c.resources.requests.memory_bytes,
        Some(128 << 20),
        "requests default to limits"
    );
    assert_eq!(
        c.volume_mounts[0],
        VolumeMount {
            name: "data".into(),
            mount_path: "/data".into(),
            sub_path: Some("x".into()),
            read_only: true
        }
    );
    let sc = &c.security_context;
    assert!(sc.read_only_root_filesystem && !sc.privileged);
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.capabilities.drop, vec!["ALL".to_string()]);
    assert!(c.stdin && c.tty && !c.stdin_once);
    assert_eq!(c.termination_message_path, "/dev/termination-log");
    assert_eq!(
        c.termination_message_policy,
        TerminationMessagePolicy::FallbackToLogsOnError
    );
}

#[test]
fn probes_and_hooks_are_typed_with_defaults() {
    let spec = full().spec;
    let c = &spec.containers[0];
    let live = c.liveness_probe.as_ref().unwrap();
    let Handler::HttpGet(get) = &live.handler else {
        panic!("liveness is not httpGet")
    };
    assert_eq!(get.path, "/healthz");
    assert_eq!(get.port, IntOrString::String("http".into()));
    assert_eq!(get.scheme, "HTTP");
    assert_eq!(get.headers, vec![("X".to_string(), "y".to_string())]);
    assert_eq!(
        (
            live.period_seconds,
            live.timeout_seconds,
            live.success_threshold,
            live.failure_threshold
        ),
        (5, 1, 1, 3)
    );
    let ready = c.readiness_probe.as_ref().unwrap();
    assert_eq!(
        ready.handler,
        Handler::TcpSocket {
            host: None,
            port: IntOrString::Int(8080)
        }
    );
    assert_eq!((ready.period_seconds, ready.failure_threshold), (10, 1));
    assert_eq!(
        c.startup_probe.as_ref().unwrap().handler,
        Handler::Grpc {
            port: 9000,
            service: Some("svc".into())
        }
    );
    assert_eq!(c.lifecycle.pre_stop, Some(Handler::Sleep { seconds: 3 }));
    assert_eq!(
        c.lifecycle.post_start,
        Some(Handler::Exec {
            command: vec!["touch".into(), "/x".into()]
        })
    );
}

#[test]
fn a_minimal_pod_gets_upstream_defaults() {
    let json = br#"{"metadata":{"name":"p","uid":"u"},"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}"#;
    let pod = PodSpec::from_pod_json(json).unwrap();
    assert_eq!(pod.namespace, "default");
    assert_eq!(pod.spec.restart_policy, RestartPolicy::Always);
    assert_eq!(pod.spec.dns_policy, DnsPolicy::ClusterFirst);
    assert_eq!(pod.spec.service_account_name, "default");
    assert!(pod.spec.enable_service_links && pod.spec.image_pull_secrets.is_empty());
    assert_eq!(pod.spec.security_context, PodSecurityContext::default());
    assert!(pod.spec.volumes.is_empty() && pod.spec.init_containers.is_empty());
    let c = &pod.spec.containers[0];
    assert_eq!(c.image_pull_policy, PullPolicy::IfNotPresent);
    assert_eq!(c.resources, Resources::default());
    assert!(c.liveness_probe.is_none());
}

#[test]
fn bad_documents_name_the_offending_field() {
    let cases: [(&str, &str); 6] = [
        (
            r#"{"metadata":{},"spec":{"containers":[{"name":"c","image":"i","resources":{"limits":{"memory":"12q"}}}]}}"#,
            "spec.containers[0].resources.limits.memory",
        ),
        (
            r#"{"metadata":{},"spec":{"containers":[{"name":"c","ports":[{"containerPort":"80"}]}]}}"#,
            "spec.containers[0].ports[0].containerPort",
        ),
        (
            r#"{"metadata":{},"spec":{"containers":[]}}"#,
            "spec.containers",
        ),
        (
            r#"{"metadata":{},"spec":{"restartPolicy":"Sometimes","containers":[{"name":"c"}]}}"#,
            "spec.restartPolicy",
        ),
        (
            r#"{"metadata":{"labels":{"a":1}},"spec":{"containers":[{"name":"c"}]}}"#,
            "metadata.labels.a",
        ),
        (r#"{"spec":{"containers":[{"name":"c"}]}}"#, "metadata"),
    ];
    for (json, path) in cases {
        let err = PodSpec::from_pod_json(json.as_bytes()).unwrap_err();
        assert_eq!(err.path, path, "{json}: {err}");
    }
    assert_eq!(
        PodSpec::from_pod_json(b"[1]").unwrap_err().to_string(),
        "pod: not a JSON object"
    );
}

#[test]
fn pull_policy_default_follows_the_tag() {
    for (image, policy) in [
        ("busybox", PullPolicy::Always),
        ("busybox:latest", PullPolicy::Always),
        ("localhost:5000/busybox", PullPolicy::Always),
        ("localhost:5000/busybox:1.0", PullPolicy::IfNotPresent),
        ("busybox@sha256:abcd", PullPolicy::IfNotPresent),
    ] {
        let json = format!(
            r#"{{"metadata":{{}},"spec":{{"containers":[{{"name":"c","image":"{image}"}}]}}}}"#
        );
        assert_eq!(
            PodSpec::from_pod_json(json.as_bytes())
                .unwrap()
                .spec
                .containers[0]
                .image_pull_policy,
            policy,
            "{image}"
        );
    }
}
