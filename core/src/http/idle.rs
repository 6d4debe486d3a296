//! The connections that are waiting on their client (in the TLS handshake, for a request
//! head, or kept alive between requests), oldest first, so that at the connection cap the
//! server closes the oldest of them for a new client instead of refusing the newcomer. A
//! flood of silent connections then cannot lock legitimate clients out until the header
//! timeout frees slots. Connections that never completed a request go first; kept-alive
//! ones that did are closed only when no such connection is left (their clients reconnect).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;

use futures_lite::future::or;

/// Which queue a waiting connection is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// No request answered yet: handshaking, silent, or trickling its first head.
    Fresh,
    /// Kept alive after at least one answered request.
    Served,
}

type Entry = (u64, async_channel::Sender<()>);

#[derive(Default)]
pub(crate) struct IdleConnections {
    next: Cell<u64>,
    fresh: RefCell<VecDeque<Entry>>,
    served: RefCell<VecDeque<Entry>>,
}

/// A connection's place in a queue, taken as soon as it starts waiting (for a new
/// connection: when it is accepted, before its task first runs, so that a burst of
/// accepts is evictable at once); left when dropped.
pub(crate) struct IdleTicket {
    set: Rc<IdleConnections>,
    waiting: Waiting,
    id: u64,
    evicted: async_channel::Receiver<()>,
}

impl IdleTicket {
    /// Runs `wait`; None if the connection was closed for a newcomer first.
    pub(crate) async fn wait<T>(self, wait: impl Future<Output = T>) -> Option<T> {
        let evicted = async {
            let _ = self.evicted.recv().await;
            None
        };
        or(async { Some(wait.await) }, evicted).await
    }
}

impl Drop for IdleTicket {
    fn drop(&mut self) {
        let mut queue = self.set.queue(self.waiting).borrow_mut();
        if let Some(i) = queue.iter().position(|(id, _)| *id == self.id) {
            queue.remove(i);
        }
    }
}

impl IdleConnections {
    pub(crate) fn new() -> Rc<IdleConnections> {
        Rc::new(IdleConnections::default())
    }

    fn queue(&self, waiting: Waiting) -> &RefCell<VecDeque<Entry>> {
        match waiting {
            Waiting::Fresh => &self.fresh,
            Waiting::Served => &self.served,
        }
    }

    /// Queues a connection that starts waiting on its client now.
    pub(crate) fn enter(self: &Rc<Self>, waiting: Waiting) -> IdleTicket {
        let (tx, rx) = async_channel::bounded(1);
        let id = self.next.get();
        self.next.set(id + 1);
        self.queue(waiting).borrow_mut().push_back((id, tx));
        IdleTicket {
            set: Rc::clone(self),
            waiting,
            id,
            evicted: rx,
        }
    }

    /// Closes the oldest waiting connection (fresh ones first); false if none waits.
    pub(crate) fn evict_oldest(&self) -> bool {
        for queue in [&self.fresh, &self.served] {
            let oldest = queue.borrow_mut().pop_front();
            if let Some((_, tx)) = oldest {
                let _ = tx.try_send(());
                return true;
            }
        }
        false
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.fresh.borrow().len() + self.served.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{self, block_on};

    #[test]
    fn the_oldest_fresh_wait_is_closed_before_served_ones() {
        let idle = IdleConnections::new();
        let ex = async_executor::LocalExecutor::new();
        let served = ex.spawn({
            let idle = idle.clone();
            let ticket = idle.enter(Waiting::Served);
            async move { ticket.wait(future::pending::<()>()).await }
        });
        let old = ex.spawn({
            let idle = idle.clone();
            let ticket = idle.enter(Waiting::Fresh);
            async move { ticket.wait(future::pending::<()>()).await }
        });
        let young = ex.spawn({
            let idle = idle.clone();
            let ticket = idle.enter(Waiting::Fresh);
            async move { ticket.wait(future::pending::<()>()).await }
        });
        block_on(ex.run(async {
            assert_eq!(idle.len(), 3);
            assert!(idle.evict_oldest());
            assert_eq!(old.await, None);
            assert!(idle.evict_oldest());
            assert_eq!(young.await, None);
            assert!(idle.evict_oldest());
            assert_eq!(served.await, None);
            assert!(!idle.evict_oldest());
        }));
    }

    #[test]
    fn a_finished_wait_leaves_the_queue() {
        let idle = IdleConnections::new();
        assert_eq!(
            block_on(idle.enter(Waiting::Fresh).wait(async { 7 })),
            Some(7)
        );
        assert_eq!(idle.len(), 0);
        assert!(!idle.evict_oldest());
    }
}
