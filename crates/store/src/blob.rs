//! The blob store: raw messages and documents, addressed by their SHA-256.
//!
//! Layout under the data directory: `blobs/ab/cd/abcd…` (the full hex digest as file name)
//! and `blobs/tmp/` for writes in progress. A blob is written to a temporary file, flushed
//! to disk, then hard-linked to its final name: the link fails if the name exists, so a
//! sound blob is never overwritten, and a crash before the link leaves only a temporary
//! file, which is never visible as a blob and is swept by a later open once it is old (see
//! [`TMP_SWEEP_AGE`]). Reads check the hash.
//!
//! A blob whose content no longer has its hash (a flipped bit, a truncated file) is damaged:
//! [`BlobStore::check`] and [`BlobStore::verify`] find it (`sigillo blobs verify`, and the
//! service's nightly share of the store), and storing the same bytes again heals it
//! ([`BlobStore::put`] replaces a damaged copy by renaming a fsynced temporary file over it:
//! a reader sees the damaged file or the sound one, never a mix).
//!
//! Several processes may share one store (four `sigillo ingest` at once, `ingest` beside
//! `serve`, two instances on one volume): every write goes to its own temporary name, the
//! link is atomic, and an open never removes a temporary file that someone may be writing.
//!
//! The functions are blocking (plain file I/O); async callers use `spawn_blocking`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256 as Hasher};

use crate::Error;
use crate::register::Sha256;

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// How long a temporary file in `blobs/tmp/` must have gone unmodified before an open
/// removes it as the leftover of a crash.
///
/// Why an age and not "every file" or "the files of dead processes": other processes may be
/// writing into `blobs/tmp/` right now (four `sigillo ingest` started together, `ingest` run
/// by hand beside `serve`, two instances sharing a volume), and removing their file makes
/// their link fail (`No such file or directory`, issue 14). Per-process directories swept
/// when their pid is gone would be cheaper on disk but are wrong across hosts: a pid means
/// nothing on another machine that mounts the same volume, and pids are reused. The mtime is
/// visible to every host. A write in progress touches its file with every write, and a put
/// lasts seconds at most (one message, fsynced), so a file untouched for a day is no one's;
/// the bound is generous enough to absorb clock skew between hosts and a suspended VM.
/// A leftover costs only disk space until then (it is never visible as a blob).
pub const TMP_SWEEP_AGE: Duration = Duration::from_secs(24 * 60 * 60);

