-- The policy switches of ARCHITECTURE.md "Decisions": how the comune wants three cases of the
-- classifier's table decided. One row at most, shared by every process on the database (the
-- poller of `sigillo serve`, `sigillo ingest`, the dashboard); while there is none the
-- configuration's values (SIGILLO_POLICY_*) apply. Changes are made from the dashboard by an
-- amministratore and audited (`policy.change`).
create table policy (
    -- a one-row table: the key can only be true
    singleton boolean primary key default true check (singleton),
    -- unsigned attachments from the sender's own PEC (CAD art. 65 c.1 c-bis)
    unsigned_attachment text not null check (unsigned_attachment in ('reject', 'register-flag')),
    -- anomaly envelopes: ordinary e-mail that reached the PEC box
    anomaly text not null check (anomaly in ('reject', 'review')),
    -- INDETERMINATE document signatures
    indeterminate text not null check (indeterminate in ('review', 'reject')),
    updated_at timestamptz not null default now(),
    updated_by text not null
);

-- Not used in this migration's transaction (Postgres refuses a new label there).
alter type audit_action add value 'policy.change';
