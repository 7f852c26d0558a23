//! Append-only journal of finished sweep points: one self-checking record per
//! point, written with a single `write` and flushed before the point counts as
//! done, so a killed sweep loses only the points in flight. A truncated last
//! record (the process died mid-write) is detected by its length and checksum
//! and dropped on resume.
//!
//! One sweep process owns a journal at a time ([`Lock`]): two sweeps on the same
//! output would otherwise both compute every pending point and interleave their
//! records in one file. The journal exists only while its sweep is unfinished:
//! the sweep removes it (still holding the lock) once the stacked output file
//! is durably in place.

use crate::output::record::{Data, Item, Key, Record};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"QBSP";

/// FNV-1a 64: a stable hash (identical across builds and platforms) for
/// config fingerprints and record checksums.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Serialises a record (little-endian, self-describing).
pub fn encode(rec: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    put_u64(&mut out, rec.items.len() as u64);
    for (k, it) in &rec.items {
        put_str(&mut out, &k.group);
        put_str(&mut out, &k.name);
        out.push(u8::from(k.attribute));
        put_u64(&mut out, it.shape.len() as u64);
        for &d in &it.shape {
            put_u64(&mut out, d as u64);
        }
        match &it.data {
            Data::F64(v) => {
                out.push(0);
                put_u64(&mut out, v.len() as u64);
                v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
            }
            Data::C64(v) => {
                out.push(1);
                put_u64(&mut out, v.len() as u64);
                v.iter().for_each(|z| {
                    out.extend_from_slice(&z.re.to_le_bytes());
                    out.extend_from_slice(&z.im.to_le_bytes());
                });
            }
            Data::U8(v) => {
                out.push(2);
                put_u64(&mut out, v.len() as u64);
                out.extend_from_slice(v);
            }
            Data::I8(v) => {
                out.push(3);
                put_u64(&mut out, v.len() as u64);
                v.iter().for_each(|x| out.push(*x as u8));
            }
            Data::I64(v) => {
                out.push(4);
                put_u64(&mut out, v.len() as u64);
                v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
            }
            Data::Str(v) => {
                out.push(5);
                put_u64(&mut out, v.len() as u64);
                v.iter().for_each(|s| put_str(&mut out, s));
            }
        }
    }
    out
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok().filter(|&n| n <= self.0.len().max(1) * 8 + 64)
    }
    fn string(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// Inverse of [`encode`]; `None` for malformed input.
pub fn decode(bytes: &[u8]) -> Option<Record> {
    let mut c = Cursor(bytes);
    let n = c.len()?;
    let mut rec = Record::default();
    for _ in 0..n {
        let group = c.string()?;
        let name = c.string()?;
        let attribute = c.take(1)?[0] == 1;
        let rank = c.len()?;
        let shape = (0..rank).map(|_| c.len()).collect::<Option<Vec<_>>>()?;
        let kind = c.take(1)?[0];
        let m = c.len()?;
        let data = match kind {
            0 => Data::F64((0..m).map(|_| c.f64()).collect::<Option<_>>()?),
            1 => Data::C64((0..m).map(|_| Some(num_complex::Complex64::new(c.f64()?, c.f64()?))).collect::<Option<_>>()?),
            2 => Data::U8(c.take(m)?.to_vec()),
            3 => Data::I8(c.take(m)?.iter().map(|&b| b as i8).collect()),
            4 => Data::I64((0..m).map(|_| c.u64().map(|x| x as i64)).collect::<Option<_>>()?),
            5 => Data::Str((0..m).map(|_| c.string()).collect::<Option<_>>()?),
            _ => return None,
        };
        rec.items.insert(Key { group, name, attribute }, Item { shape, data });
    }
    c.0.is_empty().then_some(rec)
}

/// A journal record: point index, config fingerprint, the point's record.
pub struct Entry {
    pub index: usize,
    pub hash: u64,
    pub record: Record,
}

/// Reads every complete record; returns them and the byte length of the valid
/// prefix (anything after it is a torn write to be cut off).
pub fn read(path: &Path) -> io::Result<(Vec<Entry>, u64)> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    }
    let mut entries = Vec::new();
    let mut pos = 0usize;
    loop {
        let rest = &bytes[pos..];
        let header = 4 + 8 + 8 + 8;
        if rest.len() < header || &rest[..4] != MAGIC {
            break;
        }
        let word = |o: usize| u64::from_le_bytes(rest[o..o + 8].try_into().expect("8 bytes"));
        let (index, hash, len) = (word(4) as usize, word(12), word(20) as usize);
        if rest.len() < header + len + 8 {
            break;
        }
        let payload = &rest[header..header + len];
        let sum = u64::from_le_bytes(rest[header + len..header + len + 8].try_into().expect("8 bytes"));
        let Some(record) = (fnv1a(payload) == sum).then(|| decode(payload)).flatten() else { break };
        entries.push(Entry { index, hash, record });
        pos += header + len + 8;
    }
    Ok((entries, pos as u64))
}

