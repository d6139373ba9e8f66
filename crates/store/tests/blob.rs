//! The blob store: content-addressed, write-once, checked on read, crash-safe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use sigillo_store::Error;
use sigillo_store::blob::BlobStore;
use sigillo_store::register::Sha256;

#[test]
fn stores_by_hash_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let h = store.put(b"messaggio").unwrap();
    assert_eq!(h, Sha256::of(b"messaggio"));
    assert_eq!(store.get(&h).unwrap(), b"messaggio");
    // The same bytes again: same blob, nothing rewritten.
    let mtime = std::fs::metadata(store.path_of(&h)).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(store.put(b"messaggio").unwrap(), h);
    assert_eq!(std::fs::metadata(store.path_of(&h)).unwrap().modified().unwrap(), mtime);
    assert!(store.path_of(&h).starts_with(dir.path().join("blobs")));
}

#[test]
fn a_corrupted_blob_is_detected_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let h = store.put(b"contenuto originale").unwrap();
    std::fs::write(store.path_of(&h), b"contenuto alterato!").unwrap();
    let err = store.get(&h).unwrap_err();
    assert!(matches!(&err, Error::Blob { reason, .. } if reason.contains("corrupted")), "{err:?}");
}

#[test]
fn a_missing_blob_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let err = store.get(&Sha256::of(b"never stored")).unwrap_err();
    assert!(matches!(&err, Error::Blob { reason, .. } if reason.contains("not in the store")));
}

#[test]
fn fan_out_directories_are_made_when_missing_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let a = store.put(b"primo").unwrap();
    let fan_out = store.path_of(&a).parent().unwrap().to_path_buf();
    assert!(fan_out.is_dir());
    assert_eq!(fan_out.parent().unwrap().parent().unwrap(), dir.path().join("blobs"));
    // A blob whose two-level directory already exists goes into it (the inputs are fixed, so
    // the search finds the same one every time).
    let (same_dir, b) = (0..100_000u32)
        .map(|i| i.to_le_bytes().to_vec())
        .map(|bytes| (bytes.clone(), Sha256::of(&bytes)))
        .find(|(_, h)| store.path_of(h).parent() == Some(&fan_out) && *h != a)
        .unwrap();
    assert_eq!(store.put(&same_dir).unwrap(), b);
    assert_eq!(store.get(&b).unwrap(), same_dir);
    assert_eq!(store.get(&a).unwrap(), b"primo");
}

#[test]
fn a_fan_out_path_taken_by_a_file_is_a_clear_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let h = Sha256::of(b"bloccato");
    let first = store.path_of(&h).parent().unwrap().parent().unwrap().to_path_buf();
    std::fs::write(&first, b"not a directory").unwrap();
    let err = store.put(b"bloccato").unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&*first.parent().unwrap().to_string_lossy()), "names the path: {text}");
    assert!(!store.contains(&h));
    assert_eq!(std::fs::read_dir(dir.path().join("blobs").join("tmp")).unwrap().count(), 0, "no temporary file left");
}

const CHILD_DIR: &str = "SIGILLO_BLOB_CRASH_DIR";

/// Not a test: the child process of the test below, which writes big blobs until killed.
#[test]
#[ignore = "helper process of a_crash_before_the_link_leaves_no_partial_blob"]
fn crash_child_writes_until_killed() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let store = BlobStore::open(std::path::Path::new(&dir)).unwrap();
    let mut data = vec![0_u8; 64 * 1024 * 1024];
    for i in 0_u32.. {
        data[..4].copy_from_slice(&i.to_le_bytes());
        store.put(&data).unwrap();
    }
}

#[test]
fn a_crash_before_the_link_leaves_no_partial_blob() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child_writes_until_killed", "--ignored", "--nocapture"])
        .env(CHILD_DIR, dir.path())
        .spawn()
        .unwrap();
    // Kill it while it is writing: wait until a temporary file exists.
    let tmp = dir.path().join("blobs").join("tmp");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if std::fs::read_dir(&tmp).map(|d| d.count() > 0).unwrap_or(false) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the child never started writing");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Every visible blob is complete and intact.
    let store = BlobStore::open(dir.path()).unwrap();
    let mut blobs = 0;
    for entry in walk(&dir.path().join("blobs")) {
        if entry.starts_with(&tmp) {
            continue;
        }
        let name = entry.file_name().unwrap().to_str().unwrap();
        let h = Sha256::parse_hex(name).unwrap();
        assert_eq!(store.get(&h).unwrap().len(), 64 * 1024 * 1024);
        blobs += 1;
    }
    // And opening the store swept the partial write away.
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    eprintln!("{blobs} complete blobs survived the kill");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
