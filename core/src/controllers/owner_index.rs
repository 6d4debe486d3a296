//! The garbage collector's graph, kept small: for each owner UID, the store keys of its
//! dependents (and whether each blocks the owner's foreground deletion); for each
//! dependent key, the owner UIDs it names. No object copies.

use std::collections::HashMap;

use miniserde::json::Value;

use crate::object::meta;

/// One entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub block_owner_deletion: bool,
}

/// The ownerReferences of an object (entries without a uid are skipped).
pub fn owner_refs(object: &Value) -> Vec<OwnerRef> {
    let Some(Value::Array(list)) = meta::get_path(object, &["metadata", "ownerReferences"]) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|r| {
            let text = |k: &str| meta::get_str(r, &[k]).unwrap_or("").to_owned();
            let uid = text("uid");
            (!uid.is_empty()).then(|| OwnerRef {
                api_version: text("apiVersion"),
                kind: text("kind"),
                name: text("name"),
                block_owner_deletion: matches!(
                    meta::get_path(r, &["blockOwnerDeletion"]),
                    Some(Value::Bool(true))
                ),
                uid,
            })
        })
        .collect()
}

/// A dependent as its owner's entry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    pub key: String,
    pub blocking: bool,
}

#[derive(Debug, Default)]
pub struct OwnerIndex {
    dependents: HashMap<String, Vec<Dependent>>,
    owners: HashMap<String, Vec<String>>,
}

impl OwnerIndex {
    /// Records the owners `key` names now, replacing what it named before; returns whether
    /// anything changed.
    pub fn set(&mut self, key: &str, refs: &[OwnerRef]) -> bool {
        let now: Vec<(&str, bool)> = refs
            .iter()
            .map(|r| (r.uid.as_str(), r.block_owner_deletion))
            .collect();
        let before: Vec<(&str, bool)> = self.owners.get(key).map_or_else(Vec::new, |uids| {
            uids.iter()
                .map(|uid| (uid.as_str(), self.blocking(uid, key)))
                .collect()
        });
        if before == now {
            return false;
        }
        self.remove(key);
        if refs.is_empty() {
            return true;
        }
        for r in refs {
            self.dependents
                .entry(r.uid.clone())
                .or_default()
                .push(Dependent {
                    key: key.to_owned(),
                    blocking: r.block_owner_deletion,
                });
        }
        self.owners
            .insert(key.to_owned(), refs.iter().map(|r| r.uid.clone()).collect());
        true
    }

    fn blocking(&self, uid: &str, key: &str) -> bool {
        self.dependents
            .get(uid)
            .and_then(|deps| deps.iter().find(|d| d.key == key))
            .is_some_and(|d| d.blocking)
    }

    /// Forgets `key` as a dependent.
    pub fn remove(&mut self, key: &str) {
        for uid in self.owners.remove(key).unwrap_or_default() {
            if let Some(deps) = self.dependents.get_mut(&uid) {
                deps.retain(|d| d.key != key);
                if deps.is_empty() {
                    self.dependents.remove(&uid);
                }
            }
        }
    }

    pub fn dependents(&self, owner_uid: &str) -> &[Dependent] {
        self.dependents.get(owner_uid).map_or(&[], Vec::as_slice)
    }

    pub fn is_dependent(&self, key: &str) -> bool {
        self.owners.contains_key(key)
    }

    pub fn clear(&mut self) {
        self.dependents.clear();
        self.owners.clear();
    }

    /// Number of dependents indexed.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: &str, block: bool) -> OwnerRef {
        OwnerRef {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "o".into(),
            uid: uid.into(),
            block_owner_deletion: block,
        }
    }

    #[test]
    fn set_replaces_and_remove_forgets() {
        let mut index = OwnerIndex::default();
        assert!(index.set("k1", &[owner("u1", true), owner("u2", false)]));
        assert!(!index.set("k1", &[owner("u1", true), owner("u2", false)]));
        assert!(index.set("k2", &[owner("u1", false)]));
        assert_eq!(index.dependents("u1").len(), 2);
        assert!(index.dependents("u1")[0].blocking);
        assert!(index.set("k1", &[owner("u2", true)]));
        assert_eq!(index.dependents("u1").len(), 1);
        assert!(index.dependents("u2")[0].blocking);
        index.remove("k2");
        assert!(index.dependents("u1").is_empty());
        assert_eq!(index.len(), 1);
        assert!(index.set("k1", &[]));
        assert!(index.is_empty());
    }

    #[test]
    fn refs_are_read_from_metadata() {
        let object: Value = miniserde::json::from_str(
            r#"{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","uid":"u","blockOwnerDeletion":true},{"name":"no-uid"}]}}"#,
        )
        .unwrap();
        let refs = owner_refs(&object);
        assert_eq!(refs.len(), 1);
        assert_eq!(
            (refs[0].kind.as_str(), refs[0].block_owner_deletion),
            ("ReplicaSet", true)
        );
    }
}