impl BlobStore {
    /// Opens (creating if needed) the store under `data_dir` and removes the temporary files
    /// that a crash left more than [`TMP_SWEEP_AGE`] ago.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        Self::open_sweeping(data_dir, TMP_SWEEP_AGE)
    }

    /// Like [`Self::open`], removing the temporary files not modified for `older_than`
    /// (tests pass a short age; `Duration::ZERO` removes every temporary file, which is only
    /// right when no other process can be using the store).
    pub fn open_sweeping(data_dir: &Path, older_than: Duration) -> Result<Self, Error> {
        let root = data_dir.join("blobs");
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let store = BlobStore { root };
        store.sweep_tmp(older_than, SystemTime::now())?;
        Ok(store)
    }

    /// Removes the regular files of `blobs/tmp/` last modified at least `older_than` before
    /// `now`; returns how many it removed. A temporary file is never a blob: whatever it held
    /// is written again by whoever failed to finish it (the raw message is still in the
    /// mailbox). Files that vanish meanwhile (a put finished, another process swept them)
    /// are fine; a modification time in the future (another host's clock) counts as young.
    fn sweep_tmp(&self, older_than: Duration, now: SystemTime) -> Result<usize, Error> {
        let tmp = self.root.join("tmp");
        let mut swept = 0;
        for entry in fs::read_dir(&tmp).map_err(|e| Error::io(&tmp, e))? {
            let entry = entry.map_err(|e| Error::io(&tmp, e))?;
            let path = entry.path();
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&path, e)),
            };
            if !meta.is_file() {
                continue; // not ours: left alone
            }
            let modified = meta.modified().map_err(|e| Error::io(&path, e))?;
            let stale = now.duration_since(modified).is_ok_and(|age| age >= older_than);
            if !stale {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => swept += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        if swept > 0 {
            tracing::info!(swept, "removed temporary files left in {} by an interrupted write", tmp.display());
        }
        Ok(swept)
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn path_of(&self, hash: &Sha256) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// Stores `bytes` and returns their digest. Storing the same bytes again is a no-op,
    /// except over a damaged copy, which it replaces (see the module's documentation).
    pub fn put(&self, bytes: &[u8]) -> Result<Sha256, Error> {
        self.put_with_digest(bytes, Sha256::of(bytes))
    }

    /// Stores `bytes` under `hash`, which the caller computed from these very bytes in this
    /// process (the classifier hashes every attachment it reads: hashing 500 KB again costs
    /// about a millisecond per document). A wrong digest would be caught by [`Self::get`].
    pub fn put_with_digest(&self, bytes: &[u8], hash: Sha256) -> Result<Sha256, Error> {
        debug_assert_eq!(hash, Sha256::of(bytes), "put_with_digest: the digest is not of these bytes");
        let dest = self.path_of(&hash);
        // A copy already there is checked, not trusted: the same bytes stored again are
        // the one chance to repair a damaged copy without a backup. Hashing costs about a
        // millisecond per 500 KB, paid only when the same bytes are stored twice.
        let replace = match self.check(&hash)? {
            Health::Intact { .. } => return Ok(hash),
            Health::Missing => false,
            Health::Damaged { problem } => {
                tracing::warn!(blob = %hash, "damaged blob ({problem}): replaced by the same bytes stored again");
                true
            }
        };
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        if !dir.is_dir() {
            self.create_fanout_dirs(&dir)?;
        }

        let tmp_path = self.root.join("tmp").join(format!(
            "{}.{}.{}",
            hash.to_hex(),
            std::process::id(),
            unique_suffix()
        ));
        let write = || -> io::Result<()> {
            let mut f = File::create_new(&tmp_path)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp_path);
            return Err(Error::io(&tmp_path, e));
        }
        if replace {
            // rename(2) replaces the damaged file atomically.
            if let Err(e) = fs::rename(&tmp_path, &dest) {
                let _ = fs::remove_file(&tmp_path);
                return Err(Error::io(&dest, e));
            }
            File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(&dir, e))?;
            return Ok(hash);
        }
        let linked = fs::hard_link(&tmp_path, &dest);
        let _ = fs::remove_file(&tmp_path);
        match linked {
            Ok(()) => {}
            // Someone else stored the same bytes meanwhile: content-addressed, so same content.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(hash),
            Err(e) => return Err(Error::io(&dest, e)),
        }
        // Make the new directory entry durable too.
        File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(&dir, e))?;
        Ok(hash)
    }

    /// Creates `blobs/ab/cd` and makes the new entries durable in their parents: the fsync
    /// of `cd` after the link covers the blob's name, not the name of `cd` itself, and a
    /// directory lost in a crash would take its blobs with it.
    fn create_fanout_dirs(&self, dir: &Path) -> Result<(), Error> {
        let mut created = Vec::new();
        let mut d = dir;
        while d != self.root && !d.is_dir() {
            created.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for c in &created {
            let parent = c.parent().unwrap_or(&self.root);
            File::open(parent).and_then(|p| p.sync_all()).map_err(|e| Error::io(parent, e))?;
        }
        Ok(())
    }

    /// Reads a blob and checks that its content still has its digest.
    pub fn get(&self, hash: &Sha256) -> Result<Vec<u8>, Error> {
        let path = self.path_of(hash);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => f.read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::Blob { hash: hash.to_hex(), fault: Fault::Missing, reason: "not in the store".into() });
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let actual: [u8; 32] = Hasher::digest(&bytes).into();
        if actual != hash.0 {
            return Err(Error::Blob {
                hash: hash.to_hex(),
                fault: Fault::Damaged,
                reason: format!("corrupted: its content now hashes to {}", hex::encode(actual)),
            });
        }
        Ok(bytes)
    }

    /// Whether a blob is present (its content is not checked).
    pub fn contains(&self, hash: &Sha256) -> bool {
        self.path_of(hash).is_file()
    }

    /// Whether a blob is there and its content still has its hash (read in chunks: a big
    /// document is not held in memory). An I/O error on the blob itself (unreadable
    /// sectors, a permission changed) counts as damage, with its cause.
    pub fn check(&self, hash: &Sha256) -> Result<Health, Error> {
        let path = self.path_of(hash);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Health::Missing),
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Ok(Health::Missing),
            Err(e) => return Ok(Health::Damaged { problem: format!("unreadable: {e}") }),
        };
        match hash_reader(file) {
            Ok((actual, bytes)) if actual == hash.0 => Ok(Health::Intact { bytes }),
            Ok((actual, _)) => Ok(Health::Damaged { problem: format!("its content now hashes to {}", hex::encode(actual)) }),
            Err(e) => Ok(Health::Damaged { problem: format!("unreadable: {e}") }),
        }
    }

    /// Checks every blob whose first byte is one of `prefixes` (the fan-out directories
    /// `blobs/00` to `blobs/ff`): each one's content against its name. Files that are not
    /// blobs (a name that is not a digest) are left alone and counted apart.
    pub fn verify(&self, prefixes: impl IntoIterator<Item = u8>) -> Result<Verification, Error> {
        let mut v = Verification::default();
        for p in prefixes {
            let top = self.root.join(hex::encode([p]));
            for sub in read_dir_sorted(&top)? {
                for path in read_dir_sorted(&sub)? {
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    let hash = match Sha256::parse_hex(name) {
                        Ok(h) if self.path_of(&h) == path => h,
                        _ => {
                            v.strays += 1;
                            continue;
                        }
                    };
                    v.blobs += 1;
                    match self.check(&hash)? {
                        Health::Intact { bytes } => v.bytes += bytes,
                        Health::Missing => v.blobs -= 1, // removed while we looked
                        Health::Damaged { problem } => v.damaged.push(Damaged { hash, fault: Fault::Damaged, problem }),
                    }
                }
            }
        }
        Ok(v)
    }
}

