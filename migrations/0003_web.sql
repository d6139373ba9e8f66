-- The staff dashboard: accounts, sessions, login throttling, offices and assignments,
-- decisions on rejected/review messages, API tokens, and the indexes the search needs.
--
-- Nothing here changes the register of 0001: registrations and documents stay immutable.
-- What the office may change about a registration (its assignment, LG AgID §3.1) is a new
-- row in `assignments`, never an update, so the history is the table itself.

-- Trigram matching for partial words in search (ILIKE '%ufficio%'). A trusted extension since
-- Postgres 13: the database owner may create it without superuser rights.
create extension if not exists pg_trgm;

-- The four roles of the issue. What each may do is decided in the web crate (one table,
-- `sigillo_web::routes`), not here: the database only records which role a person has.
create type staff_role as enum ('operatore', 'responsabile', 'amministratore', 'revisore');

-- A member of staff. Passwords are stored as argon2id PHC strings only.
create table staff_users (
    id                  bigint generated always as identity primary key,
    -- lower-case login name; what the audit trail records as the actor
    username            text not null check (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    full_name           text not null check (length(btrim(full_name)) > 0),
    role                staff_role not null,
    password_hash       text not null check (password_hash like '$argon2%'),
    -- a disabled account cannot log in and its sessions are removed; it is never deleted,
    -- because the audit trail names it
    disabled_at         timestamptz,
    -- consecutive failed logins; reset by a successful one. Reaching the threshold sets
    -- locked_until (lockout), see `sigillo_store::staff`.
    failed_logins       integer not null default 0 check (failed_logins >= 0),
    locked_until        timestamptz,
    last_login_at       timestamptz,
    password_changed_at timestamptz not null default now(),
    created_at          timestamptz not null default now(),
    constraint staff_users_username_unique unique (username)
);

-- A logged-in browser. The cookie carries a random token; only its SHA-256 is stored, so a
-- copy of this table does not let anybody log in. The CSRF token is per session
-- (synchronizer token pattern) and goes into every form.
create table staff_sessions (
    token_hash   bytea primary key check (length(token_hash) = 32),
    user_id      bigint not null references staff_users (id),
    csrf_token   text not null check (length(csrf_token) >= 32),
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at   timestamptz not null
);
create index staff_sessions_user on staff_sessions (user_id);
create index staff_sessions_expires on staff_sessions (expires_at);

-- Failed logins per client address, for throttling guesses spread over many usernames
-- (the per-account lockout is in staff_users). Old rows are pruned on every login attempt.
create table login_failures (
    id        bigint generated always as identity primary key,
    client    text not null,
    at        timestamptz not null default now()
);
create index login_failures_client_at on login_failures (client, at);

-- The comune's offices (uffici / UOR) that registrations are assigned to.
create table offices (
    id          bigint generated always as identity primary key,
    code        text not null check (code ~ '^[A-Za-z0-9_.-]{1,16}$'),
    name        text not null check (length(btrim(name)) > 0),
    active      boolean not null default true,
    created_at  timestamptz not null default now(),
    constraint offices_code_unique unique (code)
);

-- Assignment of a registration to an office (assegnazione, one of the two fields LG AgID
-- §3.1 lets change). Append-only: the current assignment is the latest row, the earlier rows
-- are its history.
create table assignments (
    id               bigint generated always as identity primary key,
    registration_id  bigint not null references registrations (id),
    office_id        bigint not null references offices (id),
    assigned_at      timestamptz not null default now(),
    assigned_by      text not null,
    note             text
);
create index assignments_registration on assignments (registration_id, id desc);
create trigger assignments_immutable before update or delete on assignments
    for each row execute function refuse_change('assignments');
create trigger assignments_no_truncate before truncate on assignments
    for each statement execute function refuse_change('assignments');

-- What the protocol office decided about a message the automatic pipeline rejected or sent
-- to review: confirm the rejection, register it anyway (with the registration it produced),
-- or send the notice to the sender again. Append-only, like the audit trail it mirrors.
create type message_action as enum ('confirm_rejection', 'register_anyway', 'resend_notice');
create table message_decisions (
    id                 bigint generated always as identity primary key,
    inbound_message_id bigint not null references inbound_messages (id),
    action             message_action not null,
    reason             text,
    registration_id    bigint references registrations (id),
    decided_by         text not null,
    decided_at         timestamptz not null default now(),
    constraint message_decisions_reason check (action <> 'register_anyway' or length(btrim(reason)) > 0)
);
create index message_decisions_message on message_decisions (inbound_message_id);
create trigger message_decisions_immutable before update or delete on message_decisions
    for each row execute function refuse_change('message_decisions');

-- Tokens of other back-office systems for the read-only JSON API. As for sessions, only the
-- SHA-256 of the token is kept; the token is shown once, when it is created.
create table api_tokens (
    id           bigint generated always as identity primary key,
    name         text not null check (length(btrim(name)) > 0),
    token_hash   bytea not null check (length(token_hash) = 32),
    created_by   text not null,
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    constraint api_tokens_hash_unique unique (token_hash)
);

-- Search. The text of a registration is its subject and correspondent; the Italian
-- configuration stems words ("offerte" finds "offerta"). The expressions must be written
-- exactly like this in the queries (`sigillo_store::browse`) for the planner to use them.
create index registrations_fts on registrations using gin (
    to_tsvector('italian'::regconfig,
        subject || ' ' || coalesce(correspondent_name, '') || ' ' || coalesce(correspondent_address, '')));
-- Partial words ("protoc") and addresses, which full-text search does not split usefully.
create index registrations_subject_trgm on registrations using gin (subject gin_trgm_ops);
create index registrations_correspondent_trgm on registrations using gin (
    (coalesce(correspondent_name, '') || ' ' || coalesce(correspondent_address, '')) gin_trgm_ops);
create index documents_name_fts on documents using gin (to_tsvector('italian'::regconfig, name));
create index documents_name_trgm on documents using gin (name gin_trgm_ops);
-- The list's keyset pagination goes by id within a register.
create index registrations_register_id on registrations (register_id, id desc);
create index inbound_messages_first_seen on inbound_messages (first_seen_at);
-- The history of one registration on its page reads the audit trail by object.
create index audit_log_object on audit_log (object_type, object_id, id);
