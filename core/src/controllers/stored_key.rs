//! Reading a store key back into what it names: `/registry/<group>/<plural>/[<ns>/]<name>`,
//! with `core` for the legacy group.

/// The parts of an object's store key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredKey<'a> {
    pub full: &'a str,
    /// "" for the core group.
    pub group: &'a str,
    pub plural: &'a str,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

impl<'a> StoredKey<'a> {
    pub fn parse(key: &'a [u8]) -> Option<StoredKey<'a>> {
        let full = std::str::from_utf8(key).ok()?;
        let rest = full.strip_prefix("/registry/")?;
        let mut parts = rest.split('/');
        let group = parts.next()?;
        let plural = parts.next()?;
        let first = parts.next()?;
        let (namespace, name) = match (parts.next(), parts.next()) {
            (None, _) => (None, first),
            (Some(name), None) => (Some(first), name),
            (Some(_), Some(_)) => return None,
        };
        let group = if group == "core" { "" } else { group };
        Some(StoredKey {
            full,
            group,
            plural,
            namespace,
            name,
        })
    }

    /// Whether this is the key of a Namespace object.
    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_and_cluster_keys() {
        let k = StoredKey::parse(b"/registry/core/configmaps/default/a").unwrap();
        assert_eq!(
            (k.group, k.plural, k.namespace, k.name),
            ("", "configmaps", Some("default"), "a")
        );
        let k = StoredKey::parse(b"/registry/core/namespaces/default").unwrap();
        assert!(k.is_namespace() && k.namespace.is_none());
        let k = StoredKey::parse(b"/registry/example.com/widgets/ns/w").unwrap();
        assert_eq!(k.group, "example.com");
        assert!(StoredKey::parse(b"/registry/core/pods").is_none());
        assert!(StoredKey::parse(b"/other/core/pods/a").is_none());
        assert!(StoredKey::parse(b"/registry/a/b/c/d/e").is_none());
    }
}
