//! The query parameters of the stream subresources, read as upstream's parameter codec
//! reads PodLogOptions, PodExecOptions, PodAttachOptions and PodPortForwardOptions, and
//! validated with upstream's messages. Unknown parameters are ignored.

use super::node::{AttachOptions, ExecOptions, LogOptions};
use crate::object::time;
use crate::status::{ApiError, field};

type Query<'a> = &'a [(String, String)];

/// The container a log, exec or attach request names (empty: let the pod decide).
pub fn container(query: Query<'_>) -> &str {
    last(query, "container").unwrap_or("")
}

pub fn log_options(query: Query<'_>, pod: &str, now_unix: i64) -> Result<LogOptions, ApiError> {
    let tail_lines = int(query, "tailLines")?;
    let since_seconds = int(query, "sinceSeconds")?;
    let limit_bytes = int(query, "limitBytes")?;
    let since_time = match last(query, "sinceTime") {
        Some(v) => Some(time::parse_rfc3339(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "parsing time {v:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {v:?}"
            ))
        })?),
        None => None,
    };
    let mut causes = Vec::new();
    if let Some(n) = tail_lines.filter(|n| *n < 0) {
        causes.push(field::invalid(
            "tailLines",
            &n.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(n) = limit_bytes.filter(|n| *n < 1) {
        causes.push(field::invalid(
            "limitBytes",
            &n.to_string(),
            "must be greater than 0",
        ));
    }
    if since_seconds.is_some() && since_time.is_some() {
        causes.push(field::forbidden(
            "",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    if let Some(n) = since_seconds.filter(|n| *n < 1) {
        causes.push(field::invalid(
            "sinceSeconds",
            &n.to_string(),
            "must be greater than 0",
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("", "PodLogOptions", pod, causes));
    }
    Ok(LogOptions {
        follow: flag(query, "follow")?,
        previous: flag(query, "previous")?,
        tail_lines: tail_lines.and_then(|n| u64::try_from(n).ok()),
        since_unix: since_time.or(since_seconds.map(|s| now_unix.saturating_sub(s))),
        timestamps: flag(query, "timestamps")?,
        limit_bytes: limit_bytes.and_then(|n| u64::try_from(n).ok()),
    })
}

pub fn exec_options(query: Query<'_>) -> Result<ExecOptions, ApiError> {
    let command: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let attach = attach_options(query)?;
    Ok(ExecOptions {
        command,
        stdin: attach.stdin,
        stdout: attach.stdout,
        stderr: attach.stderr,
        tty: attach.tty,
    })
}

/// stdin/stdout/stderr/tty; at least one stream, and no separate stderr under a tty
/// (kubelet's remotecommand checks).
pub fn attach_options(query: Query<'_>) -> Result<AttachOptions, ApiError> {
    let stdin = flag(query, "stdin")?;
    let stdout = flag_default(query, "stdout", true)?;
    let stderr = flag_default(query, "stderr", true)?;
    let tty = flag(query, "tty")?;
    if !(stdin || stdout || stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    Ok(AttachOptions {
        stdin,
        stdout,
        // With a terminal both outputs arrive on stdout.
        stderr: stderr && !tty,
        tty,
    })
}

/// The `ports` parameter (repeated or comma-separated); each must be 1-65535.
pub fn ports(query: Query<'_>) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for value in query.iter().filter(|(k, _)| k == "ports").map(|(_, v)| v) {
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<u16>() {
                Ok(p) if p > 0 => ports.push(p),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid port {part:?}: port must be > 0 and < 65536"
                    )));
                }
            }
        }
    }
    Ok(ports)
}

fn last<'a>(query: Query<'a>, key: &str) -> Option<&'a str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn flag(query: Query<'_>, key: &str) -> Result<bool, ApiError> {
    flag_default(query, key, false)
}

/// Go's strconv.ParseBool, which the parameter codec uses.
fn flag_default(query: Query<'_>, key: &str, default: bool) -> Result<bool, ApiError> {
    match last(query, key) {
        None => Ok(default),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "strconv.ParseBool: parsing {v:?}: invalid syntax"
        ))),
    }
}

fn int(query: Query<'_>, key: &str) -> Result<Option<i64>, ApiError> {
    last(query, key)
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::bad_request(format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn log_options_read_what_kubectl_sends() {
        let query = q(&[
            ("container", "c"),
            ("follow", "true"),
            ("previous", "true"),
            ("tailLines", "20"),
            ("timestamps", "true"),
            ("sinceSeconds", "300"),
            ("limitBytes", "100"),
        ]);
        let opts = log_options(&query, "p", 1000).unwrap();
        assert_eq!(
            opts,
            LogOptions {
                follow: true,
                previous: true,
                tail_lines: Some(20),
                since_unix: Some(700),
                timestamps: true,
                limit_bytes: Some(100),
            }
        );
        assert_eq!(container(&query), "c");
        let since = log_options(&q(&[("sinceTime", "2024-01-02T03:04:05Z")]), "p", 0).unwrap();
        assert_eq!(since.since_unix, Some(1_704_164_645));
    }

    #[test]
    fn bad_log_options_fail_as_upstream() {
        let e = log_options(&q(&[("tailLines", "-1")]), "p", 0).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        let both = q(&[("sinceSeconds", "5"), ("sinceTime", "2024-01-02T03:04:05Z")]);
        assert_eq!(log_options(&both, "p", 0).unwrap_err().code, 422);
        assert_eq!(
            log_options(&q(&[("limitBytes", "0")]), "p", 0)
                .unwrap_err()
                .code,
            422
        );
        assert_eq!(
            log_options(&q(&[("follow", "yes")]), "p", 0)
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            log_options(&q(&[("tailLines", "x")]), "p", 0)
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            log_options(&q(&[("sinceTime", "yesterday")]), "p", 0)
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn exec_needs_a_command_and_a_stream() {
        let query = q(&[
            ("command", "sh"),
            ("command", "-c"),
            ("command", "exit 3"),
            ("stdin", "true"),
            ("tty", "true"),
        ]);
        let opts = exec_options(&query).unwrap();
        assert_eq!(opts.command, ["sh", "-c", "exit 3"]);
        assert!(opts.stdin && opts.stdout && opts.tty && !opts.stderr);
        assert_eq!(
            exec_options(&q(&[("stdin", "true")])).unwrap_err().code,
            400
        );
        let silent = q(&[("command", "ls"), ("stdout", "false"), ("stderr", "false")]);
        assert_eq!(exec_options(&silent).unwrap_err().code, 400);
    }

    #[test]
    fn ports_accept_lists_and_reject_zero() {
        assert_eq!(
            ports(&q(&[("ports", "80,443"), ("ports", "8080")])).unwrap(),
            [80, 443, 8080]
        );
        assert_eq!(ports(&q(&[("ports", "0")])).unwrap_err().code, 400);
        assert_eq!(ports(&q(&[("ports", "70000")])).unwrap_err().code, 400);
    }
}
