-- The registrations list without search text (`sigillo_store::browse::list`), newest first.
-- $1 register, $2/$3 registered_at range, $4 'all' | 'active' | 'annulled', $5 ILIKE pattern
-- on the sender (matched lower-cased, as ILIKE does; migration 0006), $6 keyset cursor (ids
-- below it), $7 rows, $8 rows skipped (the dashboard's page numbers; 0 for the API's keyset
-- pages). scripts/bench-web times this file.
select r.id as "id: RegistrationId", r.year, r.number, r.registered_at, r.segnatura, r.correspondent_name,
       r.correspondent_address, r.subject, r.direction as "direction: Direction", r.channel as "channel: Channel",
       exists (select 1 from annulments a where a.registration_id = r.id) as "annulled!",
       cardinality(r.document_hashes) as "documents!",
       (select coalesce(o.code, u.username) from assignments s
        left join offices o on o.id = s.office_id left join staff_users u on u.id = s.user_id
        where s.registration_id = r.id and s.kind = 'competenza' order by s.id desc limit 1) as office
from registrations r
where r.register_id = $1
  and ($2::timestamptz is null or r.registered_at >= $2)
  and ($3::timestamptz is null or r.registered_at < $3)
  and ($4::text = 'all'
       or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
  and ($5::text is null
       or r.correspondent_lower like lower($5))
  and ($6::bigint is null or r.id < $6)
order by r.id desc
limit $7 offset $8
