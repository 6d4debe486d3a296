//! In-process controllers: CRD serving, the garbage collector and namespace lifecycle.
//!
//! One list-then-watch over the whole `/registry/` prefix feeds them all ([`Controllers`]
//! fans each change out); each controller keeps only keys and UIDs, reads objects from the
//! store when it works on them, and writes through [`ApiServer::handle`] as its own
//! identity. Work is event-driven through per-controller [`queue::WorkQueue`]s; the only
//! timer is the per-key backoff after a failed write (a conflict is retried at once: the
//! object changed and is read afresh).

pub mod client;
pub mod crd;
pub mod feed;
pub mod garbage_collector;
pub mod namespace;
pub mod owner_index;
pub mod queue;
mod stored_key;

#[cfg(test)]
mod tests;

use std::cell::OnceCell;
use std::rc::{Rc, Weak};

use async_executor::LocalExecutor;
use miniserde::json::Value;
use wisp_store::{Event, EventKind, KeyValue};

use crate::api::server::{ApiServer, User};
use crate::auth::identities;
use crate::http::ShutdownSignal;
use crate::object::meta;
use client::{Client, ClientError};
use feed::{Feed, FeedItem};
use queue::WorkQueue;
pub use stored_key::StoredKey;

/// The identities controllers write as (their RBAC roles are in
/// [`crate::auth::component_policy`]), with the field manager their writes record
/// (upstream's: the process they run in).
fn gc_identity() -> (User, &'static str) {
    (
        identities::controller("generic-garbage-collector"),
        "kube-controller-manager",
    )
}

fn namespace_identity() -> (User, &'static str) {
    (
        identities::controller("namespace-controller"),
        "kube-controller-manager",
    )
}

fn crd_identity() -> (User, &'static str) {
    let user = User {
        name: crate::auth::component_policy::CRD_CONTROLLER.to_owned(),
        groups: vec![crate::auth::subjects::AUTHENTICATED.to_owned()],
    };
    (user, "kube-apiserver")
}

/// One change as the controllers see it, with its object parsed at most once.
pub struct Observed<'a> {
    pub kind: EventKind,
    pub key: StoredKey<'a>,
    /// The new bytes for a put, the last bytes for a delete.
    pub value: &'a [u8],
    prev: Option<&'a KeyValue>,
    object: OnceCell<Option<Value>>,
    previous: OnceCell<Option<Value>>,
}

impl<'a> Observed<'a> {
    fn new(kind: EventKind, kv: &'a KeyValue, prev: Option<&'a KeyValue>) -> Option<Self> {
        Some(Observed {
            kind,
            key: StoredKey::parse(&kv.key)?,
            value: &kv.value,
            prev,
            object: OnceCell::new(),
            previous: OnceCell::new(),
        })
    }

    /// The object after a put, or as it was when deleted.
    pub fn object(&self) -> Option<&Value> {
        self.object
            .get_or_init(|| meta::from_json_bytes(self.value))
            .as_ref()
    }

    /// The object before a put (None for a create).
    pub fn previous(&self) -> Option<&Value> {
        self.previous
            .get_or_init(|| self.prev.and_then(|kv| meta::from_json_bytes(&kv.value)))
            .as_ref()
    }

    pub fn contains(&self, needle: &[u8]) -> bool {
        self.value.windows(needle.len()).any(|w| w == needle)
    }
}

/// Whether two versions of an object have equal `status` (so a write can be skipped).
fn same_status(a: &Value, b: &Value) -> bool {
    match (
        meta::get_path(a, &["status"]),
        meta::get_path(b, &["status"]),
    ) {
        (Some(x), Some(y)) => crate::patch::value::values_equal(x, y),
        (None, None) => true,
        _ => false,
    }
}

