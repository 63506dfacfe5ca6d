//! Weights as named tensors in safetensors, with the names and layouts of the TensorFlow parity
//! fixture (`user_embedding`, `movie_embedding`, `dense_1.kernel` `[in, out]`, `dense_1.bias`,
//! …), so weights move between TFRS and recsys without renaming or transposing.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, View};

use crate::kinds::ranking::RankingModel;
use crate::{Error, Result};

/// Every tensor of `model` with its name and shape, in a fixed order.
pub(crate) fn named(model: &RankingModel) -> Vec<(String, Vec<usize>, &[f32])> {
    let d = model.config.embedding_dim;
    let mut out = vec![
        (
            "user_embedding".to_owned(),
            vec![model.user_embedding.rows, d],
            &model.user_embedding.table[..],
        ),
        (
            "movie_embedding".to_owned(),
            vec![model.movie_embedding.rows, d],
            &model.movie_embedding.table[..],
        ),
    ];
    for (i, l) in model.dense.iter().enumerate() {
        out.push((
            format!("dense_{}.kernel", i + 1),
            vec![l.input_dim, l.units],
            &l.kernel[..],
        ));
        out.push((format!("dense_{}.bias", i + 1), vec![l.units], &l.bias[..]));
    }
    out
}

fn named_mut(model: &mut RankingModel) -> Vec<(String, &mut Vec<f32>)> {
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

/// Named `F32` tensors (name, shape, values) as a safetensors file's bytes.
pub(crate) fn serialize(tensors: &[(String, Vec<usize>, &[f32])]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_tensors(tensors, &mut bytes).expect("writing to memory cannot fail");
    bytes
}

/// Writes the model's weights as a safetensors file to `out`, streaming: the bytes are exactly
/// those `safetensors::serialize` makes, but no tensor is copied whole (a 10-million-user
/// table is 1.3 GB), only a small buffer at a time.
pub fn write_safetensors(model: &RankingModel, out: &mut dyn Write) -> io::Result<()> {
    write_tensors(&named(model), out)
}

/// Writes named `F32` tensors (name, shape, values) as a safetensors file to `out`, streaming.
pub(crate) fn write_tensors(
    tensors: &[(String, Vec<usize>, &[f32])],
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut tensors: Vec<&(String, Vec<usize>, &[f32])> = tensors.iter().collect();
    // safetensors lays tensors out sorted by dtype (all F32 here), then by name.
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    // The header alone: `serialize` of views that report their length but lend no data.
    let shapes = tensors.iter().map(|(name, shape, values)| {
        let view = ShapeOnly {
            shape: shape.clone(),
            bytes: values.len() * 4,
        };
        (name.clone(), view)
    });
    let header = safetensors::serialize(shapes, None).map_err(io::Error::other)?;
    out.write_all(&header)?;
    let mut buf = Vec::with_capacity(1 << 16);
    for (_, _, values) in &tensors {
        for chunk in values.chunks(1 << 14) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
            out.write_all(&buf)?;
        }
    }
    Ok(())
}

/// An `F32` tensor's shape and byte length without its data, to have `safetensors` write the
/// header of a file whose data is streamed after it.
struct ShapeOnly {
    shape: Vec<usize>,
    bytes: usize,
}

impl View for ShapeOnly {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&[])
    }
    fn data_len(&self) -> usize {
        self.bytes
    }
}

/// Replaces the model's weights with those in safetensors `bytes` (read from `path`, which
/// errors name). Every tensor must be present, `F32`, and shaped as the model expects.
pub fn load_safetensors(model: &mut RankingModel, bytes: &[u8], path: &Path) -> Result<()> {
    let expected: Vec<(String, Vec<usize>)> =
        named(model).into_iter().map(|(n, s, _)| (n, s)).collect();
    let staged = read_checked(bytes, &expected, path)?;
    // Only now, with every tensor checked, touch the model: a failed load changes nothing.
    for ((_, slot), values) in named_mut(model).into_iter().zip(staged) {
        *slot = values;
    }
    Ok(())
}

/// The values of each `expected` tensor (name, shape) in safetensors `bytes` (read from `path`,
/// which errors name): every one present, `F32`, shaped as expected and finite.
pub(crate) fn read_checked(
    bytes: &[u8],
    expected: &[(String, Vec<usize>)],
    path: &Path,
) -> Result<Vec<Vec<f32>>> {
    let bad = |reason: String| Error::Weights {
        path: path.to_owned(),
        reason,
    };
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
    let mut staged = Vec::with_capacity(expected.len());
    for (name, shape) in expected {
        let t = st.tensor(name).map_err(|_| {
            bad(format!(
                "tensor `{name}` is missing (found: {})",
                st.names().join(", ")
            ))
        })?;
        if t.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor `{name}` has dtype {:?}, expected F32",
                t.dtype()
            )));
        }
        if t.shape() != shape.as_slice() {
            return Err(bad(format!(
                "tensor `{name}` has shape {:?}, the model expects {shape:?}",
                t.shape()
            )));
        }
        // Large tensors (a 10M-user table) go on huge pages, as freshly made tables do: a
        // served batch's rows are as scattered as a training batch's.
        let mut values = recsys_engine::pages::filled(t.data().len() / 4, 0.0);
        for (v, b) in values.iter_mut().zip(t.data().chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!(
                "tensor `{name}` holds a non-finite value at flat index {i}"
            )));
        }
        staged.push(values);
    }
    Ok(staged)
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
            .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views = tensors.iter().zip(&bytes).map(|((name, shape, _), b)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), b).unwrap(),
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
