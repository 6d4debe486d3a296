//! Discovery documents generated from the registry: legacy `/api`, `/apis`, `/api/v1`,
//! `/apis/{g}`, `/apis/{g}/{v}`, aggregated v2/v2beta1 for `/api` and `/apis`, and `/version`.
//!
//! Shapes follow a 1.31 API server's answers (see k8s-wire.md section 1). The serialized
//! bytes are cached in [`DiscoveryCache`] and rebuilt only when the registry's generation
//! moves (a CRD changed). Serving them (headers, `Vary: Accept`) is the HTTP layer's job.

use miniserde::json::Value;

use crate::registry::json::{arr, b, obj, s, set, strs, to_string};
use crate::registry::{Registry, Resource, Scope, Subresource};

/// Content-Type of legacy discovery and every plain JSON answer.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// Content-Type of aggregated discovery v2; client-go recognises it by these parameters.
pub const CONTENT_TYPE_AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// Content-Type of aggregated discovery v2beta1 (clients before 1.30).
pub const CONTENT_TYPE_AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// Which discovery shape a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryFormat {
    Legacy,
    AggregatedV2,
    AggregatedV2Beta1,
}

impl DiscoveryFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            DiscoveryFormat::Legacy => CONTENT_TYPE_JSON,
            DiscoveryFormat::AggregatedV2 => CONTENT_TYPE_AGGREGATED_V2,
            DiscoveryFormat::AggregatedV2Beta1 => CONTENT_TYPE_AGGREGATED_V2BETA1,
        }
    }
}

/// Picks the discovery format for an `Accept` header of `/api` or `/apis`: the first media
/// range (in the client's order, skipping `q=0`) that is aggregated JSON or plain JSON wins.
/// A missing or unmatched header gets the legacy format, as upstream does.
pub fn negotiate(accept: Option<&str>) -> DiscoveryFormat {
    let Some(accept) = accept else {
        return DiscoveryFormat::Legacy;
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut g, mut v, mut as_, mut q_zero) = (None, None, None, false);
        for param in parts {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let value = value.trim().trim_matches('"');
            match key.trim() {
                "g" => g = Some(value),
                "v" => v = Some(value),
                "as" => as_ = Some(value),
                "q" => q_zero = value.parse::<f32>().is_ok_and(|q| q == 0.0),
                _ => {}
            }
        }
        if q_zero {
            continue;
        }
        let json = media == "application/json";
        if json && g == Some("apidiscovery.k8s.io") && as_ == Some("APIGroupDiscoveryList") {
            match v {
                Some("v2") => return DiscoveryFormat::AggregatedV2,
                Some("v2beta1") => return DiscoveryFormat::AggregatedV2Beta1,
                _ => continue,
            }
        }
        let any = matches!(media.as_str(), "*/*" | "application/*");
        if (json && g.is_none() && as_.is_none()) || any {
            return DiscoveryFormat::Legacy;
        }
    }
    DiscoveryFormat::Legacy
}

/// `GET /api`: the legacy APIVersions document.
pub fn api_versions(server_address: &str) -> Value {
    obj([
        ("kind", s("APIVersions")),
        ("versions", strs(["v1"])),
        (
            "serverAddressByClientCIDRs",
            arr([obj([
                ("clientCIDR", s("0.0.0.0/0")),
                ("serverAddress", s(server_address)),
            ])]),
        ),
    ])
}

fn group_version_entry(group: &str, version: &str) -> Value {
    obj([
        ("groupVersion", s(&format!("{group}/{version}"))),
        ("version", s(version)),
    ])
}

fn api_group_value(group: &str, versions: &[&str]) -> Value {
    obj([
        ("name", s(group)),
        (
            "versions",
            arr(versions.iter().map(|v| group_version_entry(group, v))),
        ),
        ("preferredVersion", group_version_entry(group, versions[0])),
    ])
}

/// `GET /apis`: the legacy APIGroupList (every group but the core one).
pub fn api_group_list(registry: &Registry) -> Value {
    let groups = registry
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| api_group_value(g, &versions));
    obj([
        ("kind", s("APIGroupList")),
        ("apiVersion", s("v1")),
        ("groups", arr(groups)),
    ])
}

/// `GET /apis/{group}`: one APIGroup, or `None` for an unknown group.
pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    let (_, versions) = registry
        .groups()
        .into_iter()
        .find(|(g, _)| !g.is_empty() && *g == group)?;
    let mut value = api_group_value(group, &versions);
    set(&mut value, "kind", s("APIGroup"));
    set(&mut value, "apiVersion", s("v1"));
    Some(value)
}

