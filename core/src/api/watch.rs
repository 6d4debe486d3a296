//! WATCH: a chunked stream of `{"type":...,"object":...}` lines fed by a store watcher.
//! Objects go out as stored bytes; selectors turn moves in and out of the selection into
//! ADDED and DELETED as upstream's watch cache does; bookmarks, timeoutSeconds and the
//! 410 Expired error follow k8s-wire.md section 4.

use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::{FutureExt, stream};
use wisp_store::{Event, EventKind, KeyValue, Store, WatchError, Watcher};

use super::negotiate::{Form, IncludeObject};
use super::params::Params;
use super::read::{list_prefix, object_key, parse_stored};
use super::response::{ApiResponse, ChunkStream};
use super::select::Selection;
use crate::object::meta;
use crate::registry::Resource;
use crate::status::ApiError;

/// Upstream's default watch lifetime is 30-60 minutes; clients rewatch after it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often an idle watch with allowWatchBookmarks gets a BOOKMARK.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// Everything a running watch needs, moved into its stream.
struct WatchState {
    resource: Resource,
    selection: Selection,
    form: Form,
    watcher: Watcher,
    initial: std::vec::IntoIter<KeyValue>,
    initial_end_bookmark: Option<u64>,
    bookmarks: bool,
    last_revision: u64,
    deadline: Instant,
    next_bookmark: Instant,
    done: bool,
}

enum Next {
    Event(Option<Result<Event, WatchError>>),
    Bookmark,
    Timeout,
}

pub fn parse_revision(rv: &str) -> Result<u64, ApiError> {
    rv.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
}

pub fn watch(
    store: &Store,
    resource: &Resource,
    namespace: Option<&str>,
    params: &Params,
    selection: Selection,
    form: Form,
) -> Result<ApiResponse, ApiError> {
    let prefix = match selection.pinned_name() {
        Some(name) => object_key(resource, namespace, name),
        None => list_prefix(resource, namespace),
    };
    let (initial, from) = match params.resource_version.as_deref() {
        None | Some("0") => {
            let mut all = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            let revision = loop {
                let page = store.range(prefix.as_bytes(), 512, after.as_deref());
                after = page.kvs.last().map(|kv| kv.key.to_vec());
                all.extend(
                    page.kvs
                        .into_iter()
                        .filter(|kv| selection.matches_stored(resource, kv).unwrap_or(false)),
                );
                if !page.more {
                    break page.revision;
                }
            };
            (all, revision)
        }
        Some(rv) => (Vec::new(), parse_revision(rv)?),
    };
    let watcher = store
        .watch(prefix.as_bytes(), from)
        .map_err(|e| expired(&e))?;
    let timeout = params
        .timeout_seconds
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let now = Instant::now();
    let state = WatchState {
        resource: resource.clone(),
        selection,
        form,
        watcher,
        initial: initial.into_iter(),
        initial_end_bookmark: (params.send_initial_events && params.allow_watch_bookmarks)
            .then_some(from),
        bookmarks: params.allow_watch_bookmarks,
        last_revision: from,
        deadline: now + timeout,
        next_bookmark: now + BOOKMARK_INTERVAL,
        done: false,
    };
    let chunks: ChunkStream = Box::pin(stream::unfold(state, next_chunk));
    Ok(ApiResponse::stream(super::response::JSON, chunks))
}

fn expired(e: &WatchError) -> ApiError {
    match e {
        WatchError::Compacted { requested, oldest } => {
            ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
        }
    }
}

