-- The protocol register (DPR 445/2000 art. 53-57).
--
-- Everything a registration records under art. 53 is written once and can never be changed
-- afterwards, by anybody: the triggers at the end of this file refuse UPDATE, DELETE and
-- TRUNCATE on those tables for every role, the application's own included. What may change
-- over the life of a registration (annulment, assignment, processing state) lives in other
-- tables that reference it.

-- An Area Organizzativa Omogenea: the unit that owns a protocol service and its registers.
-- Codes are the ones published in IPA (Indice dei domicili digitali della PA).
create table aoo (
    id          bigint generated always as identity primary key,
    ipa_code    text not null check (ipa_code ~ '^[A-Za-z0-9_.-]{1,16}$'),
    code        text not null check (code ~ '^[A-Za-z0-9_.-]{1,16}$'),
    name        text,
    created_at  timestamptz not null default now(),
    constraint aoo_code_unique unique (ipa_code, code)
);

-- A register of an AOO: the protocollo generale (usually `PG`), an emergency register, or a
-- repertorio. The code goes into the segnatura (Allegato 6 `CodiceRegistro` pattern).
create table registers (
    id          bigint generated always as identity primary key,
    aoo_id      bigint not null references aoo (id),
    code        text not null check (code ~ '^[A-Za-z0-9_.-]{1,16}$'),
    description text,
    created_at  timestamptz not null default now(),
    constraint registers_code_unique unique (aoo_id, code)
);

-- The last number given in a register for a calendar year. The row is locked by the
-- transaction that writes a registration, so the number and the registration commit or roll
-- back together: no gaps, no duplicates (art. 57: "progressivo", renewed every solar year).
create table register_counters (
    register_id bigint not null references registers (id),
    year        integer not null check (year between 1900 and 9999),
    last_number integer not null check (last_number >= 0),
    primary key (register_id, year)
);

create type direction as enum ('incoming', 'outgoing', 'internal');

-- Processing state of a message read from a PEC box, from raw bytes to decision.
create type message_state as enum (
    'received',   -- raw bytes stored, not yet decided
    'registered', -- a registration was written for it
    'rejected',   -- refused with reasons (kept: a supervisor can still register it)
    'review',     -- the decision is the protocol office's
    'receipt',    -- a provider receipt, linked to what it certifies
    'error'       -- a step failed; kept with the cause and retried a bounded number of times
);

-- Every message read from a mailbox or pushed with `sigillo ingest`, stored before anything
-- else happens. The raw bytes live in the blob store under their SHA-256.
create table inbound_messages (
    id                 bigint generated always as identity primary key,
    raw_sha256         bytea not null check (length(raw_sha256) = 32),
    raw_size           bigint not null check (raw_size >= 0),
    mailbox            text,
    uidvalidity        bigint,
    uid                bigint,
    first_seen_at      timestamptz not null default now(),
    state              message_state not null default 'received',
    decision           text,
    -- machine-readable reasons: [{"code": "...", "detail": "..."}]
    reasons            jsonb not null default '[]'::jsonb,
    -- the PEC provider's identifiers from daticert.xml, to recognise one PEC delivered twice
    pec_identificativo text,
    pec_msgid          text,
    attempts           integer not null default 0,
    last_error         text,
    updated_at         timestamptz not null default now(),
    constraint inbound_messages_raw_unique unique (raw_sha256)
);

-- One registration: the art. 53 record. Immutable (see the triggers below).
create table registrations (
    id                     bigint generated always as identity primary key,
    register_id            bigint not null references registers (id),
    year                   integer not null,
    number                 integer not null check (number > 0),
    -- art. 53 b: assigned by the system in the same transaction as the number
    registered_at          timestamptz not null,
    -- when the PEC provider certifies the message was delivered to the comune (daticert),
    -- which is the legal date of submission for istanze (L. 241/1990 art. 18-bis)
    received_at            timestamptz,
    direction              direction not null,
    -- art. 53 c: the sender (incoming) or the recipients (outgoing)
    correspondent_name     text,
    correspondent_address  text,
    -- art. 53 d
    subject                text not null check (length(btrim(subject)) > 0),
    -- art. 53 e: the sender's own protocol number and date, when known
    sender_protocol_number text,
    sender_protocol_date   date,
    -- art. 53 f: the SHA-256 of every document, in document order
    document_hashes        bytea[] not null default '{}',
    inbound_message_id     bigint references inbound_messages (id),
    created_by             text not null,
    constraint registrations_number_unique unique (register_id, year, number),
    -- DPCM 3/12/2013 art. 18 c.1: one registration per message
    constraint registrations_message_unique unique (inbound_message_id)
);

