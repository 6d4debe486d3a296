//! The `paths` of a group/version document: for each resource the collection, item and
//! status/scale paths with GET/POST/PUT/PATCH/DELETE operations carrying
//! `x-kubernetes-group-version-kind` and, on writes, the `fieldValidation` parameter (which
//! is what lets kubectl 1.32 skip client-side validation and send `fieldValidation=Strict`).
//!
//! PATCH bodies list JSON patch, merge patch and apply patch but not strategic merge patch:
//! with it listed kubectl would compute apply patches from these schemas' patch extensions,
//! which are not published; without it kubectl uses its compiled-in types for built-in kinds
//! (exact upstream merge keys) and merge patch for custom resources.

use miniserde::json::{Object, Value};

use super::dsl::{gvk_value, ref_schema};
use crate::registry::json::{arr, b, obj, s, set};
use crate::registry::{Gvk, Resource, Verbs};

/// Content types accepted by PATCH operations.
pub const PATCH_CONTENT_TYPES: [&str; 3] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

fn query(name: &str, type_: &str, description: &str) -> Value {
    obj([
        ("name", s(name)),
        ("in", s("query")),
        ("description", s(description)),
        (
            "schema",
            obj([("type", s(type_)), ("uniqueItems", b(true))]),
        ),
    ])
}

fn path_param(name: &str, description: &str) -> Value {
    obj([
        ("name", s(name)),
        ("in", s("path")),
        ("description", s(description)),
        ("required", b(true)),
        (
            "schema",
            obj([("type", s("string")), ("uniqueItems", b(true))]),
        ),
    ])
}

/// Shared parameters, referenced from operations to keep documents small.
const SHARED: [(&str, &str, &str); 15] = [
    (
        "allowWatchBookmarks",
        "boolean",
        "Ask for BOOKMARK watch events.",
    ),
    ("continue", "string", "Token of the next page."),
    ("dryRun", "string", "All: validate without persisting."),
    (
        "fieldManager",
        "string",
        "Name of the actor making the change.",
    ),
    ("fieldSelector", "string", "Restrict by fields."),
    ("force", "boolean", "Take over conflicting fields on apply."),
    ("gracePeriodSeconds", "integer", "Seconds before deletion."),
    ("labelSelector", "string", "Restrict by labels."),
    ("limit", "integer", "Maximum number of items."),
    ("pretty", "string", "Pretty-print the output."),
    (
        "propagationPolicy",
        "string",
        "Orphan, Background or Foreground.",
    ),
    (
        "resourceVersion",
        "string",
        "Version to list or watch from.",
    ),
    (
        "resourceVersionMatch",
        "string",
        "How resourceVersion applies.",
    ),
    ("timeoutSeconds", "integer", "Timeout of the call."),
    ("watch", "boolean", "Watch for changes."),
];

/// `components.parameters` of every document.
pub fn parameter_components() -> Value {
    let mut params: Object = SHARED
        .iter()
        .map(|(name, type_, description)| (name.to_string(), query(name, type_, description)))
        .collect();
    params.insert(
        "namespace".into(),
        path_param("namespace", "Object name and auth scope."),
    );
    params.insert("name".into(), path_param("name", "Name of the object."));
    Value::Object(params)
}

fn shared(name: &str) -> Value {
    obj([("$ref", s(&format!("#/components/parameters/{name}")))])
}

/// Write parameters. `fieldValidation` is inline, never a `$ref`: kubectl matches it by the
/// operation's own parameter names.
fn write_params(patch: bool) -> Value {
    let mut params = vec![
        shared("dryRun"),
        shared("fieldManager"),
        query(
            "fieldValidation",
            "string",
            "How unknown and duplicate fields are handled: Ignore, Warn or Strict.",
        ),
    ];
    if patch {
        params.push(shared("force"));
    }
    arr(params)
}

fn list_params() -> Value {
    arr([
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "timeoutSeconds",
        "watch",
    ]
    .into_iter()
    .map(shared))
}

fn delete_params() -> Value {
    arr(["dryRun", "gracePeriodSeconds", "propagationPolicy"]
        .into_iter()
        .map(shared))
}

fn json_content(schema: Value) -> Value {
    obj([("application/json", obj([("schema", schema)]))])
}

fn response(code: &str, schema: Value) -> (String, Value) {
    let description = match code {
        "201" => "Created",
        "202" => "Accepted",
        _ => "OK",
    };
    (
        code.to_string(),
        obj([
            ("description", s(description)),
            ("content", json_content(schema)),
        ]),
    )
}

