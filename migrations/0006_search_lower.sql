-- Cheaper partial-word search (issue 7 benchmark).
--
-- In a UTF-8 database ILIKE lower-cases both the text and the pattern for every row it
-- tests (about 0.7 µs for a subject), which made the newest-first walk of a frequent partial
-- word cost more than the rest of the page. The lower-cased texts are now stored beside the
-- registered fields, computed by Postgres (GENERATED … STORED: nobody can write them, and the
-- registered data is unchanged), and searched with LIKE against the lower-cased pattern: the
-- same comparison ILIKE makes, byte by byte.
--
-- The planner chooses between that walk and a trigram bitmap from the histogram of the
-- column: with 100 entries a word in 5% of the subjects can be missed by every entry, and the
-- bitmap it then picks visits all the matching rows (180 ms instead of 1 ms on a million
-- registrations). With 300 entries such a miss is unlikely (a word in 5% of the rows: 2e-7),
-- and with LIKE instead of ILIKE the planner tests the pattern against them in 0.1 ms more
-- per plan (1000 entries: 0.3 ms, half of it decompressing the statistics).
drop index registrations_subject_trgm;
drop index registrations_correspondent_trgm;
alter table registrations
    add column subject_lower text generated always as (lower(subject)) stored,
    add column correspondent_lower text generated always as (
        lower(coalesce(correspondent_name, '') || ' ' || coalesce(correspondent_address, ''))
    ) stored;
alter table registrations
    alter column subject_lower set statistics 300,
    alter column correspondent_lower set statistics 300;
create index registrations_subject_lower_trgm on registrations using gin (subject_lower gin_trgm_ops);
create index registrations_correspondent_lower_trgm on registrations using gin (correspondent_lower gin_trgm_ops);
analyze registrations;
