//! Weights as named tensors in safetensors, with the names and layouts of the TensorFlow parity
//! fixture (`user_embedding`, `movie_embedding`, `dense_1.kernel` `[in, out]`, `dense_1.bias`,
//! …), so weights move between TFRS and recsys without renaming or transposing.

use std::io::{self, Write};
use std::path::Path;

use super::RankingModel;
use crate::tensors::{Tensor, read_checked, serialize, shapes, write_tensors};
use crate::{Error, Result};

/// Every tensor of `model` with its name and shape, in a fixed order.
pub(crate) fn named(model: &RankingModel) -> Vec<Tensor<'_>> {
    let d = model.config.embedding_dim;
    let (users, movies) = (&model.user_embedding, &model.movie_embedding);
    let mut out = vec![
        Tensor::new("user_embedding", vec![users.rows, d], &users.table),
        Tensor::new("movie_embedding", vec![movies.rows, d], &movies.table),
    ];
    for (i, l) in model.dense.iter().enumerate() {
        let kernel = vec![l.input_dim, l.units];
        out.push(Tensor::new(
            format!("dense_{}.kernel", i + 1),
            kernel,
            &l.kernel,
        ));
        out.push(Tensor::new(
            format!("dense_{}.bias", i + 1),
            vec![l.units],
            &l.bias,
        ));
    }
    out
}

pub(crate) fn named_mut(model: &mut RankingModel) -> Vec<(String, &mut Vec<f32>)> {
    let mut out = vec![
        ("user_embedding".to_owned(), &mut model.user_embedding.table),
        (
            "movie_embedding".to_owned(),
            &mut model.movie_embedding.table,
        ),
    ];
    for (i, l) in model.dense.iter_mut().enumerate() {
        out.push((format!("dense_{}.kernel", i + 1), &mut l.kernel));
        out.push((format!("dense_{}.bias", i + 1), &mut l.bias));
    }
    out
}

/// The model's weights as a safetensors file's bytes (little-endian `F32`): what
/// [`write_safetensors`] writes.
pub fn to_safetensors(model: &RankingModel) -> Vec<u8> {
    serialize(&named(model))
}

/// Writes the model's weights as a safetensors file to `out`, streaming: the bytes are exactly
/// those `safetensors::serialize` makes, but no tensor is copied whole (a 10-million-user
/// table is 1.3 GB), only a small buffer at a time.
pub fn write_safetensors(model: &RankingModel, out: &mut dyn Write) -> io::Result<()> {
    write_tensors(&named(model), out)
}

/// Replaces the model's weights with those in safetensors `bytes` (read from `path`, which
/// errors name). Every tensor must be present, `F32`, and shaped as the model expects.
pub fn load_safetensors(model: &mut RankingModel, bytes: &[u8], path: &Path) -> Result<()> {
    let expected = shapes(&named(model));
    let staged = read_checked(bytes, &expected, path)?;
    // Only now, with every tensor checked, touch the model: a failed load changes nothing.
    for ((_, slot), values) in named_mut(model).into_iter().zip(staged) {
        *slot = values;
    }
    Ok(())
}

/// Reads a safetensors file into the model (`--init-weights`).
pub fn load_safetensors_file(model: &mut RankingModel, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    load_safetensors(model, &bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::ranking::RankingModelConfig;
    use recsys_data::Vocabulary;
    use safetensors::tensor::TensorView;

    fn model(seed: u64) -> RankingModel {
        let cfg = RankingModelConfig {
            embedding_dim: 2,
            hidden_layers: vec![3],
        };
        RankingModel::new(
            cfg,
            Vocabulary::from_values(["u"]),
            Vocabulary::from_values(["t", "s"]),
            seed,
        )
        .unwrap()
    }

    #[test]
    fn streamed_bytes_are_safetensors_own_serialisation() {
        let m = model(3);
        let tensors = named(&m);
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|t| t.values.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views = tensors.iter().zip(&bytes).map(|(t, b)| {
            (
                t.name.clone(),
                TensorView::new(safetensors::Dtype::F32, t.shape.clone(), b).unwrap(),
            )
        });
        let reference = safetensors::serialize(views, None).unwrap();
        assert_eq!(to_safetensors(&m), reference);
    }

    #[test]
    fn round_trip_is_bit_identical() {
        let a = model(1);
        let mut b = model(2);
        assert_ne!(a, b);
        load_safetensors(&mut b, &to_safetensors(&a), Path::new("x")).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn wrong_shape_missing_tensor_and_garbage_are_errors_that_change_nothing() {
        let mut small = model(1);
        let other = {
            let cfg = RankingModelConfig {
                embedding_dim: 2,
                hidden_layers: vec![4],
            };
            RankingModel::new(
                cfg,
                Vocabulary::from_values(["u"]),
                Vocabulary::from_values(["t", "s"]),
                0,
            )
            .unwrap()
        };
        let before = small.clone();
        let err = load_safetensors(&mut small, &to_safetensors(&other), Path::new("w.st"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("w.st") && err.contains("dense_1.kernel") && err.contains("shape"),
            "{err}"
        );
        assert_eq!(small, before);
        let err = load_safetensors(&mut small, b"garbage", Path::new("w.st"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid safetensors"), "{err}");
        let mut bytes = to_safetensors(&before);
        bytes.truncate(bytes.len() - 3);
        assert!(load_safetensors(&mut small, &bytes, Path::new("w.st")).is_err());
        assert_eq!(small, before);
    }
}