/// The state of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Present, its content has its hash; its size.
    Intact { bytes: u64 },
    /// No file under its name.
    Missing,
    /// The content no longer has its hash, or cannot be read.
    Damaged { problem: String },
}

/// A damaged blob and what is wrong with it (in English, for the log and the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub hash: Sha256,
    pub fault: Fault,
    pub problem: String,
}

/// How a blob is lost (`blob_fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "blob_fault", rename_all = "lowercase")]
pub enum Fault {
    /// In the store, but its content no longer has its hash, or cannot be read.
    Damaged,
    /// Referenced by the database, absent from the store.
    Missing,
}

/// The `problem` of a missing blob.
pub const MISSING: &str = "not in the store, though the database references it";

/// What [`BlobStore::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// Blobs looked at.
    pub blobs: u64,
    /// Bytes of the sound ones.
    pub bytes: u64,
    pub damaged: Vec<Damaged>,
    /// Files in the fan-out directories that are not blobs.
    pub strays: u64,
}

fn hash_reader(mut f: File) -> io::Result<([u8; 32], u64)> {
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().into(), total))
}

/// The entries of a directory, sorted; none when it does not exist.
fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut v = Vec::new();
    for entry in entries {
        v.push(entry.map_err(|e| Error::io(dir, e))?.path());
    }
    v.sort();
    Ok(v)
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (u64::from(nanos) << 20) ^ NEXT.fetch_add(1, Ordering::Relaxed)
}
