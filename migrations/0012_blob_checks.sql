-- The checks of the blob store (issue 18 §5): `sigillo blobs verify` walks the whole store,
-- the service a share of it each night; each run is recorded with the blobs it found
-- damaged (content that no longer has its hash, or unreadable), for the dashboard.
--
-- The store is split by the first byte of the digests (`blobs/00` .. `blobs/ff`); a run
-- covers `prefixes` of them from `first_prefix` on, wrapping past ff, and the next nightly
-- run starts where the last one ended, so the whole store is checked every 1/fraction nights.

create type blob_check_trigger as enum ('command', 'schedule');

create table blob_checks (
    id            bigint generated always as identity primary key,
    trigger       blob_check_trigger not null,
    started_at    timestamptz not null,
    finished_at   timestamptz not null check (finished_at >= started_at),
    first_prefix  integer not null check (first_prefix between 0 and 255),
    prefixes      integer not null check (prefixes between 1 and 256),
    blobs         bigint not null check (blobs >= 0),
    bytes         bigint not null check (bytes >= 0),
    damaged       integer not null check (damaged >= 0)
);
create index blob_checks_recent on blob_checks (started_at desc);

create table blob_check_damage (
    check_id  bigint not null references blob_checks (id),
    sha256    bytea not null check (length(sha256) = 32),
    -- what is wrong, in English: "its content now hashes to …", "unreadable: …"
    problem   text not null,
    primary key (check_id, sha256)
);

-- A damaged blob is reported with the registrations whose documents it holds.
create index documents_sha256 on documents (sha256);
