//! The static table of built-in resource types.
//!
//! Every row was checked against a Kubernetes 1.31 API server's discovery (`/api/v1` and
//! `/apis/{g}/{v}` as captured with `kubectl -v=9`) and the REST storages' `ShortNames()` /
//! `Categories()` in kubernetes/kubernetes pkg/registry. Rows are in upstream's order: sorted
//! by plural within a group/version, groups in upstream's priority order.
//! Field labels follow each type's `GetAttrs`/field-label conversion functions.

use super::types::{FieldLabel, Gvk, Resource, Scope, Subresource, Verbs};

/// A subresource row; `group`/`version` `None` means the parent's.
pub(super) struct SubRow {
    name: &'static str,
    group: Option<&'static str>,
    version: Option<&'static str>,
    /// Empty means the parent's kind.
    kind: &'static str,
    verbs: Verbs,
}

/// One built-in resource type.
pub(super) struct Row {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    verbs: Verbs,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    subs: &'static [SubRow],
    fields: &'static [FieldLabel],
}

const fn sub(name: &'static str, kind: &'static str, verbs: Verbs) -> SubRow {
    SubRow {
        name,
        group: None,
        version: None,
        kind,
        verbs,
    }
}

const fn sub_in(
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: Verbs,
) -> SubRow {
    SubRow {
        name,
        group: Some(group),
        version: Some(version),
        kind,
        verbs,
    }
}

