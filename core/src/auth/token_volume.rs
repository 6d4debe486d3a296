//! The ServiceAccount admission of pods (upstream plugin/pkg/admission/serviceaccount): a
//! new pod's ServiceAccount must exist, and unless automounting is off (on the pod, else on
//! the ServiceAccount) every container gets the `kube-api-access-<suffix>` projected volume
//! (a bound token, the cluster CA from the kube-root-ca.crt ConfigMap, the namespace)
//! mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount.

use miniserde::json::{Array, Number, Object, Value};
use wisp_store::Store;

use super::attributes::forbidden_on;
use crate::object::keys::object_key;
use crate::object::meta;
use crate::status::ApiError;

pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
/// upstream's 1 hour plus 7 seconds, which marks a token as kubelet-refreshed.
const TOKEN_SECONDS: i64 = 3607;
/// The alphabet of apimachinery's rand.String (no vowels, no confusable digits).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Admits a pod being created in `namespace`: ServiceAccount admission, then the
/// namespace's Pod Security level.
pub fn admit_pod(store: &Store, namespace: &str, pod: &mut Value) -> Result<(), ApiError> {
    mount_service_account(store, namespace, pod)?;
    super::pod_security::enforce(store, namespace, pod)
}

fn mount_service_account(store: &Store, namespace: &str, pod: &mut Value) -> Result<(), ApiError> {
    if meta::get_str(pod, &["metadata", "annotations", MIRROR_ANNOTATION]).is_some() {
        return Ok(());
    }
    let account = meta::get_str(pod, &["spec", "serviceAccountName"])
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_owned();
    let key = object_key("", "serviceaccounts", Some(namespace), &account);
    let Some(sa) = store
        .get(key.as_bytes())
        .and_then(|kv| meta::from_json_bytes(&kv.value))
    else {
        let name = meta::name(pod).unwrap_or("");
        return Err(forbidden_on(
            "",
            "pods",
            name,
            &format!(
                "error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
            ),
        ));
    };
    let automount = match meta::get_path(pod, &["spec", "automountServiceAccountToken"]) {
        Some(Value::Bool(b)) => *b,
        _ => !matches!(
            meta::get_path(&sa, &["automountServiceAccountToken"]),
            Some(Value::Bool(false))
        ),
    };
    if automount {
        mount(pod);
    }
    Ok(())
}

fn suffix() -> String {
    let mut bytes = [0u8; 5];
    getrandom::getrandom(&mut bytes).expect("the kernel's random source is available");
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Adds the volume and a mount in every container that has nothing at [`MOUNT_PATH`].
pub fn mount(pod: &mut Value) {
    let volume_name = format!("kube-api-access-{}", suffix());
    let mut mounted = false;
    for list in ["initContainers", "containers"] {
        let Some(Value::Array(containers)) = meta::as_object_mut(pod)
            .and_then(|o| o.get_mut("spec"))
            .and_then(meta::as_object_mut)
            .and_then(|s| s.get_mut(list))
        else {
            continue;
        };
        for c in containers.iter_mut() {
            mounted |= add_mount(c, &volume_name);
        }
    }
    if !mounted {
        return;
    }
    let spec = meta::ensure_object(pod, &["spec"]);
    let volumes = spec
        .entry("volumes".to_owned())
        .or_insert_with(|| Value::Array(Array::new()));
    if !matches!(volumes, Value::Array(_)) {
        *volumes = Value::Array(Array::new());
    }
    if let Value::Array(v) = volumes {
        v.push(volume(&volume_name));
    }
}

fn add_mount(container: &mut Value, volume_name: &str) -> bool {
    let Some(c) = meta::as_object_mut(container) else {
        return false;
    };
    let mounts = c
        .entry("volumeMounts".to_owned())
        .or_insert_with(|| Value::Array(Array::new()));
    let Value::Array(mounts) = mounts else {
        return false;
    };
    if mounts
        .iter()
        .any(|m| meta::get_str(m, &["mountPath"]) == Some(MOUNT_PATH))
    {
        return false;
    }
    let mut m = Object::new();
    m.insert("mountPath".into(), Value::String(MOUNT_PATH.into()));
    m.insert("name".into(), Value::String(volume_name.into()));
    m.insert("readOnly".into(), Value::Bool(true));
    mounts.push(Value::Object(m));
    true
}

fn parse(json: &str) -> Value {
    miniserde::json::from_str(json).unwrap_or(Value::Null)
}

fn volume(name: &str) -> Value {
    let mut v = parse(&format!(
        r#"{{"name":"{name}","projected":{{"defaultMode":420,"sources":[
        {{"serviceAccountToken":{{"path":"token"}}}},
        {{"configMap":{{"name":"{ROOT_CA_CONFIGMAP}","items":[{{"key":"ca.crt","path":"ca.crt"}}]}}}},
        {{"downwardAPI":{{"items":[{{"fieldRef":{{"apiVersion":"v1","fieldPath":"metadata.namespace"}},"path":"namespace"}}]}}}}]}}}}"#
    ));
    if let Some(Value::Array(sources)) = meta::as_object_mut(&mut v)
        .and_then(|o| o.get_mut("projected"))
        .and_then(meta::as_object_mut)
        .and_then(|p| p.get_mut("sources"))
        && let Some(token) = sources
            .first_mut()
            .and_then(meta::as_object_mut)
            .and_then(|s| s.get_mut("serviceAccountToken"))
            .and_then(meta::as_object_mut)
    {
        token.insert(
            "expirationSeconds".into(),
            Value::Number(Number::I64(TOKEN_SECONDS)),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(extra_spec: &str) -> Value {
        parse(&format!(
            r#"{{"metadata":{{"name":"p"}},"spec":{{{extra_spec}"containers":[{{"name":"a"}},{{"name":"b","volumeMounts":[{{"name":"x","mountPath":"{MOUNT_PATH}"}}]}}]}}}}"#
        ))
    }

    #[test]
    fn containers_get_the_projected_token_volume() {
        let mut p = pod("");
        mount(&mut p);
        let json = miniserde::json::to_string(&p);
        let Some(Value::Array(vols)) = meta::get_path(&p, &["spec", "volumes"]) else {
            panic!("no volumes: {json}")
        };
        let name = meta::get_str(&vols[0], &["name"]).unwrap();
        assert!(
            name.starts_with("kube-api-access-") && name.len() == 21,
            "{name}"
        );
        assert!(json.contains(r#""expirationSeconds":3607"#), "{json}");
        assert!(json.contains(r#""name":"kube-root-ca.crt""#));
        let Some(Value::Array(cs)) = meta::get_path(&p, &["spec", "containers"]) else {
            panic!()
        };
        let Some(Value::Array(a)) = meta::get_path(&cs[0], &["volumeMounts"]) else {
            panic!()
        };
        assert_eq!(meta::get_str(&a[0], &["name"]), Some(name));
        let Some(Value::Array(b)) = meta::get_path(&cs[1], &["volumeMounts"]) else {
            panic!()
        };
        assert_eq!(b.len(), 1, "a container with its own mount there keeps it");
    }
}
