-- A message left in its IMAP mailbox after a failed attempt (state `error`), whose copy the
-- poller of that mailbox (account, mailbox, uidvalidity, uid) still has to move or flag:
-- after a retry by the poller, or once decided by another path (`sigillo ingest` of the same
-- bytes, another process) or quarantined. Cleared when the poller has acted on the copy.
alter table inbound_messages add column in_mailbox boolean not null default false;

-- Before this column, the poller retried every message of its mailbox in error.
update inbound_messages set in_mailbox = true where state = 'error' and account is not null;

-- Looked up by every poller at every pass, and few.
create index inbound_messages_in_mailbox on inbound_messages (account, mailbox) where in_mailbox;
