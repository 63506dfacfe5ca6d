//! The model's tensors at the precision the exported file stores them in.
//!
//! `f32` keeps every value. `f16` rounds each to the nearest half-precision value. `int8` is
//! symmetric per-channel quantization along the last axis — one scale per embedding column and
//! per dense unit (`scale = max |w| / 127`, `q = round(w / scale)`) — for embedding tables and
//! kernels; biases (321 values in the tutorial's model) stay `f32`.
//!
//! [`dequantized_model`] gives back the model the exported file computes, so the RMSE change of a
//! precision is measured on exactly the weights the runtimes see.

use half::f16;
use recsys::kinds::ranking::RankingModel;
use serde::Serialize;

/// How weights are stored in the exported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// 32-bit floats, as trained.
    #[default]
    F32,
    /// 16-bit floats, widened to `f32` inside the graph.
    F16,
    /// 8-bit integers with one `f32` scale per channel, dequantized inside the graph.
    Int8,
}

/// The stored values of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    F32(Vec<f32>),
    F16(Vec<f16>),
    /// `scales[c]` applies to every value whose last-axis index is `c`.
    Int8 {
        values: Vec<i8>,
        scales: Vec<f32>,
    },
}

/// One named tensor, `[rows, cols]` (or `[cols]` for a bias), row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Values,
}

impl Tensor {
    fn new(name: String, shape: Vec<usize>, data: &[f32], precision: Precision) -> Self {
        let values = match precision {
            Precision::F32 => Values::F32(data.to_vec()),
            Precision::F16 => Values::F16(data.iter().map(|&v| f16::from_f32(v)).collect()),
            Precision::Int8 if shape.len() == 2 => quantize_int8(data, shape[1]),
            Precision::Int8 => Values::F32(data.to_vec()),
        };
        Tensor {
            name,
            shape,
            values,
        }
    }

    /// The `f32` values a runtime computes with after widening or dequantizing.
    pub fn dequantized(&self) -> Vec<f32> {
        match &self.values {
            Values::F32(v) => v.clone(),
            Values::F16(v) => v.iter().map(|h| h.to_f32()).collect(),
            Values::Int8 { values, scales } => values
                .iter()
                .enumerate()
                .map(|(i, &q)| f32::from(q) * scales[i % scales.len()])
                .collect(),
        }
    }

    /// Bytes the values (and scales) take in the file.
    pub fn payload_bytes(&self) -> usize {
        match &self.values {
            Values::F32(v) => 4 * v.len(),
            Values::F16(v) => 2 * v.len(),
            Values::Int8 { values, scales } => values.len() + 4 * scales.len(),
        }
    }

    /// The values as little-endian bytes (the scales are separate).
    pub fn le_bytes(&self) -> Vec<u8> {
        match &self.values {
            Values::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::Int8 { values, .. } => values.iter().map(|&q| q as u8).collect(),
        }
    }

    /// The transpose of a 2-D tensor (TFLite's fully connected kernels are `[out, in]`); per-
    /// channel scales then apply along the first axis.
    pub fn transposed(&self) -> Self {
        let (r, c) = (self.shape[0], self.shape[1]);
        fn t<T: Copy>(v: &[T], r: usize, c: usize) -> Vec<T> {
            (0..c)
                .flat_map(|j| (0..r).map(move |i| v[i * c + j]))
                .collect()
        }
        let values = match &self.values {
            Values::F32(v) => Values::F32(t(v, r, c)),
            Values::F16(v) => Values::F16(t(v, r, c)),
            Values::Int8 { values, scales } => Values::Int8 {
                values: t(values, r, c),
                scales: scales.clone(),
            },
        };
        Tensor {
            name: self.name.clone(),
            shape: vec![c, r],
            values,
        }
    }
}

