#!/bin/sh
# Demo traffic: a handful of citizens' messages through pec-sim into the comune's PEC box,
# so that the dashboard shows registrations, rejections and receipts. Used by
# `docker compose --profile demo up` (service demo-traffic) and by scripts/demo.
#
#   traffic.sh PKI_DIR SMTP_HOST:PORT SAMPLES_DIR
#
# PEC_SIM (default: pec-sim on PATH), COMUNE (default protocollo@pec.comune.demo.it),
# DEMO_PASSWORD (default demo) can be set in the environment.
set -eu
pki=$1 smtp=$2 samples=$3
pec_sim=${PEC_SIM:-pec-sim}
comune=${COMUNE:-protocollo@pec.comune.demo.it}
pw=${DEMO_PASSWORD:-demo}

send() { "$pec_sim" send --smtp "$smtp" --to "$comune" "$@" >/dev/null; }

# A signed istanza from a citizen's PEC box: registered, receipt with Segnatura.xml.
send --user mario.rossi@pec.cittadini.demo.it --password "$pw" --from mario.rossi@pec.cittadini.demo.it \
    --subject "Richiesta di accesso agli atti - pratica edilizia 2026/118" \
    --body "Buongiorno, allego l'istanza firmata digitalmente. Cordiali saluti, Mario Rossi" \
    --attach "$samples/istanza-accesso-atti.pdf" --sign-attachments --pki "$pki" --signer mario.rossi
# Two signed documents.
send --user giulia.bianchi@pec.cittadini.demo.it --password "$pw" --from giulia.bianchi@pec.cittadini.demo.it \
    --subject "SCIA per apertura esercizio commerciale in via Garibaldi 12" \
    --body "Si trasmettono la SCIA e la planimetria firmate." \
    --attach "$samples/scia.pdf" --attach "$samples/planimetria.pdf" --sign-attachments --pki "$pki" --signer giulia.bianchi
# From a PEC box, but the attachment is not signed: rejected, the notice names the file.
send --user giulia.bianchi@pec.cittadini.demo.it --password "$pw" --from giulia.bianchi@pec.cittadini.demo.it \
    --subject "Domanda di contributo affitto 2026" \
    --body "Allego la domanda." --attach "$samples/domanda-contributo.pdf"
# From an ordinary mailbox: the provider makes it an anomaly envelope; rejected NOT_PEC, notice.
send --from luca.verdi@posta.demo.it \
    --subject "Segnalazione buca in via Roma" \
    --body "Buongiorno, segnalo una buca pericolosa davanti al civico 45."
echo "demo traffic: 4 messages sent to $comune"
