-- The registrations list with search text (`sigillo_store::browse::list`): full-text search
-- in Italian over subject and sender, trigram ILIKE for partial words and document names.
-- $1-$6 as in list_registrations.sql, $7 the text, $8 its ILIKE pattern (NULL for words under
-- three characters), $9 rows, $10 rows skipped (page numbers: each branch then keeps
-- $9 + $10 hits, enough for the page). scripts/bench-web times this file.
--
-- One branch per index, each with every filter and its own `order by id desc limit`, joined
-- by UNION: the planner then picks, per branch, either a backward scan of the primary key
-- that stops after $9 hits (a frequent word) or a bitmap from the GIN index (a rare word).
-- A single WHERE with the four conditions OR-ed together is estimated to match half the
-- table, so the backward scan was always chosen, and a word that matches nothing read the
-- whole register computing to_tsvector row by row (15 s on a million registrations);
-- `search_vector` (migration 0004) makes the per-row test of the backward scan a comparison.
-- Document names are matched by trigrams only: the Italian parser reads `istanza.pdf.p7m` as
-- one file token, so full-text search finds nothing in them, and its estimate on that index
-- (a fixed 0.5 %) sent the planner into a backward scan of all documents for every word.
-- Subject and sender are matched as `*_lower like lower(pattern)`: what ILIKE does, without
-- lower-casing every row it tests (migration 0006).
with hits as (
    (select r.id from registrations r
     where r.register_id = $1
       and r.search_vector @@ websearch_to_tsquery('italian'::regconfig, $7)
       and ($2::timestamptz is null or r.registered_at >= $2)
       and ($3::timestamptz is null or r.registered_at < $3)
       and ($4::text = 'all' or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
       and ($5::text is null or r.correspondent_lower like lower($5))
       and ($6::bigint is null or r.id < $6)
     order by r.id desc limit $9::bigint + $10::bigint)
    union
    (select r.id from registrations r
     where r.register_id = $1
       and r.subject_lower like lower($8)
       and ($2::timestamptz is null or r.registered_at >= $2)
       and ($3::timestamptz is null or r.registered_at < $3)
       and ($4::text = 'all' or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
       and ($5::text is null or r.correspondent_lower like lower($5))
       and ($6::bigint is null or r.id < $6)
     order by r.id desc limit $9::bigint + $10::bigint)
    union
    (select r.id from registrations r
     where r.register_id = $1
       and r.correspondent_lower like lower($8)
       and ($2::timestamptz is null or r.registered_at >= $2)
       and ($3::timestamptz is null or r.registered_at < $3)
       and ($4::text = 'all' or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
       and ($5::text is null or r.correspondent_lower like lower($5))
       and ($6::bigint is null or r.id < $6)
     order by r.id desc limit $9::bigint + $10::bigint)
    union
    (select r.id from documents d join registrations r on r.id = d.registration_id
     where r.register_id = $1
       and d.name ilike $8
       and ($2::timestamptz is null or r.registered_at >= $2)
       and ($3::timestamptz is null or r.registered_at < $3)
       and ($4::text = 'all' or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
       and ($5::text is null or r.correspondent_lower like lower($5))
       and ($6::bigint is null or r.id < $6)
     order by r.id desc limit $9::bigint + $10::bigint)
)
select r.id as "id: RegistrationId", r.year, r.number, r.registered_at, r.segnatura, r.correspondent_name,
       r.correspondent_address, r.subject, r.direction as "direction: Direction", r.channel as "channel: Channel",
       exists (select 1 from annulments a where a.registration_id = r.id) as "annulled!",
       cardinality(r.document_hashes) as "documents!",
       (select coalesce(o.code, u.username) from assignments s
        left join offices o on o.id = s.office_id left join staff_users u on u.id = s.user_id
        where s.registration_id = r.id and s.kind = 'competenza' order by s.id desc limit 1) as office
from registrations r
where r.id in (select id from hits)
order by r.id desc
limit $9 offset $10
