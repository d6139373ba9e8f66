-- A blob the database references (a document, a raw message, a closed day's export) but
-- that is not in the store at all is as lost as a damaged one: the checks of the blob store
-- record it too, with what is wrong told apart (issue 18 §5).

create type blob_fault as enum ('damaged', 'missing');

alter table blob_check_damage add column fault blob_fault not null default 'damaged';