/// The config fingerprint of the first record, without reading the rest
/// (every record of a journal has the same: a sweep appends only after
/// checking that the journal's records match its config). `None` for an
/// absent or empty journal.
pub fn peek_hash(path: &Path) -> io::Result<Option<u64>> {
    let mut head = [0u8; 20];
    match File::open(path).and_then(|mut f| f.read_exact(&mut head)) {
        Ok(()) if &head[..4] == MAGIC => Ok(Some(u64::from_le_bytes(head[12..20].try_into().expect("8 bytes")))),
        Ok(()) => Ok(None),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An open journal, appended to point by point.
pub struct Writer {
    file: File,
}

impl Writer {
    /// Opens for appending, first cutting a torn tail at `valid_len`.
    pub fn open(path: &Path, valid_len: u64) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(path)?;
        file.set_len(valid_len)?;
        let mut file = OpenOptions::new().append(true).open(path)?;
        file.flush()?;
        Ok(Self { file })
    }

    /// Appends one point in a single write and flushes it to the OS, so it
    /// survives the process being killed (an fsync follows at the end of the sweep).
    pub fn append(&mut self, index: usize, hash: u64, rec: &Record) -> io::Result<()> {
        let payload = encode(rec);
        let mut buf = Vec::with_capacity(payload.len() + 36);
        buf.extend_from_slice(MAGIC);
        put_u64(&mut buf, index as u64);
        put_u64(&mut buf, hash);
        put_u64(&mut buf, payload.len() as u64);
        buf.extend_from_slice(&payload);
        put_u64(&mut buf, fnv1a(&payload));
        self.file.write_all(&buf)?;
        self.file.flush()
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Why a journal could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the journal: a sweep on the same output is running.
    #[error("the journal is locked by another process")]
    Busy,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Exclusive hold on a journal path for the life of one sweep.
///
/// An advisory `flock`-style lock ([`File::try_lock`]) on the journal file
/// itself: the kernel drops it when the holder's file is closed, so a sweep
/// that crashes or is `kill -9`ed never leaves a stale lock behind (unlike a
/// lock *file* whose mere existence would mean "busy"). The lock covers the
/// file, not the name; [`Lock::acquire`] therefore checks after locking that
/// the name still refers to the locked file (a finishing sweep may remove the
/// journal between our open and our lock) and starts over if not.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
    /// Set when the file system refused locking altogether (some cluster
    /// file systems are mounted without flock support): the sweep still runs,
    /// unprotected, and says so.
    unsupported: Option<io::Error>,
}

impl Lock {
    /// Opens (creating it empty if absent) and locks the journal at `path`,
    /// without waiting: [`LockError::Busy`] when another process holds it.
    pub fn acquire(path: &Path) -> Result<Lock, LockError> {
        // A handful of retries covers the open/lock/remove race; it cannot
        // repeat unless sweeps keep finishing on this very path.
        for _ in 0..64 {
            let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(LockError::Busy),
                Err(TryLockError::Error(e)) => {
                    return Ok(Lock { file, path: path.to_path_buf(), unsupported: Some(e) });
                }
            }
            if same_file(&file, path)? {
                return Ok(Lock { file, path: path.to_path_buf(), unsupported: None });
            }
        }
        Err(LockError::Io(io::Error::other("the journal keeps being replaced while it is being locked")))
    }

    /// Why the journal is *not* locked, when the file system cannot lock.
    pub fn unsupported(&self) -> Option<&io::Error> {
        self.unsupported.as_ref()
    }

    /// Length of the journal in bytes.
    pub fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Whether the journal holds nothing (a sweep that failed before its first
    /// point leaves no empty journal behind).
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Deletes the journal and then releases the lock, in that order, so that
    /// no other sweep can start using the file in between. A journal that is
    /// no longer ours under that name (removed by hand and recreated by
    /// another sweep) is left alone.
    pub fn remove(self) -> io::Result<()> {
        match same_file(&self.file, &self.path) {
            Ok(true) => fs::remove_file(&self.path),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Whether `path` names the open `file` (same device and inode). `false` when
/// nothing is at `path` any more.
fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let on_disk = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let open = file.metadata()?;
        Ok(open.dev() == on_disk.dev() && open.ino() == on_disk.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (file, on_disk);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("qbsim-journal-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("scratch dir");
        d
    }

    #[test]
    fn a_second_lock_on_one_journal_is_refused_until_the_first_is_dropped() {
        let d = scratch("lock");
        let p = d.join("x.h5.journal");
        let first = Lock::acquire(&p).expect("first lock");
        assert!(first.unsupported().is_none(), "this file system should support locking");
        assert!(matches!(Lock::acquire(&p), Err(LockError::Busy)));
        drop(first);
        let again = Lock::acquire(&p).expect("free again after the holder closed it");
        assert!(again.is_empty().expect("len"));
        again.remove().expect("remove");
        assert!(!p.exists());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_lock_taken_on_a_journal_removed_meanwhile_is_retaken_on_the_new_file() {
        let d = scratch("relock");
        let p = d.join("x.h5.journal");
        let old = Lock::acquire(&p).expect("lock");
        // What a finishing sweep does: unlink, then release.
        old.remove().expect("remove");
        fs::write(&p, b"").expect("recreate");
        let new = Lock::acquire(&p).expect("lock");
        assert!(same_file(&new.file, &p).expect("stat"));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_dropped() {
        let d = scratch("torn");
        let p = d.join("j");
        let mut rec = Record::default();
        rec.items.insert(
            Key { group: "/g".into(), name: "x".into(), attribute: false },
            Item { shape: vec![2], data: Data::F64(vec![1.0, -2.5]) },
        );
        let mut w = Writer::open(&p, 0).expect("open");
        w.append(3, 7, &rec).expect("append");
        w.append(5, 7, &rec).expect("append");
        drop(w);
        let full = fs::metadata(&p).expect("stat").len();
        OpenOptions::new().write(true).open(&p).and_then(|f| f.set_len(full - 3)).expect("tear");
        let (entries, valid) = read(&p).expect("read");
        assert_eq!(entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![3]);
        assert_eq!(entries[0].record, rec);
        assert_eq!(valid, full / 2);
        let _ = fs::remove_dir_all(&d);
    }
}
