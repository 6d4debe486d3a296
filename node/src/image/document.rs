//! The JSON documents of images: OCI/docker indexes, manifests and configs, read through
//! miniserde's dynamic `Value` because both dialects and their optional fields must be
//! accepted. Archive import and registry pulls both parse with this module; Docker schema 1
//! (signed, pre-2017) is refused.

use std::collections::BTreeMap;

use miniserde::json::{self, Number, Object, Value};

use super::ImageConfig;
use super::error::ImageError;
use super::platform::Platform;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[derive(Clone, Debug, Default)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: Option<Platform>,
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }
}

/// An image index (OCI index.json or a multi-platform list).
#[derive(Debug)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug)]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A manifest whose kind was not known before reading it (a registry answers a tag with
/// either).
#[derive(Debug)]
pub enum Document {
    Index(Index),
    Image(Manifest),
}

/// What the image config contributes: run defaults, layer diff ids, platform.
#[derive(Debug)]
pub struct Config {
    pub run: ImageConfig,
    pub diff_ids: Vec<String>,
    pub platform: Platform,
}

fn parse_value(bytes: &[u8], what: &str) -> Result<Object, ImageError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ImageError::Format(format!("{what} is not UTF-8")))?;
    match json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(ImageError::Format(format!("{what} is not a JSON object"))),
    }
}

fn string(o: &Object, key: &str) -> Option<String> {
    crate::json::str_field(o, key).map(str::to_owned)
}

fn strings(o: &Object, key: &str) -> Vec<String> {
    let items = o
        .get(key)
        .and_then(crate::json::as_array)
        .into_iter()
        .flatten();
    items.filter_map(value_str).collect()
}

fn objects<'a>(o: &'a Object, key: &str) -> impl Iterator<Item = &'a Object> {
    let items = o
        .get(key)
        .and_then(crate::json::as_array)
        .into_iter()
        .flatten();
    items.filter_map(crate::json::as_object)
}

fn object<'a>(o: &'a Object, key: &str) -> Option<&'a Object> {
    o.get(key).and_then(crate::json::as_object)
}

fn parse_platform(o: &Object) -> Option<Platform> {
    Some(Platform {
        os: string(o, "os")?,
        architecture: string(o, "architecture")?,
        variant: string(o, "variant").filter(|v| !v.is_empty()),
    })
}