create type document_role as enum ('primary', 'attachment');

-- The documents of a registration. Immutable, like the registration.
create table documents (
    id               bigint generated always as identity primary key,
    registration_id  bigint not null references registrations (id),
    ordinal          integer not null check (ordinal >= 0),
    name             text not null,
    media_type       text not null,
    size_bytes       bigint not null check (size_bytes >= 0),
    sha256           bytea not null check (length(sha256) = 32),
    role             document_role not null,
    -- the signature verification report (verdict, sub-indication, signers), as produced
    -- by the signature crate; null when the document was not checked
    signature_report jsonb,
    constraint documents_ordinal_unique unique (registration_id, ordinal)
);

-- Annulment (art. 54): its own, authorised event. The registration stays readable; the
-- annulment is shown beside it, with who, when, why and the authorising act.
create table annulments (
    registration_id  bigint primary key references registrations (id),
    annulled_at      timestamptz not null default now(),
    annulled_by      text not null check (length(btrim(annulled_by)) > 0),
    reason           text not null check (length(btrim(reason)) > 0),
    authorising_act  text not null check (length(btrim(authorising_act)) > 0)
);

-- The audit trail: append-only and hash-chained. Each entry carries the SHA-256 of the
-- previous entry and the SHA-256 of its own canonical content (computed by the application,
-- see `store::audit`), so that `sigillo audit verify` can recompute the chain and name the
-- first entry that was changed, removed or inserted out of band.
create table audit_log (
    -- gapless: taken from audit_head under its row lock, like a protocol number
    id           bigint primary key check (id > 0),
    at           timestamptz not null,
    actor        text not null,
    action       text not null,
    object_type  text not null,
    object_id    text not null,
    details      jsonb not null default '{}'::jsonb,
    prev_hash    bytea not null check (length(prev_hash) = 32),
    content_hash bytea not null check (length(content_hash) = 32),
    hash         bytea not null check (length(hash) = 32)
);

-- The head of the audit chain: one row, locked by every append so that entries are chained
-- in commit order.
create table audit_head (
    singleton  boolean primary key default true check (singleton),
    last_id    bigint not null,
    last_hash  bytea not null check (length(last_hash) = 32)
);
insert into audit_head (last_id, last_hash) values (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Immutability. A trigger function shared by every write-once table; TG_ARGV[0] names what is
-- protected, for the error message. Superusers can still disable triggers: that is what the
-- audit chain and the register exports are for.
create function refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'sigillo: % is immutable (% refused)', tg_argv[0], tg_op
        using errcode = 'insufficient_privilege',
              hint = 'registrations are annulled with their own operation, never changed';
end;
$$;

create trigger registrations_immutable before update or delete on registrations
    for each row execute function refuse_change('registrations');
create trigger registrations_no_truncate before truncate on registrations
    for each statement execute function refuse_change('registrations');
create trigger documents_immutable before update or delete on documents
    for each row execute function refuse_change('documents');
create trigger documents_no_truncate before truncate on documents
    for each statement execute function refuse_change('documents');
create trigger annulments_immutable before update or delete on annulments
    for each row execute function refuse_change('annulments');
create trigger annulments_no_truncate before truncate on annulments
    for each statement execute function refuse_change('annulments');
create trigger audit_log_immutable before update or delete on audit_log
    for each row execute function refuse_change('audit_log');
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function refuse_change('audit_log');

-- The counter may only move forward by one: a number once given is never given again.
create function counter_forward_only() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' or new.last_number <> old.last_number + 1
       or new.register_id <> old.register_id or new.year <> old.year then
        raise exception 'sigillo: register counters only move forward by one'
            using errcode = 'insufficient_privilege';
    end if;
    return new;
end;
$$;
create trigger register_counters_forward before update or delete on register_counters
    for each row execute function counter_forward_only();

create index registrations_registered_at on registrations (registered_at);
create index annulments_annulled_at on annulments (annulled_at);
create index inbound_messages_state on inbound_messages (state);
create index inbound_messages_pec_ids on inbound_messages (pec_identificativo, pec_msgid);
create index documents_registration on documents (registration_id);
