-- States as types, and the facts the dashboard lists as columns.
--
-- Until now several states were free text checked by constraints, and the review queue read
-- the sender and subject out of the classifier's JSON report (`report #>> '{pec,…}'`), so a
-- renamed field in the classifier silently blanked the queue. From here on:
-- * the PEC category, the outbox's state, kind, delivery state and suppression reason, and the
--   audit trail's actions are enum types, mirrored one-to-one by Rust enums in the store;
-- * the sender and subject of an inbound message are written when it is decided, by the same
--   rule as the registration's (the `protocol` crate);
-- * `inbound_messages.decision` goes: it only repeated `state`.

-- 1. Sender and subject of inbound messages. Existing rows get them once from the stored
--    report, with the rule the application applied when it read them (this is the last SQL
--    that reads the report's layout).
alter table inbound_messages add column sender text;
alter table inbound_messages add column subject text;
update inbound_messages
set sender = nullif(btrim(coalesce(report #>> '{pec,daticert,mittente}', report #>> '{pec,original,from}')), ''),
    subject = nullif(btrim(coalesce(report #>> '{pec,original,subject}', report #>> '{pec,daticert,oggetto}')), '')
where report is not null;

-- 2. The PEC category. The partial unique index names the category in its predicate, so it
--    is rebuilt around the change.
create type pec_type as enum ('posta-certificata', 'anomalia', 'ricevuta', 'none');
drop index inbound_messages_pec_unique;
alter table inbound_messages alter column pec_type type pec_type using pec_type::pec_type;
create unique index inbound_messages_pec_unique
    on inbound_messages (pec_identificativo, pec_msgid)
    where pec_type = 'posta-certificata' and duplicate_of is null and pec_identificativo is not null;

-- 3. The decision text repeated the state (register ↔ registered, reject ↔ rejected, …).
alter table inbound_messages drop column decision;

-- 4. The outbox. Constraints and indexes that compare the old text are dropped first and
--    made again on the types.
create type outbox_kind as enum ('ricevuta', 'notifica');
create type outbox_state as enum ('pending', 'sent', 'failed', 'suppressed');
-- the loop-safety codes of `sigillo_notify::policy`
create type outbox_suppressed_reason as enum (
    'AUTOMATIC_MAIL', 'NO_REPLY_SENDER', 'FORGED_ENVELOPE', 'NO_ADDRESS', 'RATE_LIMIT');
-- in the order a message goes through them (see outbox_delivery_rank for the final ones)
create type outbox_delivery as enum (
    'accettata', 'presa-in-carico', 'preavviso-errore-consegna', 'consegnata',
    'errore-consegna', 'non-accettazione', 'rilevazione-virus');

alter table outbox drop constraint outbox_sendable;
alter table outbox drop constraint outbox_suppressed_reason;
alter table outbox drop constraint outbox_kind_check;
alter table outbox drop constraint outbox_state_check;
alter table outbox drop constraint outbox_delivery_check;
drop index outbox_due;
alter table outbox alter column state drop default;
alter table outbox alter column kind type outbox_kind using kind::outbox_kind;
alter table outbox alter column state type outbox_state using state::outbox_state;
alter table outbox alter column state set default 'pending';
alter table outbox alter column suppressed_reason type outbox_suppressed_reason
    using suppressed_reason::outbox_suppressed_reason;
alter table outbox alter column delivery type outbox_delivery using delivery::outbox_delivery;
alter table outbox add constraint outbox_sendable check (
    state = 'suppressed'
    or (recipient is not null and message_id is not null and raw is not null));
alter table outbox add constraint outbox_suppressed_reason
    check ((state = 'suppressed') = (suppressed_reason is not null));
create index outbox_due on outbox (next_attempt_at, id) where state = 'pending';

drop function outbox_delivery_rank(text);
-- A receipt moves a row forward only; the four final states share the top rank, so the
-- first one recorded stays.
create function outbox_delivery_rank(state outbox_delivery) returns integer
    language sql immutable strict as $$
    select case state
        when 'accettata' then 1
        when 'presa-in-carico' then 2
        when 'preavviso-errore-consegna' then 3
        else 4
    end
$$;

-- 5. The audit trail's acts. The chain hashes the action's text, which stays the same.
--    The column's type change is DDL: the trail's no-update trigger does not fire and the
--    stored hashes still verify.
create type audit_action as enum (
    'registration.create', 'registration.annul', 'registration.assign',
    'message.confirm_rejection', 'message.register_anyway', 'message.resend_notice',
    'outbox.resend',
    'staff.create', 'staff.login', 'staff.lockout', 'staff.password', 'staff.disable',
    'office.create', 'office.active',
    'api_token.create', 'api_token.revoke');
alter table audit_log alter column action type audit_action using action::audit_action;
