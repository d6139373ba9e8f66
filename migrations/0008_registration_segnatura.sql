-- The segnatura of a registration (DPR 445/2000 art. 55, DPCM 3/12/2013 art. 9:
-- IPA|AOO|REGISTER|YYYY-MM-DD|NNNNNNN) is fixed when the registration is made. It used to be
-- computed on every read from the row and the configured time zone (SIGILLO_TIMEZONE), so a
-- change of that setting changed the date in the segnatura of past registrations. It is now
-- written once, in the same insert as the registration, and read as stored.
alter table registrations add column segnatura text;

-- Existing rows: the segnatura the code wrote in the registration's audit entry when it was
-- made (computed then with the time zone in force), else the formula the code uses, with the
-- default zone (Europe/Rome). Registrations are immutable by trigger: the trigger is set aside
-- for this one backfill, inside the migration's transaction, and nothing else is changed.
alter table registrations disable trigger registrations_immutable;
update registrations r
set segnatura = coalesce(
    (select l.details ->> 'segnatura' from audit_log l
     where l.action = 'registration.create' and l.object_type = 'registration'
       and l.object_id = r.id::text and l.details ? 'segnatura'
     order by l.id limit 1),
    a.ipa_code || '|' || a.code || '|' || g.code || '|'
        || to_char(r.registered_at at time zone 'Europe/Rome', 'YYYY-MM-DD') || '|'
        || lpad(r.number::text, 7, '0'))
from registers g
join aoo a on a.id = g.aoo_id
where g.id = r.register_id;
alter table registrations enable trigger registrations_immutable;

alter table registrations alter column segnatura set not null;
alter table registrations add constraint registrations_segnatura_not_blank check (length(btrim(segnatura)) > 0);
