//! The value types of the registry: a resource type, its subresources, verbs and field labels.
//!
//! Strings are `Cow<'static, str>` so built-in rows borrow from the static table and CRD rows
//! own theirs, through one type.

use std::borrow::Cow;

/// A registry string: borrowed for built-ins, owned for custom resources.
pub type Str = Cow<'static, str>;

/// Group, version and kind; the core group is the empty string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gvk {
    pub group: Str,
    pub version: Str,
    pub kind: Str,
}

impl Gvk {
    pub fn new(group: impl Into<Str>, version: impl Into<Str>, kind: impl Into<Str>) -> Self {
        Gvk {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// `apiVersion` as written in objects: `v1` for core, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        group_version(&self.group, &self.version)
    }
}

/// `v1` for the core group, `group/version` otherwise.
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Whether objects of a type live in a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// A set of API verbs, printed in the alphabetical order upstream's discovery uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Verbs(u16);

impl Verbs {
    pub const CREATE: Verbs = Verbs(1);
    pub const DELETE: Verbs = Verbs(1 << 1);
    pub const DELETECOLLECTION: Verbs = Verbs(1 << 2);
    pub const GET: Verbs = Verbs(1 << 3);
    pub const LIST: Verbs = Verbs(1 << 4);
    pub const PATCH: Verbs = Verbs(1 << 5);
    pub const UPDATE: Verbs = Verbs(1 << 6);
    pub const WATCH: Verbs = Verbs(1 << 7);
    /// Every verb a stored collection serves.
    pub const ALL: Verbs = Verbs(0xff);
    /// A stored collection without deletecollection (namespaces).
    pub const ALL_BUT_DELETECOLLECTION: Verbs = Verbs(0xff & !(1 << 2));
    /// get, patch, update: status and scale subresources.
    pub const GET_PATCH_UPDATE: Verbs = Verbs((1 << 3) | (1 << 5) | (1 << 6));
    /// create, get: streaming subresources (exec, attach, portforward).
    pub const CREATE_GET: Verbs = Verbs(1 | (1 << 3));
    /// Proxy subresources.
    pub const PROXY: Verbs = Verbs(1 | (1 << 1) | (1 << 3) | (1 << 5) | (1 << 6));

    const NAMES: [&'static str; 8] = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];

    pub const fn union(self, other: Verbs) -> Verbs {
        Verbs(self.0 | other.0)
    }

    pub fn contains(self, other: Verbs) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the verb named `name` (as in RBAC rules) is in the set.
    pub fn allows(self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// Verb names in alphabetical order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .iter()
            .enumerate()
            .filter(move |(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, name)| *name)
    }
}

/// A subresource such as `status`, `scale` or `exec`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: Str,
    /// The kind the subresource answers with (autoscaling/v1 Scale for scale).
    pub response: Gvk,
    pub verbs: Verbs,
}

/// A field usable in a fieldSelector and where to find its value in an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLabel {
    /// The selector name, e.g. `spec.nodeName`.
    pub label: &'static str,
    /// The JSON path of the value, e.g. `["spec", "nodeName"]`.
    pub path: &'static [&'static str],
    /// Where to read the value when `path` is absent or empty (events' `source` falls back
    /// to `reportingController`); empty for none.
    pub fallback: &'static [&'static str],
    /// The value when both are absent (`false` for `spec.hostNetwork`).
    pub absent: &'static str,
}

impl FieldLabel {
    /// The field's value in `object` as upstream's field sets hold it: strings as is,
    /// booleans and numbers as text.
    pub fn value(&self, object: &miniserde::json::Value) -> String {
        use miniserde::json::Value;
        let read = |path: &[&str]| match super::json::path(object, path) {
            Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
            Some(Value::Bool(flag)) => Some(flag.to_string()),
            Some(number @ Value::Number(_)) => Some(super::json::to_string(number)),
            _ => None,
        };
        read(self.path)
            .or_else(|| {
                (!self.fallback.is_empty())
                    .then(|| read(self.fallback))
                    .flatten()
            })
            .unwrap_or_else(|| self.absent.to_string())
    }
}

