//! The two auth controllers, both driven by store watches (no polling): ClusterRole
//! aggregation (an aggregationRule's rules are the union of the rules of the ClusterRoles
//! its selectors match, recomputed on every ClusterRole change) and the per-namespace
//! objects: the `default` ServiceAccount and the kube-root-ca.crt ConfigMap (created when a
//! namespace appears, re-created if deleted). They write through [`ApiServer::handle`] as
//! upstream's controllers do: clusterrole-aggregation-controller, service-account-controller
//! and root-ca-cert-publisher, each limited by its system:controller:* role.

use std::rc::Rc;

use futures_lite::future;
use miniserde::json::{Object, Value};
use wisp_store::{EventKind, Store, Watcher};

use super::identities;
use super::rules::{PolicyRule, rules_of};
use super::token_volume::ROOT_CA_CONFIGMAP;
use crate::api::server::User;
use crate::api::server::{ApiRequest, ApiServer};
use crate::object::keys::{object_key, resource_prefix};
use crate::object::meta;
use crate::selector::label::LabelSelector;
use crate::status::ApiError;

/// Every object under `prefix`, in key order.
pub(super) fn read_all(store: &Store, prefix: &str) -> (Vec<Value>, u64) {
    let mut out = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    let mut revision = None;
    loop {
        let page = store.range(prefix.as_bytes(), 512, after.as_deref());
        revision.get_or_insert(page.revision);
        out.extend(
            page.kvs
                .iter()
                .filter_map(|kv| meta::from_json_bytes(&kv.value)),
        );
        after = page.kvs.last().map(|kv| kv.key.to_vec());
        if !page.more {
            return (out, revision.unwrap_or(0));
        }
    }
}

pub(super) async fn send(
    server: &ApiServer,
    user: User,
    method: &str,
    path: String,
    content_type: &str,
    body: String,
) -> u16 {
    let req = ApiRequest {
        method: method.to_owned(),
        path,
        content_type: Some(content_type.to_owned()),
        body: body.into_bytes(),
        user: Some(user),
        ..ApiRequest::default()
    };
    server.handle(req).await.status
}

/// The rules an aggregated ClusterRole should hold, given every ClusterRole.
pub fn aggregated_rules(role: &Value, all: &[Value]) -> Option<Vec<PolicyRule>> {
    let Some(Value::Array(selectors)) =
        meta::get_path(role, &["aggregationRule", "clusterRoleSelectors"])
    else {
        return None;
    };
    let selectors: Vec<LabelSelector> = selectors
        .iter()
        .filter_map(|s| LabelSelector::from_structured(Some(s)).ok())
        .collect();
    let own = meta::name(role);
    let mut rules: Vec<PolicyRule> = Vec::new();
    for other in all.iter().filter(|o| meta::name(o) != own) {
        if selectors.iter().any(|s| s.matches_object(other)) {
            for r in rules_of(other) {
                if !rules.contains(&r) {
                    rules.push(r);
                }
            }
        }
    }
    Some(rules)
}

