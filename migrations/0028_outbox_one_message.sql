-- One outgoing PEC to several recipients (issue 17).
--
-- A registration in partenza can go as one message per recipient (migration 0026) or as one
-- message to all of them: one SMTP transaction with several RCPT, one To listing them all,
-- one Segnatura.xml with a Destinatario each. The provider then issues one accettazione for
-- the message and, for each recipient, its own avvenuta-consegna or errore-consegna (daticert
-- `consegna` names the recipient).
--
-- The row stays the unit of a recipient's delivery state: every reader of the outbox (the
-- record page, the home page's failures, "already sent to this recipient?") keeps reading
-- one row per recipient. The message itself (its bytes, its Message-ID) lives on the first
-- recipient's row, the carrier; the other recipients' rows point to it (`carrier_id`) and
-- carry no bytes. The worker sends carriers only, to every recipient of the group.

alter table outbox add column carrier_id bigint references outbox (id);

-- A member is a recipient of an outgoing message sent with its carrier: it has no bytes and
-- no Message-ID of its own, and its carrier is not itself a member.
alter table outbox drop constraint outbox_sendable;
alter table outbox add constraint outbox_sendable check (
    state = 'suppressed'
    or (recipient is not null and message_id is not null and raw is not null and carrier_id is null)
    or (recipient is not null and message_id is null and raw is null and carrier_id is not null
        and kind = 'partenza'));

create index outbox_members on outbox (carrier_id) where carrier_id is not null;

-- A member's sending state is its carrier's: one home for the rule, whichever statement moves
-- the carrier (claim, outcome, a receipt that proves acceptance, a requeue).
create function outbox_mirror_carrier() returns trigger language plpgsql as $$
begin
    update outbox
    set state = new.state, attempts = new.attempts, next_attempt_at = new.next_attempt_at,
        send_started_at = new.send_started_at, sent_at = new.sent_at, last_error = new.last_error
    where carrier_id = new.id;
    return null;
end;
$$;

create trigger outbox_mirror_carrier
    after update of state, attempts, next_attempt_at, send_started_at, sent_at, last_error on outbox
    for each row
    when (new.carrier_id is null and new.kind = 'partenza'
          and (old.state, old.attempts, old.next_attempt_at, old.send_started_at, old.sent_at, old.last_error)
              is distinct from
              (new.state, new.attempts, new.next_attempt_at, new.send_started_at, new.sent_at, new.last_error))
    execute function outbox_mirror_carrier();

-- A receipt about the message as a whole (no daticert `consegna`: accettazione, non
-- accettazione) is linked to the carrier and shown on every recipient's row; a receipt about
-- one recipient (avvenuta-consegna, errore-consegna) is linked to that recipient's row.
alter table outbox_receipts add column for_message boolean not null default false;
