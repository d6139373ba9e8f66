-- Intake: from the PEC mailbox (IMAP) or `sigillo ingest` to a decision.
--
-- The row of `inbound_messages` (0001) is written as soon as the raw bytes are in the blob
-- store, in state `received`; the decision is written in the same transaction as the
-- registration it leads to (or instead of one). The columns below add what the intake needs
-- to be idempotent, to recognise one PEC delivered twice with different outer bytes, and to
-- resume a mailbox where it stopped.

-- The IMAP account the message was read from (user@host:port); null for `sigillo ingest`.
alter table inbound_messages add column account text;
-- The PEC category found by the classifier (`posta-certificata`, `anomalia`, `ricevuta`,
-- `none`) and, for receipts, their kind (`accettazione`, `avvenuta-consegna`, ...).
alter table inbound_messages add column pec_type text;
alter table inbound_messages add column pec_receipt text;
-- When the same PEC (same daticert identificativo and msgid) arrived before with other outer
-- bytes (one copy per recipient at the comune, a re-delivery): the message that carries the
-- decision. This row then mirrors that decision and never gets a registration of its own.
alter table inbound_messages add column duplicate_of bigint references inbound_messages (id);
-- The classifier's full report (`sigillo check --json` shape), for the review queue and the
-- dashboard: reasons per attachment, signers, daticert. Never the documents' content.
alter table inbound_messages add column report jsonb;
-- When the decision was written (null while `received` or `error`).
alter table inbound_messages add column decided_at timestamptz;

-- One registration per PEC: among the transport envelopes that carry a decision of their own,
-- a (daticert identificativo, msgid) pair appears once. Two copies decided concurrently
-- cannot both pass this index; the loser re-reads and becomes a duplicate of the winner.
-- Receipts are left out on purpose: the accettazione and every consegna of one message share
-- its identificativo.
create unique index inbound_messages_pec_unique
    on inbound_messages (pec_identificativo, pec_msgid)
    where pec_type = 'posta-certificata' and duplicate_of is null and pec_identificativo is not null;

-- Messages to retry or show as quarantined: few, and looked up by every intake pass.
create index inbound_messages_errors on inbound_messages (account, mailbox) where state = 'error';

-- Where the intake stopped in each mailbox. UIDs are only meaningful with their UIDVALIDITY:
-- when the server reports another UIDVALIDITY the mailbox is read again from the start, and
-- the SHA-256 of the raw bytes and the PEC identifiers keep that from registering anything
-- twice.
create table imap_mailboxes (
    account      text not null,
    mailbox      text not null,
    uidvalidity  bigint not null check (uidvalidity > 0),
    -- the highest UID whose message has a committed row (decided, in error, or quarantined)
    last_uid     bigint not null default 0 check (last_uid >= 0),
    updated_at   timestamptz not null default now(),
    primary key (account, mailbox)
);
