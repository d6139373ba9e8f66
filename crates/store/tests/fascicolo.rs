//! Fascicoli (migration 0025): gapless numbering per class and year under concurrent
//! creators, a registration in several fascicoli, the database refusing a closed fascicolo
//! and an annulled registration (whoever writes the row), and the audit chain after it all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{TimeZone, Utc};
use common::{register_one, setup};
use sigillo_store::Error;
use sigillo_store::audit::{self, Verification};
use sigillo_store::fascicolo::{self, Filter, NewFascicolo, State};
use sigillo_store::ids::FascicoloId;
use sigillo_store::register::{self, Actor, NewAnnulment, Register};
use sigillo_store::staff;
use sigillo_store::testing::TestDb;
use sigillo_store::titolario::{self, Level, NewEntry, NewVersion};

fn clerk() -> Actor {
    Actor::parse("op").unwrap()
}

/// A small titolario in force from 2020 (VI with classi VI.1 and VI.3; VI.3 with no
/// sottoclassi) and one office; returns the entry ids of VI, VI.1, VI.3 and the office id.
async fn titolario_and_office(db: &TestDb, reg: &Register) -> (i64, i64, i64, i64) {
    let entries = vec![
        NewEntry { code: "VI".into(), level: Level::Titolo, parent_code: None, description: "Pianificazione e gestione del territorio".into() },
        NewEntry { code: "VI.1".into(), level: Level::Classe, parent_code: Some("VI".into()), description: "Urbanistica".into() },
        NewEntry { code: "VI.3".into(), level: Level::Classe, parent_code: Some("VI".into()), description: "Edilizia privata".into() },
    ];
    let mut tx = db.pool.begin().await.unwrap();
    let version = NewVersion {
        name: "Prova".into(),
        valid_from: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        valid_to: None,
        source_sha256: [7; 32],
        entries,
    };
    let v = titolario::import_version(&mut tx, reg, &clerk(), &version).await.unwrap();
    let office = staff::create_office(&mut tx, &clerk(), "TEC", "Ufficio tecnico").await.unwrap();
    tx.commit().await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let mut ids = Vec::new();
    for code in ["VI", "VI.1", "VI.3"] {
        ids.push(titolario::entry_by_code(&mut conn, v, code).await.unwrap().unwrap().id);
    }
    (ids[0], ids[1], ids[2], office)
}

async fn open(db: &TestDb, reg: &Register, entry_id: i64, office_id: i64, subject: &str) -> fascicolo::Fascicolo {
    let mut tx = db.pool.begin().await.unwrap();
    let f = fascicolo::create(&mut tx, reg, &clerk(), &NewFascicolo { entry_id, subject: subject.into(), office_id }, None).await.unwrap();
    tx.commit().await.unwrap();
    f
}

