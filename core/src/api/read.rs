//! GET and LIST: objects are written out as the store holds them (their JSON bytes, shared,
//! never re-serialized) unless the client asked for a Table, and lists are assembled by
//! concatenating those bytes.

use std::sync::Arc;

use miniserde::json::Value;
use wisp_store::{KeyValue, Store};

use super::continue_token::ContinueToken;
use super::negotiate::{Form, IncludeObject};
use super::params::Params;
use super::response::ApiResponse;
use super::select::Selection;
use crate::object::{keys, meta, time};
use crate::registry::Resource;
use crate::status::ApiError;

/// Where a list reads from: one namespace or all.
pub fn list_prefix(resource: &Resource, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if resource.namespaced() => {
            keys::namespace_prefix(&resource.group, &resource.plural, ns)
        }
        _ => resource.storage_prefix(),
    }
}

pub fn object_key(resource: &Resource, namespace: Option<&str>, name: &str) -> String {
    let namespace = namespace.filter(|_| resource.namespaced());
    keys::object_key(&resource.group, &resource.plural, namespace, name)
}

/// Reads one object or answers upstream's NotFound.
pub fn fetch(
    store: &Store,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
) -> Result<KeyValue, ApiError> {
    store
        .get(object_key(resource, namespace, name).as_bytes())
        .ok_or_else(|| ApiError::not_found(&resource.group, &resource.plural, name))
}

/// Parses a stored value; stored values are always valid JSON objects we wrote.
pub fn parse_stored(kv: &KeyValue) -> Result<Value, ApiError> {
    meta::from_json_bytes(&kv.value)
        .ok_or_else(|| ApiError::internal("stored object is not valid JSON"))
}

pub fn get(
    store: &Store,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    form: Form,
    include: IncludeObject,
) -> Result<ApiResponse, ApiError> {
    let kv = fetch(store, resource, namespace, name)?;
    match form {
        Form::Json => Ok(ApiResponse::shared(200, Arc::clone(&kv.value))),
        Form::Table { v1beta1 } => {
            let object = parse_stored(&kv)?;
            Ok(ApiResponse::json(
                200,
                table_bytes(resource, &[&object], include, v1beta1, "", ""),
            ))
        }
        Form::PartialMetadata { v1beta1 } => {
            let object = parse_stored(&kv)?;
            Ok(ApiResponse::json(
                200,
                partial_metadata(&object, v1beta1).into_bytes(),
            ))
        }
    }
}

/// How many keys one store range call reads while filtering by selectors.
const RANGE_BATCH: usize = 256;

/// The objects of one list page, with what the list metadata needs.
pub struct Page {
    pub items: Vec<KeyValue>,
    pub revision: u64,
    pub continue_token: Option<String>,
    /// Objects after this page; only known without selectors.
    pub remaining: Option<usize>,
}

pub fn list_page(
    store: &Store,
    resource: &Resource,
    namespace: Option<&str>,
    params: &Params,
    selection: &Selection,
) -> Result<Page, ApiError> {
    let prefix = list_prefix(resource, namespace);
    let token = params
        .continue_token
        .as_deref()
        .map(ContinueToken::decode)
        .transpose()?;
    let mut after: Option<Vec<u8>> = token.as_ref().map(|t| t.start_after.clone().into_bytes());
    let limit = params
        .limit
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let mut items = Vec::new();
    loop {
        let result = store.range(prefix.as_bytes(), RANGE_BATCH, after.as_deref());
        let revision = token
            .as_ref()
            .map_or(result.revision, |t| t.revision.max(result.revision));
        let exhausted = !result.more;
        for kv in result.kvs {
            after = Some(kv.key.to_vec());
            if !selection.matches_stored(resource, &kv)? {
                continue;
            }
            if limit.is_some_and(|l| items.len() == l) {
                // One more match exists beyond the page: hand out a continue token.
                let last = items.last().map_or_else(String::new, |k: &KeyValue| {
                    String::from_utf8_lossy(&k.key).into_owned()
                });
                let token = ContinueToken {
                    revision,
                    start_after: last,
                }
                .encode();
                return Ok(Page {
                    items,
                    revision,
                    continue_token: Some(token),
                    remaining: None,
                });
            }
            items.push(kv);
        }
        if exhausted {
            return Ok(Page {
                items,
                revision,
                continue_token: None,
                remaining: Some(0),
            });
        }
    }
}

