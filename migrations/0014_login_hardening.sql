-- Login hardening (issue 15): throttling per (address, username) with counters that cannot
-- race, temporary passwords an amministratore sets, and at least one active amministratore
-- at all times.

-- Failed attempts, counted per key within a window. A key is a client address and a typed
-- username, either of which may be '' for "any":
--   (address, username)  failures of one name from one address (the lockout clerks see);
--   (address, '')        failures from one address whatever the names (guess spraying);
--   ('', username)       failures of one name from every address (a distributed guess).
-- The username is what was typed, whether an account has it or not, so that the answers
-- do not tell existing names from invented ones. An attempt is counted BEFORE its password
-- is checked, under the rows' locks (`sigillo_store::staff::reserve_attempt`): concurrent
-- attempts cannot check more passwords than the limits allow. A success takes its own
-- attempt back. Rows of an expired window are reused (the count starts again) or pruned.
create table login_throttle (
    client       text not null,
    username     text not null,
    failures     integer not null check (failures >= 0),
    window_start timestamptz not null,
    primary key (client, username),
    constraint login_throttle_key check (client <> '' or username <> '')
);
create index login_throttle_username on login_throttle (username);
create index login_throttle_window on login_throttle (window_start);

-- Replaced by login_throttle: the per-address log and the per-account counter (which locked
-- an account for every address, and told real names from invented ones).
drop table login_failures;
alter table staff_users drop column failed_logins, drop column locked_until;

-- A password an amministratore set (reset): the person must choose a new one before doing
-- anything else.
alter table staff_users add column must_change_password boolean not null default false;

-- There is always an active amministratore: disabling or demoting the last one is refused,
-- whatever the path (dashboard, command line, SQL). The advisory lock serialises the check
-- of concurrent transactions, each of which would otherwise still see the other's
-- amministratore as active; the check runs after the lock is taken, with a new snapshot.
create function keep_an_amministratore() returns trigger language plpgsql as $$
begin
    if old.role = 'amministratore' and old.disabled_at is null
       and (new.role <> 'amministratore' or new.disabled_at is not null) then
        perform pg_advisory_xact_lock(hashtext('sigillo.staff_users.last_amministratore'));
        if not exists (
            select 1 from staff_users
            where role = 'amministratore' and disabled_at is null and id <> old.id
        ) then
            raise exception 'sigillo: % is the last active amministratore', old.username
                using errcode = '23514', constraint = 'staff_users_last_amministratore';
        end if;
    end if;
    return new;
end
$$;
create trigger staff_users_keep_an_amministratore before update on staff_users
    for each row execute function keep_an_amministratore();

alter type audit_action add value 'staff.unlock';
alter type audit_action add value 'staff.password_reset';
alter type audit_action add value 'staff.enable';
alter type audit_action add value 'staff.role';
