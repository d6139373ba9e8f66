-- Fascicoli (issue 17): a fascicolo gathers the registrations of one procedimento or affare.
-- It belongs to a class of the AOO's titolario (an entry without children, as a
-- classification uses) and to a year, and takes the next number of that class and year,
-- with no gaps: its identifier is "<classifica>/<anno>.<numero>", e.g. "VI.3/2026.4". It has
-- a subject and a responsible office, and is open (registrations may be added) or closed.
-- A registration may sit in several fascicoli.
--
-- What the database keeps itself, whoever writes:
--   * the number comes from `fascicolo_counters`, a row per (AOO, class code, year) that the
--     creating transaction increments and so holds locked until it commits or rolls back,
--     as `register_counters` does for the protocol number: no gaps, no duplicates;
--   * a fascicolo's data never change; only its state moves (open ↔ closed), with the time;
--   * a registration is added to an open fascicolo only, and never when it is annulled
--     (the constraints `fascicolo_registrations_open` and
--     `fascicolo_registrations_not_annulled`, named in the error the store maps to Italian);
--   * a link is never updated or deleted: removing a registration from a fascicolo is not
--     offered (what was filed stays filed).

create type fascicolo_state as enum ('open', 'closed');

-- The numbering is per class *code*, not per titolario entry: a new version of the
-- titolario in the middle of a year carries the same code on a new entry, and the
-- identifier "VI.3/2026.4" must stay unique in the AOO.
create table fascicolo_counters (
    aoo_id      bigint not null references aoo (id),
    class_code  text not null,
    year        integer not null check (year between 1900 and 9999),
    last_number integer not null check (last_number >= 1),
    primary key (aoo_id, class_code, year)
);

create function fascicolo_counter_forward_only() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' or new.last_number <> old.last_number + 1
       or new.aoo_id <> old.aoo_id or new.class_code <> old.class_code or new.year <> old.year then
        raise exception 'sigillo: fascicolo counters only move forward by one'
            using errcode = 'insufficient_privilege';
    end if;
    return new;
end;
$$;
create trigger fascicolo_counters_forward before update or delete on fascicolo_counters
    for each row execute function fascicolo_counter_forward_only();
create trigger fascicolo_counters_no_truncate before truncate on fascicolo_counters
    for each statement execute function refuse_change('fascicolo_counters');