/// Aggregates every ClusterRole to a fixed point (aggregated roles may feed each other, as
/// view feeds edit feeds admin), then writes the ones that changed.
pub async fn aggregate_once(server: &ApiServer) -> Result<(), ApiError> {
    let prefix = resource_prefix("rbac.authorization.k8s.io", "clusterroles");
    let (mut all, _) = read_all(server.store(), &prefix);
    let mut changed = vec![false; all.len()];
    // Each pass settles at least one more level; a selector cycle stops at the cap.
    for _ in 0..=all.len() {
        let mut moved = false;
        for i in 0..all.len() {
            let Some(wanted) = aggregated_rules(&all[i], &all) else {
                continue;
            };
            if wanted != rules_of(&all[i]) {
                let rules = Value::Array(wanted.iter().map(PolicyRule::to_json).collect());
                if let Some(o) = meta::as_object_mut(&mut all[i]) {
                    o.insert("rules".into(), rules);
                }
                changed[i] = true;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    for role in all
        .iter()
        .zip(&changed)
        .filter(|(_, c)| **c)
        .map(|(r, _)| r)
    {
        write_rules(server, role).await?;
    }
    Ok(())
}

async fn write_rules(server: &ApiServer, role: &Value) -> Result<(), ApiError> {
    let name = meta::name(role).unwrap_or("");
    let mut patch = Object::new();
    patch.insert(
        "rules".into(),
        meta::get_path(role, &["rules"])
            .cloned()
            .unwrap_or(Value::Null),
    );
    let path = format!("/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}");
    let body = miniserde::json::to_string(&Value::Object(patch));
    let user = identities::controller("clusterrole-aggregation-controller");
    match send(
        server,
        user,
        "PATCH",
        path,
        "application/merge-patch+json",
        body,
    )
    .await
    {
        200 | 404 => Ok(()),
        status => Err(ApiError::internal(format!(
            "aggregating clusterrole {name}: {status}"
        ))),
    }
}

/// What waiting on a watch gave.
pub(super) enum Batch {
    Events(Vec<wisp_store::Event>),
    /// The history moved past the watcher: read everything again.
    Compacted,
    /// The store closed: the controller ends.
    Closed,
}

pub(super) async fn next_batch(w: &mut Watcher) -> Batch {
    let first = match w.next().await {
        None => return Batch::Closed,
        Some(Err(_)) => return Batch::Compacted,
        Some(Ok(e)) => e,
    };
    let mut batch = vec![first];
    while let Some(Ok(e)) = w.try_next() {
        batch.push(e);
    }
    Batch::Events(batch)
}

/// Keeps aggregated ClusterRoles current until the store closes.
pub async fn run_aggregation(server: Rc<ApiServer>) {
    let prefix = resource_prefix("rbac.authorization.k8s.io", "clusterroles");
    loop {
        let from = server.store().current_revision();
        let Ok(mut watcher) = server.store().watch(prefix.as_bytes(), from) else {
            return;
        };
        loop {
            if let Err(e) = aggregate_once(&server).await {
                eprintln!("wisp: clusterrole aggregation: {e:?}");
            }
            match next_batch(&mut watcher).await {
                Batch::Events(_) => {}
                Batch::Compacted => break,
                Batch::Closed => return,
            }
        }
    }
}

fn active(namespace: &Value) -> bool {
    meta::deletion_timestamp(namespace).is_none()
        && meta::get_str(namespace, &["status", "phase"]) != Some("Terminating")
}

/// Creates `default` and kube-root-ca.crt in `namespace` unless they exist.
async fn ensure_default_sa(server: &ApiServer, namespace: &str) {
    let sa = format!(
        r#"{{"apiVersion":"v1","kind":"ServiceAccount","metadata":{{"name":"default","namespace":"{namespace}"}}}}"#
    );
    ensure(server, namespace, "serviceaccounts", "default", sa).await;
    let Some(ca) = server.auth().root_ca() else {
        return;
    };
    let mut data = Object::new();
    data.insert("ca.crt".into(), Value::String(ca.to_string()));
    let cm = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{ROOT_CA_CONFIGMAP}","namespace":"{namespace}"}},"data":{}}}"#,
        miniserde::json::to_string(&Value::Object(data))
    );
    ensure(server, namespace, "configmaps", ROOT_CA_CONFIGMAP, cm).await;
}

async fn ensure(server: &ApiServer, namespace: &str, plural: &str, name: &str, body: String) {
    let key = object_key("", plural, Some(namespace), name);
    if server.store().get(key.as_bytes()).is_some() {
        return;
    }
    let path = format!("/api/v1/namespaces/{namespace}/{plural}");
    let account = if plural == "configmaps" {
        "root-ca-cert-publisher"
    } else {
        "service-account-controller"
    };
    let user = identities::controller(account);
    let status = send(server, user, "POST", path, "application/json", body).await;
    // 404/403: the namespace went away or started terminating meanwhile.
    if !matches!(status, 201 | 409 | 404 | 403) {
        eprintln!("wisp: creating {plural}/{name} in {namespace}: {status}");
    }
}

/// One pass: `default` in every active namespace.
pub async fn ensure_default_service_accounts(server: &ApiServer) {
    let (namespaces, _) = read_all(server.store(), &resource_prefix("", "namespaces"));
    for ns in namespaces.iter().filter(|n| active(n)) {
        if let Some(name) = meta::name(ns) {
            ensure_default_sa(server, name).await;
        }
    }
}

/// Keeps the per-namespace objects in every namespace until the store closes.
pub async fn run_service_accounts(server: Rc<ApiServer>) {
    let store = server.store();
    let prefixes = [
        resource_prefix("", "namespaces"),
        resource_prefix("", "serviceaccounts"),
        resource_prefix("", "configmaps"),
    ];
    let watch_all = |from| -> Option<Vec<Watcher>> {
        prefixes
            .iter()
            .map(|p| store.watch(p.as_bytes(), from).ok())
            .collect()
    };
    let Some(mut watchers) = watch_all(store.current_revision()) else {
        return;
    };
    ensure_default_service_accounts(&server).await;
    loop {
        let [ns, sa, cm] = &mut watchers[..] else {
            return;
        };
        let batch = future::or(next_batch(ns), future::or(next_batch(sa), next_batch(cm))).await;
        let batch = match batch {
            Batch::Events(batch) => batch,
            Batch::Closed => return,
            Batch::Compacted => {
                let Some(fresh) = watch_all(store.current_revision()) else {
                    return;
                };
                watchers = fresh;
                ensure_default_service_accounts(&server).await;
                continue;
            }
        };
        for event in batch {
            let key = String::from_utf8_lossy(&event.kv.key).into_owned();
            if let Some(ns) = wanting_default(&key, &prefixes, &event) {
                ensure_default_sa(&server, &ns).await;
            }
        }
    }
}

/// The namespace an event says needs its objects checked: a namespace written, or one of
/// the objects deleted.
fn wanting_default(key: &str, prefixes: &[String; 3], event: &wisp_store::Event) -> Option<String> {
    if let Some(name) = key.strip_prefix(prefixes[0].as_str()) {
        let object = meta::from_json_bytes(&event.kv.value)?;
        return (event.kind == EventKind::Put && active(&object)).then(|| name.to_owned());
    }
    let (plural_prefix, wanted) = if key.starts_with(prefixes[1].as_str()) {
        (&prefixes[1], "default")
    } else {
        (&prefixes[2], ROOT_CA_CONFIGMAP)
    };
    let (ns, name) = key.strip_prefix(plural_prefix.as_str())?.split_once('/')?;
    (event.kind == EventKind::Delete && name == wanted).then(|| ns.to_owned())
}
