//! The sender under test as a command: its command line with the placeholders filled, the
//! message files it is given, what is kept of its output, and the secrets never shown in
//! either. Split from the answering server, which needs none of it.

use crate::checks::ExpectedMessage;
use crate::transport::mllp::{encode_frame, MllpError};
use crate::transport::userinfo::Secrets;
use bytes::BytesMut;
use std::path::PathBuf;
use tokio::io::AsyncReadExt;

/// The secrets a scenario read (variables read into a secret, named like a password or token,
/// or holding a URL with credentials: [`VariableRead::value`] is `None`), taken again from the
/// environment, to hide in the SUT's command line and output.
///
/// [`VariableRead::value`]: crate::scenario::VariableRead
pub fn secret_values(reads: &[crate::scenario::VariableRead]) -> Secrets {
    let values =
        reads.iter().filter(|r| r.value.is_none()).filter_map(|r| std::env::var(&r.name).ok());
    Secrets::of_values(values)
}

/// What is kept of the SUT's output.
const MAX_OUTPUT: usize = 4096;

/// Keeps the last `MAX_OUTPUT` bytes of a child's output stream.
pub(in crate::runner) async fn tail(mut stream: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stream.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > MAX_OUTPUT {
            kept.drain(..kept.len() - MAX_OUTPUT);
        }
    }
    kept
}

/// What the placeholders of a SUT command stand for in one case.
pub(super) struct Placeholders<'a> {
    pub(super) harness: &'a std::path::Path,
    pub(super) listen: std::net::SocketAddr,
    /// The case's messages, one file each, in sending order.
    pub(super) files: &'a [PathBuf],
    /// The folder that holds exactly those files, named so that they sort in sending order.
    pub(super) dir: &'a std::path::Path,
    /// The case's messages MLLP-framed back to back in one file.
    pub(super) framed: &'a std::path::Path,
    pub(super) defects: &'a [String],
}

/// The SUT command with its placeholders filled.
pub(super) fn command_line(command: &[String], values: &Placeholders<'_>) -> Vec<String> {
    let harness = values.harness.display().to_string();
    let mut out = Vec::new();
    for arg in command {
        match arg.as_str() {
            "{messages}" => out.extend(values.files.iter().map(|f| f.display().to_string())),
            "{defects}" => {
                for defect in values.defects {
                    out.extend(["--defect".to_string(), defect.clone()]);
                }
            }
            other => out.push(
                other
                    .replace("{harness}", &harness)
                    .replace("{listen}", &values.listen.to_string())
                    .replace("{host}", &values.listen.ip().to_string())
                    .replace("{port}", &values.listen.port().to_string())
                    .replace("{mllp_file}", &values.framed.display().to_string())
                    .replace("{messages_dir}", &values.dir.display().to_string()),
            ),
        }
    }
    out
}

/// The name of the `n`-th (1-based) of `count` message files: zero-padded to at least four
/// digits, so that a plain sort (`ls`, a glob, a folder watcher) gives the sending order.
pub(super) fn message_file_name(n: usize, count: usize) -> String {
    let width = count.to_string().len().max(4);
    format!("{n:0width$}.hl7")
}

/// The case's messages as files in a fresh folder `dir` (see [`message_file_name`]), and all
/// of them MLLP-framed back to back in the file `framed` (beside the folder, so a sender that
/// sends every file of the folder sends each message once); the message files, in order.
pub(super) fn write_message_files(
    prepared: &[(ExpectedMessage, Vec<u8>)],
    dir: &std::path::Path,
    framed_path: &std::path::Path,
) -> Result<Vec<PathBuf>, MessageFilesError> {
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| MessageFilesError::Io { path, source }
    };
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut files = Vec::new();
    let mut framed = BytesMut::new();
    for (n, (_, bytes)) in prepared.iter().enumerate() {
        let path = dir.join(message_file_name(n + 1, prepared.len()));
        std::fs::write(&path, bytes).map_err(io(&path))?;
        files.push(path);
        encode_frame(bytes, &mut framed).map_err(MessageFilesError::Frame)?;
    }
    std::fs::write(framed_path, &framed).map_err(io(framed_path))?;
    Ok(files)
}

/// Why the message files for a SUT command could not be written.
#[derive(Debug, thiserror::Error)]
pub(super) enum MessageFilesError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Frame(MllpError),
}

pub(super) fn remove_message_files(dir: &std::path::Path, framed: &std::path::Path) {
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(framed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder that cannot be made is named with the reason, as the case's setup error.
    #[test]
    fn message_files_name_the_path_they_could_not_write() {
        let file =
            std::env::temp_dir().join(format!("hl7-harness-sut-file-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        let dir = file.join("messages");
        let error = write_message_files(&[], &dir, &file.with_extension("mllp")).unwrap_err();
        assert!(error.to_string().starts_with(&format!("{}: ", dir.display())), "{error}");
        std::fs::remove_file(&file).unwrap();
    }

    /// `{messages_dir}` files sort in sending order however many there are (issue 19).
    #[test]
    fn message_files_sort_in_sending_order() {
        assert_eq!(message_file_name(1, 3), "0001.hl7");
        assert_eq!(message_file_name(12_345, 20_000), "12345.hl7");
        assert_eq!(message_file_name(7, 20_000), "00007.hl7");
        for count in [9, 11, 10_001] {
            let names: Vec<String> = (1..=count).map(|n| message_file_name(n, count)).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "{count} files");
        }
    }

    #[test]
    fn placeholders_fill_the_command_line() {
        let files = [PathBuf::from("/t/d/0001.hl7"), PathBuf::from("/t/d/0002.hl7")];
        let defects = ["drops-acks".to_string()];
        let values = Placeholders {
            harness: std::path::Path::new("/bin/h"),
            listen: "127.0.0.1:2575".parse().unwrap(),
            files: &files,
            dir: std::path::Path::new("/t/d"),
            framed: std::path::Path::new("/t/d.mllp"),
            defects: &defects,
        };
        let command: Vec<String> = [
            "{harness}",
            "{messages}",
            "--dir={messages_dir}",
            "{mllp_file}",
            "{host}:{port}",
            "{defects}",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            command_line(&command, &values),
            [
                "/bin/h",
                "/t/d/0001.hl7",
                "/t/d/0002.hl7",
                "--dir=/t/d",
                "/t/d.mllp",
                "127.0.0.1:2575",
                "--defect",
                "drops-acks"
            ]
        );
    }

    #[test]
    fn secrets_are_hidden_longest_first_with_a_urls_password() {
        use crate::scenario::VariableRead;
        std::env::set_var("HL7H_RECEIVER_TEST_TOKEN", "tok-123456");
        std::env::set_var("HL7H_RECEIVER_TEST_URL", "mllp://op:pw-98765@127.0.0.1:1");
        let reads = [
            VariableRead { name: "HL7H_RECEIVER_TEST_TOKEN".into(), value: None },
            VariableRead { name: "HL7H_RECEIVER_TEST_URL".into(), value: None },
            VariableRead { name: "HL7H_RECEIVER_TEST_PLAIN".into(), value: Some("x".into()) },
        ];
        let secrets = secret_values(&reads);
        assert_eq!(secrets.values(), ["mllp://op:pw-98765@127.0.0.1:1", "tok-123456", "pw-98765"]);
        let text = "send --token tok-123456 to mllp://op:pw-98765@127.0.0.1:1; pw-98765 refused";
        assert_eq!(secrets.hide(text), "send --token *** to ***; *** refused");
    }
}
