//! A one-shot, many-listener shutdown signal. Firing (or dropping) the trigger wakes every
//! clone of the signal; it is a closed channel underneath, so it costs no task.

/// Fires the shutdown. Dropping it fires it too, so a server never outlives its owner's
/// intent by accident.
#[derive(Debug)]
pub struct ShutdownTrigger(async_channel::Sender<()>);

/// Waits for the shutdown; clone one per listener.
#[derive(Debug, Clone)]
pub struct ShutdownSignal(async_channel::Receiver<()>);

/// A connected trigger and signal.
pub fn shutdown_pair() -> (ShutdownTrigger, ShutdownSignal) {
    let (tx, rx) = async_channel::bounded(1);
    (ShutdownTrigger(tx), ShutdownSignal(rx))
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        self.0.close();
    }
}

impl ShutdownSignal {
    /// A signal that never fires (for servers stopped only by dropping them).
    pub fn never() -> ShutdownSignal {
        let (tx, rx) = async_channel::bounded(1);
        std::mem::forget(tx);
        ShutdownSignal(rx)
    }

    /// Completes once the shutdown has fired.
    pub async fn wait(&self) {
        // Nothing is ever sent: recv only returns when the channel closes.
        let _ = self.0.recv().await;
    }

    pub fn is_fired(&self) -> bool {
        self.0.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fire_wakes_every_clone() {
        let (trigger, signal) = shutdown_pair();
        let other = signal.clone();
        assert!(!signal.is_fired());
        trigger.fire();
        futures_lite::future::block_on(async {
            signal.wait().await;
            other.wait().await;
        });
        assert!(other.is_fired());
        let (trigger, signal) = shutdown_pair();
        drop(trigger);
        assert!(signal.is_fired());
    }
}
