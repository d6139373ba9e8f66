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
    // The partial write is fresh: an ordinary open cannot tell it from a write in progress
    // and leaves it; once it is old enough it is swept (here: any age, nobody else writes).
    let partial = std::fs::read_dir(&tmp).unwrap().count();
    assert!(partial > 0, "the killed write left its temporary file");
    BlobStore::open_sweeping(dir.path(), Duration::ZERO).unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    eprintln!("{blobs} complete blobs survived the kill, {partial} partial write swept");
}

const WRITER_DIR: &str = "SIGILLO_BLOB_WRITER_DIR";
const WRITER_BLOBS: u32 = 24;

/// Not a test: the child process of the test below, which stores `WRITER_BLOBS` big blobs
/// and fails if any put fails.
#[test]
#[ignore = "helper process of a_write_in_progress_in_another_process_survives_opens"]
fn writer_child_puts_blobs() {
    let Ok(dir) = std::env::var(WRITER_DIR) else { return };
    let store = BlobStore::open(std::path::Path::new(&dir)).unwrap();
    let mut data = vec![7_u8; 8 * 1024 * 1024];
    for i in 0..WRITER_BLOBS {
        data[..4].copy_from_slice(&i.to_le_bytes());
        store.put(&data).unwrap();
    }
}

#[test]
fn a_write_in_progress_in_another_process_survives_opens() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("blobs").join("tmp");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "writer_child_puts_blobs", "--ignored", "--nocapture"])
        .env(WRITER_DIR, dir.path())
        .spawn()
        .unwrap();
    // Open the store again and again while the other process writes, as `sigillo ingest`
    // processes starting beside it do.
    let (mut opens, mut opens_beside_a_write) = (0, 0);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let writing = std::fs::read_dir(&tmp).map(|d| d.count() > 0).unwrap_or(false);
        BlobStore::open(dir.path()).unwrap();
        opens += 1;
        opens_beside_a_write += usize::from(writing);
    };
    assert!(status.success(), "a put of the writer failed while the store was opened beside it");
    let store = BlobStore::open(dir.path()).unwrap();
    let mut data = vec![7_u8; 8 * 1024 * 1024];
    for i in 0..WRITER_BLOBS {
        data[..4].copy_from_slice(&i.to_le_bytes());
        assert!(store.contains(&Sha256::of(&data)), "blob {i}");
    }
    assert!(opens_beside_a_write > 0, "no open happened during a write ({opens} opens)");
    eprintln!("{opens} opens, {opens_beside_a_write} of them during a write: {WRITER_BLOBS} blobs stored");
}

/// Sets a file's modification time `ago` in the past.
fn age(path: &std::path::Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() - ago).unwrap();
}

#[test]
fn only_stale_temporary_files_are_swept_and_nothing_else_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let blobs: Vec<Sha256> = (0..5_u8).map(|i| store.put(&[i; 100]).unwrap()).collect();
    age(&store.path_of(&blobs[0]), Duration::from_secs(3 * 24 * 3600)); // an old blob stays a blob
    let tmp = dir.path().join("blobs").join("tmp");
    let hour = Duration::from_secs(3600);
    let file = |name: &str, ago: Duration| {
        let p = tmp.join(name);
        std::fs::write(&p, b"partial").unwrap();
        age(&p, ago);
        p
    };
    // Being written by a second store of this process right now: a temporary file open for
    // writing, as `put` has it between create and link.
    let other = BlobStore::open(dir.path()).unwrap();
    let in_progress_path = tmp.join("abcd.1.2");
    let mut in_progress = std::fs::File::create_new(&in_progress_path).unwrap();
    std::io::Write::write_all(&mut in_progress, b"half a blob").unwrap();
    let stale = file("dead.1.1", 25 * hour);
    let recent = file("recent.1.1", 23 * hour); // younger than the bound: kept
    let future = tmp.join("skewed.1.1"); // another host's clock ahead of ours
    std::fs::write(&future, b"x").unwrap();
    std::fs::File::options().write(true).open(&future).unwrap().set_modified(std::time::SystemTime::now() + hour).unwrap();
    let subdir = tmp.join("not-a-temporary");
    std::fs::create_dir(&subdir).unwrap();
    std::fs::write(subdir.join("inside"), b"kept").unwrap();
    age(&subdir.join("inside"), 30 * hour);
    let before: Vec<_> = walk(&dir.path().join("blobs"));

    BlobStore::open(dir.path()).unwrap();
    assert!(!stale.exists(), "a temporary file older than a day is swept");
    let after: Vec<_> = walk(&dir.path().join("blobs"));
    let expected: Vec<_> = before.iter().filter(|p| **p != stale).cloned().collect();
    assert_eq!(after, expected, "nothing but the stale temporary file is removed");
    for (i, h) in blobs.iter().enumerate() {
        assert_eq!(store.get(h).unwrap(), vec![i as u8; 100]);
    }
    assert!(in_progress_path.is_file() && recent.is_file() && future.is_file() && subdir.join("inside").is_file());

    // The write in progress finishes as `put` does: its link still works.
    std::io::Write::write_all(&mut in_progress, b", the rest").unwrap();
    drop(in_progress);
    std::fs::hard_link(&in_progress_path, tmp.join("linked")).unwrap();
    drop(other);

    // The age is a parameter: with a bound of a minute, a two-minute-old file goes and a fresh
    // one stays.
    let two_minutes = file("two-minutes.1.1", Duration::from_secs(120));
    let fresh = file("fresh.1.1", Duration::from_secs(5));
    BlobStore::open_sweeping(dir.path(), Duration::from_secs(60)).unwrap();
    assert!(!two_minutes.exists());
    assert!(fresh.is_file());
    assert!(!recent.exists(), "23 h is more than a minute");
    assert!(future.is_file(), "a modification time in the future is never stale");
    assert!(subdir.join("inside").is_file(), "directories in tmp/ are left alone");
    assert_eq!(blobs.iter().filter(|h| store.contains(h)).count(), blobs.len());
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
    out.sort();
    out
}

