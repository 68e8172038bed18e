//! The audit file on disk: one JSON event per line, appended and fsynced in batches.
//! Opening recovers the chain's tail and cuts a torn last line (a batch the node was
//! writing when it died, never acknowledged). A sparse index ([`Marks`]: where every
//! 1024th event starts) lets a read start near the seq asked, so paging through the whole
//! trail stays linear. What goes in an event is `event`'s; batching callers is `mod`'s.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::AuditError;
use super::event::{Entry, StoredEvent};

/// Events between two marks.
const MARK_EVERY: u64 = 1024;

/// Where events 1, 1025, 2049, ... start in the file: (seq, byte offset), in order.
/// Shared by the writer, which adds marks, and readers.
#[derive(Clone, Debug, Default)]
pub(super) struct Marks(Arc<Mutex<Vec<(u64, u64)>>>);

impl Marks {
    fn note(&self, seq: u64, offset: u64) {
        if seq % MARK_EVERY == 1 {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((seq, offset));
        }
    }

    /// The offset of the last mark at or before `seq` (0: the start).
    fn before(&self, seq: u64) -> u64 {
        let marks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = marks.partition_point(|&(marked, _)| marked <= seq);
        at.checked_sub(1).map_or(0, |i| marks[i].1)
    }
}

/// The open audit file and the chain's tail.
pub(super) struct AuditFile {
    path: PathBuf,
    file: File,
    node_id: u64,
    last_seq: u64,
    last_hash: [u8; 32],
    /// Bytes of complete events in the file.
    len: u64,
    marks: Marks,
}

impl AuditFile {
    /// Opens (or creates) the file at `path` and finds the last event.
    pub(super) fn open(path: &Path, node_id: u64) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.display().to_string(),
            source,
        };
        let created = !path.exists();
        // Owner only, like the rest of the data directory: callers and keys named in it
        // are nobody else's business.
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        if created {
            sync_parent(path).map_err(io)?;
        }
        let marks = Marks::default();
        let tail = Tail::scan(&file, path, &marks)?;
        if tail.valid_len < file.metadata().map_err(io)?.len() {
            tracing::warn!(
                path = %path.display(),
                kept = tail.valid_len,
                "audit file ended in a torn line (a crash mid-write); cut it"
            );
            file.set_len(tail.valid_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(AuditFile {
            path: path.to_owned(),
            file,
            node_id,
            last_seq: tail.last_seq,
            last_hash: tail.last_hash,
            len: tail.valid_len,
            marks,
        })
    }

    /// The sparse index, for readers.
    pub(super) fn marks(&self) -> Marks {
        self.marks.clone()
    }

    /// The newest sequence number (0 before the first event).
    pub(super) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Chains and appends `entries`, then fsyncs once; returns each entry's seq. On
    /// error nothing of the batch counts and the caller must stop using this file.
    pub(super) fn append(
        &mut self,
        entries: &[Entry],
        time_unix_ms: u64,
    ) -> Result<Vec<u64>, AuditError> {
        let (mut seq, mut prev) = (self.last_seq, self.last_hash);
        let mut lines = Vec::with_capacity(entries.len() * 320);
        let mut seqs = Vec::with_capacity(entries.len());
        let mut starts = Vec::new();
        for entry in entries {
            seq += 1;
            starts.push((seq, self.len + lines.len() as u64));
            let event = StoredEvent::chain(entry, seq, self.node_id, time_unix_ms, &prev);
            prev = event.hash_bytes().ok_or(AuditError::Corrupt {
                line: seq,
                reason: "a new event's hash is malformed".into(),
            })?;
            serde_json::to_writer(&mut lines, &event).map_err(|e| AuditError::Corrupt {
                line: seq,
                reason: e.to_string(),
            })?;
            lines.push(b'\n');
            seqs.push(seq);
        }
        let io = |source| AuditError::Io {
            path: self.path.display().to_string(),
            source,
        };
        // Durable before any caller hears back: an answer never outruns its record.
        self.file.write_all(&lines).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        (self.last_seq, self.last_hash) = (seq, prev);
        self.len += lines.len() as u64;
        for (seq, offset) in starts {
            self.marks.note(seq, offset);
        }
        Ok(seqs)
    }
}

/// Events of the file at `path` from `from_seq` on, at most `limit`, none past
/// `durable_seq` (a batch being written is not read before it is on disk).
pub(super) fn read_events(
    path: &Path,
    from_seq: u64,
    limit: usize,
    durable_seq: u64,
    marks: &Marks,
) -> Result<Vec<StoredEvent>, AuditError> {
    let io = |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(marks.before(from_seq)))
        .map_err(io)?;
    let mut reader = BufReader::new(file);
    let mut events = Vec::new();
    let mut line = String::new();
    for number in 1.. {
        line.clear();
        if reader.read_line(&mut line).map_err(io)? == 0 || !line.ends_with('\n') {
            break;
        }
        let event = parse(line.trim_end(), number)?;
        if event.seq > durable_seq || events.len() >= limit {
            break;
        }
        if event.seq >= from_seq {
            events.push(event);
        }
    }
    Ok(events)
}