fn quantize_int8(data: &[f32], cols: usize) -> Values {
    let mut scales = vec![0.0f32; cols];
    for (i, &v) in data.iter().enumerate() {
        scales[i % cols] = scales[i % cols].max(v.abs());
    }
    for s in &mut scales {
        *s = if *s > 0.0 { *s / 127.0 } else { 1.0 };
    }
    let values = data
        .iter()
        .enumerate()
        .map(|(i, &v)| (v / scales[i % cols]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    Values::Int8 { values, scales }
}

/// The model's weights, in graph order: `user_embedding`, `movie_embedding`, then
/// `dense_{i}.kernel` and `dense_{i}.bias` for each layer (TFRS's names).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Weights {
    pub user_embedding: Tensor,
    pub movie_embedding: Tensor,
    /// `(kernel [in, out], bias [out], relu)` per layer.
    pub dense: Vec<(Tensor, Tensor, bool)>,
}

impl Weights {
    pub fn new(model: &RankingModel, precision: Precision) -> Self {
        let d = model.config.embedding_dim;
        let table = |name: &str, e: &recsys::engine::Embedding| {
            Tensor::new(name.into(), vec![e.rows, d], &e.table, precision)
        };
        let last = model.dense.len() - 1;
        Weights {
            user_embedding: table("user_embedding", &model.user_embedding),
            movie_embedding: table("movie_embedding", &model.movie_embedding),
            dense: model
                .dense
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let kernel = Tensor::new(
                        format!("dense_{}.kernel", i + 1),
                        vec![l.input_dim, l.units],
                        &l.kernel,
                        precision,
                    );
                    let bias = Tensor::new(
                        format!("dense_{}.bias", i + 1),
                        vec![l.units],
                        &l.bias,
                        precision,
                    );
                    (kernel, bias, i != last)
                })
                .collect(),
        }
    }

    /// Every tensor, in graph order.
    pub fn all(&self) -> impl Iterator<Item = &Tensor> {
        [&self.user_embedding, &self.movie_embedding]
            .into_iter()
            .chain(self.dense.iter().flat_map(|(k, b, _)| [k, b]))
    }

    /// Bytes the weights take in the file (values and scales).
    pub fn payload_bytes(&self) -> usize {
        self.all().map(Tensor::payload_bytes).sum()
    }
}

/// The model an exported file at `precision` computes: `model` with every weight rounded or
/// quantized and widened back to `f32`, exactly as the runtimes do.
pub fn dequantized_model(model: &RankingModel, precision: Precision) -> RankingModel {
    let w = Weights::new(model, precision);
    let mut out = model.clone();
    out.user_embedding.table = w.user_embedding.dequantized();
    out.movie_embedding.table = w.movie_embedding.dequantized();
    for (layer, (k, b, _)) in out.dense.iter_mut().zip(&w.dense) {
        layer.kernel = k.dequantized();
        layer.bias = b.dequantized();
    }
    out
}

/// Bytes the weights take in a file of this precision (values, scales, biases).
pub fn weight_bytes(model: &RankingModel, precision: Precision) -> usize {
    Weights::new(model, precision).payload_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_is_per_column_symmetric_and_within_half_a_step() {
        let data = [0.5, -2.0, -0.25, 1.0, 0.0, 0.0];
        let Values::Int8 { values, scales } = quantize_int8(&data, 2) else {
            panic!()
        };
        assert_eq!(scales, vec![0.5 / 127.0, 2.0 / 127.0]);
        assert_eq!(values, vec![127, -127, -64, 64, 0, 0]);
        let t = Tensor {
            name: "t".into(),
            shape: vec![3, 2],
            values: Values::Int8 { values, scales },
        };
        for (d, v) in t.dequantized().iter().zip(data) {
            assert!((d - v).abs() <= 0.5 * 2.0 / 127.0, "{d} vs {v}");
        }
        assert_eq!(t.payload_bytes(), 6 + 8);
    }

    #[test]
    fn an_all_zero_column_gets_scale_one_not_a_division_by_zero() {
        let Values::Int8 { values, scales } = quantize_int8(&[0.0, 1.0, 0.0, -1.0], 2) else {
            panic!()
        };
        assert_eq!(scales[0], 1.0);
        assert_eq!(values, vec![0, 127, 0, -127]);
    }

    #[test]
    fn f16_rounds_to_nearest_and_transpose_moves_values() {
        let t = Tensor::new(
            "k".into(),
            vec![2, 3],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 1.0 / 3.0],
            Precision::F16,
        );
        let d = t.dequantized();
        assert_eq!(&d[..5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!((d[5] - 1.0 / 3.0).abs() < 1e-4 && d[5] != 1.0 / 3.0);
        let tt = t.transposed();
        assert_eq!(tt.shape, vec![3, 2]);
        assert_eq!(tt.dequantized()[..4], [1.0, 4.0, 2.0, 5.0]);
        assert_eq!(t.payload_bytes(), 12);
    }
}
