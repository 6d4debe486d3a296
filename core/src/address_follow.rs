//! The control plane's side of a host address change (the binary tells it through
//! `Settings::address_changes`): the serving certificate is re-issued when its wanted SAN
//! set changed and swapped in for new TLS handshakes (open connections keep theirs), and
//! the `kubernetes` Endpoints point at the new primary address. Certificate work runs on
//! the blocking pool, never on the executor thread.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::api::server::ApiServer;
use crate::bootstrap::{self, ApiEndpoint};
use crate::http::CertSlot;
use crate::pki;

/// What following an address change needs.
pub struct AddressFollower {
    pub pki_dir: PathBuf,
    /// Configured names and addresses added to the host's own.
    pub extra_sans: Vec<String>,
    pub slot: Arc<CertSlot>,
    pub server: Rc<ApiServer>,
    pub endpoint: ApiEndpoint,
}

impl AddressFollower {
    /// Handles every change sent on `changes` until the sender is gone.
    pub async fn run(mut self, changes: async_channel::Receiver<()>) {
        while changes.recv().await.is_ok() {
            self.renew_certificate().await;
            self.repoint_endpoints().await;
        }
    }

    async fn renew_certificate(&self) {
        let dir = self.pki_dir.clone();
        let sans = wanted_sans(&self.extra_sans);
        let issued = blocking::unblock(move || pki::ensure_serving_cert(&dir, &sans)).await;
        match issued {
            Ok(cert) if cert.reissued => match self.slot.replace(cert.chain, cert.key) {
                Ok(()) => eprintln!(
                    "wisp: host addresses changed: serving certificate re-issued for {}",
                    cert.sans.join(", ")
                ),
                Err(e) => eprintln!("wisp: cannot use the re-issued serving certificate: {e}"),
            },
            Ok(_) => {}
            Err(e) => eprintln!("wisp: cannot re-issue the serving certificate: {e}"),
        }
    }

    async fn repoint_endpoints(&mut self) {
        let host_ip = blocking::unblock(pki::primary_host_address)
            .await
            .to_string();
        if host_ip == self.endpoint.host_ip {
            return;
        }
        self.endpoint.host_ip = host_ip;
        if let Err(e) = bootstrap::point_kubernetes_endpoints(&self.server, &self.endpoint).await {
            eprintln!("wisp: cannot update the kubernetes Endpoints: {e}");
        }
    }
}

/// The serving certificate's SANs on this host now, with the configured extras.
pub fn wanted_sans(extra_sans: &[String]) -> Vec<String> {
    let mut sans = pki::default_serving_sans("");
    sans.extend(extra_sans.iter().cloned());
    pki::normalize_sans(sans)
}
