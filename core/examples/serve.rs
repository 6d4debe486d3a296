//! A minimal API server on the real PKI and HTTP stack: /healthz, /readyz, /livez and
//! /version for anyone, 401 for other paths without a client certificate, 404 otherwise.
//! It writes the admin kubeconfig, so `kubectl --kubeconfig <dir>/resources/kubeadmin/kubeconfig
//! get --raw /version` works against it.
//!
//! Usage: cargo run -p wisp-core --example serve -- <data-dir> [port]

use std::path::PathBuf;
use std::rc::Rc;

use wisp_core::http::{self, Limits, Request, Response};
use wisp_core::{kubeconfig, pki};

const VERSION: &str = r#"{"major":"1","minor":"32","gitVersion":"v1.32.0-wisp","gitCommit":"","gitTreeState":"clean","buildDate":"1970-01-01T00:00:00Z","goVersion":"","compiler":"rustc","platform":"linux/amd64"}"#;

async fn handle(req: Request) -> Response {
    match req.path.as_str() {
        "/healthz" | "/readyz" | "/livez" => Response::full(200, "text/plain", "ok"),
        "/version" => Response::full(200, "application/json", VERSION),
        _ if req.identity.is_none() => Response::status_error(401, "Unauthorized", "Unauthorized"),
        path => Response::status_error(
            404,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        ),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data_dir = PathBuf::from(args.next().ok_or("usage: serve <data-dir> [port]")?);
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(6443);
    let sans = pki::default_serving_sans("wisp.local");
    let pki = pki::ensure_pki(&data_dir.join("pki"), &sans)?;
    let path = kubeconfig::write_kubeconfig(&data_dir, port, &pki.admin)?;
    println!("serving cert sans: {}", pki.serving.sans.join(" "));
    println!("kubeconfig: {}", path.display());
    let tls = http::server_config(pki.serving.chain, pki.serving.key, pki.ca_der)?;
    let (_trigger, signal) = http::shutdown_pair();
    async_io::block_on(async {
        let listener = async_net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on https://127.0.0.1:{port}");
        http::serve(listener, tls, Rc::new(handle), Limits::default(), signal).await;
        Ok(())
    })
}