/// The pieces an operation is made of.
struct Op<'a> {
    id: String,
    action: &'a str,
    description: String,
    gvk: &'a Gvk,
    params: Option<Value>,
    body: Option<Value>,
    responses: Vec<(String, Value)>,
}

impl Op<'_> {
    fn build(self, tag: &str) -> Value {
        let mut op = obj([
            ("tags", arr([s(tag)])),
            ("description", s(&self.description)),
            ("operationId", s(&self.id)),
            ("x-kubernetes-action", s(self.action)),
            ("x-kubernetes-group-version-kind", gvk_value(self.gvk)),
        ]);
        if let Some(params) = self.params {
            set(&mut op, "parameters", params);
        }
        if let Some(body) = self.body {
            set(
                &mut op,
                "requestBody",
                obj([("content", body), ("required", b(true))]),
            );
        }
        let responses: Object = self.responses.into_iter().collect();
        set(&mut op, "responses", Value::Object(responses));
        op
    }
}

/// Names used to build one resource's paths.
pub struct Target<'a> {
    pub resource: &'a Resource,
    /// Component name of the kind (`io.k8s.api.apps.v1.Deployment`).
    pub schema: &'a str,
    /// Component name of the list kind.
    pub list_schema: &'a str,
}

fn camel(text: &str) -> String {
    text.split(['.', '-'])
        .filter(|part| !part.is_empty() && *part != "k8s" && *part != "io")
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

fn op_suffix(r: &Resource, namespaced: bool) -> String {
    let group = if r.group.is_empty() {
        "Core".into()
    } else {
        camel(&r.group)
    };
    let scope = if namespaced { "Namespaced" } else { "" };
    format!("{group}{}{scope}{}", camel(&r.version), r.kind)
}

fn prefix(r: &Resource) -> String {
    if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    }
}

fn status_schema() -> Value {
    ref_schema("io.k8s.apimachinery.pkg.apis.meta.v1.Status", "")
}

/// Adds every path of one resource to `paths`.
pub fn add_resource_paths(paths: &mut Object, t: &Target<'_>) {
    let r = t.resource;
    let gvk = r.gvk();
    let ns = r.namespaced();
    let base = if ns {
        format!("{}/namespaces/{{namespace}}/{}", prefix(r), r.plural)
    } else {
        format!("{}/{}", prefix(r), r.plural)
    };
    let suffix = op_suffix(r, ns);
    let object = ref_schema(t.schema, "");
    let mut common = vec![shared("pretty")];
    if ns {
        common.insert(0, shared("namespace"));
    }

    let collection = collection_ops(t, &gvk, &suffix, &object);
    if !collection.is_empty() {
        paths.insert(base.clone(), with_params(collection, &common));
    }
    if r.verbs.contains(Verbs::GET) {
        let mut item_params = common.clone();
        item_params.insert(0, shared("name"));
        let item = item_ops(t, &gvk, &suffix, &object);
        paths.insert(format!("{base}/{{name}}"), with_params(item, &item_params));
        for sub in r
            .subresources
            .iter()
            .filter(|s| s.name == "status" || s.name == "scale")
        {
            let sub_gvk = &sub.response;
            let schema = if *sub_gvk == gvk {
                t.schema.to_string()
            } else {
                super::builtin_name(sub_gvk)
            };
            let target = Target {
                resource: r,
                schema: &schema,
                list_schema: "",
            };
            let word = camel(&sub.name);
            let ops = sub_ops(&target, sub_gvk, &format!("{suffix}{word}"), &sub.name);
            paths.insert(
                format!("{base}/{{name}}/{}", sub.name),
                with_params(ops, &item_params),
            );
        }
    }
    if ns && r.verbs.contains(Verbs::LIST) {
        let list = Op {
            id: format!("list{}", op_suffix(r, false)) + "ForAllNamespaces",
            action: "list",
            description: format!("list or watch objects of kind {}", r.kind),
            gvk: &gvk,
            params: Some(list_params()),
            body: None,
            responses: vec![response("200", ref_schema(t.list_schema, ""))],
        };
        let all = obj([("get", list.build(tag_of(r).as_str()))]);
        paths.insert(format!("{}/{}", prefix(r), r.plural), all);
    }
}

/// The OpenAPI tag of a resource's operations (`apps_v1`, `core_v1`).
pub fn tag_of(r: &Resource) -> String {
    let group = if r.group.is_empty() {
        "core"
    } else {
        r.group.split('.').next().unwrap_or("")
    };
    format!("{group}_{}", r.version)
}