/// One legacy APIResource entry for a resource or `resource/subresource`.
fn legacy_resource(r: &Resource) -> Value {
    let mut value = obj([
        ("name", s(&r.plural)),
        ("singularName", s(&r.singular)),
        ("namespaced", b(r.namespaced())),
        ("kind", s(&r.kind)),
        ("verbs", strs(r.verbs.names())),
    ]);
    if !r.short_names.is_empty() {
        set(
            &mut value,
            "shortNames",
            strs(r.short_names.iter().map(|n| n.as_ref())),
        );
    }
    if !r.categories.is_empty() {
        set(
            &mut value,
            "categories",
            strs(r.categories.iter().map(|n| n.as_ref())),
        );
    }
    value
}

fn legacy_subresource(r: &Resource, sub: &Subresource) -> Value {
    let mut value = obj([
        ("name", s(&format!("{}/{}", r.plural, sub.name))),
        ("singularName", s("")),
        ("namespaced", b(r.namespaced())),
        ("kind", s(&sub.response.kind)),
        ("verbs", strs(sub.verbs.names())),
    ]);
    // Upstream names group and version only when they differ from the parent's.
    if sub.response.group != r.group || sub.response.version != r.version {
        set(&mut value, "group", s(&sub.response.group));
        set(&mut value, "version", s(&sub.response.version));
    }
    value
}

/// `GET /api/v1` or `/apis/{g}/{v}`: the legacy APIResourceList, or `None` when the group
/// version is not served. Resources and subresources sort by name as upstream's do.
pub fn api_resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut entries: Vec<(String, Value)> = Vec::new();
    for r in registry.in_group_version(group, version) {
        entries.push((r.plural.to_string(), legacy_resource(r)));
        for sub in &r.subresources {
            entries.push((
                format!("{}/{}", r.plural, sub.name),
                legacy_subresource(r, sub),
            ));
        }
    }
    if entries.is_empty() {
        return None;
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut value = obj([
        ("kind", s("APIResourceList")),
        ("groupVersion", s(&group_version)),
        ("resources", arr(entries.into_iter().map(|(_, v)| v))),
    ]);
    // A real /api/v1 carries no apiVersion; /apis/{g}/{v} says "v1".
    if !group.is_empty() {
        set(&mut value, "apiVersion", s("v1"));
    }
    Some(value)
}

fn gvk_value(group: &str, version: &str, kind: &str) -> Value {
    obj([
        ("group", s(group)),
        ("version", s(version)),
        ("kind", s(kind)),
    ])
}

fn aggregated_resource(r: &Resource) -> Value {
    let scope = match r.scope {
        Scope::Namespaced => "Namespaced",
        Scope::Cluster => "Cluster",
    };
    let mut value = obj([
        ("resource", s(&r.plural)),
        ("responseKind", gvk_value(&r.group, &r.version, &r.kind)),
        ("scope", s(scope)),
        ("singularResource", s(&r.singular)),
        ("verbs", strs(r.verbs.names())),
    ]);
    if !r.short_names.is_empty() {
        set(
            &mut value,
            "shortNames",
            strs(r.short_names.iter().map(|n| n.as_ref())),
        );
    }
    if !r.categories.is_empty() {
        set(
            &mut value,
            "categories",
            strs(r.categories.iter().map(|n| n.as_ref())),
        );
    }
    if !r.subresources.is_empty() {
        let mut subs: Vec<&Subresource> = r.subresources.iter().collect();
        subs.sort_by(|a, b| a.name.cmp(&b.name));
        let subs = subs.into_iter().map(|sub| {
            let kind = &sub.response;
            obj([
                ("subresource", s(&sub.name)),
                (
                    "responseKind",
                    gvk_value(&kind.group, &kind.version, &kind.kind),
                ),
                ("verbs", strs(sub.verbs.names())),
            ])
        });
        set(&mut value, "subresources", arr(subs));
    }
    value
}

fn aggregated_group(registry: &Registry, group: &str, versions: &[&str]) -> Value {
    let versions = versions.iter().map(|version| {
        let mut resources: Vec<&Resource> = registry.in_group_version(group, version).collect();
        resources.sort_by(|a, b| a.plural.cmp(&b.plural));
        obj([
            ("version", s(version)),
            (
                "resources",
                arr(resources.into_iter().map(aggregated_resource)),
            ),
            ("freshness", s("Current")),
        ])
    });
    let metadata = if group.is_empty() {
        obj([])
    } else {
        obj([("name", s(group))])
    };
    obj([("metadata", metadata), ("versions", arr(versions))])
}

/// Which aggregated document: `/api` (core group) or `/apis` (all others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    Api,
    Apis,
}

/// Aggregated APIGroupDiscoveryList for `/api` or `/apis`, as v2 or v2beta1 (the shape is the
/// same for what we serve; only apiVersion differs).
pub fn aggregated(registry: &Registry, root: Root, format: DiscoveryFormat) -> Value {
    let api_version = match format {
        DiscoveryFormat::AggregatedV2Beta1 => "apidiscovery.k8s.io/v2beta1",
        _ => "apidiscovery.k8s.io/v2",
    };
    let items = registry
        .groups()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == (root == Root::Api))
        .map(|(g, versions)| aggregated_group(registry, g, &versions));
    obj([
        ("kind", s("APIGroupDiscoveryList")),
        ("apiVersion", s(api_version)),
        ("metadata", obj([])),
        ("items", arr(items)),
    ])
}

