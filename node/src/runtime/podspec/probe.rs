//! Probes and lifecycle hooks of a container, typed by their action.

use super::SpecError;
use super::fields::{Fields, IntOrString};

/// A liveness, readiness or startup probe with upstream's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub handler: Handler,
    pub initial_delay_seconds: i32,
    /// Defaults to 10.
    pub period_seconds: i32,
    /// Defaults to 1.
    pub timeout_seconds: i32,
    /// Defaults to 1.
    pub success_threshold: i32,
    /// Defaults to 3.
    pub failure_threshold: i32,
    pub termination_grace_period_seconds: Option<i64>,
}

/// What a probe or hook does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    Exec {
        command: Vec<String>,
    },
    HttpGet(HttpGet),
    TcpSocket {
        host: Option<String>,
        port: IntOrString,
    },
    Grpc {
        port: i32,
        service: Option<String>,
    },
    /// Lifecycle hooks only.
    Sleep {
        seconds: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGet {
    /// Defaults to the pod IP (None).
    pub host: Option<String>,
    /// Defaults to "/".
    pub path: String,
    pub port: IntOrString,
    /// "HTTP" (default) or "HTTPS".
    pub scheme: String,
    pub headers: Vec<(String, String)>,
}

/// `lifecycle` of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub post_start: Option<Handler>,
    pub pre_stop: Option<Handler>,
}

pub(crate) fn parse_probe(c: &Fields<'_>, key: &str) -> Result<Option<Probe>, SpecError> {
    let Some(p) = c.object(key)? else {
        return Ok(None);
    };
    let handler = parse_handler(&p)?.ok_or_else(|| p.fail("exec", "probe has no action"))?;
    if matches!(handler, Handler::Sleep { .. }) {
        return Err(p.fail("sleep", "sleep is not a probe action"));
    }
    Ok(Some(Probe {
        handler,
        initial_delay_seconds: p.i32("initialDelaySeconds")?.unwrap_or(0),
        period_seconds: p.i32("periodSeconds")?.filter(|v| *v > 0).unwrap_or(10),
        timeout_seconds: p.i32("timeoutSeconds")?.filter(|v| *v > 0).unwrap_or(1),
        success_threshold: p.i32("successThreshold")?.filter(|v| *v > 0).unwrap_or(1),
        failure_threshold: p.i32("failureThreshold")?.filter(|v| *v > 0).unwrap_or(3),
        termination_grace_period_seconds: p.i64("terminationGracePeriodSeconds")?,
    }))
}

pub(crate) fn parse_lifecycle(c: &Fields<'_>) -> Result<Lifecycle, SpecError> {
    let Some(l) = c.object("lifecycle")? else {
        return Ok(Lifecycle::default());
    };
    let hook = |key: &str| -> Result<Option<Handler>, SpecError> {
        match l.object(key)? {
            None => Ok(None),
            Some(h) => parse_handler(&h)?
                .map(Some)
                .ok_or_else(|| h.fail("exec", "hook has no action")),
        }
    };
    Ok(Lifecycle {
        post_start: hook("postStart")?,
        pre_stop: hook("preStop")?,
    })
}

fn parse_handler(h: &Fields<'_>) -> Result<Option<Handler>, SpecError> {
    if let Some(exec) = h.object("exec")? {
        return Ok(Some(Handler::Exec {
            command: exec.strings("command")?,
        }));
    }
    if let Some(http) = h.object("httpGet")? {
        return Ok(Some(Handler::HttpGet(parse_http_get(&http)?)));
    }
    if let Some(tcp) = h.object("tcpSocket")? {
        let port = tcp
            .int_or_string("port")?
            .ok_or_else(|| tcp.fail("port", "missing"))?;
        return Ok(Some(Handler::TcpSocket {
            host: tcp.str("host")?,
            port,
        }));
    }
    if let Some(grpc) = h.object("grpc")? {
        let port = grpc
            .i32("port")?
            .ok_or_else(|| grpc.fail("port", "missing"))?;
        return Ok(Some(Handler::Grpc {
            port,
            service: grpc.str("service")?,
        }));
    }
    if let Some(sleep) = h.object("sleep")? {
        let seconds = sleep
            .i64("seconds")?
            .ok_or_else(|| sleep.fail("seconds", "missing"))?;
        return Ok(Some(Handler::Sleep { seconds }));
    }
    Ok(None)
}

fn parse_http_get(http: &Fields<'_>) -> Result<HttpGet, SpecError> {
    let mut headers = Vec::new();
    for header in http.objects("httpHeaders")? {
        headers.push((header.string("name")?, header.string("value")?));
    }
    Ok(HttpGet {
        host: http.str("host")?.filter(|h| !h.is_empty()),
        path: http
            .str("path")?
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string()),
        port: http
            .int_or_string("port")?
            .ok_or_else(|| http.fail("port", "missing"))?,
        scheme: http.str("scheme")?.unwrap_or_else(|| "HTTP".to_string()),
        headers,
    })
}
