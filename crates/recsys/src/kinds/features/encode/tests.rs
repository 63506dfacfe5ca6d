//! Tests of the feature lookups on a hand-made side table.

use super::*;

pub(crate) fn side() -> SideTable {
    let user = |age, gender: &str, occupation: &str, zip: &str| UserSide {
        age,
        gender: gender.into(),
        occupation: occupation.into(),
        zip_code: zip.into(),
    };
    let movie = |date: &str, genres: Vec<u8>| MovieSide {
        release_date: date.into(),
        genres,
    };
    SideTable {
        users: [
            ("1".to_owned(), user(24, "M", "technician", "85711")),
            ("2".to_owned(), user(53, "F", "other", "t8h1n")),
        ]
        .into(),
        movies: [
            ("Heat (1995)".to_owned(), movie("01-Jan-1995", vec![1, 6])),
            ("".to_owned(), movie("", vec![])),
            ("Old (1950)".to_owned(), movie("01-Jan-1950", vec![8])),
        ]
        .into(),
    }
}

pub(crate) fn spec(input: FeatureInput) -> FeatureSpec {
    FeatureSpec {
        input,
        dim: 2,
        hash_bins: None,
        boundaries: None,
        buckets: None,
        prefix: None,
    }
}

fn ex(user_id: &'static str, title: &'static str, timestamp: Option<i64>) -> Interaction<'static> {
    Interaction {
        user_id,
        title,
        timestamp,
    }
}

fn train() -> Vec<Interaction<'static>> {
    vec![
        ex("1", "Heat (1995)", Some(1000)),
        ex("2", "Heat (1995)", Some(2000)),
        ex("2", "Old (1950)", Some(3000)),
    ]
}

/// The rows of feature 0 of a one-feature encoder fitted on `train()`, for each of `exs`.
fn rows_of(s: FeatureSpec, exs: &[Interaction]) -> Vec<Vec<u32>> {
    let enc = FeatureEncoder::fit(&[s], &train(), &side());
    let rows = enc.encode(exs, &side());
    (0..exs.len())
        .map(|i| rows.feature(0).values(i).to_vec())
        .collect()
}

#[test]
fn vocabulary_features_send_unseen_values_to_row_zero() {
    let got = rows_of(
        spec(FeatureInput::UserId),
        &[ex("2", "x", None), ex("1", "x", None), ex("999", "x", None)],
    );
    assert_eq!(got, [vec![2], vec![1], vec![0]]);
    let got = rows_of(
        spec(FeatureInput::UserOccupation),
        &[ex("1", "x", None), ex("2", "x", None), ex("3", "x", None)],
    );
    // Vocabulary ["other", "technician"]; user 3 has no u.user row: row 0.
    assert_eq!(got, [vec![2], vec![1], vec![0]]);
}

#[test]
fn hashed_features_give_unseen_values_their_own_bin() {
    let s = FeatureSpec {
        hash_bins: Some(50),
        ..spec(FeatureInput::UserId)
    };
    let got = rows_of(s, &[ex("1", "x", None), ex("777", "x", None)]);
    assert_eq!(got, [vec![hash_row("1", 50)], vec![hash_row("777", 50)]]);
    let s = FeatureSpec {
        hash_bins: Some(10),
        prefix: Some(2),
        ..spec(FeatureInput::UserZip)
    };
    let got = rows_of(s, &[ex("2", "x", None), ex("5", "x", None)]);
    assert_eq!(got, [vec![hash_row("T8", 10)], vec![0]]);
}

#[test]
fn titles_become_token_rows_and_an_empty_title_reads_row_zero() {
    let s = FeatureSpec {
        hash_bins: Some(1000),
        ..spec(FeatureInput::TitleTokens)
    };
    let got = rows_of(
        s.clone(),
        &[ex("1", "Heat (1995)", None), ex("1", "", None)],
    );
    assert_eq!(got[0], [hash_row("heat", 1000), hash_row("1995", 1000)]);
    assert_eq!(got[1], [0]);
    // A token vocabulary: "1950", "1995", "heat", "old"; "(--)" has no tokens.
    let got = rows_of(
        spec(FeatureInput::TitleTokens),
        &[ex("1", "Old Heat (2001)", None), ex("1", "(--)", None)],
    );
    assert_eq!(got, [vec![4, 3, 0], vec![0]]);
}

