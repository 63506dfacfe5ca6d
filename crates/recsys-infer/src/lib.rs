//! recsys-infer: score (user, title) pairs with a trained recsys model, with nothing but
//! `core` and `alloc` — no `std`, no runtime, no dependencies — for phones, WebAssembly and
//! microcontrollers.
//!
//! It reads the model directory's own files, handed in as bytes (the caller reads them however
//! its platform allows): `weights.safetensors` (TFRS's tensor names: `user_embedding`,
//! `movie_embedding`, `dense_1.kernel` `[in, out]`, `dense_1.bias`, …) and `vocabulary.json`
//! (`{"user_id": [...], "movie_title": [...]}`, sorted, row = index + 1). The shape is read from
//! the tensors; unseen ids and titles score through the out-of-vocabulary row 0, as recsys does.
//! Checksums are the loader's job on platforms that have files (`recsys::artifact::load`).
//!
//! ```
//! # fn main() -> Result<(), recsys_infer::Error> {
//! # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../recsys/tests/compat/artifact_v1");
//! # let weights = std::fs::read(format!("{dir}/weights.safetensors")).unwrap();
//! # let vocabulary = std::fs::read(format!("{dir}/vocabulary.json")).unwrap();
//! let model = recsys_infer::Model::from_artifact(&weights, &vocabulary)?;
//! let scores = model.predict(&["42", "nobody"], &["Speed (1994)", "Speed (1994)"])?;
//! assert_eq!(scores.len(), 2);
//! let ranked = model.rank("42", &["Speed (1994)", "M*A*S*H (1970)"]);
//! assert!(ranked[0].1 >= ranked[1].1);
//! # Ok(())
//! # }
//! ```
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

mod json;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use json::Value;

/// The file each input is, for error messages.
const WEIGHTS: &str = "weights.safetensors";
const VOCABULARY: &str = "vocabulary.json";

/// Why a model could not be read or a request not answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A file is malformed; `file` is `weights.safetensors` or `vocabulary.json`.
    Malformed {
        /// The file.
        file: &'static str,
        /// What is wrong, naming the tensor, field or byte offset.
        reason: String,
    },
    /// The two input lists differ in length.
    LengthMismatch {
        /// User ids given.
        users: usize,
        /// Titles given.
        titles: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed { file, reason } => write!(f, "{file}: {reason}"),
            Error::LengthMismatch { users, titles } => write!(
                f,
                "predict: {users} user ids but {titles} movie titles; pass one of each per pair"
            ),
        }
    }
}

impl core::error::Error for Error {}

fn malformed(file: &'static str, reason: String) -> Error {
    Error::Malformed { file, reason }
}

/// A `StringLookup` vocabulary: sorted values, row = index + 1, 0 for anything else.
#[derive(Debug, Clone, PartialEq)]
struct Vocabulary(Vec<String>);

impl Vocabulary {
    fn row(&self, value: &str) -> usize {
        self.0
            .binary_search_by(|v| v.as_str().cmp(value))
            .map_or(0, |i| i + 1)
    }
}

/// One dense layer, `[input, units]` row-major, ReLU on all but the last.
#[derive(Debug, Clone, PartialEq)]
struct Layer {
    kernel: Vec<f32>,
    bias: Vec<f32>,
    input: usize,
    units: usize,
    relu: bool,
}

/// A ranking model ready to score: vocabularies, embedding tables and dense layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    users: Vocabulary,
    titles: Vocabulary,
    dim: usize,
    user_table: Vec<f32>,
    title_table: Vec<f32>,
    layers: Vec<Layer>,
}

/// One safetensors tensor: its shape and `f32` values.
struct Tensor {
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// The tensors of a safetensors file, by name.
struct SafeTensors<'a> {
    header: Value,
    data: &'a [u8],
}

