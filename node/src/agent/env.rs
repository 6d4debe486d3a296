//! A container's environment as upstream builds it: `envFrom` sources first, then `env`
//! entries in order (later ones win), values from literals with `$(VAR)` expansion,
//! ConfigMap and Secret keys, the pod's own fields (downward API) and its resources.

use miniserde::json::Value;
use wisp_proto::ObjectKind;

use super::Ctx;
use super::json::{self, get_bool, get_str};
use crate::runtime::podspec::{Container, Pod};

/// The resolved variables, or the message of a CreateContainerConfigError.
pub async fn resolve(ctx: &Ctx, pod: &Pod, c: &Container) -> Result<Vec<(String, String)>, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    if let Some(env_from) = c.env_from.as_deref().and_then(json::parse) {
        for source in json::get_array(&env_from, &[]) {
            from_source(ctx, pod, source, &mut vars).await?;
        }
    }
    for var in &c.env {
        let value = match (&var.value, &var.value_from) {
            (_, Some(from)) => {
                let from = json::parse(from).ok_or("invalid valueFrom")?;
                match value_from(ctx, pod, c, &from).await? {
                    Some(v) => v,
                    None => continue,
                }
            }
            (Some(v), None) => expand(v, &vars),
            (None, None) => String::new(),
        };
        set(&mut vars, &var.name, value);
    }
    Ok(vars)
}

fn set(vars: &mut Vec<(String, String)>, name: &str, value: String) {
    match vars.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value,
        None => vars.push((name.to_owned(), value)),
    }
}

/// `$(NAME)` expands to an earlier variable, `$$` escapes; unknown references stay as written.
pub fn expand(text: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

async fn from_source(
    ctx: &Ctx,
    pod: &Pod,
    source: &Value,
    vars: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let prefix = get_str(source, &["prefix"]).unwrap_or("");
    let (kind, reference) = if let Some(r) = json::get(source, &["configMapRef"]) {
        (ObjectKind::ConfigMap, r)
    } else if let Some(r) = json::get(source, &["secretRef"]) {
        (ObjectKind::Secret, r)
    } else {
        return Ok(());
    };
    let name = get_str(reference, &["name"]).unwrap_or("");
    let optional = get_bool(reference, &["optional"]).unwrap_or(false);
    let Some(data) = read_data(ctx, kind, &pod.namespace, name).await? else {
        return if optional {
            Ok(())
        } else {
            Err(format!("{} \"{name}\" not found", kind_name(kind)))
        };
    };
    for (key, value) in data {
        set(
            vars,
            &format!("{prefix}{key}"),
            String::from_utf8_lossy(&value).into_owned(),
        );
    }
    Ok(())
}

fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::ConfigMap => "configmap",
        ObjectKind::Secret => "secret",
        ObjectKind::ServiceAccount => "serviceaccount",
    }
}

/// The data of a ConfigMap (data and binaryData) or Secret (base64-decoded), key order kept.
pub async fn read_data(
    ctx: &Ctx,
    kind: ObjectKind,
    namespace: &str,
    name: &str,
) -> Result<Option<Vec<(String, Vec<u8>)>>, String> {
    let json = ctx
        .link
        .get(kind, namespace, name)
        .await
        .map_err(|e| e.to_string())?;
    let Some(json) = json else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&json);
    let object = json::parse(&text).ok_or("unreadable object")?;
    let mut out = Vec::new();
    let decode = |v: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|e| format!("{name}: invalid base64: {e}"))
    };
    match kind {
        ObjectKind::Secret => {
            for (k, v) in json::string_map(&object, &["data"]) {
                out.push((k.to_owned(), decode(v)?));
            }
        }
        _ => {
            for (k, v) in json::string_map(&object, &["data"]) {
                out.push((k.to_owned(), v.as_bytes().to_vec()));
            }
            for (k, v) in json::string_map(&object, &["binaryData"]) {
                out.push((k.to_owned(), decode(v)?));
            }
        }
    }
    Ok(Some(out))
}

