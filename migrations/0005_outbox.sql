-- The outbox: receipts of registration and notices of non-registration sent to citizens.
--
-- A row is written in the same transaction as the decision it answers (the registration or
-- the rejection), so a message is answered if and only if its decision committed. The outbox
-- worker of `sigillo serve` sends the stored bytes over SMTP and records the outcome; the
-- provider's receipts for what we sent (accettazione, avvenuta-consegna, ...) come back
-- through the intake and are linked to the row they certify.
--
-- Delivery is at least once: a crash after the SMTP server accepted a message but before the
-- worker committed `sent` sends it once more at the next start (see `sigillo_notify::worker`).

create table outbox (
    id                  bigint generated always as identity primary key,
    -- the message this answers
    inbound_message_id  bigint not null references inbound_messages (id),
    -- the registration a receipt certifies
    registration_id     bigint references registrations (id),
    -- `ricevuta`: receipt of registration; `notifica`: notice of non-registration
    kind                text not null check (kind in ('ricevuta', 'notifica')),
    -- the citizen's address; null only when none could be found (suppressed, NO_ADDRESS)
    recipient           text,
    -- the Message-ID we put on the message, without angle brackets: provider receipts refer
    -- to it (daticert `msgid`, X-Riferimento-Message-ID)
    message_id          text unique,
    subject             text,
    -- the exact RFC 5322 bytes to send (CRLF)
    raw                 bytea,
    -- pending: to send; sent: accepted by the SMTP server; failed: out of attempts, shown in
    -- the dashboard and re-sendable; suppressed: deliberately not sent (see suppressed_reason)
    state               text not null default 'pending'
                        check (state in ('pending', 'sent', 'failed', 'suppressed')),
    -- the loop-safety code: AUTOMATIC_MAIL, NO_REPLY_SENDER, FORGED_ENVELOPE, NO_ADDRESS,
    -- RATE_LIMIT
    suppressed_reason   text,
    attempts            integer not null default 0 check (attempts >= 0),
    next_attempt_at     timestamptz not null default now(),
    last_error          text,
    created_at          timestamptz not null default now(),
    sent_at             timestamptz,
    -- `intake` for automatic messages, the staff user for a re-send
    created_by          text not null check (length(btrim(created_by)) > 0),
    -- the row this one sends again (a new message with a new Message-ID)
    resend_of           bigint references outbox (id),
    -- the provider's identificativo of our message, learned from its accettazione
    pec_identificativo  text,
    -- the furthest delivery state the provider's receipts certify (see outbox_delivery_rank)
    delivery            text check (delivery in ('accettata', 'presa-in-carico',
                        'preavviso-errore-consegna', 'consegnata', 'errore-consegna',
                        'non-accettazione', 'rilevazione-virus')),
    delivery_at         timestamptz,
    constraint outbox_sendable check (
        state = 'suppressed'
        or (recipient is not null and message_id is not null and raw is not null)),
    constraint outbox_suppressed_reason check ((state = 'suppressed') = (suppressed_reason is not null))
);

-- At most one automatic message per inbound message, whatever its state: a second decision
-- on the same message (a retry, a concurrent process) cannot answer twice. Re-sends by staff
-- are not automatic and are not limited here.
create unique index outbox_one_automatic on outbox (inbound_message_id) where created_by = 'intake';

-- What the worker claims: due pending rows, oldest first.
create index outbox_due on outbox (next_attempt_at, id) where state = 'pending';
-- The rate limit counts recent messages per recipient.
create index outbox_recipient_recent on outbox (lower(recipient), created_at);
-- Receipts whose daticert has no msgid are linked by the provider's identificativo.
create index outbox_pec_identificativo on outbox (pec_identificativo) where pec_identificativo is not null;
create index outbox_inbound on outbox (inbound_message_id);

-- Delivery states in the order a message goes through them; a receipt moves the row forward
-- only (an accettazione read after the consegna does not undo it). The four final states
-- share the top rank: the first one recorded stays.
create function outbox_delivery_rank(state text) returns integer
    language sql immutable strict as $$
    select case state
        when 'accettata' then 1
        when 'presa-in-carico' then 2
        when 'preavviso-errore-consegna' then 3
        when 'consegnata' then 4
        when 'errore-consegna' then 4
        when 'non-accettazione' then 4
        when 'rilevazione-virus' then 4
        else 0
    end
$$;

-- The provider receipts linked to an outbox row, one row per receipt message. Append-only,
-- like the register: a receipt is evidence of delivery.
create table outbox_receipts (
    id                  bigint generated always as identity primary key,
    outbox_id           bigint not null references outbox (id),
    inbound_message_id  bigint not null unique references inbound_messages (id),
    -- the X-Ricevuta value: accettazione, avvenuta-consegna, errore-consegna, ...
    kind                text not null,
    -- the time the provider certifies (daticert `data`), else when it was read
    received_at         timestamptz not null,
    linked_at           timestamptz not null default now()
);
create index outbox_receipts_outbox on outbox_receipts (outbox_id);

create trigger outbox_receipts_immutable before update or delete on outbox_receipts
    for each row execute function refuse_change('outbox_receipts');
create trigger outbox_receipts_no_truncate before truncate on outbox_receipts
    for each statement execute function refuse_change('outbox_receipts');
