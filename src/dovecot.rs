//! A real Dovecot (Debian `dovecot-imapd`, `dovecot-lmtpd`) per test: its own configuration,
//! mail and state in a temporary directory, IMAP in clear and LMTP on free loopback ports
//! (and, with [`Dovecot::start_tls`], IMAPS with a certificate of a CA made for the test),
//! any user name with the password [`PASSWORD`] (static passdb). Mailboxes are per full
//! user name (`%u`), so `protocollo@a.test` and `protocollo@b.test` are two boxes. See
//! ARCHITECTURE.md §6 for the settings that let the master run as root.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::net::TcpStream;

pub const PASSWORD: &str = "secret";
const DOVECOT: &str = "/usr/sbin/dovecot";

pub struct Dovecot {
    dir: tempfile::TempDir,
    pub port: u16,
    /// LMTP listener (for pec-sim's deliveries).
    pub lmtp_port: u16,
    idle: bool,
    /// The IMAPS listener, when started with [`Dovecot::start_tls`].
    pub imaps_port: Option<u16>,
    child: Option<tokio::process::Child>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("no free port: {e}"));
    l.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"))
}

fn uid_gid(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user) && f.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .unwrap_or_else(|| panic!("no user {user}: is dovecot-imapd installed? (scripts/test installs it)"))
}

impl Dovecot {
    /// Starts a Dovecot that offers IDLE.
    pub async fn start() -> Dovecot {
        Self::start_with(true).await
    }

    /// `idle = false` leaves IDLE out of the advertised capabilities (polling fallback).
    pub async fn start_with(idle: bool) -> Dovecot {
        Self::start_full(idle, false).await
    }

    /// Starts a Dovecot that also listens for IMAPS (implicit TLS) with a certificate for
    /// `localhost` issued by a CA made for this server ([`Dovecot::ca_file`]), generated with
    /// the `openssl` command.
    pub async fn start_tls() -> Dovecot {
        Self::start_full(true, true).await
    }

    async fn start_full(idle: bool, tls: bool) -> Dovecot {
        assert!(Path::new(DOVECOT).exists(), "{DOVECOT} missing: apt-get install dovecot-imapd (scripts/test does)");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        let (uid, gid) = uid_gid("dovecot");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
        for sub in ["run", "state", "mail", "home"] {
            std::fs::create_dir_all(d.join(sub)).unwrap_or_else(|e| panic!("{e}"));
        }
        for sub in ["mail", "home"] {
            std::os::unix::fs::chown(d.join(sub), Some(uid), Some(gid)).unwrap_or_else(|e| panic!("{e}"));
        }
        let port = free_port();
        let lmtp_port = std::iter::repeat_with(free_port).find(|p| *p != port).unwrap_or_default();
        let imaps_port = tls.then(|| {
            make_tls_files(&d.join("tls"));
            std::iter::repeat_with(free_port).find(|p| *p != port && *p != lmtp_port).unwrap_or_default()
        });
        let mut dv = Dovecot { dir, port, lmtp_port, idle, imaps_port, child: None };
        dv.launch().await;
        dv
    }

