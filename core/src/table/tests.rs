use miniserde::json::{self, Value};

use super::*;
use crate::registry::json::{arr_at, path, str_at, to_string};
use crate::registry::{PrinterColumn, Registry, Scope};

/// 2025-01-01T00:00:00Z
const T0: i64 = 1_735_689_600;

fn parse(text: &str) -> Value {
    json::from_str(text).expect("valid json")
}

fn row(group: &str, plural: &str, object: &str, now: i64) -> Vec<String> {
    let reg = Registry::new();
    let resource = reg.by_plural(group, plural).unwrap();
    let object = parse(object);
    let cells = cells(resource, &object, now);
    assert_eq!(cells.len(), columns(resource).len(), "one cell per column");
    cells
        .iter()
        .map(|c| match c {
            Value::String(text) => text.clone(),
            other => to_string(other),
        })
        .collect()
}

const META: &str =
    r#""metadata":{"name":"web","namespace":"default","creationTimestamp":"2025-01-01T00:00:00Z"}"#;

fn pod(spec: &str, status: &str) -> String {
    format!(r#"{{"kind":"Pod","apiVersion":"v1",{META},"spec":{spec},"status":{status}}}"#)
}

const ONE: &str = r#"{"containers":[{"name":"app","image":"nginx"}],"nodeName":"board"}"#;

#[test]
fn running_pod() {
    let p = pod(
        ONE,
        r#"{"phase":"Running","podIPs":[{"ip":"10.42.0.4"}],"containerStatuses":[{"name":"app","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2025-01-01T00:00:01Z"}}}]}"#,
    );
    assert_eq!(
        row("", "pods", &p, T0 + 300),
        [
            "web",
            "1/1",
            "Running",
            "0",
            "5m",
            "10.42.0.4",
            "board",
            "<none>",
            "<none>"
        ]
    );
}

#[test]
fn crash_looping_pod_shows_restarts_with_age() {
    let p = pod(
        ONE,
        r#"{"phase":"Running","containerStatuses":[{"name":"app","ready":false,"restartCount":5,
            "state":{"waiting":{"reason":"CrashLoopBackOff"}},
            "lastState":{"terminated":{"exitCode":1,"finishedAt":"2025-01-01T00:08:00Z"}}}]}"#,
    );
    let cells = row("", "pods", &p, T0 + 600);
    assert_eq!(cells[1..4], ["0/1", "CrashLoopBackOff", "5 (2m ago)"]);
    assert_eq!(cells[5], "<none>");
}

#[test]
fn completed_pod() {
    let p = pod(
        ONE,
        r#"{"phase":"Succeeded","containerStatuses":[{"name":"app","ready":false,"restartCount":0,
            "state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}"#,
    );
    assert_eq!(row("", "pods", &p, T0)[1..3], ["0/1", "Completed"]);
    let reg = Registry::new();
    let table = table_json(
        reg.by_plural("", "pods").unwrap(),
        &[&parse(&p)],
        T0,
        IncludeObject::None,
        obj([]),
    );
    let first = &arr_at(&table, &["rows"])[0];
    assert_eq!(
        str_at(&arr_at(first, &["conditions"])[0], &["type"]),
        Some("Completed")
    );
    assert!(path(first, &["object"]).is_none());
}

#[test]
fn failed_container_without_reason_shows_exit_code() {
    let p = pod(
        ONE,
        r#"{"phase":"Failed","containerStatuses":[{"name":"app","restartCount":0,"state":{"terminated":{"exitCode":137}}}]}"#,
    );
    assert_eq!(row("", "pods", &p, T0)[2], "ExitCode:137");
}

#[test]
fn initializing_pods() {
    let spec = r#"{"initContainers":[{"name":"init","image":"busybox"}],"containers":[{"name":"app","image":"nginx"}]}"#;
    let waiting = pod(
        spec,
        r#"{"phase":"Pending","initContainerStatuses":[{"name":"init","restartCount":0,"state":{"running":{}}}],
            "containerStatuses":[{"name":"app","restartCount":0,"state":{"waiting":{"reason":"PodInitializing"}}}]}"#,
    );
    assert_eq!(row("", "pods", &waiting, T0)[1..3], ["0/1", "Init:0/1"]);
    let crashing = pod(
        spec,
        r#"{"phase":"Pending","initContainerStatuses":[{"name":"init","restartCount":2,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}"#,
    );
    assert_eq!(
        row("", "pods", &crashing, T0)[2..4],
        ["Init:CrashLoopBackOff", "2"]
    );
    let failed = pod(
        spec,
        r#"{"phase":"Failed","initContainerStatuses":[{"name":"init","restartCount":0,"state":{"terminated":{"exitCode":3}}}]}"#,
    );
    assert_eq!(row("", "pods", &failed, T0)[2], "Init:ExitCode:3");
}