create table fascicoli (
    id          bigint generated always as identity primary key,
    aoo_id      bigint not null references aoo (id),
    -- the class: an entry without children of a titolario version of the same AOO
    entry_id    bigint not null references titolario_entries (id),
    -- the entry's flat code, copied by the trigger below (the key of the numbering)
    class_code  text not null,
    -- the year of opening, in the register's time zone
    year        integer not null check (year between 1900 and 9999),
    number      integer not null check (number >= 1),
    subject     text not null check (length(btrim(subject)) between 1 and 2000),
    -- the responsible office (0003's offices)
    office_id   bigint not null references offices (id),
    state       fascicolo_state not null default 'open',
    opened_at   timestamptz not null default clock_timestamp(),
    -- when it was last closed; null while open
    closed_at   timestamptz,
    created_by  text not null check (length(btrim(created_by)) > 0),
    constraint fascicoli_number_unique unique (aoo_id, class_code, year, number),
    constraint fascicoli_closed_at check ((state = 'closed') = (closed_at is not null))
);
create index fascicoli_list on fascicoli (aoo_id, state, id desc);
create index fascicoli_office on fascicoli (office_id);

-- On insert: the class is a leaf entry of the AOO's titolario (its code copied), and the
-- number is the one the counter just gave. On update: only the state and its time move.
create function fascicoli_check() returns trigger language plpgsql as $$
declare
    code text;
begin
    if tg_op = 'INSERT' then
        select e.code into code
            from titolario_entries e join titolario_versions v on v.id = e.version_id
            where e.id = new.entry_id and v.aoo_id = new.aoo_id
              and not exists (select 1 from titolario_entries c where c.parent_id = e.id);
        if code is null then
            raise exception 'sigillo: the class of a fascicolo must be an entry without children of the AOO''s titolario'
                using errcode = 'check_violation', constraint = 'fascicoli_class';
        end if;
        new.class_code := code;
        if not exists (select 1 from fascicolo_counters c
                       where c.aoo_id = new.aoo_id and c.class_code = code and c.year = new.year
                         and c.last_number = new.number) then
            raise exception 'sigillo: a fascicolo takes the number its counter just gave'
                using errcode = 'check_violation', constraint = 'fascicoli_number_from_counter';
        end if;
        return new;
    end if;
    if new.id <> old.id or new.aoo_id <> old.aoo_id or new.entry_id <> old.entry_id
       or new.class_code <> old.class_code or new.year <> old.year or new.number <> old.number
       or new.subject <> old.subject or new.office_id <> old.office_id
       or new.opened_at <> old.opened_at or new.created_by <> old.created_by then
        raise exception 'sigillo: a fascicolo''s data are immutable (only its state may change)'
            using errcode = 'insufficient_privilege';
    end if;
    return new;
end
$$;
create trigger fascicoli_check before insert or update on fascicoli
    for each row execute function fascicoli_check();
create trigger fascicoli_no_delete before delete on fascicoli
    for each row execute function refuse_change('fascicoli');
create trigger fascicoli_no_truncate before truncate on fascicoli
    for each statement execute function refuse_change('fascicoli');

-- Which registration sits in which fascicolo, who put it there and when.
create table fascicolo_registrations (
    id              bigint generated always as identity primary key,
    fascicolo_id    bigint not null references fascicoli (id),
    registration_id bigint not null references registrations (id),
    added_at        timestamptz not null default clock_timestamp(),
    added_by        text not null check (length(btrim(added_by)) > 0),
    constraint fascicolo_registrations_once unique (fascicolo_id, registration_id)
);
create index fascicolo_registrations_registration on fascicolo_registrations (registration_id);
create trigger fascicolo_registrations_immutable before update or delete on fascicolo_registrations
    for each row execute function refuse_change('fascicolo_registrations');
create trigger fascicolo_registrations_no_truncate before truncate on fascicolo_registrations
    for each statement execute function refuse_change('fascicolo_registrations');

-- A registration goes only into an open fascicolo of its own AOO, and never once annulled.
-- The fascicolo row is read `for share`, so a close being committed is waited for and then
-- seen; the registration row `for update`, which an annulment's foreign-key check also needs,
-- so an annulment and an addition of the same registration never interleave.
create function fascicolo_registrations_check() returns trigger language plpgsql as $$
declare
    f_state fascicolo_state;
    f_aoo   bigint;
    r_aoo   bigint;
begin
    select state, aoo_id into f_state, f_aoo from fascicoli where id = new.fascicolo_id for share;
    select g.aoo_id into r_aoo
        from registrations r join registers g on g.id = r.register_id
        where r.id = new.registration_id for update of r;
    if f_state is null or r_aoo is null then
        return new; -- the foreign keys report it
    end if;
    if f_state <> 'open' then
        raise exception 'sigillo: fascicolo % is closed', new.fascicolo_id
            using errcode = 'check_violation', constraint = 'fascicolo_registrations_open';
    end if;
    if exists (select 1 from annulments where registration_id = new.registration_id) then
        raise exception 'sigillo: registration % is annulled', new.registration_id
            using errcode = 'check_violation', constraint = 'fascicolo_registrations_not_annulled';
    end if;
    if f_aoo <> r_aoo then
        raise exception 'sigillo: fascicolo and registration belong to different AOO'
            using errcode = 'check_violation', constraint = 'fascicolo_registrations_same_aoo';
    end if;
    return new;
end
$$;
create trigger fascicolo_registrations_check before insert on fascicolo_registrations
    for each row execute function fascicolo_registrations_check();

-- (A new enum value cannot be used in the transaction that adds it: nothing above does.)
alter type audit_action add value 'fascicolo.create';
alter type audit_action add value 'fascicolo.close';
alter type audit_action add value 'fascicolo.reopen';
alter type audit_action add value 'fascicolo.add';
