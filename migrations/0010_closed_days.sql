-- The closed days of a register (registro giornaliero, AgID LG 2021 requisiti minimi; DPR
-- 445/2000 art. 61 c.3): once a day is over it is closed, its export written once to the blob
-- store (JSON, CSV and the PDF/A, each under its SHA-256) and recorded here. A closed day is
-- never rewritten: exporting it again returns the stored bytes, whatever happened later
-- (annulments and assignments made later are in the register of the day they were made).
create table closed_days (
    register_id  bigint not null references registers (id),
    day          date not null,
    closed_at    timestamptz not null,
    json_sha256  bytea not null check (length(json_sha256) = 32),
    csv_sha256   bytea not null check (length(csv_sha256) = 32),
    pdf_sha256   bytea not null check (length(pdf_sha256) = 32),
    registrations integer not null check (registrations >= 0),
    -- one closing per day, whichever process gets there first (insert ... on conflict do nothing)
    primary key (register_id, day)
);

create trigger closed_days_immutable before update or delete on closed_days
    for each row execute function refuse_change('closed_days');
create trigger closed_days_no_truncate before truncate on closed_days
    for each statement execute function refuse_change('closed_days');
