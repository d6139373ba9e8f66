//! The blob store: raw messages and documents, addressed by their SHA-256, written once.
//!
//! Layout under the data directory: `blobs/ab/cd/abcd…` (the full hex digest as file name)
//! and `blobs/tmp/` for writes in progress. A blob is written to a temporary file, flushed
//! to disk, then hard-linked to its final name: the link fails if the name exists, so a blob
//! is never overwritten, and a crash before the link leaves only a temporary file, which is
//! never visible as a blob and is swept on the next open. Reads check the hash.
//!
//! The functions are blocking (plain file I/O); async callers use `spawn_blocking`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256 as Hasher};

use crate::Error;
use crate::register::Sha256;

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Opens (creating if needed) the store under `data_dir` and removes the temporary files
    /// that a crash may have left.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        let root = data_dir.join("blobs");
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        for entry in fs::read_dir(&tmp).map_err(|e| Error::io(&tmp, e))? {
            let path = entry.map_err(|e| Error::io(&tmp, e))?.path();
            // A temporary file is never a blob: whatever it held is written again by whoever
            // failed to finish it (the raw message is still in the mailbox).
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        Ok(BlobStore { root })
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn path_of(&self, hash: &Sha256) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// Stores `bytes` and returns their digest. Storing the same bytes again is a no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<Sha256, Error> {
        self.put_with_digest(bytes, Sha256::of(bytes))
    }

    /// Stores `bytes` under `hash`, which the caller computed from these very bytes in this
    /// process (the classifier hashes every attachment it reads: hashing 500 KB again costs
    /// about a millisecond per document). A wrong digest would be caught by [`Self::get`].
    pub fn put_with_digest(&self, bytes: &[u8], hash: Sha256) -> Result<Sha256, Error> {
        debug_assert_eq!(hash, Sha256::of(bytes), "put_with_digest: the digest is not of these bytes");
        let dest = self.path_of(&hash);
        if dest.exists() {
            return Ok(hash);
        }
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
                return Err(Error::Blob { hash: hash.to_hex(), reason: "not in the store".into() });
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let actual: [u8; 32] = Hasher::digest(&bytes).into();
        if actual != hash.0 {
            return Err(Error::Blob {
                hash: hash.to_hex(),
                reason: format!("corrupted: its content now hashes to {}", hex::encode(actual)),
            });
        }
        Ok(bytes)
    }

    /// Whether a blob is present (its content is not checked).
    pub fn contains(&self, hash: &Sha256) -> bool {
        self.path_of(hash).is_file()
    }
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