/// The Kubernetes release wisp speaks.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "32";

/// `v1.32.0+wisp.<crate version>`: valid semver whose build metadata names wisp. Build
/// metadata, not a pre-release suffix, because pre-releases sort below v1.32.0 and would
/// fail `kubeVersion: ">=1.32.0"` constraints in Helm charts (k3s uses `+k3s1` likewise).
pub fn git_version() -> String {
    format!(
        "v{KUBE_MAJOR}.{KUBE_MINOR}.0+wisp.{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// `linux/arm64` etc., from the compile target, in Go's architecture names.
pub fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// `GET /version`.
pub fn version_info() -> Value {
    obj([
        ("major", s(KUBE_MAJOR)),
        ("minor", s(KUBE_MINOR)),
        ("gitVersion", s(&git_version())),
        ("gitCommit", s(option_env!("WISP_GIT_COMMIT").unwrap_or(""))),
        ("gitTreeState", s("clean")),
        (
            "buildDate",
            s(option_env!("WISP_BUILD_DATE").unwrap_or("1970-01-01T00:00:00Z")),
        ),
        ("goVersion", s("")),
        ("compiler", s("rustc")),
        ("platform", s(&platform())),
    ])
}

/// Serialized discovery documents, rebuilt when the registry's generation moves.
#[derive(Debug, Default)]
pub struct DiscoveryCache {
    generation: u64,
    server_address: String,
    api_legacy: String,
    apis_legacy: String,
    api_v2: String,
    apis_v2: String,
    api_v2beta1: String,
    apis_v2beta1: String,
    group_versions: Vec<((String, String), String)>,
}

impl DiscoveryCache {
    /// A cache for a server reachable at `server_address` (`host:port`, for /api).
    pub fn new(registry: &Registry, server_address: &str) -> DiscoveryCache {
        let mut cache = DiscoveryCache {
            server_address: server_address.to_string(),
            ..DiscoveryCache::default()
        };
        cache.rebuild(registry);
        cache
    }

    /// Whether the cached bytes were built from this registry state.
    pub fn is_current(&self, registry: &Registry) -> bool {
        self.generation == registry.generation()
    }

    /// Rebuilds every document if the registry changed since the last build.
    pub fn refresh(&mut self, registry: &Registry) {
        if !self.is_current(registry) {
            self.rebuild(registry);
        }
    }

    fn rebuild(&mut self, registry: &Registry) {
        use DiscoveryFormat::{AggregatedV2, AggregatedV2Beta1};
        self.api_legacy = to_string(&api_versions(&self.server_address));
        self.apis_legacy = to_string(&api_group_list(registry));
        self.api_v2 = to_string(&aggregated(registry, Root::Api, AggregatedV2));
        self.apis_v2 = to_string(&aggregated(registry, Root::Apis, AggregatedV2));
        self.api_v2beta1 = to_string(&aggregated(registry, Root::Api, AggregatedV2Beta1));
        self.apis_v2beta1 = to_string(&aggregated(registry, Root::Apis, AggregatedV2Beta1));
        self.group_versions.clear();
        for (group, versions) in registry.groups() {
            for version in versions {
                if let Some(list) = api_resource_list(registry, group, version) {
                    let key = (group.to_string(), version.to_string());
                    self.group_versions.push((key, to_string(&list)));
                }
            }
        }
        self.generation = registry.generation();
    }

    /// The body for `/api` or `/apis` in the negotiated format, with its Content-Type.
    pub fn root(&self, root: Root, format: DiscoveryFormat) -> (&'static str, &str) {
        let body = match (root, format) {
            (Root::Api, DiscoveryFormat::Legacy) => &self.api_legacy,
            (Root::Apis, DiscoveryFormat::Legacy) => &self.apis_legacy,
            (Root::Api, DiscoveryFormat::AggregatedV2) => &self.api_v2,
            (Root::Apis, DiscoveryFormat::AggregatedV2) => &self.apis_v2,
            (Root::Api, DiscoveryFormat::AggregatedV2Beta1) => &self.api_v2beta1,
            (Root::Apis, DiscoveryFormat::AggregatedV2Beta1) => &self.apis_v2beta1,
        };
        (format.content_type(), body)
    }

    /// The APIResourceList body for `/api/v1` (group "") or `/apis/{g}/{v}`.
    pub fn group_version(&self, group: &str, version: &str) -> Option<&str> {
        self.group_versions
            .iter()
            .find(|((g, v), _)| g == group && v == version)
            .map(|(_, body)| body.as_str())
    }
}

#[cfg(test)]
mod tests;