/// One served resource type at one group/version.
#[derive(Clone, Debug)]
pub struct Resource {
    pub group: Str,
    pub version: Str,
    pub kind: Str,
    /// The URL segment: lowercase plural (`deployments`).
    pub plural: Str,
    pub singular: Str,
    pub scope: Scope,
    pub verbs: Verbs,
    pub short_names: Vec<Str>,
    pub categories: Vec<Str>,
    pub subresources: Vec<Subresource>,
    /// Field selector labels beyond metadata.name and metadata.namespace.
    pub field_labels: &'static [FieldLabel],
    /// Built-in kinds accept strategic merge patches; custom resources answer 415.
    pub strategic_merge: bool,
    /// False for custom resources added from CRDs.
    pub builtin: bool,
    /// A CRD version's additionalPrinterColumns; empty for built-ins (they have printers).
    pub printer_columns: Vec<PrinterColumn>,
    /// A CRD version's `subresources.scale` paths; `None` for built-ins (their scale is
    /// hand-written) and CRDs without scale.
    pub scale_paths: Option<ScalePaths>,
}

/// Where a custom resource keeps what its scale subresource reads and writes (JSON paths
/// such as `.spec.replicas`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: Str,
    pub status_replicas: Str,
    pub label_selector: Option<Str>,
}

/// A CRD `additionalPrinterColumns` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: Str,
    /// integer, number, string, boolean or date.
    pub type_: Str,
    pub format: Str,
    pub description: Str,
    pub priority: i64,
    /// A JSONPath such as `.spec.replicas` (the subset in `table::jsonpath`).
    pub json_path: Str,
}

/// Labels every resource type supports in a fieldSelector.
pub const METADATA_FIELD_LABELS: [FieldLabel; 2] = [
    FieldLabel {
        label: "metadata.name",
        path: &["metadata", "name"],
        fallback: &[],
        absent: "",
    },
    FieldLabel {
        label: "metadata.namespace",
        path: &["metadata", "namespace"],
        fallback: &[],
        absent: "",
    },
];

impl Resource {
    pub fn gvk(&self) -> Gvk {
        Gvk::new(self.group.clone(), self.version.clone(), self.kind.clone())
    }

    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        group_version(&self.group, &self.version)
    }

    /// The list kind, `PodList` for `Pod`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }

    pub fn has_scale(&self) -> bool {
        self.subresource("scale").is_some()
    }

    /// `pods` for core, `deployments.apps` otherwise: the name in error messages and RBAC.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Key prefix of the type in the store: `/registry/<group or core>/<plural>/`; objects
    /// follow as `<namespace>/<name>` or `<name>`.
    pub fn storage_prefix(&self) -> String {
        crate::object::keys::resource_prefix(&self.group, &self.plural)
    }

    /// Whether `label` may be used in a fieldSelector on this type.
    pub fn field_label(&self, label: &str) -> Option<&FieldLabel> {
        METADATA_FIELD_LABELS
            .iter()
            .chain(self.field_labels.iter())
            .find(|f| f.label == label)
    }

    /// Whether the type is served by the ordinary CRUD path (reviews are create-only).
    pub fn is_stored(&self) -> bool {
        self.verbs.contains(Verbs::GET.union(Verbs::LIST))
    }

    /// A custom resource type as a CRD version defines it.
    #[allow(clippy::too_many_arguments)]
    pub fn custom(
        group: String,
        version: String,
        kind: String,
        plural: String,
        singular: String,
        scope: Scope,
        short_names: Vec<String>,
        categories: Vec<String>,
    ) -> Resource {
        Resource {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: singular.into(),
            scope,
            verbs: Verbs::ALL,
            short_names: short_names.into_iter().map(Str::from).collect(),
            categories: categories.into_iter().map(Str::from).collect(),
            subresources: Vec::new(),
            field_labels: &[],
            strategic_merge: false,
            builtin: false,
            printer_columns: Vec::new(),
            scale_paths: None,
        }
    }

    /// Adds the status subresource (CRD `subresources.status`).
    pub fn with_status(mut self) -> Resource {
        let response = self.gvk();
        self.subresources.push(Subresource {
            name: "status".into(),
            response,
            verbs: Verbs::GET_PATCH_UPDATE,
        });
        self
    }

    /// Adds the scale subresource (CRD `subresources.scale`).
    pub fn with_scale(mut self) -> Resource {
        self.subresources.push(Subresource {
            name: "scale".into(),
            response: Gvk::new("autoscaling", "v1", "Scale"),
            verbs: Verbs::GET_PATCH_UPDATE,
        });
        self.subresources.sort_by(|a, b| a.name.cmp(&b.name));
        self
    }
}