#[test]
fn genres_are_multi_hot_and_numbers_are_bucketized() {
    let got = rows_of(
        spec(FeatureInput::MovieGenres),
        &[
            ex("1", "Heat (1995)", None),
            ex("1", "", None),
            ex("1", "Nope", None),
        ],
    );
    assert_eq!(got, [vec![2, 7], vec![0], vec![0]]);
    // Default age groups 18, 25, 35, 45, 50, 56: 24 is bucket 1 (row 2), 53 bucket 5 (row 6).
    let got = rows_of(
        spec(FeatureInput::UserAge),
        &[ex("1", "x", None), ex("2", "x", None), ex("9", "x", None)],
    );
    assert_eq!(got, [vec![2], vec![6], vec![0]]);
    let years = FeatureSpec {
        boundaries: Some(vec![1960.0, 1990.0]),
        ..spec(FeatureInput::MovieYear)
    };
    let got = rows_of(
        years,
        &[
            ex("1", "Old (1950)", None),
            ex("1", "Heat (1995)", None),
            ex("1", "", None),
        ],
    );
    assert_eq!(got, [vec![1], vec![3], vec![0]]);
    // Without boundaries each year is a vocabulary value: "1950", "1995".
    let got = rows_of(
        spec(FeatureInput::MovieYear),
        &[ex("1", "Heat (1995)", None)],
    );
    assert_eq!(got, [vec![2]]);
}

#[test]
fn timestamps_fall_into_equal_width_buckets_of_the_training_range() {
    let s = FeatureSpec {
        buckets: Some(4),
        ..spec(FeatureInput::Timestamp)
    };
    // Training times 1000..3000: boundaries 1500, 2000, 2500.
    let got = rows_of(
        s,
        &[
            ex("1", "x", Some(1000)),
            ex("1", "x", Some(2999)),
            ex("1", "x", Some(9999)),
            ex("1", "x", Some(-5)),
            ex("1", "x", None),
        ],
    );
    assert_eq!(got, [vec![1], vec![4], vec![4], vec![1], vec![0]]);
}

#[test]
fn lookups_round_trip_through_their_saved_form_and_select_reorders() {
    let specs = [
        spec(FeatureInput::UserId),
        FeatureSpec {
            hash_bins: Some(7),
            ..spec(FeatureInput::MovieTitle)
        },
        spec(FeatureInput::UserAge),
        spec(FeatureInput::MovieGenres),
    ];
    let enc = FeatureEncoder::fit(&specs, &train(), &side());
    let files: Vec<LookupFile> = enc.lookups().iter().map(Lookup::to_file).collect();
    let json = serde_json::to_string(&files).unwrap();
    let back: Vec<LookupFile> = serde_json::from_str(&json).unwrap();
    let lookups = back
        .into_iter()
        .map(|f| Lookup::from_file(f).unwrap())
        .collect();
    let enc2 = FeatureEncoder::from_parts(specs.to_vec(), lookups).unwrap();
    assert_eq!(enc, enc2);
    assert_eq!(
        enc.lookups()
            .iter()
            .map(Lookup::table_rows)
            .collect::<Vec<_>>(),
        [3, 8, 8, 20]
    );
    let all = enc.encode(&train(), &side());
    assert_eq!(all.max_values(3), 2);
    let mut picked = FeatureRows::new(4);
    picked.select_from(&all, &[2, 0]);
    assert_eq!(picked.len(), 2);
    assert_eq!(picked.feature(3).values(0), all.feature(3).values(2));
    assert_eq!(picked.feature(0).values(1), all.feature(0).values(0));
    assert!(FeatureEncoder::from_parts(specs.to_vec(), Vec::new()).is_err());
    let bad = [
        LookupFile::Hash { bins: 0 },
        LookupFile::Buckets {
            boundaries: vec![2.0, 1.0],
        },
        LookupFile::Buckets {
            boundaries: vec![f64::NAN],
        },
        LookupFile::Vocabulary {
            values: vec!["b".into(), "a".into()],
        },
    ];
    for file in bad {
        assert!(Lookup::from_file(file.clone()).is_err(), "{file:?}");
    }
}