async fn value_from(
    ctx: &Ctx,
    pod: &Pod,
    c: &Container,
    from: &Value,
) -> Result<Option<String>, String> {
    for (field, kind) in [
        ("configMapKeyRef", ObjectKind::ConfigMap),
        ("secretKeyRef", ObjectKind::Secret),
    ] {
        let Some(r) = json::get(from, &[field]) else {
            continue;
        };
        let name = get_str(r, &["name"]).unwrap_or("");
        let key = get_str(r, &["key"]).unwrap_or("");
        let optional = get_bool(r, &["optional"]).unwrap_or(false);
        let data = read_data(ctx, kind, &pod.namespace, name).await?;
        let found = data
            .as_ref()
            .and_then(|d| d.iter().find(|(k, _)| k == key))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        return match (found, data.is_some(), optional) {
            (Some(v), _, _) => Ok(Some(v)),
            (None, _, true) => Ok(None),
            (None, true, false) => Err(format!(
                "couldn't find key {key} in {} {}/{name}",
                match kind {
                    ObjectKind::Secret => "Secret",
                    _ => "ConfigMap",
                },
                pod.namespace
            )),
            (None, false, false) => Err(format!("{} \"{name}\" not found", kind_name(kind))),
        };
    }
    if let Some(path) = get_str(from, &["fieldRef", "fieldPath"]) {
        return field_ref(ctx, pod, path).map(Some);
    }
    if let Some(r) = json::get(from, &["resourceFieldRef"]) {
        return resource_ref(ctx, c, r).map(Some);
    }
    Err("valueFrom names no source".into())
}

/// The downward API's pod fields.
pub fn field_ref(ctx: &Ctx, pod: &Pod, path: &str) -> Result<String, String> {
    let ip = ctx.pod_ip(&pod.uid).unwrap_or_default();
    let map_entry = |map: &std::collections::BTreeMap<String, String>, rest: &str| {
        let key = rest
            .strip_prefix("['")
            .and_then(|r| r.strip_suffix("']"))
            .unwrap_or(rest);
        map.get(key).cloned().unwrap_or_default()
    };
    Ok(match path {
        "metadata.name" => pod.name.clone(),
        "metadata.namespace" => pod.namespace.clone(),
        "metadata.uid" => pod.uid.clone(),
        "spec.nodeName" => pod.spec.node_name.clone().unwrap_or_default(),
        "spec.serviceAccountName" => pod.spec.service_account_name.clone(),
        "status.hostIP" | "status.hostIPs" => ctx.host_ip.borrow().to_string(),
        "status.podIP" | "status.podIPs" => ip,
        p if p.starts_with("metadata.labels") => {
            map_entry(&pod.labels, &p["metadata.labels".len()..])
        }
        p if p.starts_with("metadata.annotations") => {
            map_entry(&pod.annotations, &p["metadata.annotations".len()..])
        }
        other => return Err(format!("unsupported fieldPath {other}")),
    })
}

/// `resourceFieldRef`: a container's requests or limits in units of the divisor; limits
/// default to the node's allocatable as upstream.
pub fn resource_ref(ctx: &Ctx, c: &Container, r: &Value) -> Result<String, String> {
    let resource = get_str(r, &["resource"]).unwrap_or("");
    let divisor = get_str(r, &["divisor"]).unwrap_or("1");
    let divisor = crate::runtime::quantity::Quantity::parse(divisor).map_err(|e| e.to_string())?;
    let (requests, limits) = (&c.resources.requests, &c.resources.limits);
    let value_millis: i64 = match resource {
        "limits.cpu" => limits.cpu_millis.unwrap_or(ctx.node_cpu_millis),
        "requests.cpu" => requests.cpu_millis.unwrap_or(0),
        "limits.memory" => limits
            .memory_bytes
            .unwrap_or(ctx.node_memory_bytes)
            .saturating_mul(1000),
        "requests.memory" => requests.memory_bytes.unwrap_or(0).saturating_mul(1000),
        "limits.ephemeral-storage" => limits
            .ephemeral_storage_bytes
            .unwrap_or(0)
            .saturating_mul(1000),
        "requests.ephemeral-storage" => requests
            .ephemeral_storage_bytes
            .unwrap_or(0)
            .saturating_mul(1000),
        other => return Err(format!("unsupported resource {other}")),
    };
    let divisor_millis = divisor.millis_ceil().max(1);
    // Upstream rounds up: 1 CPU with divisor 1 is "1", 250m with divisor 1 is "1".
    Ok(((value_millis + divisor_millis - 1) / divisor_millis).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_references_like_upstream() {
        let vars = vec![("A".to_owned(), "x".to_owned())];
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &vars), "x-$(B)-$(A)-$");
    }
}
