//! Manifests of format versions 1–3, read as version 4's: their training record spread how a
//! model was trained over per-kind fields (`config`, `recipe`, `multitask`, `features`,
//! `init_weights`); version 4 records it as one tagged recipe. An old record keeps its data
//! source, epochs and test metrics (and a multitask model's test retrieval); its recipe is not
//! rebuilt, so `training.recipe` is absent.

use serde_json::{Map, Value};

/// `raw`, a version 1–3 manifest, with its training record in version 4's shape.
pub(super) fn upgrade(mut raw: Value) -> Value {
    if let Some(Value::Object(old)) = raw.get_mut("training") {
        let retrieval = old
            .get_mut("multitask")
            .and_then(|m| m.get_mut("test_retrieval"))
            .map(Value::take)
            .filter(|r| !r.is_null());
        let mut record = Map::new();
        for key in ["data", "epochs", "test"] {
            if let Some(v) = old.remove(key) {
                record.insert(key.to_owned(), v);
            }
        }
        if let Some(r) = retrieval {
            record.insert("test_retrieval".to_owned(), r);
        }
        *old = record;
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_record_keeps_its_data_epochs_tests_and_retrieval_and_drops_the_rest() {
        let old = serde_json::json!({
            "format_version": 3,
            "training": {
                "data": {"kind": "movielens100k", "seed": 1, "train": 8, "test": 2},
                "config": {"epochs": 3},
                "init_weights": null,
                "epochs": [],
                "test": null,
                "multitask": {"weights": {}, "test_retrieval": {"loss": 1.0}},
                "recipe": {"trainer": {}},
            }
        });
        let new = upgrade(old);
        let record = new["training"].as_object().unwrap();
        let mut keys: Vec<&str> = record.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["data", "epochs", "test", "test_retrieval"]);
        assert_eq!(record["test_retrieval"]["loss"], 1.0);
        let untrained = upgrade(serde_json::json!({"training": null}));
        assert!(untrained["training"].is_null());
    }
}
