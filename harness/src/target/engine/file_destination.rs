//! The reference engine's file destination (`file: DIR` in the route file): a "File Writer"
//! as Mirth/NextGen Connect and Rhapsody have it, each output written into a folder as one
//! file. A through case reads the folder (`through.destinations.NAME.read.dir`) instead of
//! listening.
//!
//! Each output is written atomically: into a hidden temporary file beside its final name,
//! synced, then renamed, and the folder synced, so a reader never sees half a message and a
//! file that is there survives a crash. Delivery is complete when the rename is durable. The
//! name is the same on every resend of an output (`SEQUENCE-NUMBER-MSH10.hl7`), so an output
//! sent again after a restart replaces its own file instead of adding a copy.

use super::forward::Outgoing;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name of one output: the input's sequence (zero-padded, so names sort in the order
/// the engine accepted its inputs), the output's number, and its MSH-10 with every character
/// outside `[A-Za-z0-9._-]` written as `_` (MSH-10 is peer data: it must not name a path).
pub fn file_name(item: &Outgoing) -> String {
    let id: String = item
        .control_id
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    format!("{:010}-{}-{id}.hl7", item.sequence, item.number)
}

/// Writes `item` into `dir` (created when missing) atomically; the path written, or why not.
pub fn write_output(dir: &Path, item: &Outgoing) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = file_name(item);
    let temporary = dir.join(format!(".{name}.tmp"));
    let target = dir.join(&name);
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&item.payload)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &target)?;
        // The rename is durable only once the folder is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map(|()| target)
}

/// [`write_output`] off the async threads (a sync can take milliseconds); the error as text,
/// for the forwarder's log and its retry.
pub async fn write_output_async(dir: &Path, item: &Outgoing) -> Result<PathBuf, String> {
    let (dir, item) = (dir.to_path_buf(), item.clone());
    let shown = dir.display().to_string();
    match tokio::task::spawn_blocking(move || write_output(&dir, &item)).await {
        Ok(Ok(path)) => Ok(path),
        Ok(Err(e)) => Err(format!("cannot write into {shown}: {e}")),
        Err(e) => Err(format!("the write into {shown} did not finish: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sequence: u64, control_id: &str) -> Outgoing {
        Outgoing {
            sequence,
            number: 2,
            payload: b"MSH|^~\\&|A\rPID|1\r".to_vec(),
            control_id: control_id.into(),
        }
    }

    #[test]
    fn names_sort_by_sequence_and_never_leave_the_folder() {
        assert_eq!(file_name(&item(7, "M1")), "0000000007-2-M1.hl7");
        assert_eq!(file_name(&item(7, "../../etc/x")), "0000000007-2-.._.._etc_x.hl7");
        assert_eq!(file_name(&item(1, "a/b\\c\0d é")), "0000000001-2-a_b_c_d__.hl7");
        assert!(file_name(&item(9, "M")) < file_name(&item(10, "M")));
        assert!(file_name(&item(1, &"x".repeat(10_000))).len() < 100);
    }

    #[test]
    fn an_output_is_written_whole_and_a_resend_replaces_it() {
        let dir = std::env::temp_dir().join(format!("hl7-engine-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = write_output(&dir.join("out"), &item(1, "M1")).expect("written");
        let again = write_output(&dir.join("out"), &item(1, "M1")).expect("written again");
        assert_eq!(first, again);
        let names: Vec<_> = std::fs::read_dir(dir.join("out"))
            .expect("the folder")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left, one file per output: {names:?}");
        assert_eq!(std::fs::read(&first).expect("read"), item(1, "M1").payload);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_an_error() {
        let file = std::env::temp_dir().join(format!("hl7-engine-notdir-{}", std::process::id()));
        std::fs::write(&file, b"x").expect("a file");
        assert!(write_output(&file.join("out"), &item(1, "M1")).is_err());
        let _ = std::fs::remove_file(&file);
    }
}
