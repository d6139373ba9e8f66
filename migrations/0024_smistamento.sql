-- Assignment (smistamento): a registration is assigned to an office or a person, for
-- competenza (one current at a time) or for conoscenza (many); the assignee takes it in
-- charge, refuses it with a reason, or passes it on. LG AgID 2021 §3.1 lets the assignment
-- change, but every step is a new row: `assignments` (0003) holds each assignment, and
-- `assignment_actions` what the assignee did with it. Nothing here is ever updated or
-- deleted, so the history is the tables themselves and the current state is derived
-- (`sigillo_store::assignment`).

-- Office staff: see their office's inbox and what is assigned to them, take it in charge,
-- refuse it or pass it on; they neither register nor see the queues of the protocol office.
-- (A new enum value cannot be used in the transaction that adds it: nothing below does.)
alter type staff_role add value 'ufficio';

alter type audit_action add value 'assignment.take';
alter type audit_action add value 'assignment.refuse';
alter type audit_action add value 'assignment.pass';
alter type audit_action add value 'office.member_add';
alter type audit_action add value 'office.member_remove';

-- Who belongs to which office. Membership is configuration, not register: an amministratore
-- adds and removes members (each change audited); the assignments keep the office, and an
-- action keeps the person who did it, so removing a member loses no history.
create table office_members (
    office_id  bigint not null references offices (id),
    user_id    bigint not null references staff_users (id),
    added_at   timestamptz not null default now(),
    added_by   text not null check (length(btrim(added_by)) > 0),
    primary key (office_id, user_id)
);
create index office_members_user on office_members (user_id);

create type assignment_kind as enum ('competenza', 'conoscenza');

-- An assignment goes to an office or to a person (exactly one of the two). A competenza
-- assignment ends the previous one (the newest is current); `passed_from` names the
-- assignment whose assignee passed the registration on. The rows of 0003 were assignments
-- to an office for competenza. Adding columns with constant defaults rewrites no row, so
-- the immutability triggers of 0003 are not involved.
alter table assignments
    add column kind assignment_kind not null default 'competenza',
    add column user_id bigint references staff_users (id),
    add column passed_from bigint references assignments (id),
    alter column office_id drop not null,
    add constraint assignments_one_target check ((office_id is null) <> (user_id is null)),
    add constraint assignments_by check (length(btrim(assigned_by)) > 0),
    add constraint assignments_passed_competenza check (passed_from is null or kind = 'competenza');
create index assignments_office on assignments (office_id, id desc) where office_id is not null;
create index assignments_user on assignments (user_id, id desc) where user_id is not null;
create index assignments_competenza on assignments (registration_id, id desc) where kind = 'competenza';

-- What the assignee did: took it in charge (presa in carico), refused it with a reason
-- (rifiuto: it goes back to the protocol office), or passed it on (passaggio, with a note;
-- the new assignment names this one in `passed_from`). An assignment is taken at most once
-- and ends at most once (refused or passed), which also settles two clerks clicking at
-- the same time.
create type assignment_step as enum ('presa_in_carico', 'rifiuto', 'passaggio');
create table assignment_actions (
    id             bigint generated always as identity primary key,
    assignment_id  bigint not null references assignments (id),
    step           assignment_step not null,
    acted_at       timestamptz not null default now(),
    acted_by       text not null check (length(btrim(acted_by)) > 0),
    user_id        bigint not null references staff_users (id),
    reason         text,
    constraint assignment_actions_reason check (step = 'presa_in_carico' or (reason is not null and length(btrim(reason)) > 0))
);
create unique index assignment_actions_taken_once on assignment_actions (assignment_id) where step = 'presa_in_carico';
create unique index assignment_actions_ended_once on assignment_actions (assignment_id) where step <> 'presa_in_carico';
create index assignment_actions_at on assignment_actions (acted_at);
create index assignment_actions_user on assignment_actions (user_id, assignment_id) where step = 'presa_in_carico';
create index assignments_at on assignments (assigned_at);
create trigger assignment_actions_immutable before update or delete on assignment_actions
    for each row execute function refuse_change('assignment_actions');
create trigger assignment_actions_no_truncate before truncate on assignment_actions
    for each statement execute function refuse_change('assignment_actions');

-- An annulled registration can no longer be assigned, passed on or taken in charge,
-- whoever writes the row (the store checks it first, for a clear message).
create function refuse_annulled_assignment() returns trigger language plpgsql as $$
declare
    reg bigint;
begin
    if tg_table_name = 'assignments' then
        reg := new.registration_id;
    else
        select registration_id into reg from assignments where id = new.assignment_id;
    end if;
    if exists (select 1 from annulments where registration_id = reg) then
        raise exception 'sigillo: registration % is annulled and can no longer be assigned', reg
            using errcode = 'check_violation';
    end if;
    return new;
end;
$$;
create trigger assignments_not_annulled before insert on assignments
    for each row execute function refuse_annulled_assignment();
create trigger assignment_actions_not_annulled before insert on assignment_actions
    for each row execute function refuse_annulled_assignment();
