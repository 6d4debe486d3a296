//! Image manifests and indexes (OCI and Docker schema 2) as the pull needs them: the kind of
//! document, its descriptors with validated digests, and the platform of each index entry.
//! Docker schema 1 (signed, pre-2017) is refused.

use miniserde::json::{Number, Object, Value};

use super::reference::is_sha256_digest;
use crate::image::Platform;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The `Accept` header of a manifest request, most wanted first.
pub fn accept_header() -> String {
    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ")
}

/// A content reference inside a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug)]
pub struct IndexEntry {
    pub descriptor: Descriptor,
    pub platform: Option<Platform>,
}

#[derive(Debug)]
pub struct ImageManifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug)]
pub enum Document {
    Index(Vec<IndexEntry>),
    Image(ImageManifest),
}

/// Parses a manifest body; `content_type` is the response's, used when the body does not
/// name its own media type (OCI makes `mediaType` optional).
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Document, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "manifest is not utf-8".to_owned())?;
    let doc = match miniserde::json::from_str::<Value>(text) {
        Ok(Value::Object(doc)) => doc,
        _ => return Err("manifest is not a json object".into()),
    };
    if number(&doc, "schemaVersion") == Some(1) {
        return Err("docker schema 1 manifests are not supported".into());
    }
    let content_type = content_type.map(|ct| ct.split(';').next().unwrap_or_default().trim());
    let media_type = string(&doc, "mediaType")
        .or(content_type)
        .unwrap_or_default();
    let is_index = match media_type {
        OCI_INDEX | DOCKER_LIST => true,
        OCI_MANIFEST | DOCKER_MANIFEST => false,
        _ => doc.contains_key("manifests"),
    };
    if is_index {
        index_entries(&doc).map(Document::Index)
    } else {
        image_manifest(&doc).map(Document::Image)
    }
}

fn index_entries(doc: &Object) -> Result<Vec<IndexEntry>, String> {
    let Some(Value::Array(entries)) = doc.get("manifests") else {
        return Err("index has no manifests list".into());
    };
    entries
        .iter()
        .map(|entry| {
            let Value::Object(entry) = entry else {
                return Err("index entry is not an object".to_owned());
            };
            let platform = match entry.get("platform") {
                Some(Value::Object(p)) => Some(Platform::new(
                    string(p, "os").unwrap_or_default(),
                    string(p, "architecture").unwrap_or_default(),
                    string(p, "variant"),
                )),
                _ => None,
            };
            Ok(IndexEntry {
                descriptor: descriptor(entry)?,
                platform,
            })
        })
        .collect()
}

fn image_manifest(doc: &Object) -> Result<ImageManifest, String> {
    let config = match doc.get("config") {
        Some(Value::Object(config)) => descriptor(config)?,
        _ => return Err("manifest has no config".into()),
    };
    let layers = match doc.get("layers") {
        Some(Value::Array(layers)) => layers
            .iter()
            .map(|layer| match layer {
                Value::Object(layer) => descriptor(layer),
                _ => Err("layer is not an object".to_owned()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("manifest has no layers list".into()),
    };
    Ok(ImageManifest { config, layers })
}

fn descriptor(obj: &Object) -> Result<Descriptor, String> {
    let digest = string(obj, "digest").unwrap_or_default();
    if !is_sha256_digest(digest) {
        return Err(format!("unsupported or malformed digest {digest:?}"));
    }
    Ok(Descriptor {
        media_type: string(obj, "mediaType").unwrap_or_default().to_owned(),
        digest: digest.to_owned(),
        size: number(obj, "size").ok_or_else(|| format!("descriptor {digest} has no size"))?,
    })
}

fn string<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    match obj.get(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn number(obj: &Object, key: &str) -> Option<u64> {
    match obj.get(key) {
        Some(Value::Number(Number::U64(n))) => Some(*n),
        _ => None,
    }
}

/// The entry of `entries` that runs best on `wanted`, or the list of what is offered.
pub fn choose<'a>(
    entries: &'a [IndexEntry],
    wanted: &Platform,
) -> Result<&'a IndexEntry, Vec<String>> {
    let mut best: Option<(u32, &IndexEntry)> = None;
    for entry in entries {
        let score = entry.platform.as_ref().and_then(|p| wanted.score(p));
        // The first of equally good entries wins, as in archive import.
        if let Some(score) = score.filter(|s| best.is_none_or(|(b, _)| *s > b)) {
            best = Some((score, entry));
        }
    }
    best.map(|(_, entry)| entry).ok_or_else(|| {
        entries
            .iter()
            .filter_map(|e| e.platform.as_ref())
            // BuildKit attestations sit in indexes as unknown/unknown; they are not images.
            .filter(|p| p.os != "unknown")
            .map(Platform::to_string)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes, None);
        }

        #[test]
        fn parse_never_panics_on_json_like_text(text in r#"[{}\[\]":,0-9a-zA-Z .+/-]{0,300}"#) {
            let _ = parse(text.as_bytes(), Some(OCI_INDEX));
            let _ = parse(text.as_bytes(), Some(DOCKER_MANIFEST));
        }
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn index() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{D1}","size":10,"platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{D2}","size":11,"platform":{{"os":"linux","architecture":"arm","variant":"v6"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{D3}","size":12,"platform":{{"os":"unknown","architecture":"unknown"}}}}]}}"#
        )
    }

    #[test]
    fn index_choice_and_available_list() {
        let Document::Index(entries) = parse(index().as_bytes(), None).unwrap() else {
            panic!("not an index");
        };
        let armv7 = Platform::new("linux", "arm", Some("v7"));
        assert_eq!(choose(&entries, &armv7).unwrap().descriptor.digest, D2);
        let arm64 = Platform::new("linux", "arm64", Some("v8"));
        let available = choose(&entries, &arm64).unwrap_err();
        assert_eq!(available, vec!["linux/amd64", "linux/arm/v6"]);
    }

    #[test]
    fn the_first_of_equally_good_entries_wins() {
        let body = format!(
            r#"{{"manifests":[
              {{"digest":"{D1}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}},
              {{"digest":"{D2}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
        );
        let Document::Index(entries) = parse(body.as_bytes(), None).unwrap() else {
            panic!("not an index");
        };
        let arm64 = Platform::new("linux", "arm64", Some("v8"));
        assert_eq!(choose(&entries, &arm64).unwrap().descriptor.digest, D1);
    }

    #[test]
    fn image_manifest_with_media_type_from_header() {
        let body = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{D1}","size":5}},"layers":[{{"digest":"{D2}","size":7,"mediaType":"x"}}]}}"#
        );
        let Document::Image(image) = parse(body.as_bytes(), Some(OCI_MANIFEST)).unwrap() else {
            panic!("not an image");
        };
        assert_eq!(image.config.digest, D1);
        assert_eq!(image.layers[0].size, 7);
    }

    #[test]
    fn refuses_schema1_bad_digests_and_junk() {
        assert!(parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).is_err());
        let traversal = r#"{"config":{"digest":"sha256:../../etc/passwd","size":1},"layers":[]}"#;
        assert!(
            parse(traversal.as_bytes(), None)
                .unwrap_err()
                .contains("digest")
        );
        assert!(parse(b"[1,2]", None).is_err());
        assert!(parse(b"\xff", None).is_err());
    }
}
