-- Revocation status fetched online (SIGILLO_REVOCATION=online): one row per certificate
-- (issuer and serial number), the verified answer of its OCSP responder or CRL, kept until
-- the answer's nextUpdate so that every instance sharing the database asks the network at
-- most once per certificate and period. Only verified answers are stored; a responder that
-- could not be reached leaves no row.
create type revocation_status as enum ('good', 'revoked', 'unknown');

create table revocation_cache (
    -- SHA-256 (hex) of the issuer's name and key and the certificate's serial number
    cert_key text primary key check (cert_key ~ '^[0-9a-f]{64}$'),
    status revocation_status not null,
    -- set exactly when revoked
    revoked_at timestamptz check ((status = 'revoked') = (revoked_at is not null)),
    this_update timestamptz not null,
    next_update timestamptz not null check (next_update >= this_update),
    -- "OCSP <url>" or "CRL <url>"
    source text not null,
    fetched_at timestamptz not null default now()
);

-- Expired rows are removed by the cache itself when it writes (`store::revocation`).
create index revocation_cache_next_update on revocation_cache (next_update);