/// Flips one bit of the stored file of `h`.
fn flip_a_bit(store: &BlobStore, h: &Sha256) {
    let path = store.path_of(h);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x04;
    std::fs::write(&path, bytes).unwrap();
}

/// Issue 18 §5: a flipped bit is found by the check and by the walk over the store, and
/// storing the same bytes again repairs the copy (the walk then finds nothing).
#[test]
fn a_flipped_bit_is_found_by_verify_and_healed_by_storing_the_same_bytes() {
    use sigillo_store::blob::Health;
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let contents: Vec<Vec<u8>> = (0..40).map(|i| format!("documento {i} ").repeat(100 + i).into_bytes()).collect();
    let hashes: Vec<Sha256> = contents.iter().map(|c| store.put(c).unwrap()).collect();
    let clean = store.verify(0..=255).unwrap();
    assert_eq!((clean.blobs, clean.damaged.len(), clean.strays), (40, 0, 0));
    assert_eq!(clean.bytes, contents.iter().map(|c| c.len() as u64).sum::<u64>());

    let victim = hashes[7];
    flip_a_bit(&store, &victim);
    assert!(matches!(store.check(&victim).unwrap(), Health::Damaged { problem } if problem.contains("now hashes to")));
    let found = store.verify(0..=255).unwrap();
    assert_eq!(found.blobs, 40);
    assert_eq!(found.damaged.len(), 1);
    assert_eq!(found.damaged[0].hash, victim);
    // Only the fan-out directory of its first byte: found there, and nowhere else.
    assert_eq!(store.verify([victim.0[0]]).unwrap().damaged.len(), 1);
    assert!(store.verify((0..=255u8).filter(|p| *p != victim.0[0])).unwrap().damaged.is_empty());

    // The same bytes stored again replace the damaged copy, atomically, with nothing left in tmp.
    assert_eq!(store.put(&contents[7]).unwrap(), victim);
    assert_eq!(store.get(&victim).unwrap(), contents[7]);
    assert!(store.verify(0..=255).unwrap().damaged.is_empty());
    assert_eq!(std::fs::read_dir(dir.path().join("blobs/tmp")).unwrap().count(), 0);

    // A truncated file and an unreadable one are damage too; a stray file is not a blob.
    std::fs::write(store.path_of(&hashes[3]), b"").unwrap();
    assert!(matches!(store.check(&hashes[3]).unwrap(), Health::Damaged { .. }));
    std::fs::write(store.path_of(&hashes[3]).with_file_name("appunti.txt"), b"x").unwrap();
    let v = store.verify(0..=255).unwrap();
    assert_eq!((v.damaged.len(), v.strays), (1, 1));
    assert_eq!(store.check(&Sha256::of(b"mai archiviato")).unwrap(), Health::Missing);
}
