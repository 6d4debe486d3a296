//! What a pull adds to `crate::image::document` (which parses manifests and indexes): the
//! `Accept` header of manifest requests and the choice of one index entry for a platform.

use crate::image::Platform;
pub use crate::image::document::{
    DOCKER_LIST, DOCKER_MANIFEST, Descriptor, Document, Manifest as ImageManifest, OCI_INDEX,
    OCI_MANIFEST, parse_document,
};

/// The `Accept` header of a manifest request, most wanted first.
pub fn accept_header() -> String {
    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ")
}

/// The entry of `entries` that runs best on `wanted`, or the list of what is offered.
pub fn choose<'a>(
    entries: &'a [Descriptor],
    wanted: &Platform,
) -> Result<&'a Descriptor, Vec<String>> {
    let with_platform = entries
        .iter()
        .filter_map(|e| Some((e.platform.as_ref()?, e)));
    wanted.best(with_platform).ok_or_else(|| {
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

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn entries(body: &str) -> Vec<Descriptor> {
        match parse_document(body.as_bytes(), None).unwrap() {
            Document::Index(index) => index.manifests,
            Document::Image(_) => panic!("not an index"),
        }
    }

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
        let entries = entries(&index());
        let armv7 = Platform::new("linux", "arm", Some("v7"));
        assert_eq!(choose(&entries, &armv7).unwrap().digest, D2);
        let arm64 = Platform::new("linux", "arm64", Some("v8"));
        let available = choose(&entries, &arm64).unwrap_err();
        assert_eq!(available, vec!["linux/amd64", "linux/arm/v6"]);
    }

    #[test]
    fn the_first_of_equally_good_entries_wins() {
        let entries = entries(&format!(
            r#"{{"manifests":[
              {{"digest":"{D1}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}},
              {{"digest":"{D2}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
        ));
        let arm64 = Platform::new("linux", "arm64", Some("v8"));
        assert_eq!(choose(&entries, &arm64).unwrap().digest, D1);
    }

    #[test]
    fn accept_header_lists_every_kind() {
        let accept = accept_header();
        for kind in [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST] {
            assert!(accept.contains(kind));
        }
    }
}
