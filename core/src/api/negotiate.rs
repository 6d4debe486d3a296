//! Content negotiation: what a response should be, from the Accept header. kubectl's human
//! output asks for `application/json;as=Table;v=v1;g=meta.k8s.io`, everything else for
//! plain JSON; protobuf responses are never required (every Accept kubectl sends includes
//! application/json).

use crate::status::ApiError;
pub use crate::table::IncludeObject;

/// The response form a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    /// A meta.k8s.io Table, in API version v1 or v1beta1.
    Table {
        v1beta1: bool,
    },
    /// PartialObjectMetadata(List), used by metadata-only informers.
    PartialMetadata {
        v1beta1: bool,
    },
}

struct MediaRange<'a> {
    essence: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

fn media_ranges(accept: &str) -> impl Iterator<Item = MediaRange<'_>> {
    accept.split(',').map(|range| {
        let mut parts = range.split(';').map(str::trim);
        let essence = parts.next().unwrap_or("");
        let params = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        MediaRange { essence, params }
    })
}

/// Picks the first acceptable form in the client's order.
pub fn negotiate(accept: Option<&str>) -> Result<Form, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Form::Json);
    };
    for range in media_ranges(accept) {
        let json_like = matches!(
            range.essence,
            "application/json" | "application/*" | "*/*" | "application/yaml"
        );
        if !json_like {
            continue;
        }
        let param = |name: &str| {
            range
                .params
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
        };
        match (param("as"), param("g"), param("v")) {
            (None, _, _) => return Ok(Form::Json),
            (Some("Table"), Some("meta.k8s.io"), Some(v @ ("v1" | "v1beta1"))) => {
                return Ok(Form::Table {
                    v1beta1: v == "v1beta1",
                });
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some(v @ ("v1" | "v1beta1")),
            ) => {
                return Ok(Form::PartialMetadata {
                    v1beta1: v == "v1beta1",
                });
            }
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf".to_owned(),
    ))
}

/// `includeObject` for Table rows; an unknown value is a 400 as upstream.
pub fn include_object(value: Option<&str>) -> Result<IncludeObject, ApiError> {
    match value {
        None | Some("") => Ok(IncludeObject::Metadata),
        Some(text) => IncludeObject::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "includeObject: Unsupported value: {text:?}: supported values: \"Metadata\", \"None\", \"Object\""
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1beta1_only_table_request_gets_v1beta1() {
        let accept = "application/json;as=Table;v=v1beta1;g=meta.k8s.io";
        assert_eq!(
            negotiate(Some(accept)).unwrap(),
            Form::Table { v1beta1: true }
        );
    }

    #[test]
    fn kubectl_get_asks_for_a_v1_table() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            negotiate(Some(accept)).unwrap(),
            Form::Table { v1beta1: false }
        );
    }

    #[test]
    fn plain_and_protobuf_first_accepts_get_json() {
        assert_eq!(negotiate(None).unwrap(), Form::Json);
        assert_eq!(negotiate(Some("application/json")).unwrap(), Form::Json);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf, */*")).unwrap(),
            Form::Json
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=Unknown;g=x;v=y, application/json"
            ))
            .unwrap(),
            Form::Json
        );
    }

    #[test]
    fn protobuf_only_is_not_acceptable() {
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .code,
            406
        );
    }

    #[test]
    fn partial_metadata_is_recognised() {
        let a = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(
            negotiate(Some(a)).unwrap(),
            Form::PartialMetadata { v1beta1: false }
        );
    }
}
