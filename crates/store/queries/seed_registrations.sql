-- Generated registrations for `sigillo_store::seed` (development and benchmarks only).
-- Numbers $3..=$4 of year $2 in register $1, which gets numbers 1..=$7 in all, spread evenly
-- over [$5, $6) with a jitter below one step, so that number order is time order. Every value
-- is a deterministic function of (year, number): the same seed gives the same data. $8 is the
-- segnatura's "IPA|AOO|REGISTER" and $9 the register's time zone (the segnatura is stored
-- with each registration, as `register::register` writes it).
with src as (
    select k, $2::int * 10000000::bigint + k as key from generate_series($3::int, $4::int) k
), gen as (
    select k, key,
           $5::timestamptz + ($6::timestamptz - $5::timestamptz)
             * ((k - 1 + ((hashint8extended(key, 1) & 1023) / 1024.0)) / $7::int) as at,
           (hashint8extended(key, 2) & 2147483647) as h_subject,
           (hashint8extended(key, 3) & 2147483647) as h_place,
           (hashint8extended(key, 4) & 2147483647) as h_first,
           (hashint8extended(key, 5) & 2147483647) as h_last,
           (hashint8extended(key, 6) & 2147483647) as h_kind,
           (hashint8extended(key, 7) & 2147483647) as h_docs
    from src
), reg as (
    select g.*,
        case when h_kind % 100 < 92 then 'incoming' when h_kind % 100 < 98 then 'outgoing' else 'internal' end::direction as dir,
        s.subjects[1 + h_subject % cardinality(s.subjects)] as subject_base,
        s.places[1 + h_place % cardinality(s.places)] as place,
        s.firsts[1 + h_first % cardinality(s.firsts)] as first,
        s.lasts[1 + h_last % cardinality(s.lasts)] as last,
        s.orgs[1 + h_last % cardinality(s.orgs)] as org,
        s.domains[1 + h_first % cardinality(s.domains)] as domain
    from gen g cross join (select
        array['Richiesta di accesso agli atti', 'Istanza di permesso di costruire', 'Segnalazione certificata di inizio attività',
              'Comunicazione di inizio lavori asseverata', 'Richiesta di certificato di destinazione urbanistica',
              'Domanda di contributo per il diritto allo studio', 'Iscrizione al servizio di mensa scolastica',
              'Richiesta di occupazione di suolo pubblico', 'Ricorso avverso verbale di contravvenzione',
              'Richiesta di rateizzazione TARI', 'Dichiarazione TARI per nuova utenza', 'Istanza di rimborso IMU',
              'Segnalazione di buca sul manto stradale', 'Richiesta di potatura alberi', 'Esposto per rumori molesti',
              'Domanda di partecipazione al concorso per istruttore amministrativo', 'Offerta per la gara di manutenzione del verde',
              'Fattura elettronica per fornitura di cancelleria', 'Trasmissione determina dirigenziale',
              'Convocazione della conferenza dei servizi', 'Richiesta di parere preventivo', 'Comunicazione di cessazione attività',
              'Richiesta di autorizzazione allo scarico', 'Domanda di assegno di maternità', 'Richiesta di contributo per affitto',
              'Istanza di sgravio cartella esattoriale', 'Richiesta di cambio di residenza', 'Denuncia di infortunio',
              'Notifica atto giudiziario', 'Sollecito di pagamento', 'Richiesta di patrocinio per manifestazione culturale',
              'Domanda di concessione loculo cimiteriale', 'Richiesta di passo carrabile', 'Autorizzazione paesaggistica',
              'Variante al permesso di costruire', 'Richiesta di agibilità', 'Osservazione al piano urbanistico',
              'Richiesta di informazioni sul protocollo', 'Diffida ad adempiere', 'Opposizione a ingiunzione di pagamento'] as subjects,
        array['via Roma', 'via Garibaldi', 'corso Vittorio Emanuele II', 'piazza Mazzini', 'via Dante Alighieri', 'via Verdi',
              'via Cavour', 'viale della Repubblica', 'via XX Settembre', 'via Manzoni', 'piazza del Popolo', 'via San Francesco',
              'via dei Mille', 'via Marconi', 'via Matteotti', 'località Poggio', 'frazione San Martino', 'via Gramsci',
              'via della Libertà', 'contrada Santa Lucia'] as places,
        array['Mario', 'Giuseppe', 'Giovanni', 'Luca', 'Marco', 'Francesco', 'Alessandro', 'Andrea', 'Stefano', 'Paolo',
              'Maria', 'Anna', 'Giulia', 'Francesca', 'Chiara', 'Sara', 'Laura', 'Elena', 'Valentina', 'Alessia',
              'Roberto', 'Antonio', 'Salvatore', 'Vincenzo', 'Lucia', 'Rosa', 'Angela', 'Federica', 'Simone', 'Matteo'] as firsts,
        array['Rossi', 'Russo', 'Ferrari', 'Esposito', 'Bianchi', 'Romano', 'Colombo', 'Ricci', 'Marino', 'Greco',
              'Bruno', 'Gallo', 'Conti', 'De Luca', 'Mancini', 'Costa', 'Giordano', 'Rizzo', 'Lombardi', 'Moretti',
              'Barbieri', 'Fontana', 'Santoro', 'Mariani', 'Rinaldi', 'Caruso', 'Ferrara', 'Galli', 'Martini', 'Leone',
              'Longo', 'Gentile', 'Martinelli', 'Vitale', 'Lombardo', 'Serra', 'Coppola', 'De Santis', 'Marchetti', 'Parisi'] as lasts,
        array['Agenzia delle Entrate', 'INPS - Direzione provinciale', 'Prefettura - Ufficio territoriale del Governo',
              'Regione - Direzione ambiente', 'Provincia - Settore viabilità', 'ASL - Dipartimento di prevenzione',
              'Tribunale ordinario - Cancelleria civile', 'Studio tecnico associato Bianchi', 'Edilizia Moderna S.r.l.',
              'Cooperativa sociale Il Girasole', 'Studio legale Conti & Partners', 'Vigili del fuoco - Comando provinciale',
              'Agenzia delle Entrate-Riscossione', 'Camera di commercio', 'ARPA - Dipartimento provinciale'] as orgs,
        array['pec.it', 'legalmail.it', 'pec.aruba.it', 'postecert.it', 'arubapec.it', 'pec.libero.it'] as domains
    ) s
), ins as (
    insert into registrations (register_id, year, number, registered_at, received_at, direction, correspondent_name,
                               correspondent_address, subject, document_hashes, created_by, segnatura, channel)
    select $1::bigint, $2::int, k, at,
           case when dir = 'incoming' then at - make_interval(secs => 30 + h_kind % 3600) end,
           dir,
           case when h_kind % 7 = 0 then org else first || ' ' || last end,
           case when h_kind % 7 = 0 then 'protocollo@' || lower(replace(split_part(org, ' ', 1), '-', '')) || '.' || domain
                else lower(first) || '.' || lower(replace(last, ' ', '')) || '@' || domain end,
           subject_base || ' - ' || place || ' ' || (1 + h_place % 180),
           array(select sha256(int8send(key) || int4send(o)) from generate_series(0, (h_docs % 3)::int) o order by o),
           'seed',
           $8::text || '|' || to_char(at at time zone $9::text, 'YYYY-MM-DD') || '|' || lpad(k::text, 7, '0'),
           -- every generated correspondent has a PEC address
           'pec'::channel
    from reg order by k
    returning id, year, number
)
insert into documents (registration_id, ordinal, name, media_type, size_bytes, sha256, role)
select ins.id, o,
       case when o = 0 then (array['istanza.pdf.p7m', 'domanda_firmata.pdf', 'comunicazione.pdf', 'lettera.pdf.p7m', 'modulo_compilato.pdf'])[1 + h % 5]
            else (array['documento_identita.pdf', 'planimetria_catastale.pdf', 'relazione_tecnica.pdf', 'visura_camerale.pdf',
                        'ricevuta_pagamento.pdf', 'Allegato_' || o || '.pdf', 'fotografie_sopralluogo.pdf', 'computo_metrico.pdf'])[1 + (h / 7 + o) % 8] end,
       case when o = 0 and h % 5 in (0, 3) then 'application/pkcs7-mime' else 'application/pdf' end,
       20000 + (h / (o + 1)) % 3000000,
       sha256(int8send(key) || int4send(o)),
       case when o = 0 then 'primary' else 'attachment' end::document_role
from ins
cross join lateral (select ins.year::bigint * 10000000 + ins.number as key) kk
cross join lateral (select (hashint8extended(kk.key, 7) & 2147483647) as h) hh
cross join lateral generate_series(0, (hh.h % 3)::int) o
