//! The strategic-merge metadata of the built-in kinds, as data: which lists merge by which
//! key, which primitive lists are sets and which objects take `$retainKeys`, read from the
//! `patchStrategy`/`patchMergeKey` tags of the upstream Go types. Pod-spec rows are written
//! once and mounted under every kind that embeds a pod template. Lists not named here
//! (tolerations, args, command, envFrom, readinessGates...) are replaced whole, as upstream.

use super::strategic::{ListStrategy, MapKey, PatchMeta};

const fn merge(key: &'static str) -> ListStrategy<'static> {
    ListStrategy::Merge {
        key,
        retain_keys: false,
    }
}

const fn merge_retain(key: &'static str) -> ListStrategy<'static> {
    ListStrategy::Merge {
        key,
        retain_keys: true,
    }
}

const SET: ListStrategy<'static> = ListStrategy::MergePrimitives;
const RETAIN: ListStrategy<'static> = ListStrategy::RetainKeys;

/// Fields of every object's `metadata` (ObjectMeta).
pub static OBJECT_META: &[(&str, ListStrategy<'static>)] =
    &[("finalizers", SET), ("ownerReferences", merge("uid"))];

/// Fields of a container, relative to it; mounted under each container list of a pod spec.
pub static CONTAINER: &[(&str, ListStrategy<'static>)] = &[
    ("ports", merge("containerPort")),
    ("env", merge("name")),
    ("volumeMounts", merge("mountPath")),
    ("volumeDevices", merge("devicePath")),
];

/// Container lists of a pod spec, each a list merged by `name` holding [`CONTAINER`] rows.
pub static CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// Fields of a pod spec, relative to it (besides the container lists).
pub static POD_SPEC: &[(&str, ListStrategy<'static>)] = &[
    ("volumes", merge_retain("name")),
    ("imagePullSecrets", merge("name")),
    ("hostAliases", merge("ip")),
    ("topologySpreadConstraints", merge("topologyKey")),
    ("schedulingGates", merge("name")),
    ("resourceClaims", merge_retain("name")),
];

/// Where each kind keeps a pod spec (dot-separated path from the object root).
pub static POD_SPEC_PATHS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("PodTemplate", "template.spec"),
    ("ReplicationController", "spec.template.spec"),
    ("Deployment", "spec.template.spec"),
    ("ReplicaSet", "spec.template.spec"),
    ("StatefulSet", "spec.template.spec"),
    ("DaemonSet", "spec.template.spec"),
    ("Job", "spec.template.spec"),
    ("CronJob", "spec.jobTemplate.spec.template.spec"),
];

/// Kind-specific fields: (kind, dot-separated path, strategy).
pub static KIND_FIELDS: &[(&str, &str, ListStrategy<'static>)] = &[
    ("Pod", "status.conditions", merge("type")),
    ("Pod", "status.podIPs", merge("ip")),
    ("Pod", "status.hostIPs", merge("ip")),
    ("Node", "spec.podCIDRs", SET),
    ("Node", "status.conditions", merge("type")),
    ("Node", "status.addresses", merge("type")),
    ("Service", "spec.ports", merge("port")),
    ("Service", "status.conditions", merge("type")),
    ("ServiceAccount", "secrets", merge("name")),
    ("Namespace", "status.conditions", merge("type")),
    ("PersistentVolumeClaim", "status.conditions", merge("type")),
    ("Deployment", "spec.strategy", RETAIN),
    ("Deployment", "status.conditions", merge("type")),
    ("ReplicaSet", "status.conditions", merge("type")),
    ("StatefulSet", "status.conditions", merge("type")),
    ("DaemonSet", "status.conditions", merge("type")),
    ("Job", "status.conditions", merge("type")),
    ("ReplicationController", "status.conditions", merge("type")),
];

const TCP: Option<&str> = Some("TCP");

/// Server-side apply keys that differ from the strategic merge key (upstream's
/// `listMapKey`s): the same port number may appear once per protocol.
pub static CONTAINER_PORT_KEYS: &[MapKey<'static>] = &[
    MapKey {
        field: "containerPort",
        default: None,
    },
    MapKey {
        field: "protocol",
        default: TCP,
    },
];
pub static SERVICE_PORT_KEYS: &[MapKey<'static>] = &[
    MapKey {
        field: "port",
        default: None,
    },
    MapKey {
        field: "protocol",
        default: TCP,
    },
];
pub static TOPOLOGY_SPREAD_KEYS: &[MapKey<'static>] = &[
    MapKey {
        field: "topologyKey",
        default: None,
    },
    MapKey {
        field: "whenUnsatisfiable",
        default: None,
    },
];

/// [`PatchMeta`] of one built-in kind, answering from the tables above.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPatchMeta<'k> {
    kind: &'k str,
}

impl<'k> BuiltinPatchMeta<'k> {
    /// Metadata for `kind` (e.g. "Deployment"); unknown kinds still get ObjectMeta rows.
    pub fn new(kind: &'k str) -> Self {
        Self { kind }
    }
}

impl PatchMeta for BuiltinPatchMeta<'_> {
    fn lookup(&self, path: &[&str]) -> Option<ListStrategy<'_>> {
        if let Some(["metadata", rest @ ..]) = Some(path) {
            return find(OBJECT_META, rest);
        }
        let kind_row = KIND_FIELDS
            .iter()
            .find(|(kind, dotted, _)| *kind == self.kind && path_is(path, dotted));
        if let Some((_, _, strategy)) = kind_row {
            return Some(*strategy);
        }
        let (_, pod_spec) = POD_SPEC_PATHS.iter().find(|(kind, _)| *kind == self.kind)?;
        let rest = strip_dotted_prefix(path, pod_spec)?;
        pod_spec_lookup(rest)
    }

    fn list_map_keys(&self, path: &[&str]) -> Option<&[MapKey<'_>]> {
        if self.kind == "Service" && path_is(path, "spec.ports") {
            return Some(SERVICE_PORT_KEYS);
        }
        let (_, pod_spec) = POD_SPEC_PATHS.iter().find(|(kind, _)| *kind == self.kind)?;
        pod_spec_map_keys(strip_dotted_prefix(path, pod_spec)?)
    }
}

fn pod_spec_map_keys(path: &[&str]) -> Option<&'static [MapKey<'static>]> {
    match path {
        [list, "ports"] if CONTAINER_LISTS.contains(list) => Some(CONTAINER_PORT_KEYS),
        ["topologySpreadConstraints"] => Some(TOPOLOGY_SPREAD_KEYS),
        _ => None,
    }
}

fn pod_spec_lookup(path: &[&str]) -> Option<ListStrategy<'static>> {
    match path {
        [list] if CONTAINER_LISTS.contains(list) => Some(merge("name")),
        [list, rest @ ..] if CONTAINER_LISTS.contains(list) => find(CONTAINER, rest),
        _ => find(POD_SPEC, path),
    }
}

fn find(rows: &[(&str, ListStrategy<'static>)], path: &[&str]) -> Option<ListStrategy<'static>> {
    rows.iter()
        .find(|(dotted, _)| path_is(path, dotted))
        .map(|(_, strategy)| *strategy)
}

fn path_is(path: &[&str], dotted: &str) -> bool {
    strip_dotted_prefix(path, dotted).is_some_and(<[&str]>::is_empty)
}

/// `path` without the segments of `dotted`, if it starts with them.
fn strip_dotted_prefix<'p, 's>(path: &'p [&'s str], dotted: &str) -> Option<&'p [&'s str]> {
    let mut rest = path;
    for segment in dotted.split('.') {
        let (first, tail) = rest.split_first()?;
        if *first != segment {
            return None;
        }
        rest = tail;
    }
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(kind: &str, dotted: &str) -> Option<ListStrategy<'static>> {
        let path: Vec<&str> = dotted.split('.').collect();
        BuiltinPatchMeta::new(kind).lookup(&path).map(|s| match s {
            ListStrategy::Merge { key, retain_keys } => ListStrategy::Merge {
                key: Box::leak(key.to_owned().into_boxed_str()),
                retain_keys,
            },
            ListStrategy::MergePrimitives => ListStrategy::MergePrimitives,
            ListStrategy::RetainKeys => ListStrategy::RetainKeys,
        })
    }

    #[test]
    fn every_workload_template_gets_the_pod_spec_rows() {
        for (kind, prefix) in POD_SPEC_PATHS {
            assert_eq!(
                lookup(kind, &format!("{prefix}.containers")),
                Some(merge("name"))
            );
            assert_eq!(
                lookup(kind, &format!("{prefix}.initContainers.env")),
                Some(merge("name"))
            );
            assert_eq!(
                lookup(kind, &format!("{prefix}.ephemeralContainers.volumeMounts")),
                Some(merge("mountPath"))
            );
            assert_eq!(
                lookup(kind, &format!("{prefix}.containers.ports")),
                Some(merge("containerPort"))
            );
            assert_eq!(
                lookup(kind, &format!("{prefix}.volumes")),
                Some(merge_retain("name"))
            );
            assert_eq!(
                lookup(kind, &format!("{prefix}.hostAliases")),
                Some(merge("ip"))
            );
            assert_eq!(lookup(kind, &format!("{prefix}.tolerations")), None);
            assert_eq!(lookup(kind, &format!("{prefix}.containers.args")), None);
        }
        assert_eq!(lookup("CronJob", "spec.template.spec.containers"), None);
    }

    #[test]
    fn kind_rows_and_object_meta() {
        assert_eq!(lookup("Service", "spec.ports"), Some(merge("port")));
        assert_eq!(lookup("Deployment", "spec.strategy"), Some(RETAIN));
        assert_eq!(
            lookup("Deployment", "status.conditions"),
            Some(merge("type"))
        );
        assert_eq!(lookup("ConfigMap", "metadata.finalizers"), Some(SET));
        assert_eq!(
            lookup("Widget", "metadata.ownerReferences"),
            Some(merge("uid"))
        );
        assert_eq!(lookup("Pod", "spec.containers.env"), Some(merge("name")));
        assert_eq!(lookup("Service", "spec.containers"), None);
    }

    #[test]
    fn apply_keys_for_ports_and_spread_constraints() {
        let keys = |kind: &str, dotted: &str| {
            let path: Vec<&str> = dotted.split('.').collect();
            BuiltinPatchMeta::new(kind)
                .list_map_keys(&path)
                .map(<[MapKey<'_>]>::len)
        };
        assert_eq!(keys("Service", "spec.ports"), Some(2));
        assert_eq!(
            keys("Deployment", "spec.template.spec.initContainers.ports"),
            Some(2)
        );
        assert_eq!(
            keys(
                "CronJob",
                "spec.jobTemplate.spec.template.spec.topologySpreadConstraints"
            ),
            Some(2)
        );
        assert_eq!(keys("Pod", "spec.containers"), None);
    }
}