fn with_params(mut ops: Object, params: &[Value]) -> Value {
    ops.insert("parameters".into(), arr(params.iter().cloned()));
    Value::Object(ops)
}

fn collection_ops(t: &Target<'_>, gvk: &Gvk, suffix: &str, object: &Value) -> Object {
    let r = t.resource;
    let tag = tag_of(r);
    let mut ops = Object::new();
    if r.verbs.contains(Verbs::LIST) {
        let list = Op {
            id: format!("list{suffix}"),
            action: "list",
            description: format!("list or watch objects of kind {}", r.kind),
            gvk,
            params: Some(list_params()),
            body: None,
            responses: vec![response("200", ref_schema(t.list_schema, ""))],
        };
        ops.insert("get".into(), list.build(&tag));
    }
    if r.verbs.contains(Verbs::CREATE) {
        let create = Op {
            id: format!("create{suffix}"),
            action: "post",
            description: format!("create a {}", r.kind),
            gvk,
            params: Some(write_params(false)),
            body: Some(obj([("*/*", obj([("schema", object.clone())]))])),
            responses: vec![
                response("200", object.clone()),
                response("201", object.clone()),
                response("202", object.clone()),
            ],
        };
        ops.insert("post".into(), create.build(&tag));
    }
    if r.verbs.contains(Verbs::DELETECOLLECTION) {
        let delete = Op {
            id: format!("deletecollection{suffix}"),
            action: "deletecollection",
            description: format!("delete collection of {}", r.kind),
            gvk,
            params: Some(delete_params()),
            body: Some(delete_body()),
            responses: vec![response("200", status_schema())],
        };
        ops.insert("delete".into(), delete.build(&tag));
    }
    ops
}

fn delete_body() -> Value {
    let schema = ref_schema("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "");
    obj([("*/*", obj([("schema", schema)]))])
}

fn patch_body() -> Value {
    let schema = ref_schema("io.k8s.apimachinery.pkg.apis.meta.v1.Patch", "");
    let content: Object = PATCH_CONTENT_TYPES
        .iter()
        .map(|ct| (ct.to_string(), obj([("schema", schema.clone())])))
        .collect();
    Value::Object(content)
}

fn read_write_ops(t: &Target<'_>, gvk: &Gvk, suffix: &str, object: &Value, what: &str) -> Object {
    let r = t.resource;
    let tag = tag_of(r);
    let mut ops = Object::new();
    let read = Op {
        id: format!("read{suffix}"),
        action: "get",
        description: format!("read {what}the specified {}", r.kind),
        gvk,
        params: None,
        body: None,
        responses: vec![response("200", object.clone())],
    };
    ops.insert("get".into(), read.build(&tag));
    if r.verbs.contains(Verbs::UPDATE) {
        let replace = Op {
            id: format!("replace{suffix}"),
            action: "put",
            description: format!("replace {what}the specified {}", r.kind),
            gvk,
            params: Some(write_params(false)),
            body: Some(obj([("*/*", obj([("schema", object.clone())]))])),
            responses: vec![
                response("200", object.clone()),
                response("201", object.clone()),
            ],
        };
        ops.insert("put".into(), replace.build(&tag));
    }
    if r.verbs.contains(Verbs::PATCH) {
        let patch = Op {
            id: format!("patch{suffix}"),
            action: "patch",
            description: format!("partially update {what}the specified {}", r.kind),
            gvk,
            params: Some(write_params(true)),
            body: Some(patch_body()),
            responses: vec![
                response("200", object.clone()),
                response("201", object.clone()),
            ],
        };
        ops.insert("patch".into(), patch.build(&tag));
    }
    ops
}

fn item_ops(t: &Target<'_>, gvk: &Gvk, suffix: &str, object: &Value) -> Object {
    let r = t.resource;
    let mut ops = read_write_ops(t, gvk, suffix, object, "");
    if r.verbs.contains(Verbs::DELETE) {
        let delete = Op {
            id: format!("delete{suffix}"),
            action: "delete",
            description: format!("delete a {}", r.kind),
            gvk,
            params: Some(delete_params()),
            body: Some(delete_body()),
            responses: vec![
                response("200", status_schema()),
                response("202", status_schema()),
            ],
        };
        ops.insert("delete".into(), delete.build(&tag_of(r)));
    }
    ops
}

fn sub_ops(t: &Target<'_>, gvk: &Gvk, suffix: &str, sub: &str) -> Object {
    let object = ref_schema(t.schema, "");
    read_write_ops(t, gvk, suffix, &object, &format!("{sub} of "))
}