#[test]
fn sidecar_counts_toward_ready_and_total() {
    let spec = r#"{"initContainers":[{"name":"proxy","image":"envoy","restartPolicy":"Always"}],"containers":[{"name":"app","image":"nginx"}]}"#;
    let p = pod(
        spec,
        r#"{"phase":"Running","conditions":[{"type":"Initialized","status":"True"}],
            "initContainerStatuses":[{"name":"proxy","ready":true,"started":true,"restartCount":0,"state":{"running":{}}}],
            "containerStatuses":[{"name":"app","ready":true,"restartCount":0,"state":{"running":{}}}]}"#,
    );
    assert_eq!(row("", "pods", &p, T0)[1..3], ["2/2", "Running"]);
}

#[test]
fn terminating_and_gated_pods() {
    let p = format!(
        r#"{{"metadata":{{"name":"web","creationTimestamp":"2025-01-01T00:00:00Z","deletionTimestamp":"2025-01-01T00:01:00Z"}},"spec":{ONE},
            "status":{{"phase":"Running","containerStatuses":[{{"name":"app","ready":true,"restartCount":0,"state":{{"running":{{}}}}}}]}}}}"#
    );
    assert_eq!(row("", "pods", &p, T0)[2], "Terminating");
    let gated = pod(
        ONE,
        r#"{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"SchedulingGated"}]}"#,
    );
    assert_eq!(row("", "pods", &gated, T0)[2], "SchedulingGated");
    let fresh = pod(ONE, r#"{"phase":"Pending"}"#);
    assert_eq!(row("", "pods", &fresh, T0)[1..4], ["0/1", "Pending", "0"]);
}

#[test]
fn deployment_ready_and_wide_columns() {
    let d = format!(
        r#"{{{META},"spec":{{"replicas":3,"selector":{{"matchLabels":{{"app":"web"}},"matchExpressions":[{{"key":"tier","operator":"In","values":["b","a"]}}]}},
            "template":{{"spec":{{"containers":[{{"name":"app","image":"nginx:1.27"}},{{"name":"log","image":"busybox"}}]}}}}}},
            "status":{{"readyReplicas":2,"updatedReplicas":3,"availableReplicas":2}}}}"#
    );
    assert_eq!(
        row("apps", "deployments", &d, T0 + 3 * 86_400 + 7200),
        [
            "web",
            "2/3",
            "3",
            "2",
            "3d2h",
            "app,log",
            "nginx:1.27,busybox",
            "app=web,tier in (a,b)"
        ]
    );
}

#[test]
fn statefulset_daemonset_replicaset_cells() {
    let sts = format!(r#"{{{META},"spec":{{"replicas":2}},"status":{{"readyReplicas":1}}}}"#);
    assert_eq!(row("apps", "statefulsets", &sts, T0)[1], "1/2");
    let ds = format!(
        r#"{{{META},"spec":{{"template":{{"spec":{{"nodeSelector":{{"kubernetes.io/os":"linux"}}}}}}}},
            "status":{{"desiredNumberScheduled":1,"currentNumberScheduled":1,"numberReady":1,"updatedNumberScheduled":1,"numberAvailable":1}}}}"#
    );
    assert_eq!(
        row("apps", "daemonsets", &ds, T0)[1..7],
        ["1", "1", "1", "1", "1", "kubernetes.io/os=linux"]
    );
    let rs = format!(
        r#"{{{META},"spec":{{"replicas":4}},"status":{{"replicas":4,"readyReplicas":3}}}}"#
    );
    assert_eq!(row("apps", "replicasets", &rs, T0)[1..4], ["4", "4", "3"]);
}