const fn field(label: &'static str, path: &'static [&'static str]) -> FieldLabel {
    FieldLabel {
        label,
        path,
        fallback: &[],
        absent: "",
    }
}

/// A numeric field upstream always renders (`0` when absent).
const fn counter(label: &'static str, path: &'static [&'static str]) -> FieldLabel {
    FieldLabel {
        label,
        path,
        fallback: &[],
        absent: "0",
    }
}

/// Events select `source` by the source component, else the reporting controller.
const fn event_source(path: &'static [&'static str]) -> FieldLabel {
    FieldLabel {
        label: "source",
        path,
        fallback: &["reportingController"],
        absent: "",
    }
}

const STATUS: SubRow = sub("status", "", Verbs::GET_PATCH_UPDATE);
const SCALE: SubRow = sub_in(
    "scale",
    "autoscaling",
    "v1",
    "Scale",
    Verbs::GET_PATCH_UPDATE,
);
const CREATE: Verbs = Verbs::CREATE;
const ALL: &[&str] = &["all"];

const BASE: Row = Row {
    group: "",
    version: "v1",
    kind: "",
    plural: "",
    singular: "",
    namespaced: true,
    verbs: Verbs::ALL,
    short: &[],
    categories: &[],
    subs: &[],
    fields: &[],
};

const POD_FIELDS: &[FieldLabel] = &[
    field("spec.nodeName", &["spec", "nodeName"]),
    field("spec.restartPolicy", &["spec", "restartPolicy"]),
    field("spec.schedulerName", &["spec", "schedulerName"]),
    field("spec.serviceAccountName", &["spec", "serviceAccountName"]),
    FieldLabel {
        label: "spec.hostNetwork",
        path: &["spec", "hostNetwork"],
        fallback: &[],
        absent: "false",
    },
    field("status.phase", &["status", "phase"]),
    field("status.podIP", &["status", "podIP"]),
    field("status.nominatedNodeName", &["status", "nominatedNodeName"]),
];

const CORE_EVENT_FIELDS: &[FieldLabel] = &[
    field("involvedObject.kind", &["involvedObject", "kind"]),
    field("involvedObject.namespace", &["involvedObject", "namespace"]),
    field("involvedObject.name", &["involvedObject", "name"]),
    field("involvedObject.uid", &["involvedObject", "uid"]),
    field(
        "involvedObject.apiVersion",
        &["involvedObject", "apiVersion"],
    ),
    field(
        "involvedObject.resourceVersion",
        &["involvedObject", "resourceVersion"],
    ),
    field("involvedObject.fieldPath", &["involvedObject", "fieldPath"]),
    field("reason", &["reason"]),
    field("reportingComponent", &["reportingComponent"]),
    event_source(&["source", "component"]),
    field("type", &["type"]),
];

/// events.k8s.io/v1 names the same fields after its own schema (`regarding`,
/// `reportingController`), as k8s.io/api events/v1 EventToSelectableFields lists them.
const EVENTS_V1_FIELDS: &[FieldLabel] = &[
    field("regarding.kind", &["regarding", "kind"]),
    field("regarding.namespace", &["regarding", "namespace"]),
    field("regarding.name", &["regarding", "name"]),
    field("regarding.uid", &["regarding", "uid"]),
    field("regarding.apiVersion", &["regarding", "apiVersion"]),
    field(
        "regarding.resourceVersion",
        &["regarding", "resourceVersion"],
    ),
    field("regarding.fieldPath", &["regarding", "fieldPath"]),
    field("reason", &["reason"]),
    field("reportingController", &["reportingController"]),
    event_source(&["deprecatedSource", "component"]),
    field("type", &["type"]),
];

const CORE: &[Row] = &[
    Row {
        kind: "Binding",
        plural: "bindings",
        singular: "binding",
        verbs: CREATE,
        ..BASE
    },
    Row {
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        short: &["cm"],
        ..BASE
    },
    Row {
        kind: "Endpoints",
        plural: "endpoints",
        singular: "endpoints",
        short: &["ep"],
        ..BASE
    },
    Row {
        kind: "Event",
        plural: "events",
        singular: "event",
        short: &["ev"],
        fields: CORE_EVENT_FIELDS,
        ..BASE
    },
    Row {
        kind: "LimitRange",
        plural: "limitranges",
        singular: "limitrange",
        short: &["limits"],
        ..BASE
    },
    Row {
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        verbs: Verbs::ALL_BUT_DELETECOLLECTION,
        short: &["ns"],
        subs: &[sub("finalize", "", Verbs::UPDATE), STATUS],
        fields: &[field("status.phase", &["status", "phase"])],
        ..BASE
    },
    Row {
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short: &["no"],
        subs: &[sub("proxy", "NodeProxyOptions", Verbs::PROXY), STATUS],
        fields: &[field("spec.unschedulable", &["spec", "unschedulable"])],
        ..BASE
    },
    Row {
        kind: "PersistentVolumeClaim",
        plural: "persistentvolumeclaims",
        singular: "persistentvolumeclaim",
        short: &["pvc"],
        subs: &[STATUS],
        ..BASE
    },
    Row {
        kind: "PersistentVolume",
        plural: "persistentvolumes",
        singular: "persistentvolume",
        namespaced: false,
        short: &["pv"],
        subs: &[STATUS],
        ..BASE
    },
    Row {
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        short: &["po"],
        categories: ALL,
        subs: &[
            sub("attach", "PodAttachOptions", Verbs::CREATE_GET),
            sub("binding", "Binding", CREATE),
            sub("ephemeralcontainers", "", Verbs::GET_PATCH_UPDATE),
            sub_in("eviction", "policy", "v1", "Eviction", CREATE),
            sub("exec", "PodExecOptions", Verbs::CREATE_GET),
            sub("log", "", Verbs::GET),
            sub("portforward", "PodPortForwardOptions", Verbs::CREATE_GET),
            sub("proxy", "PodProxyOptions", Verbs::PROXY),
            STATUS,
        ],
        fields: POD_FIELDS,
        ..BASE
    },
    Row {
        kind: "PodTemplate",
        plural: "podtemplates",
        singular: "podtemplate",
        ..BASE
    },
    Row {
        kind: "ReplicationController",
        plural: "replicationcontrollers",
        singular: "replicationcontroller",
        short: &["rc"],
        categories: ALL,
        subs: &[SCALE, STATUS],
        fields: &[counter("status.replicas", &["status", "replicas"])],
        ..BASE
    },
    Row {
        kind: "ResourceQuota",
        plural: "resourcequotas",
        singular: "resourcequota",
        short: &["quota"],
        subs: &[STATUS],
        ..BASE
    },
    Row {
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        fields: &[field("type", &["type"])],
        ..BASE
    },
    Row {
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        short: &["sa"],
        subs: &[sub_in(
            "token",
            "authentication.k8s.io",
            "v1",
            "TokenRequest",
            CREATE,
        )],
        ..BASE
    },
    Row {
        kind: "Service",
        plural: "services",
        singular: "service",
        short: &["svc"],
        categories: ALL,
        subs: &[sub("proxy", "ServiceProxyOptions", Verbs::PROXY), STATUS],
        ..BASE
    },
];

const APPS: Row = Row {
    group: "apps",
    ..BASE
};

const APPS_V1: &[Row] = &[
    Row {
        kind: "ControllerRevision",
        plural: "controllerrevisions",
        singular: "controllerrevision",
        ..APPS
    },
    Row {
        kind: "DaemonSet",
        plural: "daemonsets",
        singular: "daemonset",
        short: &["ds"],
        categories: ALL,
        subs: &[STATUS],
        ..APPS
    },
    Row {
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        short: &["deploy"],
        categories: ALL,
        subs: &[SCALE, STATUS],
        ..APPS
    },
    Row {
        kind: "ReplicaSet",
        plural: "replicasets",
        singular: "replicaset",
        short: &["rs"],
        categories: ALL,
        subs: &[SCALE, STATUS],
        fields: &[counter("status.replicas", &["status", "replicas"])],
        ..APPS
    },
    Row {
        kind: "StatefulSet",
        plural: "statefulsets",
        singular: "statefulset",
        short: &["sts"],
        categories: ALL,
        subs: &[SCALE, STATUS],
        ..APPS
    },
];

const fn group(group: &'static str) -> Row {
    Row { group, ..BASE }
}

const fn cluster(group: &'static str) -> Row {
    Row {
        group,
        namespaced: false,
        ..BASE
    }
}

const EVENTS_V1: &[Row] = &[Row {
    kind: "Event",
    plural: "events",
    singular: "event",
    short: &["ev"],
    fields: EVENTS_V1_FIELDS,
    ..group("events.k8s.io")
}];

const AUTHENTICATION_V1: &[Row] = &[
    Row {
        kind: "SelfSubjectReview",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        verbs: CREATE,
        ..cluster("authentication.k8s.io")
    },
    Row {
        kind: "TokenReview",
        plural: "tokenreviews",
        singular: "tokenreview",
        verbs: CREATE,
        ..cluster("authentication.k8s.io")
    },
];

const AUTHORIZATION_V1: &[Row] = &[
    Row {
        kind: "LocalSubjectAccessReview",
        plural: "localsubjectaccessreviews",
        singular: "localsubjectaccessreview",
        verbs: CREATE,
        ..group("authorization.k8s.io")
    },
    Row {
        kind: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        verbs: CREATE,
        ..cluster("authorization.k8s.io")
    },
    Row {
        kind: "SelfSubjectRulesReview",
        plural: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        verbs: CREATE,
        ..cluster("authorization.k8s.io")
    },
    Row {
        kind: "SubjectAccessReview",
        plural: "subjectaccessreviews",
        singular: "subjectaccessreview",
        verbs: CREATE,
        ..cluster("authorization.k8s.io")
    },
];

const BATCH_V1: &[Row] = &[
    Row {
        kind: "CronJob",
        plural: "cronjobs",
        singular: "cronjob",
        short: &["cj"],
        categories: ALL,
        subs: &[STATUS],
        ..group("batch")
    },
    Row {
        kind: "Job",
        plural: "jobs",
        singular: "job",
        categories: ALL,
        subs: &[STATUS],
        fields: &[counter("status.successful", &["status", "succeeded"])],
        ..group("batch")
    },
];

const NETWORKING_V1: &[Row] = &[
    Row {
        kind: "IngressClass",
        plural: "ingressclasses",
        singular: "ingressclass",
        ..cluster("networking.k8s.io")
    },
    Row {
        kind: "Ingress",
        plural: "ingresses",
        singular: "ingress",
        short: &["ing"],
        subs: &[STATUS],
        ..group("networking.k8s.io")
    },
    Row {
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        singular: "networkpolicy",
        short: &["netpol"],
        ..group("networking.k8s.io")
    },
];

const POLICY_V1: &[Row] = &[Row {
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    singular: "poddisruptionbudget",
    short: &["pdb"],
    subs: &[STATUS],
    ..group("policy")
}];

const RBAC_V1: &[Row] = &[
    Row {
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        ..cluster("rbac.authorization.k8s.io")
    },
    Row {
        kind: "ClusterRole",
        plural: "clusterroles",
        singular: "clusterrole",
        ..cluster("rbac.authorization.k8s.io")
    },
    Row {
        kind: "RoleBinding",
        plural: "rolebindings",
        singular: "rolebinding",
        ..group("rbac.authorization.k8s.io")
    },
    Row {
        kind: "Role",
        plural: "roles",
        singular: "role",
        ..group("rbac.authorization.k8s.io")
    },
];

const STORAGE_V1: &[Row] = &[
    Row {
        kind: "CSIDriver",
        plural: "csidrivers",
        singular: "csidriver",
        ..cluster("storage.k8s.io")
    },
    Row {
        kind: "CSINode",
        plural: "csinodes",
        singular: "csinode",
        ..cluster("storage.k8s.io")
    },
    Row {
        kind: "StorageClass",
        plural: "storageclasses",
        singular: "storageclass",
        short: &["sc"],
        ..cluster("storage.k8s.io")
    },
    Row {
        kind: "VolumeAttachment",
        plural: "volumeattachments",
        singular: "volumeattachment",
        subs: &[STATUS],
        ..cluster("storage.k8s.io")
    },
];

const APIEXTENSIONS_V1: &[Row] = &[Row {
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    singular: "customresourcedefinition",
    short: &["crd", "crds"],
    categories: &["api-extensions"],
    subs: &[STATUS],
    ..cluster("apiextensions.k8s.io")
}];

const SCHEDULING_V1: &[Row] = &[Row {
    kind: "PriorityClass",
    plural: "priorityclasses",
    singular: "priorityclass",
    short: &["pc"],
    ..cluster("scheduling.k8s.io")
}];

const COORDINATION_V1: &[Row] = &[Row {
    kind: "Lease",
    plural: "leases",
    singular: "lease",
    ..group("coordination.k8s.io")
}];

const DISCOVERY_V1: &[Row] = &[Row {
    kind: "EndpointSlice",
    plural: "endpointslices",
    singular: "endpointslice",
    ..group("discovery.k8s.io")
}];

/// metrics.k8s.io: read-only views served from the node agent's samples, never stored.
const METRICS_V1BETA1: &[Row] = &[
    Row {
        kind: "NodeMetrics",
        plural: "nodes",
        singular: "nodemetrics",
        version: "v1beta1",
        verbs: Verbs::GET.union(Verbs::LIST),
        ..cluster("metrics.k8s.io")
    },
    Row {
        kind: "PodMetrics",
        plural: "pods",
        singular: "podmetrics",
        version: "v1beta1",
        verbs: Verbs::GET.union(Verbs::LIST),
        ..group("metrics.k8s.io")
    },
];

/// Every built-in group/version table, in upstream's group priority order (the order of
/// `/apis`), the core group first.
pub(super) const TABLES: &[&[Row]] = &[
    CORE,
    APPS_V1,
    EVENTS_V1,
    AUTHENTICATION_V1,
    AUTHORIZATION_V1,
    BATCH_V1,
    NETWORKING_V1,
    POLICY_V1,
    RBAC_V1,
    STORAGE_V1,
    APIEXTENSIONS_V1,
    SCHEDULING_V1,
    COORDINATION_V1,
    DISCOVERY_V1,
    METRICS_V1BETA1,
];

/// The built-in rows as registry values.
pub(super) fn resources() -> Vec<Resource> {
    TABLES
        .iter()
        .flat_map(|table| table.iter())
        .map(Row::to_resource)
        .collect()
}

impl Row {
    fn to_resource(&self) -> Resource {
        let subresources = self
            .subs
            .iter()
            .map(|s| Subresource {
                name: s.name.into(),
                response: Gvk::new(
                    s.group.unwrap_or(self.group),
                    s.version.unwrap_or(self.version),
                    if s.kind.is_empty() { self.kind } else { s.kind },
                ),
                verbs: s.verbs,
            })
            .collect();
        Resource {
            group: self.group.into(),
            version: self.version.into(),
            kind: self.kind.into(),
            plural: self.plural.into(),
            singular: self.singular.into(),
            scope: if self.namespaced {
                Scope::Namespaced
            } else {
                Scope::Cluster
            },
            verbs: self.verbs,
            short_names: self.short.iter().map(|s| (*s).into()).collect(),
            categories: self.categories.iter().map(|s| (*s).into()).collect(),
            subresources,
            field_labels: self.fields,
            strategic_merge: true,
            builtin: true,
            printer_columns: Vec::new(),
            scale_paths: None,
        }
    }
}
