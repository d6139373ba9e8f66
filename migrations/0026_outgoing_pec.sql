-- Outgoing registrations sent by PEC (issue 17).
--
-- A registration in partenza is sent from the comune's PEC account through the same outbox
-- as receipts and notices: the same worker, retries, `sending` crash window and linking of
-- the provider's receipts (accettazione, avvenuta-consegna, errore-consegna, ...). One outbox
-- row per recipient, so each recipient has its own Message-ID, its own receipts and its own
-- delivery state.
--
-- Until now every row answered an inbound message. An outgoing message answers nothing: it
-- belongs to its registration (`registration_id`) and to one recipient (`recipient`).
--
-- The new enum values cannot be used in this migration's own transaction (sqlx runs each
-- migration in one): the constraints below are written with the values that existed before.

-- `partenza`: a registration in partenza sent to one of its recipients.
alter type outbox_kind add value 'partenza';

-- The act of sending, in the audit trail (one entry per send, listing its rows).
alter type audit_action add value 'registration.send_pec';

-- A row of kind `partenza` has no inbound message.
alter table outbox alter column inbound_message_id drop not null;

-- Receipts and notices answer an inbound message; an outgoing message answers none and
-- always belongs to a registration, and is a staff member's act, never the intake's.
alter table outbox add constraint outbox_answers_or_sends check (
    (kind in ('ricevuta', 'notifica')) = (inbound_message_id is not null));
alter table outbox add constraint outbox_outgoing_registration check (
    inbound_message_id is not null
    or (registration_id is not null and created_by <> 'intake'));

-- The record page lists the sends of a registration; the home page the failed ones.
create index outbox_registration on outbox (registration_id, id) where inbound_message_id is null;
