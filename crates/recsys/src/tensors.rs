//! Named `f32` tensors in safetensors: written streamed (no tensor copied whole), read back
//! checked by name, dtype, shape and finiteness. Every kind's weights go through here.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, View};

use crate::{Error, Result};

/// One tensor of a model, borrowed: its name, its shape and its values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor<'a> {
    /// The name it is stored under.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, `shape.iter().product()` of them.
    pub values: &'a [f32],
}

impl<'a> Tensor<'a> {
    /// A tensor named `name` of `shape` over `values`.
    pub fn new(name: impl Into<String>, shape: Vec<usize>, values: &'a [f32]) -> Self {
        Tensor {
            name: name.into(),
            shape,
            values,
        }
    }
}

/// The names and shapes of `tensors`, as [`read_checked`] expects them.
pub fn shapes(tensors: &[Tensor<'_>]) -> Vec<(String, Vec<usize>)> {
    tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect()
}

/// Named `F32` tensors as a safetensors file's bytes.
pub fn serialize(tensors: &[Tensor<'_>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_tensors(tensors, &mut bytes).expect("writing to memory cannot fail");
    bytes
}

/// Writes named `F32` tensors as a safetensors file to `out`, streaming.
pub fn write_tensors(tensors: &[Tensor<'_>], out: &mut dyn Write) -> io::Result<()> {
    let mut tensors: Vec<&Tensor<'_>> = tensors.iter().collect();
    // safetensors lays tensors out sorted by dtype (all F32 here), then by name.
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    // The header alone: `serialize` of views that report their length but lend no data.
    let shapes = tensors.iter().map(|t| {
        let view = ShapeOnly {
            shape: t.shape.clone(),
            bytes: t.values.len() * 4,
        };
        (t.name.clone(), view)
    });
    let header = safetensors::serialize(shapes, None).map_err(io::Error::other)?;
    out.write_all(&header)?;
    let mut buf = Vec::with_capacity(1 << 16);
    for t in &tensors {
        for chunk in t.values.chunks(1 << 14) {
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

/// The values of each `expected` tensor (name, shape) in safetensors `bytes` (read from `path`,
/// which errors name): every one present, `F32`, shaped as expected and finite.
pub fn read_checked(
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