async fn next_chunk(mut st: WatchState) -> Option<(Vec<u8>, WatchState)> {
    if st.done {
        return None;
    }
    if let Some(kv) = st.initial.next() {
        let line = event_line(&st, "ADDED", &kv.value);
        return Some((line, st));
    }
    if let Some(revision) = st.initial_end_bookmark.take() {
        let line = bookmark_line(&st.resource, revision, true);
        return Some((line, st));
    }
    loop {
        let next = wait_next(&mut st).await;
        match next {
            Next::Timeout => return None,
            Next::Bookmark => {
                st.next_bookmark = Instant::now() + BOOKMARK_INTERVAL;
                let line = bookmark_line(&st.resource, st.last_revision, false);
                return Some((line, st));
            }
            Next::Event(None) => return None,
            Next::Event(Some(Err(e))) => {
                st.done = true;
                let status = expired(&e).to_json();
                return Some((
                    format!("{{\"type\":\"ERROR\",\"object\":{status}}}\n").into_bytes(),
                    st,
                ));
            }
            Next::Event(Some(Ok(event))) => {
                st.last_revision = event.kv.mod_revision;
                if let Some(line) = translate(&st, &event) {
                    return Some((line, st));
                }
            }
        }
    }
}

async fn wait_next(st: &mut WatchState) -> Next {
    let deadline = st.deadline;
    let bookmark_at = st.bookmarks.then_some(st.next_bookmark);
    let event = async { Next::Event(st.watcher.next().await) };
    let timeout = async {
        Timer::at(deadline).await;
        Next::Timeout
    };
    let bookmark = async {
        match bookmark_at {
            Some(at) => {
                Timer::at(at).await;
                Next::Bookmark
            }
            None => std::future::pending().await,
        }
    };
    event.or(timeout).or(bookmark).await
}

/// Maps a store event to a watch line under the selection, or None when the client does
/// not see it.
fn translate(st: &WatchState, event: &Event) -> Option<Vec<u8>> {
    let matches = |kv: &KeyValue| {
        st.selection
            .matches_stored(&st.resource, kv)
            .unwrap_or(false)
    };
    match event.kind {
        EventKind::Put => {
            let now = matches(&event.kv);
            let before = event.prev.as_ref().is_some_and(matches);
            let kind = match (before, now) {
                (false, true) => "ADDED",
                (true, true) => "MODIFIED",
                (true, false) => "DELETED",
                (false, false) => return None,
            };
            Some(event_line(st, kind, &event.kv.value))
        }
        EventKind::Delete => {
            if !matches(&event.kv) {
                return None;
            }
            // The last state, carrying the deletion's revision as upstream's DELETED does.
            let mut object = parse_stored(&event.kv).ok()?;
            meta::set_resource_version(&mut object, event.kv.mod_revision);
            Some(event_line(st, "DELETED", &meta::to_json_bytes(&object)))
        }
    }
}

fn event_line(st: &WatchState, kind: &str, object: &[u8]) -> Vec<u8> {
    let head = format!("{{\"type\":\"{kind}\",\"object\":");
    let mut line = Vec::with_capacity(head.len() + object.len() + 2);
    line.extend_from_slice(head.as_bytes());
    match st.form {
        Form::Table { v1beta1 } => {
            let parsed = meta::from_json_bytes(object).unwrap_or(miniserde::json::Value::Null);
            let table = super::read::table_bytes(
                &st.resource,
                &[&parsed],
                IncludeObject::Metadata,
                v1beta1,
                "",
                "",
            );
            line.extend_from_slice(&table);
        }
        Form::PartialMetadata { v1beta1 } => {
            let parsed = meta::from_json_bytes(object).unwrap_or(miniserde::json::Value::Null);
            line.extend_from_slice(super::read::partial_metadata(&parsed, v1beta1).as_bytes());
        }
        Form::Json => line.extend_from_slice(object),
    }
    line.extend_from_slice(b"}\n");
    line
}

fn bookmark_line(resource: &Resource, revision: u64, initial_events_end: bool) -> Vec<u8> {
    let annotations = if initial_events_end {
        ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}"
    } else {
        ""
    };
    format!(
        "{{\"type\":\"BOOKMARK\",\"object\":{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{revision}\"{annotations}}}}}}}\n",
        resource.kind,
        resource.api_version()
    )
    .into_bytes()
}
