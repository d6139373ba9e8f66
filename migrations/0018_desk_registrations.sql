-- Registrations of every kind in the one register (DPR 445/2000 art. 53 c.5; LG AgID 2021
-- §3.1: one protocol service per AOO, no "protocolli di settore"): besides the PEC the intake
-- registers, the protocol office registers at the desk a paper letter, an ordinary e-mail, a
-- fax, a document the comune sends out or an internal one, and back-office systems register
-- through the API. They all take the next number of the same register, in the same
-- transaction as the PEC intake (`sigillo_store::register`).
--
-- What is added here is part of the art. 53 record and written once, like the rest of it:
-- the new columns of `registrations` are covered by its immutability trigger (0001), and the
-- two new tables get the same triggers.

-- How a document reached the comune, or leaves it. Every registration made before this
-- migration came from the PEC intake.
create type channel as enum ('pec', 'peo', 'carta', 'fax', 'altro');
-- The kind of paper delivery (only for channel `carta`).
create type paper_delivery as enum ('consegna_a_mano', 'posta', 'raccomandata');

-- Adding a column with a default does not rewrite rows nor fire row triggers: existing rows
-- read `pec`; the default is then dropped so that every new row says its channel.
alter table registrations add column channel channel not null default 'pec';
alter table registrations alter column channel drop default;
alter table registrations add column paper_delivery paper_delivery;
-- Attachments handed in on paper and not scanned: the register records how many there are.
alter table registrations add column paper_attachments integer not null default 0;
alter table registrations add constraint registrations_paper_delivery
    check ((channel = 'carta') = (paper_delivery is not null));
alter table registrations add constraint registrations_paper_attachments
    check (paper_attachments between 0 and 9999);

-- The correspondents of a registration (art. 53 c: the sender of a document received, the
-- recipients of one sent), in the order given. `registrations.correspondent_name` and
-- `correspondent_address` hold the first one, as for a PEC (search and lists read them);
-- a PEC registration has no rows here, its one correspondent is in those columns.
create table correspondents (
    registration_id bigint not null references registrations (id),
    ordinal         integer not null check (ordinal >= 0),
    name            text not null check (length(btrim(name)) > 0),
    -- codice fiscale (16 characters) or partita IVA / codice fiscale numerico (11 digits),
    -- validated with its check character by the application (`sigillo_protocol::desk`)
    tax_code        text check (tax_code ~ '^([A-Z0-9]{16}|[0-9]{11})$'),
    -- a postal address, or an e-mail / PEC address
    address         text,
    primary key (registration_id, ordinal)
);
create trigger correspondents_immutable before update or delete on correspondents
    for each row execute function refuse_change('correspondents');
create trigger correspondents_no_truncate before truncate on correspondents
    for each statement execute function refuse_change('correspondents');

-- API tokens get a scope: `read` (the read-only API, every token made until now) or `write`
-- (may also register, `POST /api/v1/registrations`).
create type api_scope as enum ('read', 'write');
alter table api_tokens add column scope api_scope not null default 'read';

-- The Idempotency-Key of a registration made through the API, per token: the same key again
-- gives back the same registration and takes no new number. The request's SHA-256 (its JSON
-- in canonical form) tells a repeated request from a different one reusing the key. Written
-- in the registration's transaction; never changed.
create table api_idempotency (
    token_id        bigint not null references api_tokens (id),
    key             text not null check (length(key) between 1 and 255),
    request_sha256  bytea not null check (length(request_sha256) = 32),
    registration_id bigint not null references registrations (id),
    created_at      timestamptz not null default now(),
    primary key (token_id, key)
);
create trigger api_idempotency_immutable before update or delete on api_idempotency
    for each row execute function refuse_change('api_idempotency');
create trigger api_idempotency_no_truncate before truncate on api_idempotency
    for each statement execute function refuse_change('api_idempotency');
