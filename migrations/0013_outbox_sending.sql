-- Receipts exactly once (issue 18 §6). A row is marked `sending` (committed) before the SMTP
-- transaction starts, so a crash in the middle of a send leaves a trace: the row stays
-- `sending`, with `next_attempt_at` set to the end of the confirmation window. Until then the
-- worker does not send it again; the provider's accettazione (which names our Message-ID)
-- arriving through the intake moves it to `sent` (see `outbox::link_receipt`). A row still
-- `sending` when the window has passed was most likely never accepted, and is sent again.
--
-- The new enum value cannot be used in this migration's own transaction: the queries that
-- use it run after the commit.
alter type outbox_state add value 'sending' after 'pending';

-- When the last send of the row started (the start of its confirmation window).
alter table outbox add column send_started_at timestamptz;

-- What the worker claims now: due rows that are pending, or sending and out of their window.
create index outbox_state_due on outbox (state, next_attempt_at);