/// What every controller implements: take the changes in, and work on one key.
pub(crate) trait Controller {
    fn name(&self) -> &'static str;
    fn queue(&self) -> &WorkQueue<String>;
    /// Called for every object once at start and after a relist, before any event.
    fn relisted(&self, items: &[Observed<'_>]);
    fn observe(&self, change: &Observed<'_>);
    async fn reconcile(&self, key: &str) -> Result<(), ClientError>;
}

/// The controllers, loaded (CRDs served) and ready to run.
pub struct Controllers {
    executor: Rc<LocalExecutor<'static>>,
    feed: Feed,
    crd: Rc<crd::CrdController>,
    gc: Rc<garbage_collector::GarbageCollector>,
    namespaces: Rc<namespace::NamespaceController>,
}

impl Controllers {
    /// Lists the store once and hands it to every controller; CRDs are served when this
    /// returns, so /readyz may turn ready.
    pub fn start(server: &Rc<ApiServer>) -> Controllers {
        let executor = Rc::new(LocalExecutor::new());
        let spawner = Rc::downgrade(&executor);
        let client =
            |(name, manager)| Client::new(Rc::clone(server), name, manager, Weak::clone(&spawner));
        let (items, feed) = Feed::start(server.store(), b"/registry/");
        let controllers = Controllers {
            crd: Rc::new(crd::CrdController::new(client(crd_identity()))),
            gc: Rc::new(garbage_collector::GarbageCollector::new(client(
                gc_identity(),
            ))),
            namespaces: Rc::new(namespace::NamespaceController::new(client(
                namespace_identity(),
            ))),
            executor,
            feed,
        };
        controllers.relisted(&items);
        controllers
    }

    fn relisted(&self, items: &[KeyValue]) {
        let observed: Vec<Observed<'_>> = items
            .iter()
            .filter_map(|kv| Observed::new(EventKind::Put, kv, None))
            .collect();
        // CRDs first: the others look custom resources up in the registry.
        self.crd.relisted(&observed);
        self.gc.relisted(&observed);
        self.namespaces.relisted(&observed);
    }

    fn observe(&self, event: &Event) {
        let Some(change) = Observed::new(event.kind, &event.kv, event.prev.as_ref()) else {
            return;
        };
        self.crd.observe(&change);
        self.gc.observe(&change);
        self.namespaces.observe(&change);
    }

    /// Runs the workers and the fan-out until `shutdown` fires.
    pub async fn run(self, shutdown: ShutdownSignal) {
        self.drive(shutdown.wait()).await;
    }

    /// Runs the controllers alongside `until` and returns its output (tests drive the API
    /// this way while the controllers work); `None` if the store closed first.
    pub async fn run_until<T>(self, until: impl std::future::Future<Output = T>) -> Option<T> {
        self.drive(until).await
    }

    async fn drive<T>(mut self, until: impl std::future::Future<Output = T>) -> Option<T> {
        let executor = Rc::clone(&self.executor);
        spawn_workers(&executor, &self.crd, 1);
        spawn_workers(&executor, &self.gc, 4);
        spawn_workers(&executor, &self.namespaces, 2);
        let fan_out = async move {
            while let Some(item) = self.feed.next().await {
                match item {
                    FeedItem::Event(event) => self.observe(&event),
                    FeedItem::Relisted(items) => self.relisted(&items),
                }
            }
            None
        };
        let until = async { Some(until.await) };
        executor.run(futures_lite::future::or(until, fan_out)).await
    }
}

fn spawn_workers<C: Controller + 'static>(
    executor: &Rc<LocalExecutor<'static>>,
    controller: &Rc<C>,
    count: usize,
) {
    for _ in 0..count {
        let task = work(Rc::downgrade(executor), Rc::clone(controller));
        executor.spawn(task).detach();
    }
}

async fn work<C: Controller + 'static>(executor: Weak<LocalExecutor<'static>>, controller: Rc<C>) {
    loop {
        let key = controller.queue().next().await;
        let result = controller.reconcile(&key).await;
        controller.queue().done(&key);
        match result {
            Ok(()) => controller.queue().forget(&key),
            Err(e) if e.conflict() => controller.queue().add(key),
            Err(e) if e.not_found() => controller.queue().forget(&key),
            Err(e) => {
                let delay = controller.queue().retry_delay(&key);
                eprintln!(
                    "wisp: {}: {key}: {e}; retrying in {delay:?}",
                    controller.name()
                );
                let Some(executor) = executor.upgrade() else {
                    return;
                };
                let controller = Rc::clone(&controller);
                executor
                    .spawn(async move {
                        async_io::Timer::after(delay).await;
                        controller.queue().add(key);
                    })
                    .detach();
            }
        }
    }
}
