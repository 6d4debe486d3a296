//! The attachment cache, in libcni's layout (`<cache>/results/<network>-<container>-<ifname>`,
//! a `cniCacheV1` document), so that DEL after a restart gets the same `prevResult`,
//! `CNI_ARGS` and runtime config as the ADD that created the attachment.

use std::io::Write;
use std::path::{Path, PathBuf};

use miniserde::json::{self, Object, Value};

use super::error::CniError;
use crate::json::{array, as_array, as_object, as_str, obj, s, str_field};

const KIND: &str = "cniCacheV1";

/// One cached attachment.
#[derive(Clone, Debug)]
pub(crate) struct Cached {
    pub container_id: String,
    pub ifname: String,
    pub network: String,
    pub cni_args: Vec<(String, String)>,
    pub capability_args: Object,
    pub result: Option<Value>,
}

pub(crate) fn results_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("results")
}

pub(crate) fn path(cache_dir: &Path, network: &str, container_id: &str, ifname: &str) -> PathBuf {
    results_dir(cache_dir).join(format!("{network}-{container_id}-{ifname}"))
}

impl Cached {
    /// Writes the entry atomically; `config` is the network list's text.
    pub fn store(&self, cache_dir: &Path, config: &str) -> Result<(), CniError> {
        let dir = results_dir(cache_dir);
        std::fs::create_dir_all(&dir).map_err(|e| CniError::io(&dir, e))?;
        let file = path(cache_dir, &self.network, &self.container_id, &self.ifname);
        let args = self.cni_args.iter().map(|(k, v)| array([s(k), s(v)]));
        let mut doc = obj([
            ("kind", s(KIND)),
            ("containerId", s(&self.container_id)),
            ("config", s(base64(config.as_bytes()))),
            ("ifName", s(&self.ifname)),
            ("networkName", s(&self.network)),
            ("cniArgs", array(args)),
            (
                "capabilityArgs",
                Value::Object(self.capability_args.clone()),
            ),
        ]);
        if let (Value::Object(o), Some(result)) = (&mut doc, &self.result) {
            o.insert("result".to_owned(), result.clone());
        }
        let tmp = file.with_extension("tmp");
        let write = |f: &mut std::fs::File| {
            f.write_all(json::to_string(&doc).as_bytes())?;
            f.sync_all()
        };
        std::fs::File::create(&tmp)
            .and_then(|mut f| write(&mut f))
            .map_err(|e| CniError::io(&tmp, e))?;
        std::fs::rename(&tmp, &file).map_err(|e| CniError::io(&file, e))
    }

    /// Reads one entry; `Ok(None)` when the file does not exist.
    pub fn load(file: &Path) -> Result<Option<Self>, CniError> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CniError::io(file, e)),
        };
        let bad = |detail: &str| CniError::Cache {
            file: file.to_owned(),
            detail: detail.to_owned(),
        };
        let doc: Value = json::from_str(&text).map_err(|_| bad("not valid JSON"))?;
        let o = as_object(&doc).ok_or_else(|| bad("not an object"))?;
        if str_field(o, "kind") != Some(KIND) {
            return Err(bad("kind is not cniCacheV1"));
        }
        let field = |key: &str| str_field(o, key).map(str::to_owned).ok_or_else(|| bad(key));
        Ok(Some(Cached {
            container_id: field("containerId")?,
            ifname: field("ifName")?,
            network: field("networkName")?,
            cni_args: o
                .get("cniArgs")
                .and_then(as_array)
                .map(pairs)
                .unwrap_or_default(),
            capability_args: o
                .get("capabilityArgs")
                .and_then(as_object)
                .cloned()
                .unwrap_or_default(),
            result: o.get("result").cloned(),
        }))
    }

    /// Every entry in the cache, with its file.
    pub fn list(cache_dir: &Path) -> Result<Vec<(PathBuf, Self)>, CniError> {
        let dir = results_dir(cache_dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CniError::io(&dir, e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let file = entry.map_err(|e| CniError::io(&dir, e))?.path();
            if file.extension().is_some_and(|x| x == "tmp") {
                continue;
            }
            if let Some(cached) = Self::load(&file)? {
                found.push((file, cached));
            }
        }
        Ok(found)
    }
}

pub(crate) fn remove(file: &Path) -> Result<(), CniError> {
    match std::fs::remove_file(file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CniError::io(file, e)),
        _ => Ok(()),
    }
}

fn pairs(list: &miniserde::json::Array) -> Vec<(String, String)> {
    let pair = |v: &Value| {
        let kv = as_array(v)?;
        Some((
            as_str(kv.first()?)?.to_owned(),
            as_str(kv.get(1)?)?.to_owned(),
        ))
    };
    list.iter().filter_map(pair).collect()
}

/// Standard base64 with padding, as Go's encoding/json writes `[]byte` (the crate the
/// registry client and the agent decode with).
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"{\"a\":1}\xff"), "eyJhIjoxff8=");
    }

    #[test]
    fn entries_round_trip_in_the_libcni_layout() {
        let dir = std::env::temp_dir().join(format!("wisp-cni-cache-{}", std::process::id()));
        let mut caps = Object::new();
        caps.insert("portMappings".to_owned(), array([]));
        let entry = Cached {
            container_id: "abc".to_owned(),
            ifname: "eth0".to_owned(),
            network: "net".to_owned(),
            cni_args: vec![("K8S_POD_NAME".to_owned(), "p".to_owned())],
            capability_args: caps,
            result: Some(obj([("cniVersion", s("1.0.0"))])),
        };
        entry.store(&dir, "{}").unwrap();
        let file = dir.join("results/net-abc-eth0");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(r#""kind":"cniCacheV1""#) && text.contains(r#""config":"e30=""#));
        let listed = Cached::list(&dir).unwrap();
        assert_eq!(listed.len(), 1);
        let back = &listed[0].1;
        assert_eq!(
            (back.container_id.as_str(), back.ifname.as_str()),
            ("abc", "eth0")
        );
        assert_eq!(back.cni_args, entry.cni_args);
        assert!(back.capability_args.contains_key("portMappings"));
        assert!(back.result.is_some());
        remove(&file).unwrap();
        remove(&file).unwrap();
        assert!(Cached::load(&file).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