impl<'a> SafeTensors<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let bad = |r: &str| malformed(WEIGHTS, r.into());
        let len: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("shorter than the 8-byte header length"))?;
        let len = usize::try_from(u64::from_le_bytes(len))
            .map_err(|_| bad("header length does not fit in memory"))?;
        let header = bytes
            .get(8..8usize.saturating_add(len))
            .ok_or_else(|| bad("header runs past the end of the file (truncated?)"))?;
        let header = json::parse(header).map_err(|e| {
            malformed(
                WEIGHTS,
                format!("header JSON at byte {}: {}", 8 + e.offset, e.reason),
            )
        })?;
        Ok(SafeTensors {
            header,
            data: &bytes[8 + len..],
        })
    }

    fn has(&self, name: &str) -> bool {
        self.header.get(name).is_some()
    }

    fn tensor(&self, name: &str) -> Result<Tensor, Error> {
        let bad = |r: &str| malformed(WEIGHTS, format!("tensor `{name}`: {r}"));
        let info = self.header.get(name).ok_or_else(|| bad("missing"))?;
        if info.get("dtype").and_then(Value::as_str) != Some("F32") {
            return Err(bad("dtype is not F32"));
        }
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no shape"))?
            .iter()
            .map(|d| d.as_usize().ok_or_else(|| bad("shape holds a non-integer")))
            .collect::<Result<_, _>>()?;
        let offsets = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no data_offsets"))?;
        let (start, end) = match offsets {
            [a, b] => (
                a.as_usize().ok_or_else(|| bad("bad data_offsets"))?,
                b.as_usize().ok_or_else(|| bad("bad data_offsets"))?,
            ),
            _ => return Err(bad("data_offsets is not [start, end]")),
        };
        let count = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| bad("shape overflows"))?;
        let raw = self
            .data
            .get(start..end)
            .ok_or_else(|| bad("data runs past the end of the file (truncated?)"))?;
        if count.checked_mul(4) != Some(raw.len()) {
            return Err(bad("byte length does not match the shape"));
        }
        let values: Vec<f32> = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad("holds a non-finite value"));
        }
        Ok(Tensor { shape, values })
    }
}

fn vocabularies(bytes: &[u8]) -> Result<(Vocabulary, Vocabulary), Error> {
    let doc = json::parse(bytes).map_err(|e| {
        malformed(
            VOCABULARY,
            format!("JSON at byte {}: {}", e.offset, e.reason),
        )
    })?;
    let field = |name: &str| -> Result<Vocabulary, Error> {
        let bad = |r: String| malformed(VOCABULARY, format!("`{name}`: {r}"));
        let values: Vec<String> = doc
            .get(name)
            .and_then(Value::as_array)
            .ok_or_else(|| bad("missing or not an array".into()))?
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("holds a non-string".into()))?;
        if let Some(i) = values.windows(2).position(|w| w[0] >= w[1]) {
            return Err(bad(format!(
                "not sorted: value {} is not greater than the one before it",
                i + 1
            )));
        }
        Ok(Vocabulary(values))
    };
    Ok((field("user_id")?, field("movie_title")?))
}

impl Model {
    /// Reads a model from the bytes of its `weights.safetensors` and `vocabulary.json`,
    /// checking that every tensor is there, `F32`, finite and shaped consistently with the others
    /// and with the vocabularies.
    pub fn from_artifact(weights: &[u8], vocabulary: &[u8]) -> Result<Self, Error> {
        let (users, titles) = vocabularies(vocabulary)?;
        let st = SafeTensors::parse(weights)?;
        let bad = |r: String| malformed(WEIGHTS, r);
        let table = |name: &str, vocab: &Vocabulary| -> Result<Tensor, Error> {
            let t = st.tensor(name)?;
            match t.shape[..] {
                [rows, _] if rows == vocab.0.len() + 1 => Ok(t),
                _ => Err(bad(format!(
                    "tensor `{name}` has shape {:?}, expected [{} (vocabulary + 1), dim]",
                    t.shape,
                    vocab.0.len() + 1
                ))),
            }
        };
        let user = table("user_embedding", &users)?;
        let title = table("movie_embedding", &titles)?;
        let dim = user.shape[1];
        if title.shape[1] != dim {
            return Err(bad(format!(
                "tensor `movie_embedding` is {} wide, `user_embedding` {dim}",
                title.shape[1]
            )));
        }
        let mut layers = Vec::new();
        let mut width = 2 * dim;
        while st.has(&format!("dense_{}.kernel", layers.len() + 1)) {
            let i = layers.len() + 1;
            let kernel = st.tensor(&format!("dense_{i}.kernel"))?;
            let bias = st.tensor(&format!("dense_{i}.bias"))?;
            let units = match kernel.shape[..] {
                [input, units] if input == width && bias.shape[..] == [units] => units,
                _ => {
                    return Err(bad(format!(
                        "tensor `dense_{i}.kernel` has shape {:?} (bias {:?}), expected [{width}, units] and [units]",
                        kernel.shape, bias.shape
                    )));
                }
            };
            layers.push(Layer {
                kernel: kernel.values,
                bias: bias.values,
                input: width,
                units,
                relu: true,
            });
            width = units;
        }
        match layers.last_mut() {
            Some(last) if last.units == 1 => last.relu = false,
            _ => {
                return Err(bad(format!(
                    "the dense layers must end in one unit (found {} layers, last width {width})",
                    layers.len()
                )));
            }
        }
        Ok(Model {
            users,
            titles,
            dim,
            user_table: user.values,
            title_table: title.values,
            layers,
        })
    }