async fn chain_intact(db: &TestDb) {
    let mut conn = db.pool.acquire().await.unwrap();
    let v = audit::verify(&mut conn).await.unwrap();
    assert!(matches!(v, Verification::Intact { .. }), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_creators_number_each_class_and_year_without_gaps() {
    const CREATORS: usize = 16;
    const EACH: usize = 12;
    let (db, reg) = setup(CREATORS as u32 + 1).await;
    let (_, vi1, vi3, office) = titolario_and_office(&db, &reg).await;
    let years = [Utc.with_ymd_and_hms(2025, 6, 1, 10, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap()];
    let mut tasks = Vec::new();
    for w in 0..CREATORS {
        let pool = db.pool.clone();
        let reg = reg.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..EACH {
                // Each creator mixes both classes and both years.
                let entry_id = if (w + i) % 2 == 0 { vi1 } else { vi3 };
                let at = years[(w / 2 + i) % 2];
                let mut tx = pool.begin().await.unwrap();
                let new = NewFascicolo { entry_id, subject: format!("pratica {w}/{i}"), office_id: office };
                let f = fascicolo::create(&mut tx, &reg, &clerk(), &new, Some(at)).await.unwrap();
                // Every fifth one is rolled back: its number goes to the next creator.
                if i % 5 == 4 {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    got.push(f.identifier.to_string());
                }
            }
            got
        }));
    }
    let mut returned = Vec::new();
    for t in tasks {
        returned.extend(t.await.unwrap());
    }
    let stored: Vec<(String, i32, i32)> =
        sqlx::query_as("select class_code, year, number from fascicoli order by class_code, year, number")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), returned.len());
    let mut total = 0;
    for code in ["VI.1", "VI.3"] {
        for year in [2025, 2026] {
            let numbers: Vec<i32> = stored.iter().filter(|s| s.0 == code && s.1 == year).map(|s| s.2).collect();
            assert!(!numbers.is_empty(), "{code} {year}");
            let expected: Vec<i32> = (1..=numbers.len() as i32).collect();
            assert_eq!(numbers, expected, "{code} {year}: gapless from 1");
            total += numbers.len();
        }
    }
    assert_eq!(total, CREATORS * (EACH - EACH / 5));
    let mut identifiers: Vec<String> = stored.iter().map(|s| format!("{}/{}.{}", s.0, s.1, s.2)).collect();
    identifiers.sort();
    returned.sort();
    assert_eq!(returned, identifiers, "the identifiers handed out are those stored");
    let audited: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'fascicolo.create'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(audited as usize, total, "rolled back creations leave no audit entry");
    chain_intact(&db).await;
}

