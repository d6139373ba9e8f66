-- The titolario (piano di classificazione) of each AOO and the classification of
-- registrations (DPR 445/2000 art. 56 and 64 c.4; LG AgID 2021 §3.1; `Classifica` in
-- Segnatura v3.0.0).
--
-- A titolario has versions, each in force over a range of days; a registration is classified
-- against the version in force on the day it was registered. Versions and their entries are
-- written once by an import and never changed, except that a version still open gets its
-- last day when the next version is imported.
--
-- The registration itself stays immutable (0001's trigger is untouched): its class lives in
-- `registration_classes`, which moves only through `classification_changes`, the
-- append-only history of every classification (old value, new value, who, when, why). LG
-- AgID 2021 §3.1: only assegnazione and classificazione may change after registration.

create type titolario_level as enum ('titolo', 'classe', 'sottoclasse');

create table titolario_versions (
    id            bigint generated always as identity primary key,
    aoo_id        bigint not null references aoo (id),
    name          text not null check (length(btrim(name)) between 1 and 200),
    valid_from    date not null,
    -- the last day in force, inclusive; null while it is the version in force
    valid_to      date,
    imported_at   timestamptz not null default now(),
    imported_by   text not null check (length(btrim(imported_by)) > 0),
    -- the SHA-256 of the imported CSV file
    source_sha256 bytea not null check (length(source_sha256) = 32),
    constraint titolario_versions_range check (valid_to is null or valid_to >= valid_from),
    constraint titolario_versions_start_unique unique (aoo_id, valid_from)
);

-- Two versions of one AOO never share a day (checked here too: the importer locks the AOO row
-- and closes the previous version, but a hand-made insert must not get through either).
create function titolario_versions_check() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        if new.id <> old.id or new.aoo_id <> old.aoo_id or new.name <> old.name
           or new.valid_from <> old.valid_from or new.imported_at <> old.imported_at
           or new.imported_by <> old.imported_by or new.source_sha256 <> old.source_sha256
           or old.valid_to is not null or new.valid_to is null then
            raise exception 'sigillo: titolario_versions is immutable (only an open version may be closed)'
                using errcode = 'insufficient_privilege';
        end if;
    end if;
    if exists (select 1 from titolario_versions v
               where v.aoo_id = new.aoo_id and v.id <> new.id
                 and daterange(v.valid_from, v.valid_to, '[]') && daterange(new.valid_from, new.valid_to, '[]')) then
        raise exception 'sigillo: titolario versions of one AOO must not overlap'
            using errcode = 'check_violation';
    end if;
    return new;
end
$$;
create trigger titolario_versions_check before insert or update on titolario_versions
    for each row execute function titolario_versions_check();
create trigger titolario_versions_no_delete before delete on titolario_versions
    for each row execute function refuse_change('titolario_versions');
create trigger titolario_versions_no_truncate before truncate on titolario_versions
    for each statement execute function refuse_change('titolario_versions');

create table titolario_entries (
    id          bigint generated always as identity primary key,
    version_id  bigint not null references titolario_versions (id),
    -- the flat code (`CodiceFlat` of the segnatura): "VI", "VI.3", "VI.3.2"
    code        text not null check (code ~ '^[A-Za-z0-9]{1,10}(\.[A-Za-z0-9]{1,10}){0,2}$'),
    level       titolario_level not null,
    parent_id   bigint references titolario_entries (id),
    description text not null check (length(btrim(description)) between 1 and 500),
    -- the order of the file
    ordinal     integer not null check (ordinal >= 0),
    constraint titolario_entries_code_unique unique (version_id, code),
    constraint titolario_entries_parent check ((level = 'titolo') = (parent_id is null))
);
create index titolario_entries_parent on titolario_entries (parent_id);
create trigger titolario_entries_immutable before update or delete on titolario_entries
    for each row execute function refuse_change('titolario_entries');
create trigger titolario_entries_no_truncate before truncate on titolario_entries
    for each statement execute function refuse_change('titolario_entries');

-- Every classification of a registration, the first one and each change after it.
create table classification_changes (
    id              bigint generated always as identity primary key,
    registration_id bigint not null references registrations (id),
    -- null for the first classification
    old_entry_id    bigint references titolario_entries (id),
    new_entry_id    bigint not null references titolario_entries (id),
    changed_at      timestamptz not null default clock_timestamp(),
    changed_by      text not null check (length(btrim(changed_by)) > 0),
    -- a change needs a reason; the first classification may have none
    reason          text check (reason is null or length(btrim(reason)) between 1 and 2000),
    constraint classification_changes_reason check (old_entry_id is null or reason is not null),
    constraint classification_changes_differ check (old_entry_id is distinct from new_entry_id)
);
create index classification_changes_registration on classification_changes (registration_id, id);
create index classification_changes_at on classification_changes (changed_at);
create trigger classification_changes_immutable before update or delete on classification_changes
    for each row execute function refuse_change('classification_changes');
create trigger classification_changes_no_truncate before truncate on classification_changes
    for each statement execute function refuse_change('classification_changes');

-- The class of a registration now: the newest row of its history, kept by the trigger below.
create table registration_classes (
    registration_id bigint primary key references registrations (id),
    entry_id        bigint not null references titolario_entries (id),
    change_id       bigint not null references classification_changes (id)
);

-- The registrations still to classify ("da classificare"), and how many per register: the
-- dashboard's home page reads the count from one row, the list from this table's own rows,
-- never a scan of the register. Kept by triggers: a registration enters when written, leaves
-- when classified or annulled.
create table to_classify (
    registration_id bigint primary key references registrations (id),
    register_id     bigint not null references registers (id)
);
create index to_classify_register on to_classify (register_id, registration_id desc);
create table to_classify_counts (
    register_id bigint primary key references registers (id),
    n           bigint not null check (n >= 0)
);

-- Existing registrations: none is classified yet; annulled ones need no class.
insert into to_classify (registration_id, register_id)
    select r.id, r.register_id from registrations r
    where not exists (select 1 from annulments a where a.registration_id = r.id);
insert into to_classify_counts (register_id, n)
    select g.id, (select count(*) from to_classify t where t.register_id = g.id) from registers g;

create function to_classify_add() returns trigger language plpgsql as $$
begin
    insert into to_classify (registration_id, register_id) values (new.id, new.register_id);
    insert into to_classify_counts as c (register_id, n) values (new.register_id, 1)
        on conflict (register_id) do update set n = c.n + 1;
    return null;
end
$$;
create trigger registrations_to_classify after insert on registrations
    for each row execute function to_classify_add();

create function to_classify_remove(registration bigint) returns void language plpgsql as $$
declare
    reg bigint;
begin
    delete from to_classify where registration_id = registration returning register_id into reg;
    if found then
        update to_classify_counts set n = n - 1 where register_id = reg;
    end if;
end
$$;

create function annulment_not_to_classify() returns trigger language plpgsql as $$
begin
    perform to_classify_remove(new.registration_id);
    return null;
end
$$;
create trigger annulments_to_classify after insert on annulments
    for each row execute function annulment_not_to_classify();

-- A history row must follow the current class (its old value is the class now), a change
-- needs a reason, and the class must come from the titolario of the registration's AOO.
create function classification_change_check() returns trigger language plpgsql as $$
declare
    current_entry bigint;
begin
    select entry_id into current_entry from registration_classes
        where registration_id = new.registration_id for update;
    if new.old_entry_id is distinct from current_entry then
        raise exception 'sigillo: classification history out of step (old value is not the current class)'
            using errcode = 'check_violation';
    end if;
    if current_entry is not null and (new.reason is null or length(btrim(new.reason)) = 0) then
        raise exception 'sigillo: changing a class needs a reason' using errcode = 'check_violation';
    end if;
    if not exists (select 1 from titolario_entries e
                   join titolario_versions v on v.id = e.version_id
                   join registers g on g.aoo_id = v.aoo_id
                   join registrations r on r.register_id = g.id
                   where e.id = new.new_entry_id and r.id = new.registration_id) then
        raise exception 'sigillo: the class is not of the titolario of the registration''s AOO'
            using errcode = 'check_violation';
    end if;
    return new;
end
$$;
create trigger classification_changes_check before insert on classification_changes
    for each row execute function classification_change_check();

create function classification_change_apply() returns trigger language plpgsql as $$
begin
    if new.old_entry_id is null then
        insert into registration_classes (registration_id, entry_id, change_id)
            values (new.registration_id, new.new_entry_id, new.id);
        perform to_classify_remove(new.registration_id);
    else
        update registration_classes set entry_id = new.new_entry_id, change_id = new.id
            where registration_id = new.registration_id;
    end if;
    return null;
end
$$;
create trigger classification_changes_apply after insert on classification_changes
    for each row execute function classification_change_apply();

-- The current class, the backlog and its counts move only through the triggers above (which
-- run at trigger depth 2 or more): a statement of its own is refused.
create function only_from_triggers() returns trigger language plpgsql as $$
begin
    if pg_trigger_depth() < 2 then
        raise exception 'sigillo: % is kept by the classification history (% refused)', tg_argv[0], tg_op
            using errcode = 'insufficient_privilege';
    end if;
    if tg_op = 'DELETE' then
        return old;
    end if;
    return new;
end
$$;
create trigger registration_classes_guard before insert or update or delete on registration_classes
    for each row execute function only_from_triggers('registration_classes');
create trigger registration_classes_no_truncate before truncate on registration_classes
    for each statement execute function refuse_change('registration_classes');
create trigger to_classify_guard before insert or update or delete on to_classify
    for each row execute function only_from_triggers('to_classify');
create trigger to_classify_counts_guard before insert or update or delete on to_classify_counts
    for each row execute function only_from_triggers('to_classify_counts');

alter type audit_action add value 'titolario.import';
alter type audit_action add value 'registration.classify';