    /// Width of each embedding.
    pub fn embedding_dim(&self) -> usize {
        self.dim
    }

    /// The titles the model knows, sorted (row = index + 1).
    pub fn titles(&self) -> impl Iterator<Item = &str> {
        self.titles.0.iter().map(String::as_str)
    }

    /// Predicted ratings for `(user_ids[i], movie_titles[i])`.
    pub fn predict<U: AsRef<str>, T: AsRef<str>>(
        &self,
        user_ids: &[U],
        movie_titles: &[T],
    ) -> Result<Vec<f32>, Error> {
        if user_ids.len() != movie_titles.len() {
            return Err(Error::LengthMismatch {
                users: user_ids.len(),
                titles: movie_titles.len(),
            });
        }
        let mut scratch = Scratch::new(self);
        Ok(user_ids
            .iter()
            .zip(movie_titles)
            .map(|(u, t)| {
                let (u, t) = (self.users.row(u.as_ref()), self.titles.row(t.as_ref()));
                self.score_rows(u, t, &mut scratch)
            })
            .collect())
    }

    /// Scores `candidates` for one user, best first (ties keep the candidates' order).
    pub fn rank<'c, T: AsRef<str>>(
        &self,
        user_id: &str,
        candidates: &'c [T],
    ) -> Vec<(&'c str, f32)> {
        let u = self.users.row(user_id);
        let mut scratch = Scratch::new(self);
        let mut out: Vec<(&str, f32)> = candidates
            .iter()
            .map(|c| {
                let t = self.titles.row(c.as_ref());
                (c.as_ref(), self.score_rows(u, t, &mut scratch))
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    fn score_rows(&self, user: usize, title: usize, s: &mut Scratch) -> f32 {
        let d = self.dim;
        let first = &self.layers[0];
        // The first layer's bias + user half, summed once per run of pairs with the same user
        // (ranking scores many titles for one user); the title half is added in the same order
        // as an unsplit sum would, so the result does not depend on the caching.
        if s.user != Some(user) {
            for (p, &b) in s.user_part.iter_mut().zip(&first.bias) {
                *p = f64::from(b);
            }
            let user_vec = &self.user_table[user * d..][..d];
            axpy_rows(&mut s.user_part, user_vec, &first.kernel[..d * first.units]);
            s.user = Some(user);
        }
        let y = &mut s.a[..first.units];
        y.copy_from_slice(&s.user_part);
        let title_vec = &self.title_table[title * d..][..d];
        axpy_rows(y, title_vec, &first.kernel[d * first.units..]);
        finish(y, first.relu);
        for layer in &self.layers[1..] {
            let (x, y) = (&s.a[..layer.input], &mut s.b[..layer.units]);
            for (yj, &b) in y.iter_mut().zip(&layer.bias) {
                *yj = f64::from(b);
            }
            axpy_rows(y, x, &layer.kernel);
            finish(y, layer.relu);
            core::mem::swap(&mut s.a, &mut s.b);
        }
        s.a[0] as f32
    }
}

/// `y += Σ_i x[i] · kernel[i, :]` in `f64`, rows in order; `kernel` is `[x.len(), y.len()]`.
fn axpy_rows<X: Copy + Into<f64>>(y: &mut [f64], x: &[X], kernel: &[f32]) {
    for (&xi, row) in x.iter().zip(kernel.chunks_exact(y.len())) {
        let xi: f64 = xi.into();
        // After a ReLU most inputs are 0; skipping them changes no bit of the sum.
        if xi != 0.0 {
            for (yj, &w) in y.iter_mut().zip(row) {
                *yj += xi * f64::from(w);
            }
        }
    }
}

/// Rounds a layer's output to `f32` (as recsys's tensors are), then applies the ReLU.
fn finish(y: &mut [f64], relu: bool) {
    for v in y.iter_mut() {
        let r = *v as f32;
        *v = f64::from(if relu { r.max(0.0) } else { r });
    }
}

/// Two activation buffers as wide as the widest layer, reused for every pair, and the first
/// layer's user half for the last user seen. Sums are taken in `f64` (each layer's output
/// rounded to `f32`), so the result is the correctly rounded one whatever order another
/// implementation sums in.
struct Scratch {
    a: Vec<f64>,
    b: Vec<f64>,
    user_part: Vec<f64>,
    user: Option<usize>,
}

impl Scratch {
    fn new(m: &Model) -> Self {
        let widest = m
            .layers
            .iter()
            .map(|l| l.units)
            .chain([2 * m.dim])
            .max()
            .unwrap_or(1);
        Scratch {
            a: vec![0.0; widest],
            b: vec![0.0; widest],
            user_part: vec![0.0; m.layers[0].units],
            user: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    /// A safetensors file from `(name, shape, values)`, written by hand.
    pub(crate) fn safetensors(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        let mut header = String::from("{");
        let mut data = Vec::new();
        for (i, (name, shape, values)) in tensors.iter().enumerate() {
            let start = data.len();
            data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
            if i > 0 {
                header.push(',');
            }
            header += &format!(
                "\"{name}\":{{\"dtype\":\"F32\",\"shape\":{shape:?},\"data_offsets\":[{start},{}]}}",
                data.len()
            );
        }
        header.push('}');
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    fn tiny() -> (Vec<u8>, Vec<u8>) {
        // dim 1; one hidden unit: h = relu(u + t), out = 2h + 0.5.
        let w = safetensors(&[
            ("user_embedding", vec![2, 1], vec![-9.0, 1.0]),
            ("movie_embedding", vec![3, 1], vec![0.0, 2.0, 3.0]),
            ("dense_1.kernel", vec![2, 1], vec![1.0, 1.0]),
            ("dense_1.bias", vec![1], vec![0.0]),
            ("dense_2.kernel", vec![1, 1], vec![2.0]),
            ("dense_2.bias", vec![1], vec![0.5]),
        ]);
        let v = br#"{"user_id": ["7"], "movie_title": ["A", "B"]}"#.to_vec();
        (w, v)
    }

    fn has_autotraits<T: Send + Sync + Unpin>() {}

    #[test]
    fn public_types_are_send_sync_unpin() {
        has_autotraits::<Model>();
        has_autotraits::<Error>();
    }

    #[test]
    fn scores_by_hand_and_unseen_strings_use_row_zero() {
        let (w, v) = tiny();
        let m = Model::from_artifact(&w, &v).unwrap();
        let got = m.predict(&["7", "7", "x"], &["A", "B", "B"]).unwrap();
        // (1+2)*2+.5, (1+3)*2+.5, relu(-9+3)=0 → .5
        assert_eq!(got, vec![6.5, 8.5, 0.5]);
        assert_eq!(m.rank("7", &["A", "B"]), vec![("B", 8.5), ("A", 6.5)]);
        assert_eq!(
            m.predict(&["7"], &["A", "B"]).unwrap_err(),
            Error::LengthMismatch {
                users: 1,
                titles: 2
            }
        );
    }

    #[test]
    fn bad_files_are_errors_naming_the_file_and_the_tensor() {
        let (w, v) = tiny();
        let err = |w: &[u8], v: &[u8]| Model::from_artifact(w, v).unwrap_err().to_string();
        let e = err(&w[..w.len() - 4], &v);
        assert!(
            e.starts_with("weights.safetensors: tensor `dense_2.bias`"),
            "{e}"
        );
        assert!(err(&w[..5], &v).contains("8-byte header"));
        let e = err(&w, br#"{"user_id": ["7"]}"#);
        assert!(e.starts_with("vocabulary.json: `movie_title`"), "{e}");
        let e = err(&w, br#"{"user_id": ["7"], "movie_title": ["B", "A"]}"#);
        assert!(e.contains("not sorted"), "{e}");
        let e = err(&w, br#"{"user_id": ["7", "8"], "movie_title": ["A", "B"]}"#);
        assert!(e.contains("`user_embedding` has shape [2, 1]"), "{e}");
        let no_head = safetensors(&[
            ("user_embedding", vec![2, 1], vec![0.0, 1.0]),
            ("movie_embedding", vec![3, 1], vec![0.0; 3]),
            ("dense_1.kernel", vec![2, 3], vec![0.0; 6]),
            ("dense_1.bias", vec![3], vec![0.0; 3]),
        ]);
        assert!(err(&no_head, &v).contains("must end in one unit"));
        let nan = safetensors(&[("user_embedding", vec![2, 1], vec![f32::NAN, 1.0])]);
        assert!(err(&nan, &v).contains("non-finite"));
    }
}