pub fn list(
    store: &Store,
    resource: &Resource,
    namespace: Option<&str>,
    params: &Params,
    selection: &Selection,
    form: Form,
    include: IncludeObject,
) -> Result<ApiResponse, ApiError> {
    let page = list_page(store, resource, namespace, params, selection)?;
    let cont = page.continue_token.clone().unwrap_or_default();
    match form {
        Form::Json => Ok(ApiResponse::json(200, list_json(resource, &page))),
        Form::Table { v1beta1 } => {
            let objects = page
                .items
                .iter()
                .map(parse_stored)
                .collect::<Result<Vec<_>, _>>()?;
            let rows: Vec<&Value> = objects.iter().collect();
            let rv = page.revision.to_string();
            Ok(ApiResponse::json(
                200,
                table_bytes(resource, &rows, include, v1beta1, &rv, &cont),
            ))
        }
        Form::PartialMetadata { v1beta1 } => {
            let mut out = format!(
                "{{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"meta.k8s.io/{}\",\"metadata\":{},\"items\":[",
                if v1beta1 { "v1beta1" } else { "v1" },
                list_meta_json(page.revision, &cont)
            );
            for (i, kv) in page.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&partial_metadata(&parse_stored(kv)?, v1beta1));
            }
            out.push_str("]}");
            Ok(ApiResponse::json(200, out.into_bytes()))
        }
    }
}

/// A meta.k8s.io Table of `objects`; `rv` and `cont` fill the list metadata when not empty.
pub fn table_bytes(
    resource: &Resource,
    objects: &[&Value],
    include: IncludeObject,
    v1beta1: bool,
    rv: &str,
    cont: &str,
) -> Vec<u8> {
    let mut list_meta = miniserde::json::Object::new();
    if !rv.is_empty() {
        meta::set_str(&mut list_meta, "resourceVersion", rv);
    }
    if !cont.is_empty() {
        meta::set_str(&mut list_meta, "continue", cont);
    }
    let mut table = crate::table::table_json(
        resource,
        objects,
        time::now_unix(),
        include,
        Value::Object(list_meta),
    );
    if v1beta1 && let Some(o) = meta::as_object_mut(&mut table) {
        meta::set_str(o, "apiVersion", "meta.k8s.io/v1beta1");
    }
    meta::to_json_bytes(&table)
}

fn list_meta_json(revision: u64, cont: &str) -> String {
    if cont.is_empty() {
        format!("{{\"resourceVersion\":\"{revision}\"}}")
    } else {
        format!(
            "{{\"resourceVersion\":\"{revision}\",\"continue\":{}}}",
            crate::status::json_str(cont)
        )
    }
}

/// `{"kind":"PodList","apiVersion":"v1","metadata":{...},"items":[<stored bytes>,...]}`.
pub fn list_json(resource: &Resource, page: &Page) -> Vec<u8> {
    let cont = page.continue_token.as_deref().unwrap_or("");
    let head = format!(
        "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        resource.list_kind(),
        resource.api_version(),
        list_meta_json(page.revision, cont)
    );
    let size = head.len()
        + page
            .items
            .iter()
            .map(|kv| kv.value.len() + 1)
            .sum::<usize>()
        + 2;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(head.as_bytes());
    for (i, kv) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&kv.value);
    }
    out.extend_from_slice(b"]}");
    out
}

/// An object reduced to PartialObjectMetadata.
pub fn partial_metadata(object: &Value, v1beta1: bool) -> String {
    let metadata = meta::get_path(object, &["metadata"])
        .map_or_else(|| "{}".to_owned(), miniserde::json::to_string);
    format!(
        "{{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/{}\",\"metadata\":{metadata}}}",
        if v1beta1 { "v1beta1" } else { "v1" }
    )
}
