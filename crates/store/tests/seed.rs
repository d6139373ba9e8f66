//! The benchmark seed: counters consistent with the numbers inserted, the next real
//! registration continuing the sequence, refusal to share a year with real numbers, and the
//! search of the list finding seeded rows by word, partial word and document name; and the
//! connection setting the dashboard benchmark on seeded data showed to matter.

mod common;

use chrono::Utc;
use common::{register_one, setup};
use sigillo_store::browse::{self, ListFilter, SearchText};
use sigillo_store::seed;

#[tokio::test]
async fn seed_keeps_counters_and_the_search_finds_its_rows() {
    let (db, reg) = setup(4).await;
    // 3000 at 5 a day: 600 days, so at least two calendar years
    let shares = seed::plan(&reg, 3000, 5, Utc::now()).unwrap();
    assert!(shares.len() >= 2);
    seed::seed(&db.pool, &reg, &shares, |_, _| {}).await.unwrap();

    let rows: Vec<(i32, i32, i64, i32)> = sqlx::query_as(
        "select c.year, c.last_number, count(r.id), coalesce(max(r.number), 0)
         from register_counters c left join registrations r on r.register_id = c.register_id and r.year = c.year
         where c.register_id = $1 group by c.year, c.last_number order by c.year",
    )
    .bind(reg.id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.iter().map(|r| r.2).sum::<i64>(), 3000);
    for (year, last, count, max) in &rows {
        assert_eq!((i64::from(*last), *max), (*count, *last), "year {year}: counter, rows and highest number agree");
    }
    // every registration's document hashes are those of its documents, in order
    let mismatched: i64 = sqlx::query_scalar(
        "select count(*) from registrations r
         where r.document_hashes <> array(select d.sha256 from documents d where d.registration_id = r.id order by d.ordinal)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0);

    // a real registration of this year continues after the seeded numbers
    let this_year = rows.last().unwrap();
    let real = register_one(&db, &reg, "Registrazione vera dopo il seme", None).await;
    assert_eq!(real.number.get(), this_year.1 + 1);

    // a second seed would share years with real numbers: refused, nothing written
    let again = seed::seed(&db.pool, &reg, &seed::plan(&reg, 10, 5, Utc::now()).unwrap(), |_, _| {}).await;
    assert!(again.unwrap_err().to_string().contains("already has numbers"));

    let mut conn = db.pool.acquire().await.unwrap();
    for (text, what) in [("permesso di costruire", "full text"), ("garib", "partial word"), ("planimetria", "document name")] {
        let filter = ListFilter { text: SearchText::parse(text).unwrap(), ..ListFilter::default() };
        let (found, next) = browse::list(&mut conn, &reg, &filter, 20).await.unwrap();
        assert_eq!(found.len(), 20, "{what}: {text:?} fills a page");
        assert!(next.is_some(), "{what}: more pages");
        assert!(found.windows(2).all(|w| w[0].id > w[1].id), "{what}: newest first");
        // the second page continues below the cursor, without repeating
        let page2 = ListFilter { before_id: next, ..filter };
        let (more, _) = browse::list(&mut conn, &reg, &page2, 20).await.unwrap();
        assert!(more.first().is_some_and(|r| r.id < found.last().unwrap().id), "{what}: keyset page 2");
    }
    let filter = ListFilter { text: SearchText::parse("zanzibar").unwrap(), ..ListFilter::default() };
    assert!(browse::list(&mut conn, &reg, &filter, 20).await.unwrap().0.is_empty());

    // The total of a search: exact below the cap, the cap above it, with the filters applied,
    // a registration counted once however many of its branches and documents match. Checked
    // against the four conditions OR-ed in one plain statement.
    let since = Utc::now() - chrono::Duration::days(200);
    for (text, from) in [("permesso di costruire", None), ("garib", None), ("planimetria", None), ("planimetria", Some(since)), ("zanzibar", None)] {
        let t = SearchText::parse(text).unwrap().unwrap();
        let truth: i64 = sqlx::query_scalar(
            "select count(*) from registrations r
             where r.register_id = $1 and ($4::timestamptz is null or r.registered_at >= $4)
               and (r.search_vector @@ websearch_to_tsquery('italian'::regconfig, $2)
                    or r.subject_lower like lower($3) or r.correspondent_lower like lower($3)
                    or exists (select 1 from documents d where d.registration_id = r.id and d.name ilike $3))",
        )
        .bind(reg.id)
        .bind(t.text())
        .bind(t.like())
        .bind(from)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let filter = ListFilter { text: Some(t), from, ..ListFilter::default() };
        let exact = sigillo_store::desk::count_registrations(&mut conn, &reg, &filter, 1_000_000).await.unwrap();
        assert_eq!(exact, truth, "{text:?} from {from:?}: the total below the cap");
        let capped = sigillo_store::desk::count_registrations(&mut conn, &reg, &filter, 7).await.unwrap();
        assert_eq!(capped, truth.min(7), "{text:?} from {from:?}: the total stops at the cap");
    }
    let hits: Vec<(String,)> = sqlx::query_as("select subject from registrations where subject ilike '%garib%' limit 1")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(hits[0].0.contains("Garibaldi"));
}

/// The pool of `sigillo_store::connect` never JIT-compiles: on a seeded register an office's
/// inbox spent 90 ms compiling each execution of a 10 ms statement (docs/benchmarks.md).
#[tokio::test]
async fn connections_of_the_pool_run_without_jit() {
    let (db, _) = setup(2).await;
    for _ in 0..2 {
        let mut conn = db.pool.acquire().await.unwrap();
        let jit: String = sqlx::query_scalar("show jit").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(jit, "off");
    }
}
