//! Which pod and container a stream request is about, resolved as upstream's
//! LogLocation/streamLocation do: an absent container is the only one the pod has (or a
//! 400 listing the choices), a named one must exist in the spec, and exec, attach and
//! port-forward need a pod that is bound to the node.

use miniserde::json::Value;

use super::node::{PodRef, StreamTarget};
use crate::object::meta;
use crate::status::ApiError;

/// The pod as stored.
pub struct Pod {
    pub value: Value,
    pub namespace: String,
    pub name: String,
}

impl Pod {
    pub fn reference(&self) -> PodRef {
        PodRef {
            namespace: self.namespace.clone(),
            pod: self.name.clone(),
            uid: meta::uid(&self.value).unwrap_or("").to_owned(),
        }
    }

    /// The container `requested` names, or the pod's only container.
    pub fn target(&self, requested: &str) -> Result<StreamTarget, ApiError> {
        let name = &self.name;
        let containers = names(&self.value, "containers");
        let container = if requested.is_empty() {
            match containers.as_slice() {
                [one] => (*one).to_owned(),
                [] => {
                    return Err(ApiError::bad_request(format!(
                        "a container name must be specified for pod {name}"
                    )));
                }
                many => {
                    let mut message = format!(
                        "a container name must be specified for pod {name}, choose one of: [{}]",
                        many.join(" ")
                    );
                    let init = names(&self.value, "initContainers");
                    if !init.is_empty() {
                        message.push_str(&format!(
                            " or one of the init containers: [{}]",
                            init.join(" ")
                        ));
                    }
                    return Err(ApiError::bad_request(message));
                }
            }
        } else if ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .any(|list| names(&self.value, list).contains(&requested))
        {
            requested.to_owned()
        } else {
            return Err(ApiError::bad_request(format!(
                "container {requested} is not valid for pod {name}"
            )));
        };
        Ok(StreamTarget {
            namespace: self.namespace.clone(),
            pod: name.clone(),
            uid: meta::uid(&self.value).unwrap_or("").to_owned(),
            container,
        })
    }

    /// spec.nodeName, or upstream's 400 for exec, attach and port-forward.
    pub fn require_node(&self) -> Result<(), ApiError> {
        match meta::get_str(&self.value, &["spec", "nodeName"]) {
            Some(node) if !node.is_empty() => Ok(()),
            _ => Err(ApiError::bad_request(format!(
                "pod {} does not have a host assigned",
                self.name
            ))),
        }
    }

    pub fn has_node(&self) -> bool {
        self.require_node().is_ok()
    }
}

fn names<'a>(pod: &'a Value, list: &str) -> Vec<&'a str> {
    match meta::get_path(pod, &["spec", list]) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|c| meta::get_str(c, &["name"]))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: &str) -> Pod {
        let json =
            format!(r#"{{"metadata":{{"name":"p","namespace":"ns","uid":"u1"}},"spec":{spec}}}"#);
        Pod {
            value: miniserde::json::from_str(&json).unwrap(),
            namespace: "ns".into(),
            name: "p".into(),
        }
    }

    #[test]
    fn the_only_container_is_the_default() {
        let p = pod(r#"{"containers":[{"name":"a"}]}"#);
        let t = p.target("").unwrap();
        assert_eq!((t.container.as_str(), t.uid.as_str()), ("a", "u1"));
    }

    #[test]
    fn several_containers_need_a_name_with_upstream_messages() {
        let p =
            pod(r#"{"containers":[{"name":"a"},{"name":"b"}],"initContainers":[{"name":"i"}]}"#);
        let e = p.target("").unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(p.target("i").unwrap().container, "i");
        let e = p.target("x").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "container x is not valid for pod p")
        );
    }

    #[test]
    fn unbound_pods_have_no_host() {
        let p = pod(r#"{"containers":[{"name":"a"}]}"#);
        assert_eq!(
            p.require_node().unwrap_err().message,
            "pod p does not have a host assigned"
        );
        assert!(pod(r#"{"nodeName":"n","containers":[]}"#).has_node());
    }
}
