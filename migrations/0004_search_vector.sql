-- Search over a million registrations (issue 7 benchmark).
--
-- The full-text search of 0003 used an expression index, so a plan that walks the register
-- newest first (the cheapest for a frequent word: it stops after one page of hits) had to run
-- to_tsvector on every row it looked at, about 15 µs each: 40-80 ms a page, and 15 s for a
-- word found nowhere. The document of a registration is now also stored as a tsvector, computed
-- by Postgres from the registered fields, so the same walk only compares, and the planner
-- has real statistics for the column. Registered data is unchanged: the column is derived
-- from it (GENERATED … STORED cannot be written by anybody), and adding it rewrites the table
-- without firing the immutability triggers, which guard against UPDATE and DELETE.
alter table registrations add column search_vector tsvector generated always as (
    to_tsvector('italian'::regconfig,
        subject || ' ' || coalesce(correspondent_name, '') || ' ' || coalesce(correspondent_address, ''))
) stored;
create index registrations_search_vector on registrations using gin (search_vector);
-- Replaced by the column's index.
drop index registrations_fts;
-- Document names are searched by trigrams only (see crates/store/queries/search_registrations.sql).
drop index documents_name_fts;
analyze registrations;
