-- The state of an assignment, written once. 0024 keeps only history (assignments and what
-- the assignee did), and the current state is derived from it; until now the inboxes, their
-- counters and the registration page each derived it in their own query. This view is the
-- one derivation, and it is shaped so that a list read newest first through an index of
-- `assignments` (by office, by person) stops after the rows it needs: every column is found
-- through unique indexes from the assignment's own row, so the planner needs no other rows
-- of the register to decide one. Nothing is stored: a view over append-only tables cannot
-- drift from them.

create type assignment_state as enum (
    'da_prendere',  -- competenza, waiting for the assignee
    'in_carico',    -- competenza, taken in charge by a person
    'rifiutata',    -- refused by the assignee: back to the protocol office
    'passata',      -- passed on by the assignee (the new assignment names it in passed_from)
    'superata',     -- a newer competenza assignment replaced it
    'conoscenza'    -- for information: in force as long as it exists
);

create view assignment_states as
select a.id, a.registration_id, r.register_id, a.kind, a.office_id, a.user_id,
       a.assigned_at, a.assigned_by, a.note, a.passed_from,
       t.acted_at as taken_at, t.acted_by as taken_by, t.user_id as taken_user,
       e.step as end_step, e.acted_at as ended_at, e.acted_by as ended_by, e.reason as end_reason,
       s.superseded,
       -- what the assignee did first (a refusal stays a refusal when the protocol office
       -- assigns the registration again), then whether a newer competenza replaced it
       (case when a.kind = 'conoscenza' then 'conoscenza'
             when e.step = 'rifiuto' then 'rifiutata'
             when e.step = 'passaggio' then 'passata'
             when s.superseded then 'superata'
             when t.id is not null then 'in_carico'
             else 'da_prendere' end)::assignment_state as state
from assignments a
join registrations r on r.id = a.registration_id
-- at most one of each (assignment_actions_taken_once, assignment_actions_ended_once)
left join assignment_actions t on t.assignment_id = a.id and t.step = 'presa_in_carico'
left join assignment_actions e on e.assignment_id = a.id and e.step <> 'presa_in_carico'
cross join lateral (
    select a.kind = 'competenza' and exists (
        select 1 from assignments n
        where n.registration_id = a.registration_id and n.kind = 'competenza' and n.id > a.id) as superseded
) s;

-- The protocol office's list of refusals, newest first, without reading every assignment.
create index assignment_actions_refused on assignment_actions (assignment_id desc) where step = 'rifiuto';