#[test]
fn service_ports_and_types() {
    let node_port = format!(
        r#"{{{META},"spec":{{"type":"NodePort","clusterIP":"10.43.0.20","selector":{{"app":"web"}},
            "ports":[{{"port":80,"nodePort":30080,"protocol":"TCP"}}]}}}}"#
    );
    assert_eq!(
        row("", "services", &node_port, T0 + 59),
        [
            "web",
            "NodePort",
            "10.43.0.20",
            "<none>",
            "80:30080/TCP",
            "59s",
            "app=web"
        ]
    );
    let dns = format!(
        r#"{{{META},"spec":{{"clusterIP":"10.43.0.10","ports":[{{"port":53,"protocol":"UDP"}},{{"port":53,"protocol":"TCP"}}]}}}}"#
    );
    let cells = row("", "services", &dns, T0);
    assert_eq!(
        cells[1..5],
        ["ClusterIP", "10.43.0.10", "<none>", "53/UDP,53/TCP"]
    );
    assert_eq!(cells[6], "<none>");
    let lb = format!(
        r#"{{{META},"spec":{{"type":"LoadBalancer","clusterIP":"10.43.1.1","ports":[{{"port":443}}]}}}}"#
    );
    assert_eq!(row("", "services", &lb, T0)[3..5], ["<pending>", "443/TCP"]);
    let headless = format!(r#"{{{META},"spec":{{"clusterIP":"None"}}}}"#);
    assert_eq!(
        row("", "services", &headless, T0)[2..5],
        ["None", "<none>", "<none>"]
    );
}

#[test]
fn endpoints_list_three_then_more() {
    let ep = format!(
        r#"{{{META},"subsets":[{{"addresses":[{{"ip":"10.42.0.1"}},{{"ip":"10.42.0.2"}},{{"ip":"10.42.0.3"}},{{"ip":"10.42.0.4"}}],"ports":[{{"port":8080}}]}}]}}"#
    );
    assert_eq!(
        row("", "endpoints", &ep, T0)[1],
        "10.42.0.1:8080,10.42.0.2:8080,10.42.0.3:8080 + 1 more..."
    );
    let empty = format!(r#"{{{META}}}"#);
    assert_eq!(row("", "endpoints", &empty, T0)[1], "<none>");
    let not_ready = format!(
        r#"{{{META},"subsets":[{{"notReadyAddresses":[{{"ip":"10.42.0.9"}}],"ports":[{{"port":80}}]}}]}}"#
    );
    assert_eq!(row("", "endpoints", &not_ready, T0)[1], "");
    let slice = format!(
        r#"{{{META},"addressType":"IPv4","ports":[{{"port":80}},{{"name":"dns"}},{{}},{{"port":9}}],
            "endpoints":[{{"addresses":["10.42.0.1"]}},{{"addresses":["10.42.0.2"]}}]}}"#
    );
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", &slice, T0)[1..4],
        ["IPv4", "80,dns,* + 1 more...", "10.42.0.1,10.42.0.2"]
    );
    let bare = format!(r#"{{{META},"addressType":"IPv4"}}"#);
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", &bare, T0)[2..4],
        ["<unset>", "<unset>"]
    );
}