    fn conf_path(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    async fn launch(&mut self) {
        let d = self.dir.path().display().to_string();
        let caps = if self.idle {
            String::new()
        } else {
            "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS MOVE\n".to_owned()
        };
        let (ssl, imaps_port) = match self.imaps_port {
            Some(port) => (format!("yes\nssl_cert = <{d}/tls/server.pem\nssl_key = <{d}/tls/server.key"), port),
            None => ("no".to_owned(), 0),
        };
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             protocols = imap lmtp\npostmaster_address = postmaster@localhost\nlisten = 127.0.0.1\nssl = {ssl}\ndisable_plaintext_auth = no\n\
             auth_mechanisms = plain login\ndefault_login_user = dovenull\ndefault_internal_user = dovecot\n\
             first_valid_uid = 1\nmail_location = maildir:{d}/mail/%u\n{caps}\
             passdb {{\n  driver = static\n  args = password={PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={d}/home/%u allow_all_users=yes\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {}\n  }}\n\
             \x20 inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n    ssl = yes\n  }}\n}}\nservice anvil {{\n  chroot =\n}}\n\
             service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {}\n  }}\n}}\n",
            self.port, self.lmtp_port
        );
        std::fs::write(self.conf_path(), conf).unwrap_or_else(|e| panic!("{e}"));
        let child = tokio::process::Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(self.conf_path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dovecot: {e}"));
        self.child = Some(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok()
                && TcpStream::connect(("127.0.0.1", self.lmtp_port)).await.is_ok()
                && match self.imaps_port {
                    Some(p) => TcpStream::connect(("127.0.0.1", p)).await.is_ok(),
                    None => true,
                }
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dovecot did not listen on {} (log: {})", self.port, self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT` of the LMTP listener (pec-sim `--lmtp`).
    pub fn lmtp_addr(&self) -> String {
        format!("127.0.0.1:{}", self.lmtp_port)
    }

    /// `imap://127.0.0.1:PORT` for `SIGILLO_IMAP_URL`.
    pub fn url(&self) -> String {
        format!("imap://127.0.0.1:{}", self.port)
    }

    /// `imaps://localhost:PORT` (the name in the certificate), when started with TLS.
    pub fn imaps_url(&self) -> String {
        format!("imaps://localhost:{}", self.imaps_port.unwrap_or_else(|| panic!("this Dovecot has no IMAPS listener")))
    }

    /// The PEM file of the CA that issued the IMAPS certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("tls").join("ca.pem")
    }

    /// Stops the server (SIGTERM to the master, which ends every session) and waits.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = tokio::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        // The port must be free before a restart can bind it again.
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts it again on the same port, with the same mail.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    pub async fn session(&self, user: &str) -> async_imap::Session<TcpStream> {
        session_at(&format!("127.0.0.1:{}", self.port), user).await
    }

    /// Appends messages to a mailbox (created if missing), in order.
    pub async fn append(&self, user: &str, mailbox: &str, messages: &[Vec<u8>]) {
        let mut s = self.session(user).await;
        let _ = s.create(mailbox).await;
        for m in messages {
            s.append(mailbox, None, None, m).await.unwrap_or_else(|e| panic!("APPEND: {e}"));
        }
        let _ = s.logout().await;
    }

    /// How many messages a mailbox holds (0 when it does not exist).
    pub async fn count(&self, user: &str, mailbox: &str) -> u32 {
        let mut s = self.session(user).await;
        let n = s.examine(mailbox).await.map(|m| m.exists).unwrap_or(0);
        let _ = s.logout().await;
        n
    }

    /// The raw bodies of a mailbox, by UID order.
    pub async fn bodies(&self, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
        let mut s = self.session(user).await;
        if s.examine(mailbox).await.map(|m| m.exists).unwrap_or(0) == 0 {
            return Vec::new();
        }
        let fetches: Vec<_> = s
            .uid_fetch("1:*", "(UID BODY.PEEK[])")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut v: Vec<(u32, Vec<u8>)> =
            fetches.iter().map(|f| (f.uid.unwrap_or(0), f.body().unwrap_or_default().to_vec())).collect();
        v.sort_by_key(|(u, _)| *u);
        v.into_iter().map(|(_, b)| b).collect()
    }

    /// Deletes a mailbox (its UIDVALIDITY is gone with it).
    pub async fn delete(&self, user: &str, mailbox: &str) {
        let mut s = self.session(user).await;
        s.delete(mailbox).await.unwrap_or_else(|e| panic!("DELETE {mailbox}: {e}"));
        let _ = s.logout().await;
    }

    pub async fn uidvalidity(&self, user: &str, mailbox: &str) -> u32 {
        let mut s = self.session(user).await;
        let v = s.examine(mailbox).await.ok().and_then(|m| m.uid_validity).unwrap_or(0);
        let _ = s.logout().await;
        v
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(child) = &self.child
            && let Some(pid) = child.id()
        {
            // SIGTERM lets the master take its children down; kill_on_drop is the backstop.
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A CA and a `localhost` server certificate (EC P-256) in `dir`: `ca.pem`, `server.pem`,
/// `server.key`.
fn make_tls_files(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let steps: [Vec<&str>; 3] = [
        [&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Sigillo Test IMAP CA"]].concat(),
        [&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]].concat(),
        vec![
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
            "-extfile", "server.ext",
        ],
    ];
    for args in steps {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl (scripts/test installs it): {e}"));
        assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
}

/// A logged-in session of `user` with the IMAP server at `addr` (a Dovecot of these tests, or
/// a proxy in front of one).
pub async fn session_at(addr: &str, user: &str) -> async_imap::Session<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("{addr}: {e}"));
    let mut client = async_imap::Client::new(tcp);
    let _ = client.read_response().await;
    client.login(user, PASSWORD).await.map_err(|(e, _)| e).unwrap_or_else(|e| panic!("login {user}: {e}"))
}
