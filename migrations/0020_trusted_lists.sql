-- Trusted lists (ETSI TS 119 612) fetched by the service from SIGILLO_TRUSTED_LIST_URL (the
-- EU list of trusted lists by default) and the national lists it points at. One row per
-- territory: the last list that verified (its bytes, verified again whenever a process loads
-- them, so that nothing is trusted on the database's word alone) and what the last attempt
-- to fetch it said. Every instance sharing the database uses the same lists; one of them at
-- a time refreshes them (advisory lock, `store::trusted_lists`).
create type trusted_list_role as enum ('first', 'pointed');

create table trusted_lists (
    territory text primary key check (length(territory) between 1 and 16),
    role trusted_list_role not null,
    -- where it was fetched from (the configured URL, or the first list's pointer)
    location text not null,
    -- the last good list: all set together, or none (never fetched successfully)
    body bytea,
    sequence_number bigint check (sequence_number >= 0),
    issued_at timestamptz,
    next_update timestamptz,
    services integer check (services >= 0),
    -- the subject of the certificate whose key signed it
    signer text,
    fetched_at timestamptz,
    -- the last attempt, and its failure (null when it succeeded)
    attempted_at timestamptz not null default now(),
    last_error text,
    check ((body is null) = (fetched_at is null) and (body is null) = (sequence_number is null)
        and (body is null) = (issued_at is null) and (body is null) = (services is null)
        and (body is null) = (signer is null))
);

-- The refresh as a whole: one row. `generation` grows with every change of the stored
-- lists, so that each process sees cheaply when to load them again.
create table trusted_list_refresh (
    id boolean primary key default true check (id),
    url text not null,
    generation bigint not null default 0,
    attempted_at timestamptz,
    succeeded_at timestamptz,
    -- the first list's own failure, or null
    last_error text
);
