//! The exec/attach channel protocol over WebSocket (k8s.io/apimachinery wsstream and
//! client-go remotecommand, versions v4 and v5): every binary message starts with a
//! channel byte, 0 stdin, 1 stdout, 2 stderr, 3 error (one metav1.Status JSON at the end),
//! 4 resize (`{"Width":w,"Height":h}`), and in v5 255 close (`[255, ch]` half-closes ch;
//! kubectl sends `[255, 0]` at the end of its stdin). The session ends with the Status on
//! channel 3 and a normal close; kubectl turns reason NonZeroExitCode into its own exit
//! code.

use std::time::Duration;

use async_io::Timer;
use futures_lite::future::or;

use super::node::{ExecSession, ExitStatus, TerminalSize};
use super::websocket::{WsReader, WsWriter, split};
use crate::http::UpgradedStream;
use crate::status::json_str;

pub const V5: &str = "v5.channel.k8s.io";
pub const V4: &str = "v4.channel.k8s.io";
/// What exec and attach speak, in the server's preference (the client's order decides).
pub const PROTOCOLS: &[&str] = &[V5, V4];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;
/// How long a finished session waits for the client's close reply.
const LINGER: Duration = Duration::from_secs(2);

/// Runs one session until the process ends (then the client gets its Status) or the
/// client goes away (then the session's channels are dropped, which the node sees as a
/// hang-up).
pub async fn serve(stream: UpgradedStream, protocol: &'static str, session: ExecSession) {
    let (reader, writer) = split(stream);
    let ExecSession {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = session;
    let inbound = pump_client(reader, stdin, resize, protocol == V5);
    let outbound = async move {
        let mut writer = writer;
        let _ = pump_output(&mut writer, stdout, stderr).await;
        let status = exit.await;
        let mut message = vec![ERROR];
        message.extend_from_slice(status_json(&status).as_bytes());
        if writer.send(message).await.is_ok() {
            let _ = writer.close().await;
        }
        // Keep reading until the client answers the close (the inbound side then
        // returns): closing with its input unread would make the kernel reset the
        // connection, and a reset can destroy the Status before kubectl reads it.
        Timer::after(LINGER).await;
    };
    or(outbound, inbound).await;
}

/// Forwards client messages: stdin data, resizes and (v5) stdin half-close. Returns
/// when the client is gone.
async fn pump_client(
    mut reader: WsReader,
    mut stdin: Option<async_channel::Sender<Vec<u8>>>,
    resize: Option<async_channel::Sender<TerminalSize>>,
    v5: bool,
) {
    while let Some(message) = reader.next().await {
        let Some((&channel, data)) = message.split_first() else {
            continue;
        };
        match channel {
            STDIN if !data.is_empty() => {
                if let Some(tx) = &stdin
                    && tx.send(data.to_vec()).await.is_err()
                {
                    stdin = None;
                }
            }
            RESIZE => {
                if let (Some(tx), Some(size)) = (&resize, parse_resize(data)) {
                    let _ = tx.send(size).await;
                }
            }
            CLOSE if v5 && data.first() == Some(&STDIN) => stdin = None,
            _ => {}
        }
    }
}

/// Copies stdout and stderr to the client until both end, answering the client's pings
/// in between.
async fn pump_output(
    writer: &mut WsWriter,
    mut stdout: Option<async_channel::Receiver<Vec<u8>>>,
    mut stderr: Option<async_channel::Receiver<Vec<u8>>>,
) -> std::io::Result<()> {
    enum Event {
        Out(u8, Option<Vec<u8>>),
        Control,
    }
    while stdout.is_some() || stderr.is_some() {
        let event = {
            let out = recv_or_pending(STDOUT, stdout.as_ref());
            let err = recv_or_pending(STDERR, stderr.as_ref());
            let control = async {
                writer.control_pending().await;
                Event::Control
            };
            let data = async {
                let (channel, chunk) = or(out, err).await;
                Event::Out(channel, chunk)
            };
            or(data, control).await
        };
        match event {
            Event::Control => writer.flush().await?,
            Event::Out(STDOUT, None) => stdout = None,
            Event::Out(_, None) => stderr = None,
            Event::Out(channel, Some(chunk)) => {
                let mut message = Vec::with_capacity(chunk.len() + 1);
                message.push(channel);
                message.extend_from_slice(&chunk);
                writer.send(message).await?;
            }
        }
    }
    Ok(())
}

async fn recv_or_pending(
    channel: u8,
    rx: Option<&async_channel::Receiver<Vec<u8>>>,
) -> (u8, Option<Vec<u8>>) {
    match rx {
        Some(rx) => (channel, rx.recv().await.ok()),
        None => std::future::pending().await,
    }
}

/// `{"Width":120,"Height":40}`; anything else is ignored, as upstream logs and drops it.
fn parse_resize(data: &[u8]) -> Option<TerminalSize> {
    use miniserde::json::{Number, Value};
    let text = std::str::from_utf8(data).ok()?;
    let Value::Object(fields) = miniserde::json::from_str::<Value>(text).ok()? else {
        return None;
    };
    let dimension = |key: &str| match fields.get(key)? {
        Value::Number(Number::U64(n)) => u16::try_from(*n).ok(),
        _ => None,
    };
    Some(TerminalSize {
        width: dimension("Width")?,
        height: dimension("Height")?,
    })
}

/// The Status kubelet ends a session with: Success, NonZeroExitCode with the code as an
/// `ExitCode` cause, or an InternalError carrying the runtime's message.
pub fn status_json(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(0) => r#"{"metadata":{},"status":"Success"}"#.to_owned(),
        ExitStatus::Code(code) => format!(
            r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"NonZeroExitCode","details":{{"causes":[{{"reason":"ExitCode","message":"{code}"}}]}}}}"#,
            json_str(&format!(
                "command terminated with non-zero exit code: exit status {code}"
            ))
        ),
        ExitStatus::Error(message) => format!(
            r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"InternalError","details":{{"causes":[{{"message":{}}}]}},"code":500}}"#,
            json_str(&format!("Internal error occurred: {message}")),
            json_str(message)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_become_kubelet_statuses() {
        assert_eq!(
            status_json(&ExitStatus::Code(0)),
            r#"{"metadata":{},"status":"Success"}"#
        );
        let failed = status_json(&ExitStatus::Code(3));
        assert!(failed.contains(r#""reason":"NonZeroExitCode""#), "{failed}");
        assert!(
            failed.contains(r#""causes":[{"reason":"ExitCode","message":"3"}]"#),
            "{failed}"
        );
        let broken = status_json(&ExitStatus::Error("no such file".into()));
        assert!(
            broken.contains(r#""message":"Internal error occurred: no such file""#),
            "{broken}"
        );
        assert!(miniserde::json::from_str::<miniserde::json::Value>(&broken).is_ok());
    }

    #[test]
    fn resize_messages_parse_as_kubectl_sends_them() {
        assert_eq!(
            parse_resize(br#"{"Width":120,"Height":40}"#),
            Some(TerminalSize {
                width: 120,
                height: 40
            })
        );
        assert_eq!(parse_resize(b"{\"Width\":-1,\"Height\":40}"), None);
        assert_eq!(parse_resize(b"garbage"), None);
    }
}
