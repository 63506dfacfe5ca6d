//! Tests of the feature transforms and of [`SideInfo`] on tiny MovieLens files written to a
//! temporary folder.

use super::*;

const FLAGS_ACTION: &str = "|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0";
const FLAGS_DRAMA: &str = "|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0";

/// Two users, three movies (two share a title), four ratings.
fn write_tiny(dir: &Path, item: &str, user: &str) {
    std::fs::write(dir.join("u.item"), item).unwrap();
    std::fs::write(dir.join("u.user"), user).unwrap();
    std::fs::write(
        dir.join("u.data"),
        "1\t1\t5\t900\n1\t2\t3\t800\n1\t3\t4\t700\n2\t1\t2\t1000\n",
    )
    .unwrap();
}

fn tiny_item() -> String {
    format!(
        "1|Heat (1995)|01-Jan-1995||u{FLAGS_ACTION}\n\
         2|Twin (1998)|01-Jan-1998||u{FLAGS_DRAMA}\n\
         3|Twin (1998)|||u{FLAGS_ACTION}\n"
    )
}

const TINY_USER: &str = "1|24|M|technician|85711\n2|53|F|other|t8h1n\n";

#[test]
fn fnv1a_matches_the_published_test_vectors() {
    // From the FNV reference (isthe.com/chongo/tech/comp/fnv), 64-bit FNV-1a.
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn hashed_rows_are_in_one_to_bins_stable_and_spread() {
    assert_eq!(
        hash_row("a", 10),
        1 + (0xaf63_dc4c_8601_ec8c_u64 % 10) as u32
    );
    let rows: Vec<u32> = (0..1000).map(|i| hash_row(&i.to_string(), 16)).collect();
    assert!(rows.iter().all(|r| (1..=16).contains(r)));
    // An unseen value still gets a bin, and always the same one.
    assert_eq!(hash_row("never seen", 16), hash_row("never seen", 16));
    for bin in 1..=16 {
        let n = rows.iter().filter(|&&r| r == bin).count();
        assert!((30..=100).contains(&n), "bin {bin}: {n} of 1000");
    }
}

#[test]
fn buckets_count_the_boundaries_at_or_below_the_value() {
    let b = [18.0, 25.0, 35.0];
    assert_eq!(bucketize(1.0, &b), 0);
    assert_eq!(bucketize(18.0, &b), 1);
    assert_eq!(bucketize(24.9, &b), 1);
    assert_eq!(bucketize(35.0, &b), 3);
    // A value far outside anything seen (an age of 200) falls into the last bucket.
    assert_eq!(bucketize(200.0, &b), 3);
    assert_eq!(bucketize(5.0, &[]), 0);
    assert_eq!(equal_width_boundaries(0.0, 10.0, 4), vec![2.5, 5.0, 7.5]);
    assert!(equal_width_boundaries(3.0, 3.0, 4).is_empty());
    assert!(equal_width_boundaries(0.0, 1.0, 1).is_empty());
}

#[test]
fn titles_tokenize_lowercase_on_non_alphanumerics() {
    let t = |s: &str| tokenize(s).collect::<Vec<_>>();
    assert_eq!(t("Twelve Monkeys (1995)"), ["twelve", "monkeys", "1995"]);
    assert_eq!(t("Café, Le (1990)"), ["café", "le", "1990"]);
    assert_eq!(t("M*A*S*H"), ["m", "a", "s", "h"]);
    assert!(t("").is_empty());
    assert!(t(" (--) ").is_empty());
}

#[test]
fn zip_prefixes_take_characters_and_upper_case() {
    assert_eq!(zip_prefix("85711", 3), "857");
    assert_eq!(zip_prefix("t8h1n", 2), "T8");
    assert_eq!(zip_prefix("12", 3), "12");
    assert_eq!(zip_prefix("", 3), "");
}

#[test]
fn release_years_parse_and_bad_dates_name_the_value() {
    assert_eq!(release_year("01-Jan-1995"), Ok(Some(1995)));
    assert_eq!(release_year(""), Ok(None));
    for bad in [
        "1995",
        "01-Foo-1995",
        "32-Jan-1995",
        "01-Jan-95",
        "x-Jan-1995",
    ] {
        let e = release_year(bad).unwrap_err();
        assert!(e.contains(bad), "{e}");
    }
}

#[test]
fn side_info_joins_users_titles_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), &tiny_item(), TINY_USER);
    let side = SideInfo::load(dir.path()).unwrap();
    assert_eq!(side.user("2").unwrap().occupation, "other");
    assert_eq!(side.user(" 1").unwrap().age, 24);
    assert!(side.user("3").is_none() && side.user("abc").is_none());
    // A duplicated title takes the first u.item row's genres and date.
    let twin = side.movie("Twin (1998)").unwrap();
    assert_eq!((twin.id, twin.genres[8]), (2, true));
    // User 1 rated both "Twin (1998)" rows (at 800 and 700): the earlier time is kept.
    assert_eq!(side.timestamp("1", "Twin (1998)"), Some(700));
    assert_eq!(side.timestamp("2", "Heat (1995)"), Some(1000));
    assert_eq!(side.timestamp("2", "Twin (1998)"), None);
    assert_eq!(side.movies().len(), 3);
    assert_eq!(side.users().count(), 2);
}

#[test]
fn a_missing_row_is_an_error_naming_the_file_and_the_id() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), &tiny_item(), TINY_USER);
    let side = SideInfo::load(dir.path()).unwrap();
    let e = side.require_user("943").unwrap_err().to_string();
    assert!(e.contains("u.user") && e.contains("\"943\""), "{e}");
    let e = side.require_movie("Nope (2001)").unwrap_err().to_string();
    assert!(e.contains("u.item") && e.contains("Nope (2001)"), "{e}");
    let e = side.require_timestamp("2", "Twin (1998)").unwrap_err();
    assert!(e.to_string().contains("u.data"), "{e}");
    assert_eq!(side.require_user("1").unwrap().gender, "M");
}

#[test]
fn malformed_rows_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad_date = tiny_item().replace("01-Jan-1998", "1998-01-01");
    write_tiny(dir.path(), &bad_date, TINY_USER);
    let e = SideInfo::load(dir.path()).unwrap_err();
    assert!(
        matches!(&e, DataError::Parse { path, line: 2, .. } if path.ends_with("u.item")),
        "{e}"
    );
    assert!(e.to_string().contains("release date"), "{e}");

    write_tiny(
        dir.path(),
        &tiny_item(),
        "1|24|M|technician|85711\n2|old|F|other|1\n",
    );
    let e = SideInfo::load(dir.path()).unwrap_err();
    assert!(
        matches!(&e, DataError::Parse { path, line: 2, .. } if path.ends_with("u.user")),
        "{e}"
    );
    std::fs::write(dir.path().join("u.user"), TINY_USER).unwrap();
    std::fs::write(dir.path().join("u.data"), "1\t1\t5\tyesterday\n").unwrap();
    let e = SideInfo::load(dir.path()).unwrap_err();
    assert!(
        matches!(&e, DataError::Parse { path, line: 1, .. } if path.ends_with("u.data")),
        "{e}"
    );
    assert!(e.to_string().contains("timestamp"), "{e}");
}