fn parse_descriptor(o: &Object) -> Result<Descriptor, ImageError> {
    let digest = string(o, "digest")
        .ok_or_else(|| ImageError::Format("descriptor without digest".into()))?;
    super::digest::hex_of(&digest)?;
    let size = match o.get("size") {
        Some(Value::Number(Number::U64(n))) => *n,
        _ => {
            return Err(ImageError::Format(format!(
                "descriptor {digest} without size"
            )));
        }
    };
    let annotations = object(o, "annotations")
        .map(|a| {
            a.iter()
                .filter_map(|(k, v)| Some((k.clone(), value_str(v)?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Descriptor {
        media_type: string(o, "mediaType").unwrap_or_default(),
        digest,
        size,
        platform: object(o, "platform").and_then(parse_platform),
        annotations,
    })
}

fn value_str(v: &Value) -> Option<String> {
    crate::json::as_str(v).map(str::to_owned)
}

/// Parses an index or an image manifest; `content_type` (a response's, parameters allowed)
/// decides when the body does not name its own media type (OCI makes `mediaType` optional).
pub fn parse_document(bytes: &[u8], content_type: Option<&str>) -> Result<Document, ImageError> {
    let o = parse_value(bytes, "manifest")?;
    if matches!(o.get("schemaVersion"), Some(Value::Number(Number::U64(1)))) {
        return Err(ImageError::Unsupported("docker schema 1 manifests".into()));
    }
    let content_type = content_type.map(|ct| ct.split(';').next().unwrap_or_default().trim());
    let media_type = string(&o, "mediaType");
    let is_index = match media_type.as_deref().or(content_type) {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        _ => o.contains_key("manifests"),
    };
    if is_index {
        index_of(&o).map(Document::Index)
    } else {
        manifest_of(&o).map(Document::Image)
    }
}

pub fn parse_index(bytes: &[u8]) -> Result<Index, ImageError> {
    index_of(&parse_value(bytes, "image index")?)
}

fn index_of(o: &Object) -> Result<Index, ImageError> {
    let manifests = objects(o, "manifests")
        .map(parse_descriptor)
        .collect::<Result<_, _>>()?;
    Ok(Index { manifests })
}

pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ImageError> {
    manifest_of(&parse_value(bytes, "manifest")?)
}

fn manifest_of(o: &Object) -> Result<Manifest, ImageError> {
    if let Some(kind) = string(o, "mediaType").filter(|m| m != OCI_MANIFEST && m != DOCKER_MANIFEST)
    {
        return Err(ImageError::Format(format!(
            "expected an image manifest, got {kind}"
        )));
    }
    let config =
        object(o, "config").ok_or_else(|| ImageError::Format("manifest without config".into()))?;
    Ok(Manifest {
        config: parse_descriptor(config)?,
        layers: objects(o, "layers")
            .map(parse_descriptor)
            .collect::<Result<_, _>>()?,
    })
}

pub fn parse_config(bytes: &[u8]) -> Result<Config, ImageError> {
    let o = parse_value(bytes, "image config")?;
    let empty = Object::new();
    let c = object(&o, "config").unwrap_or(&empty);
    let run = ImageConfig {
        entrypoint: strings(c, "Entrypoint"),
        cmd: strings(c, "Cmd"),
        env: strings(c, "Env"),
        working_dir: string(c, "WorkingDir").unwrap_or_default(),
        user: string(c, "User").unwrap_or_default(),
    };
    let diff_ids = object(&o, "rootfs")
        .map(|r| strings(r, "diff_ids"))
        .unwrap_or_default();
    for id in &diff_ids {
        super::digest::hex_of(id)?;
    }
    let platform = parse_platform(&o).unwrap_or_else(|| Platform::new("linux", "", None));
    Ok(Config {
        run,
        diff_ids,
        platform,
    })
}

/// docker save's manifest.json: one entry per image.
pub struct DockerEntry {
    pub config: String,
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

pub fn parse_docker_manifest(bytes: &[u8]) -> Result<Vec<DockerEntry>, ImageError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ImageError::Format("manifest.json is not UTF-8".into()))?;
    let Ok(Value::Array(entries)) = json::from_str::<Value>(text) else {
        return Err(ImageError::Format(
            "manifest.json is not a JSON array".into(),
        ));
    };
    let entries = entries.iter().filter_map(crate::json::as_object);
    entries
        .map(|o| {
            Ok(DockerEntry {
                config: string(o, "Config").ok_or_else(|| {
                    ImageError::Format("manifest.json entry without Config".into())
                })?,
                repo_tags: strings(o, "RepoTags"),
                layers: strings(o, "Layers"),
            })
        })
        .collect()
}

fn descriptor_value(d: &Descriptor) -> Value {
    use crate::json::{opt, s, sparse_obj, string_object, uint};
    let platform = |p: &Platform| {
        sparse_obj([
            ("os", s(&p.os)),
            ("architecture", s(&p.architecture)),
            ("variant", opt(p.variant.as_ref(), s)),
        ])
    };
    let annotations = Some(&d.annotations).filter(|a| !a.is_empty());
    sparse_obj([
        ("mediaType", s(&d.media_type)),
        ("digest", s(&d.digest)),
        ("size", uint(d.size)),
        ("platform", opt(d.platform.as_ref(), platform)),
        ("annotations", opt(annotations, string_object)),
    ])
}

/// Serializes an OCI image manifest (for docker archives, which have none, and test images).
pub fn manifest_json(config: &Descriptor, layers: &[Descriptor]) -> String {
    use crate::json::{array, obj, s, uint};
    let doc = obj([
        ("schemaVersion", uint(2)),
        ("mediaType", s(OCI_MANIFEST)),
        ("config", descriptor_value(config)),
        ("layers", array(layers.iter().map(descriptor_value))),
    ]);
    json::to_string(&doc)
}

/// Serializes an OCI image index.
pub fn index_json(manifests: &[Descriptor]) -> String {
    use crate::json::{array, obj, s, uint};
    let doc = obj([
        ("schemaVersion", uint(2)),
        ("mediaType", s(OCI_INDEX)),
        ("manifests", array(manifests.iter().map(descriptor_value))),
    ]);
    json::to_string(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_fields() {
        let c = parse_config(br#"{"architecture":"arm","os":"linux","variant":"v7",
            "config":{"Entrypoint":["/init"],"Cmd":["sh","-c","x"],"Env":["PATH=/bin"],
            "WorkingDir":"/srv","User":"1000:1000"},
            "rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#).unwrap();
        assert_eq!(c.run.entrypoint, ["/init"]);
        assert_eq!(c.run.cmd, ["sh", "-c", "x"]);
        assert_eq!(c.run.env, ["PATH=/bin"]);
        assert_eq!(c.run.working_dir, "/srv");
        assert_eq!(c.run.user, "1000:1000");
        assert_eq!(c.diff_ids.len(), 1);
        assert_eq!(c.platform, Platform::new("linux", "arm", Some("v7")));
        assert!(parse_config(br#"{"rootfs":{"diff_ids":["md5:1"]}}"#).is_err());
    }

    #[test]
    fn manifest_round_trip() {
        let d = |n: &[u8], t: &str| Descriptor {
            media_type: t.into(),
            digest: super::super::digest::of_bytes(n),
            size: n.len() as u64,
            ..Descriptor::default()
        };
        let text = manifest_json(
            &d(b"c", OCI_CONFIG),
            &[d(b"l1", OCI_LAYER_GZIP), d(b"l2", OCI_LAYER_TAR)],
        );
        let m = parse_manifest(text.as_bytes()).unwrap();
        assert_eq!(m.config.digest, d(b"c", "").digest);
        assert_eq!(m.layers.len(), 2);
        assert_eq!(m.layers[1].media_type, OCI_LAYER_TAR);
        assert!(parse_manifest(index_json(&[]).as_bytes()).is_err());
    }

    #[test]
    fn serialized_bytes_are_stable() {
        // Converted docker archives are stored under the digest of these bytes: a change in
        // key order or number form would make re-imports look like new images.
        let entry = Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: D1.into(),
            size: 3,
            platform: Some(Platform::new("linux", "arm", Some("v7"))),
            annotations: [(
                "org.opencontainers.image.ref.name".to_owned(),
                "1".to_owned(),
            )]
            .into(),
        };
        assert_eq!(
            index_json(&[entry]),
            format!(
                concat!(
                    r#"{{"manifests":[{{"annotations":{{"org.opencontainers.image.ref.name":"1"}},"#,
                    r#""digest":"{}","mediaType":"{}","platform":{{"architecture":"arm","os":"linux","variant":"v7"}},"size":3}}],"#,
                    r#""mediaType":"{}","schemaVersion":2}}"#
                ),
                D1, OCI_MANIFEST, OCI_INDEX
            )
        );
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_document_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_document(&bytes, None);
        }

        #[test]
        fn parse_document_never_panics_on_json_like_text(text in r#"[{}\[\]":,0-9a-zA-Z .+/-]{0,300}"#) {
            let _ = parse_document(text.as_bytes(), Some(OCI_INDEX));
            let _ = parse_document(text.as_bytes(), Some(DOCKER_MANIFEST));
        }
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn documents_of_unknown_kind() {
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{D1}","size":10,"platform":{{"os":"linux","architecture":"arm","variant":"v6"}}}}]}}"#
        );
        let Document::Index(index) = parse_document(list.as_bytes(), None).unwrap() else {
            panic!("not an index");
        };
        let platform = index.manifests[0].platform.as_ref().unwrap();
        assert_eq!(platform.to_string(), "linux/arm/v6");
        let body = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{D1}","size":5}},"layers":[{{"digest":"{D2}","size":7,"mediaType":"x"}}]}}"#
        );
        let header = Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8");
        let Document::Image(image) = parse_document(body.as_bytes(), header).unwrap() else {
            panic!("not an image");
        };
        assert_eq!(image.config.digest, D1);
        assert_eq!(image.layers[0].size, 7);
    }

    #[test]
    fn refuses_schema1_bad_digests_and_junk() {
        let schema1 = parse_document(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).unwrap_err();
        assert!(schema1.to_string().contains("schema 1"), "{schema1}");
        let traversal = r#"{"config":{"digest":"sha256:../../etc/passwd","size":1},"layers":[]}"#;
        let err = parse_document(traversal.as_bytes(), None).unwrap_err();
        assert!(matches!(err, ImageError::InvalidDigest(_)), "{err}");
        let sizeless = format!(r#"{{"config":{{"digest":"{D1}"}},"layers":[]}}"#);
        assert!(parse_document(sizeless.as_bytes(), None).is_err());
        assert!(parse_document(b"[1,2]", None).is_err());
        assert!(parse_document(b"\xff", None).is_err());
    }
}