/// What a scan of the file found: the last complete event and where it ends.
struct Tail {
    last_seq: u64,
    last_hash: [u8; 32],
    valid_len: u64,
}

impl Tail {
    fn scan(file: &File, path: &Path, marks: &Marks) -> Result<Tail, AuditError> {
        let mut tail = Tail {
            last_seq: 0,
            last_hash: [0; 32],
            valid_len: 0,
        };
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader
                .read_line(&mut line)
                .map_err(|source| AuditError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
            if read == 0 || !line.ends_with('\n') {
                return Ok(tail);
            }
            let event = parse(line.trim_end(), tail.last_seq + 1)?;
            marks.note(event.seq, tail.valid_len);
            tail.last_hash = event.hash_bytes().ok_or(AuditError::Corrupt {
                line: event.seq,
                reason: "malformed hash".into(),
            })?;
            tail.last_seq = event.seq;
            tail.valid_len += read as u64;
        }
    }
}

fn parse(line: &str, number: u64) -> Result<StoredEvent, AuditError> {
    serde_json::from_str(line).map_err(|e| AuditError::Corrupt {
        line: number,
        reason: e.to_string(),
    })
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use super::*;
    use crate::audit::event::Caller;

    fn entry(action: &'static str) -> Entry {
        Entry {
            action,
            caller: Caller {
                name: "web".into(),
                cert_sha256: [1; 32],
            },
            outcome: "OK",
            ..Entry::default()
        }
    }

    #[test]
    fn a_reopened_file_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut file = AuditFile::open(&path, 4).unwrap();
        assert_eq!(
            file.append(&[entry("Sign"), entry("GetKey")], 10).unwrap(),
            [1, 2]
        );
        drop(file);

        let mut file = AuditFile::open(&path, 4).unwrap();
        assert_eq!(file.last_seq(), 2);
        assert_eq!(file.append(&[entry("DestroyKey")], 11).unwrap(), [3]);
        let events = read_events(&path, 0, 100, file.last_seq(), &file.marks()).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].prev_hash, events[1].hash);
        assert!(events.iter().all(StoredEvent::hash_holds));
        assert_eq!(events[2].action, "DestroyKey");
        assert_eq!(events[2].node_id, 4);
    }

    #[test]
    fn a_torn_last_line_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut file = AuditFile::open(&path, 1).unwrap();
        file.append(&[entry("Sign")], 10).unwrap();
        drop(file);
        let whole = std::fs::read(&path).unwrap();
        let mut torn = OpenOptions::new().append(true).open(&path).unwrap();
        torn.write_all(b"{\"seq\":2,\"node_id\":1,\"ti").unwrap();
        drop(torn);

        let mut file = AuditFile::open(&path, 1).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), whole);
        assert_eq!(file.append(&[entry("Sign")], 12).unwrap(), [2]);
        assert_eq!(
            read_events(&path, 2, 10, 2, &file.marks()).unwrap()[0].seq,
            2
        );
    }

    #[test]
    fn reads_start_at_the_asked_seq_and_stop_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut file = AuditFile::open(&path, 1).unwrap();
        let batch: Vec<Entry> = (0..10).map(|_| entry("Sign")).collect();
        file.append(&batch, 1).unwrap();
        let seqs: Vec<u64> = read_events(&path, 4, 3, 10, &file.marks())
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [4, 5, 6]);
        assert!(
            read_events(&path, 11, 3, 10, &file.marks())
                .unwrap()
                .is_empty()
        );
        // Nothing past the durable seq, though it is in the file.
        assert_eq!(
            read_events(&path, 1, 100, 7, &file.marks()).unwrap().len(),
            7
        );
    }

    #[test]
    fn a_garbled_line_in_the_middle_is_reported_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "not json\n").unwrap();
        let Err(err) = AuditFile::open(&path, 1) else {
            panic!("a garbled file opened");
        };
        assert!(matches!(err, AuditError::Corrupt { line: 1, .. }), "{err}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod marks_tests {
    use super::*;

    #[test]
    fn reads_far_into_a_long_trail_start_at_a_mark_and_find_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut file = AuditFile::open(&path, 1).unwrap();
        let batch: Vec<Entry> = (0..700).map(|_| Entry::default()).collect();
        for _ in 0..5 {
            file.append(&batch, 1).unwrap();
        }
        let marks = file.marks();
        assert_eq!(marks.before(1), 0);
        assert!(marks.before(3000) > 0, "a mark past the start");
        for from in [1, 1024, 1025, 1026, 2049, 3499, 3500] {
            let events = read_events(&path, from, 3, 3500, &marks).unwrap();
            assert_eq!(events.first().map(|e| e.seq), Some(from), "from {from}");
        }

        // Reopened: the scan rebuilds the same marks.
        drop(file);
        let again = AuditFile::open(&path, 1).unwrap();
        assert_eq!(again.marks().before(3000), marks.before(3000));
    }
}