#[test]
fn ingress_hosts_and_ports() {
    let ing = |rules: &str, tls: &str| {
        format!(
            r#"{{{META},"spec":{{"ingressClassName":"traefik","rules":{rules}{tls}}},"status":{{"loadBalancer":{{"ingress":[{{"ip":"192.168.1.5"}}]}}}}}}"#
        )
    };
    let one = ing(r#"[{"host":"a.example"},{}]"#, "");
    assert_eq!(
        row("networking.k8s.io", "ingresses", &one, T0)[1..5],
        ["traefik", "a.example", "192.168.1.5", "80"]
    );
    let many = ing(
        r#"[{"host":"a"},{"host":"b"},{"host":"c"},{"host":"d"},{}]"#,
        r#","tls":[{"hosts":["a"]}]"#,
    );
    assert_eq!(
        row("networking.k8s.io", "ingresses", &many, T0)[2..5],
        ["a,b,c + 2 more...", "192.168.1.5", "80, 443"]
    );
    let hostless = ing(r#"[{}]"#, "");
    assert_eq!(row("networking.k8s.io", "ingresses", &hostless, T0)[2], "*");
}

#[test]
fn config_cells() {
    let cm = format!(r#"{{{META},"data":{{"a":"1","b":"2"}},"binaryData":{{"c":"AA=="}}}}"#);
    assert_eq!(row("", "configmaps", &cm, T0), ["web", "3", "0s"]);
    let secret =
        format!(r#"{{{META},"type":"kubernetes.io/tls","data":{{"tls.crt":"","tls.key":""}}}}"#);
    assert_eq!(
        row("", "secrets", &secret, T0)[1..3],
        ["kubernetes.io/tls", "2"]
    );
    let ns = r#"{"metadata":{"name":"default","creationTimestamp":"2025-01-01T00:00:00Z"},"status":{"phase":"Active"}}"#;
    assert_eq!(
        row("", "namespaces", ns, T0 + 45 * 86_400),
        ["default", "Active", "45d"]
    );
}

#[test]
fn node_status_roles_and_info() {
    let node = r#"{"metadata":{"name":"board","creationTimestamp":"2025-01-01T00:00:00Z",
        "labels":{"node-role.kubernetes.io/control-plane":"","node-role.kubernetes.io/master":"","kubernetes.io/hostname":"board"}},
        "spec":{"unschedulable":true},
        "status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"192.168.1.5"},{"type":"Hostname","address":"board"}],
        "nodeInfo":{"kubeletVersion":"v1.32.0+wisp.0.1.0","osImage":"Debian GNU/Linux 12","kernelVersion":"6.6.0","containerRuntimeVersion":"runc://1.2.0"}}}"#;
    assert_eq!(
        row("", "nodes", node, T0 + 60),
        [
            "board",
            "Ready,SchedulingDisabled",
            "control-plane,master",
            "60s",
            "v1.32.0+wisp.0.1.0",
            "192.168.1.5",
            "<none>",
            "Debian GNU/Linux 12",
            "6.6.0",
            "runc://1.2.0"
        ]
    );
}

#[test]
fn job_and_cronjob_cells() {
    let done = format!(
        r#"{{{META},"spec":{{"completions":1}},"status":{{"succeeded":1,"startTime":"2025-01-01T00:00:00Z","completionTime":"2025-01-01T00:00:07Z",
            "conditions":[{{"type":"Complete","status":"True"}}]}}}}"#
    );
    assert_eq!(
        row("batch", "jobs", &done, T0 + 600)[1..5],
        ["Complete", "1/1", "7s", "10m"]
    );
    let running = format!(
        r#"{{{META},"spec":{{"parallelism":2}},"status":{{"startTime":"2025-01-01T00:00:00Z"}}}}"#
    );
    assert_eq!(
        row("batch", "jobs", &running, T0 + 30)[1..4],
        ["Running", "0/1 of 2", "30s"]
    );
    let cj = format!(
        r#"{{{META},"spec":{{"schedule":"*/5 * * * *","suspend":false}},"status":{{"active":[{{"name":"j"}}],"lastScheduleTime":"2025-01-01T00:05:00Z"}}}}"#
    );
    assert_eq!(
        row("batch", "cronjobs", &cj, T0 + 400)[1..7],
        ["*/5 * * * *", "<none>", "False", "1", "100s", "6m40s"]
    );
}