#[tokio::test]
async fn a_registration_sits_in_two_fascicoli_and_closed_or_annulled_is_refused_by_the_database() {
    let (db, reg) = setup(4).await;
    let (vi, vi1, vi3, office) = titolario_and_office(&db, &reg).await;
    let r1 = register_one(&db, &reg, "Permesso di costruire", None).await;
    let r2 = register_one(&db, &reg, "Richiesta di accesso agli atti", None).await;

    // A titolo with classi does not take fascicoli; an empty subject is refused.
    let mut tx = db.pool.begin().await.unwrap();
    let err = fascicolo::create(&mut tx, &reg, &clerk(), &NewFascicolo { entry_id: vi, subject: "x".into(), office_id: office }, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "classe", .. }), "{err:?}");
    let err = fascicolo::create(&mut tx, &reg, &clerk(), &NewFascicolo { entry_id: vi3, subject: "  ".into(), office_id: office }, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "oggetto", .. }), "{err:?}");
    drop(tx);

    let a = open(&db, &reg, vi3, office, "Lavori in via Roma 1").await;
    let b = open(&db, &reg, vi1, office, "Piano regolatore").await;
    let year = a.identifier.year;
    assert_eq!(a.identifier.to_string(), format!("VI.3/{year}.1"));
    assert_eq!(b.identifier.to_string(), format!("VI.1/{year}.1"));
    assert_eq!(a.state, State::Open);

    let mut conn = db.pool.acquire().await.unwrap();
    fascicolo::add(&mut conn, &reg, &clerk(), a.id, r1.id).await.unwrap();
    fascicolo::add(&mut conn, &reg, &clerk(), b.id, r1.id).await.unwrap();
    fascicolo::add(&mut conn, &reg, &clerk(), a.id, r2.id).await.unwrap();
    let twice = fascicolo::add(&mut conn, &reg, &clerk(), a.id, r1.id).await.unwrap_err();
    assert!(matches!(&twice, Error::Invalid { reason, .. } if reason.contains("già nel fascicolo")), "{twice:?}");
    let of_r1: Vec<String> = fascicolo::of_registration(&mut conn, r1.id).await.unwrap().iter().map(|s| s.identifier.to_string()).collect();
    assert_eq!(of_r1, vec![format!("VI.3/{year}.1"), format!("VI.1/{year}.1")]);
    let members = fascicolo::members(&mut conn, a.id).await.unwrap();
    assert_eq!(members.iter().map(|m| m.registration_id).collect::<Vec<_>>(), vec![r1.id, r2.id]);
    assert_eq!(fascicolo::get(&mut conn, &reg, a.id).await.unwrap().registrations, 2);

    // Closed: the store's answer is the database's refusal, in Italian.
    fascicolo::set_state(&mut conn, &reg, &clerk(), b.id, State::Closed).await.unwrap();
    let again = fascicolo::set_state(&mut conn, &reg, &clerk(), b.id, State::Closed).await.unwrap_err();
    assert!(matches!(again, Error::Invalid { .. }), "{again:?}");
    let err = fascicolo::add(&mut conn, &reg, &clerk(), b.id, r2.id).await.unwrap_err();
    match &err {
        Error::Invalid { field: "fascicolo", reason } => assert!(reason.contains("è chiuso"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // A writer that skips the store is refused by the trigger, by name.
    let raw = sqlx::query("insert into fascicolo_registrations (fascicolo_id, registration_id, added_by) values ($1, $2, 'x')")
        .bind(b.id.get())
        .bind(r2.id.get())
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(raw.as_database_error().unwrap().constraint(), Some("fascicolo_registrations_open"), "{raw}");
    // Reopened, it takes registrations again.
    fascicolo::set_state(&mut conn, &reg, &clerk(), b.id, State::Open).await.unwrap();
    fascicolo::add(&mut conn, &reg, &clerk(), b.id, r2.id).await.unwrap();

    // Annulled: refused by the database, whoever writes.
    let r3 = register_one(&db, &reg, "Da annullare", None).await;
    let annulment = NewAnnulment { reason: "Doppia registrazione".into(), authorising_act: "Provv. 1/2026".into() };
    register::annul(&mut conn, r3.id, &clerk(), &annulment).await.unwrap();
    let err = fascicolo::add(&mut conn, &reg, &clerk(), a.id, r3.id).await.unwrap_err();
    assert!(matches!(&err, Error::Invalid { field: "registrazione", reason } if reason.contains("annullata")), "{err:?}");
    let raw = sqlx::query("insert into fascicolo_registrations (fascicolo_id, registration_id, added_by) values ($1, $2, 'x')")
        .bind(a.id.get())
        .bind(r3.id.get())
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(raw.as_database_error().unwrap().constraint(), Some("fascicolo_registrations_not_annulled"), "{raw}");

    // History is not rewritten: links and a fascicolo's data are immutable, nothing deleted.
    for sql in [
        "delete from fascicolo_registrations",
        "update fascicolo_registrations set added_by = 'y'",
        "update fascicoli set subject = 'altro'",
        "delete from fascicoli",
        "update fascicolo_counters set last_number = 1",
    ] {
        let err = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
        assert!(err.to_string().contains("sigillo:"), "{sql}: {err}");
    }

    // Lists and filters.
    let (open_list, n) = fascicolo::list(&mut conn, &reg, &Filter { state: Some(State::Open), ..Filter::default() }, 50, 0).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(open_list.len(), 2);
    let (vi3_list, n) = fascicolo::list(&mut conn, &reg, &Filter { class_code: Some("vi.3".into()), year: Some(year), ..Filter::default() }, 50, 0)
        .await
        .unwrap();
    assert_eq!((n, vi3_list[0].id), (1, a.id));
    let (none, n) = fascicolo::list(&mut conn, &reg, &Filter { year: Some(year - 1), ..Filter::default() }, 50, 0).await.unwrap();
    assert!(none.is_empty() && n == 0);
    assert!(matches!(fascicolo::get(&mut conn, &reg, FascicoloId::new(9999)).await, Err(Error::NotFound { .. })));

    let acts: Vec<String> = sqlx::query_scalar("select action::text from audit_log where action::text like 'fascicolo.%' order by id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(acts, ["fascicolo.create", "fascicolo.create", "fascicolo.add", "fascicolo.add", "fascicolo.add", "fascicolo.close", "fascicolo.reopen", "fascicolo.add"]);
    chain_intact(&db).await;
}
