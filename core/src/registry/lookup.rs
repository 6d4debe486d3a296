//! The `Registry`: built-in types plus custom resources, and the lookups the API server,
//! discovery and RBAC need.
//!
//! A generation counter moves on every change so callers can cache what they derive from the
//! registry (discovery bytes, OpenAPI documents) and rebuild only when it moved.

use std::fmt;

use super::builtin;
use super::types::Resource;

/// Why a custom resource could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// The group/version/plural is already served.
    PluralTaken(String),
    /// The group/version/kind is already served by another plural.
    KindTaken(String),
    /// Custom resources may not go into a built-in group.
    BuiltinGroup(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::PluralTaken(r) => write!(f, "resource {r} is already served"),
            RegistryError::KindTaken(k) => write!(f, "kind {k} is already served"),
            RegistryError::BuiltinGroup(g) => {
                write!(f, "group {g} is reserved for built-in resources")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// Every served resource type, built-in first, then custom resources in insertion order.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: Vec<Resource>,
    builtin_count: usize,
    generation: u64,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// The built-in types only.
    pub fn new() -> Registry {
        let resources = builtin::resources();
        Registry {
            builtin_count: resources.len(),
            resources,
            generation: 1,
        }
    }

    /// Moves on every change; derived caches compare it with what they were built from.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// All types: built-ins in upstream's order, then custom resources.
    pub fn all(&self) -> &[Resource] {
        &self.resources
    }

    /// The custom resources (from CRDs).
    pub fn custom(&self) -> &[Resource] {
        &self.resources[self.builtin_count..]
    }

    /// Adds a custom resource version. Replaces an existing custom entry with the same
    /// group/version/plural (a CRD update); refuses to shadow a built-in.
    pub fn add_custom(&mut self, resource: Resource) -> Result<(), RegistryError> {
        if self.is_builtin_group(&resource.group) {
            return Err(RegistryError::BuiltinGroup(resource.group.to_string()));
        }
        let clash = |r: &Resource| r.group == resource.group && r.version == resource.version;
        if let Some(other) = self
            .resources
            .iter()
            .find(|r| clash(r) && r.kind == resource.kind && r.plural != resource.plural)
        {
            return Err(RegistryError::KindTaken(format!(
                "{}/{}",
                other.api_version(),
                other.kind
            )));
        }
        let at = self
            .resources
            .iter()
            .position(|r| clash(r) && r.plural == resource.plural);
        match at {
            Some(i) => self.resources[i] = resource,
            None => self.resources.push(resource),
        }
        self.generation += 1;
        Ok(())
    }

    /// Removes every version of a custom resource (a CRD deleted); returns how many went.
    pub fn remove_custom(&mut self, group: &str, plural: &str) -> usize {
        let before = self.resources.len();
        let builtin = self.builtin_count;
        let mut index = 0;
        self.resources.retain(|r| {
            let keep = index < builtin || r.group != group || r.plural != plural;
            index += 1;
            keep
        });
        let removed = before - self.resources.len();
        if removed > 0 {
            self.generation += 1;
        }
        removed
    }

    /// Keeps only the custom versions of (group, plural) that `keep` accepts (a CRD whose
    /// served versions shrank).
    pub fn retain_custom_versions(
        &mut self,
        group: &str,
        plural: &str,
        keep: impl Fn(&str) -> bool,
    ) {
        let before = self.resources.len();
        let builtin = self.builtin_count;
        let mut index = 0;
        self.resources.retain(|r| {
            let ours = index >= builtin && r.group == group && r.plural == plural;
            index += 1;
            !ours || keep(&r.version)
        });
        if before != self.resources.len() {
            self.generation += 1;
        }
    }

    fn is_builtin_group(&self, group: &str) -> bool {
        self.resources[..self.builtin_count]
            .iter()
            .any(|r| r.group == group)
    }

    /// The type served at /apis/{group}/{version}/{plural} (or /api/v1/{plural}).
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The type of objects with this apiVersion group/version and kind.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// The preferred (first listed) version of a group's plural: RBAC rules name
    /// (group, plural) without a version.
    pub fn by_plural(&self, group: &str, plural: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.plural == plural)
    }

    /// Resolves a name as kubectl's RESTMapper does: plural, singular or short name, lowercase,
    /// the core group before the others and built-ins before custom resources.
    pub fn resolve(&self, name: &str) -> Option<&Resource> {
        let name = name.to_ascii_lowercase();
        let matches = |r: &&Resource| {
            r.plural == name.as_str()
                || r.singular == name.as_str()
                || r.short_names.iter().any(|s| *s == name.as_str())
        };
        self.resources.iter().find(matches)
    }

    /// The types in one group/version, in served order.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.group == group && r.version == version)
    }

    /// The types in a category, e.g. `all`.
    pub fn in_category<'a>(&'a self, category: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.categories.iter().any(|c| c == category))
    }

    /// Every group (the core group as "") with its versions, both in first-seen order: the
    /// first version of a group is the preferred one.
    pub fn groups(&self) -> Vec<(&str, Vec<&str>)> {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for r in &self.resources {
            match groups.iter_mut().find(|(g, _)| *g == r.group.as_ref()) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version.as_ref()) {
                        versions.push(&r.version);
                    }
                }
                None => groups.push((&r.group, vec![&r.version])),
            }
        }
        for (_, versions) in &mut groups {
            versions.sort_by(|a, b| version_priority(a).cmp(&version_priority(b)).then(a.cmp(b)));
        }
        groups
    }
}

/// Sort key of Kubernetes' version priority: GA before beta before alpha, higher numbers
/// first, names that are not Kubernetes versions last (then alphabetical).
fn version_priority(version: &str) -> (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>) {
    use std::cmp::Reverse;
    let not_kube = (3, Reverse(0), Reverse(0));
    let Some(rest) = version.strip_prefix('v') else {
        return not_kube;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(major) = rest[..digits].parse::<u64>() else {
        return not_kube;
    };
    let tail = &rest[digits..];
    let (stage, minor) = if tail.is_empty() {
        (0, "0")
    } else if let Some(n) = tail.strip_prefix("beta") {
        (1, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (2, n)
    } else {
        return not_kube;
    };
    match minor.parse::<u64>() {
        Ok(minor) => (stage, Reverse(major), Reverse(minor)),
        Err(_) => not_kube,
    }
}