#[test]
fn event_rbac_and_misc_cells() {
    let ev = r#"{"metadata":{"name":"web.1","namespace":"default"},"involvedObject":{"kind":"Pod","name":"web"},
        "reason":"Pulled","message":"ok ","type":"Normal","source":{"component":"kubelet","host":"board"},
        "firstTimestamp":"2025-01-01T00:00:00Z","lastTimestamp":"2025-01-01T00:01:00Z","count":2}"#;
    assert_eq!(
        row("", "events", ev, T0 + 120),
        [
            "60s",
            "Normal",
            "Pulled",
            "pod/web",
            "",
            "kubelet, board",
            "ok",
            "2m",
            "2",
            "web.1"
        ]
    );
    let rb = format!(
        r#"{{{META},"roleRef":{{"kind":"ClusterRole","name":"view"}},"subjects":[{{"kind":"User","name":"alice"}},{{"kind":"ServiceAccount","name":"sa","namespace":"ns"}}]}}"#
    );
    assert_eq!(
        row("rbac.authorization.k8s.io", "rolebindings", &rb, T0),
        ["web", "ClusterRole/view", "0s", "alice", "", "ns/sa"]
    );
    let role = format!(r#"{{{META}}}"#);
    assert_eq!(
        row("rbac.authorization.k8s.io", "roles", &role, T0),
        ["web", "2025-01-01T00:00:00Z"]
    );
    let sc = r#"{"metadata":{"name":"local","annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},"provisioner":"wisp.io/local"}"#;
    assert_eq!(
        row("storage.k8s.io", "storageclasses", sc, T0)[..5],
        [
            "local (default)",
            "wisp.io/local",
            "Delete",
            "Immediate",
            "false"
        ]
    );
    let lease = format!(r#"{{{META},"spec":{{"holderIdentity":"board"}}}}"#);
    assert_eq!(row("coordination.k8s.io", "leases", &lease, T0)[1], "board");
    let pvc = format!(
        r#"{{{META},"spec":{{"volumeName":"pv1","storageClassName":"local"}},"status":{{"phase":"Bound","capacity":{{"storage":"1Gi"}},"accessModes":["ReadWriteOnce"]}}}}"#
    );
    assert_eq!(
        row("", "persistentvolumeclaims", &pvc, T0)[1..7],
        ["Bound", "pv1", "1Gi", "RWO", "local", "<unset>"]
    );
    let crd =
        r#"{"metadata":{"name":"widgets.example.com","creationTimestamp":"2025-01-01T00:00:00Z"}}"#;
    assert_eq!(
        row("apiextensions.k8s.io", "customresourcedefinitions", crd, T0),
        ["widgets.example.com", "2025-01-01T00:00:00Z"]
    );
}

#[test]
fn types_without_printer_get_name_and_created_at() {
    let reg = Registry::new();
    let slice_free = reg.by_plural("storage.k8s.io", "csidrivers").unwrap();
    let names: Vec<_> = columns(slice_free)
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    assert_eq!(names, ["Name", "Created At"]);
}

#[test]
fn custom_resources_use_printer_columns_or_age() {
    let mut reg = Registry::new();
    let mut widget = crate::registry::Resource::custom(
        "example.com".into(),
        "v1".into(),
        "Widget".into(),
        "widgets".into(),
        "widget".into(),
        Scope::Namespaced,
        vec![],
        vec![],
    );
    reg.add_custom(widget.clone()).unwrap();
    let w = parse(
        r#"{"metadata":{"name":"w1","creationTimestamp":"2025-01-01T00:00:00Z"},"spec":{"size":3},
            "status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
    );
    let plain = reg.get("example.com", "v1", "widgets").unwrap();
    let names: Vec<_> = columns(plain).iter().map(|c| c.name.to_string()).collect();
    assert_eq!(names, ["Name", "Age"]);
    assert_eq!(to_string(&arr(cells(plain, &w, T0 + 5))), r#"["w1","5s"]"#);

    let column = |name: &'static str, type_: &'static str, json_path: &'static str, priority| {
        PrinterColumn {
            name: name.into(),
            type_: type_.into(),
            format: "".into(),
            description: "".into(),
            priority,
            json_path: json_path.into(),
        }
    };
    widget.printer_columns = vec![
        column("Size", "integer", ".spec.size", 0),
        column(
            "Ready",
            "string",
            r#".status.conditions[?(@.type=="Ready")].status"#,
            0,
        ),
        column("Color", "string", ".spec.color", 1),
        column("Age", "date", ".metadata.creationTimestamp", 0),
    ];
    reg.add_custom(widget).unwrap();
    let custom = reg.get("example.com", "v1", "widgets").unwrap();
    let table = table_json(custom, &[&w], T0 + 5, IncludeObject::Metadata, obj([]));
    let defs = arr_at(&table, &["columnDefinitions"]);
    assert_eq!(str_at(&defs[0], &["format"]), Some("name"));
    assert_eq!(
        crate::registry::json::int_at(&defs[3], &["priority"]),
        Some(1)
    );
    let first = &arr_at(&table, &["rows"])[0];
    assert_eq!(
        to_string(path(first, &["cells"]).unwrap()),
        r#"["w1",3,"True",null,"5s"]"#
    );
}

#[test]
fn table_shape_matches_the_wire_example() {
    let reg = Registry::new();
    let pods = reg.by_plural("", "pods").unwrap();
    let p = parse(&pod(ONE, r#"{"phase":"Running"}"#));
    let meta = obj([("resourceVersion", s("812")), ("continue", s(""))]);
    let table = table_json(pods, &[&p], T0, IncludeObject::Metadata, meta);
    assert_eq!(str_at(&table, &["kind"]), Some("Table"));
    assert_eq!(str_at(&table, &["apiVersion"]), Some("meta.k8s.io/v1"));
    assert_eq!(
        str_at(&table, &["metadata", "resourceVersion"]),
        Some("812")
    );
    let defs = arr_at(&table, &["columnDefinitions"]);
    let names: Vec<_> = defs.iter().filter_map(|d| str_at(d, &["name"])).collect();
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    let wide = defs
        .iter()
        .filter(|d| crate::registry::json::int_at(d, &["priority"]) == Some(1))
        .count();
    assert_eq!(wide, 4);
    let object = path(&arr_at(&table, &["rows"])[0], &["object"]).unwrap();
    assert_eq!(
        to_string(object),
        to_string(&parse(
            r#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"web","namespace":"default","creationTimestamp":"2025-01-01T00:00:00Z"}}"#
        ))
    );
    let full = table_json(pods, &[&p], T0, IncludeObject::Object, obj([]));
    let object = path(&arr_at(&full, &["rows"])[0], &["object"]).unwrap();
    assert_eq!(str_at(object, &["kind"]), Some("Pod"));
}

#[test]
fn include_object_parses_upstream_values() {
    // Accept negotiation for Tables is api::negotiate's (tested there).
    assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::parse("bogus"), None);
}
