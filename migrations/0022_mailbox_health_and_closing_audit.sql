-- How each IMAP mailbox of the intake is doing, for the home page: the office must see that
-- the PEC box cannot be read (a changed password, a provider down, a certificate expired)
-- without a sysadmin reading the logs. One row per mailbox, written by its poller: the last
-- cycle that completed, and the fault of the current run of failures (cleared by the next
-- completed cycle). Not written while the database itself is the fault: then there is no
-- home page to show it either, and /healthz answers 503.

create type mailbox_fault as enum (
    'connection',  -- no connection, TLS or greeting failed
    'login',       -- the server refused the credentials
    'timeout',     -- the server stopped answering
    'server',      -- any other refusal by the IMAP server (SELECT, FETCH, MOVE…)
    'local'        -- this side: the blob store, a task of the process
);

create table mailbox_health (
    account        text not null,
    mailbox        text not null,
    -- the end of the last cycle that read the mailbox to the end
    last_ok_at     timestamptz,
    -- the first failure of the current run of failures; null while the mailbox is read
    failing_since  timestamptz,
    fault          mailbox_fault,
    -- the technical message of the last failure (the account and the server's words, never a
    -- citizen's data: faults of one message are kept on that message)
    last_error     text,
    last_error_at  timestamptz,
    failures       integer not null default 0 check (failures >= 0),
    primary key (account, mailbox),
    check ((failing_since is null) = (fault is null)),
    check ((failing_since is null) = (last_error is null))
);

-- The closing of a day (the giornaliero di protocollo produced and kept) is an act of the
-- register like any other: who closed it (`cli`, or `web` for the service's own closer),
-- when, and the digests of the three files kept.
alter type audit_action add value 'register.close_day';
