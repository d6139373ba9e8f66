# The native demo (`scripts/run --demo`): Dovecot, the demo PKI, pec-sim and Sigillo on
# loopback under .local/demo, then the demo traffic. Sourced by scripts/run after the build
# and the migrations; the twin of the demo profile in docker-compose.yml.
D=$PWD/.local/demo
IMAP_PORT=10143 LMTP_PORT=10024 SMTP_PORT=10025
COMUNE=protocollo@pec.comune.demo.it
pids=()
demo_stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }

demo_dovecot() {
    [ "$(id -u)" -eq 0 ] || { log "the demo's Dovecot runs as root (as in the tests): run scripts/run --demo as root"; exit 2; }
    [ -x /usr/sbin/dovecot ] || { log "Dovecot is missing: apt-get install dovecot-imapd dovecot-lmtpd"; exit 2; }
    mkdir -p "$D/dovecot/run" "$D/dovecot/state" "$D/dovecot/mail"
    chmod 755 "$D" "$D/dovecot"
    chown dovecot:dovecot "$D/dovecot/mail"
    cat > "$D/dovecot/dovecot.conf" <<CONF
base_dir = $D/dovecot/run
state_dir = $D/dovecot/state
log_path = $D/dovecot/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_location = maildir:$D/dovecot/mail/%u
passdb {
  driver = static
  args = password=demo
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$D/dovecot/mail/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
service anvil {
  chroot =
}
CONF
    /usr/sbin/dovecot -F -c "$D/dovecot/dovecot.conf" &
    pids+=($!)
}

wait_port() { # port, what
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
    log "$2 did not start listening on 127.0.0.1:$1"; exit 1
}

demo_start() {
    trap demo_stop EXIT
    demo_dovecot
    wait_port $IMAP_PORT Dovecot
    [ -f "$D/pki/pki.json" ] ||
        "$bin"/pec-sim pki init "$D/pki" --domain pec.cittadini.demo.it --domain pec.comune.demo.it
    "$bin"/pec-sim serve --pki "$D/pki" --smtp 127.0.0.1:$SMTP_PORT --lmtp 127.0.0.1:$LMTP_PORT \
        --domain pec.comune.demo.it --domain pec.cittadini.demo.it --password demo > "$D/pec-sim.log" 2>&1 &
    pids+=($!)
    wait_port $SMTP_PORT pec-sim
    export SIGILLO_TRUST_DIR=$D/pki/trust
    export SIGILLO_IMAP_URL=imap://127.0.0.1:$IMAP_PORT SIGILLO_IMAP_USER=$COMUNE SIGILLO_IMAP_PASSWORD=demo
    export SIGILLO_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT SIGILLO_SMTP_USER=$COMUNE SIGILLO_SMTP_PASSWORD=demo
    export SIGILLO_NOTIFY_FROM=$COMUNE SIGILLO_ENTE_NAME="Comune di Demo" SIGILLO_OFFICE_NAME="Ufficio Protocollo"
    export SIGILLO_OFFICE_EMAIL=$COMUNE
    export SIGILLO_SEAL_CERT=$D/pki/comune/seal-cert.pem SIGILLO_SEAL_KEY=$D/pki/comune/seal-key.pem
    printf demo-sigillo | "$bin"/sigillo user add demo --name "Utente demo" --role responsabile 2>/dev/null || true
    "$bin"/sigillo serve &
    pids+=($!)
    local listen=${SIGILLO_LISTEN:-127.0.0.1:8080}
    wait_port "${listen##*:}" Sigillo
    PEC_SIM="$bin"/pec-sim COMUNE=$COMUNE sh docker/demo/traffic.sh "$D/pki" 127.0.0.1:$SMTP_PORT docker/demo/samples
    log "demo running: dashboard http://$listen/ (user demo, password demo-sigillo); mailboxes on IMAP 127.0.0.1:$IMAP_PORT (password demo); Ctrl-C stops"
    wait "${pids[@]}"
}
