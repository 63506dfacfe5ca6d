//! TensorFlow Lite export: a `.tflite` flatbuffer (TFLite's `schema.fbs`, file identifier
//! `TFL3`), built table by table with the `flatbuffers` crate.
//!
//! It uses built-in operators only, the same ones TensorFlow's converter emits for the TFRS
//! tutorial's model: subgraph 1 fills two string → int64 hash tables once (`HASHTABLE`,
//! `HASHTABLE_IMPORT`, run by `CALL_ONCE`); subgraph 0 looks the raw strings up
//! (`HASHTABLE_FIND`, default row 0 for unseen strings), then `GATHER`, `CONCATENATION` and
//! `FULLY_CONNECTED` (ReLU fused). `f16` and `int8` weights go through `DEQUANTIZE`, which
//! LiteRT runs once for constant inputs. A `serving_default` signature names the inputs
//! `user_id` and `movie_title` (or `user_row` and `movie_row`) and the output `rating`.

use flatbuffers::{FlatBufferBuilder, Push, PushAlignment, WIPOffset};
use recsys::data::Vocabulary;
use recsys::kinds::ranking::RankingModel;

use crate::weights::{Precision, Tensor, Values, Weights};
use crate::{Inputs, names};

/// `BuiltinOperator` codes.
mod op {
    pub const CONCATENATION: i32 = 2;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const GATHER: i32 = 36;
    pub const CALL_ONCE: i32 = 129;
    pub const HASHTABLE: i32 = 136;
    pub const HASHTABLE_FIND: i32 = 137;
    pub const HASHTABLE_IMPORT: i32 = 138;
}

/// `TensorType` codes.
mod ty {
    pub const FLOAT32: i8 = 0;
    pub const FLOAT16: i8 = 1;
    pub const INT64: i8 = 4;
    pub const STRING: i8 = 5;
    pub const INT8: i8 = 9;
    pub const RESOURCE: i8 = 13;
}

/// A field's vtable offset from its index in `schema.fbs`.
const fn slot(i: u16) -> u16 {
    4 + 2 * i
}

/// `BuiltinOptions` union members, with their union type codes.
#[derive(Debug, Clone, Copy)]
enum Options {
    FullyConnected { relu: bool },
    Concatenation { axis: i32 },
    Gather { axis: i32 },
    Dequantize,
    CallOnce { init_subgraph: i32 },
    Hashtable { table_id: i32 },
    HashtableFind,
    HashtableImport,
}

impl Options {
    fn union_type(self) -> u8 {
        match self {
            Options::FullyConnected { .. } => 8,
            Options::Concatenation { .. } => 10,
            Options::Gather { .. } => 23,
            Options::Dequantize => 38,
            Options::CallOnce { .. } => 103,
            Options::Hashtable { .. } => 107,
            Options::HashtableFind => 108,
            Options::HashtableImport => 109,
        }
    }
}

#[derive(Debug, Clone)]
struct TensorDef {
    name: String,
    ty: i8,
    /// With 1 for the batch dimension; `signature` has -1 there.
    shape: Vec<i32>,
    signature: Option<Vec<i32>>,
    buffer: u32,
    /// Per-channel scales and the channel axis (symmetric: zero points are 0).
    quantization: Option<(Vec<f32>, i32)>,
}

#[derive(Debug, Clone)]
struct OpDef {
    code: i32,
    version: i32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: Options,
}

#[derive(Debug, Default)]
struct Subgraph {
    name: &'static str,
    tensors: Vec<TensorDef>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    ops: Vec<OpDef>,
}

/// The file's contents before serialisation.
#[derive(Debug)]
struct ModelDef {
    /// Buffer 0 is the empty buffer every non-constant tensor points at.
    buffers: Vec<Vec<u8>>,
    subgraphs: Vec<Subgraph>,
}

impl ModelDef {
    fn buffer(&mut self, bytes: Vec<u8>) -> u32 {
        self.buffers.push(bytes);
        (self.buffers.len() - 1) as u32
    }
}

impl Subgraph {
    fn tensor(&mut self, name: &str, ty: i8, shape: &[i32], buffer: u32) -> i32 {
        self.tensors.push(TensorDef {
            name: name.into(),
            ty,
            shape: shape.to_vec(),
            signature: None,
            buffer,
            quantization: None,
        });
        (self.tensors.len() - 1) as i32
    }

    /// A tensor whose first dimension is the batch: shape `[1, rest…]`, signature `[-1, rest…]`.
    fn batched(&mut self, name: &str, ty: i8, rest: &[i32]) -> i32 {
        let i = self.tensor(name, ty, &[&[1], rest].concat(), 0);
        self.tensors[i as usize].signature = Some([&[-1], rest].concat());
        i
    }

    fn op(&mut self, code: i32, inputs: &[i32], outputs: &[i32], options: Options) {
        self.ops.push(OpDef {
            code,
            version: 1,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            options,
        });
    }
}

/// The `.tflite` file's bytes.
pub(crate) fn write(model: &RankingModel, inputs: Inputs, precision: Precision) -> Vec<u8> {
    let weights = Weights::new(model, precision);
    let mut m = ModelDef {
        buffers: vec![Vec::new()],
        subgraphs: Vec::new(),
    };
    let mut g = Subgraph {
        name: "main",
        ..Subgraph::default()
    };
    let (user_rows, title_rows) = match inputs {
        Inputs::Strings => {
            let user = g.batched(names::USER_ID, ty::STRING, &[]);
            let title = g.batched(names::MOVIE_TITLE, ty::STRING, &[]);
            g.inputs = vec![user, title];
            let init = init_subgraph(&mut m, model);
            g.op(
                op::CALL_ONCE,
                &[],
                &[],
                Options::CallOnce {
                    init_subgraph: init,
                },
            );
            let default_row = m.buffer(0i64.to_le_bytes().to_vec());
            let default_row = g.tensor("default_row", ty::INT64, &[], default_row);
            let find = |g: &mut Subgraph, id: i32, input: i32, out: &str| {
                let handle = g.tensor(&format!("{out}.table"), ty::RESOURCE, &[1], 0);
                g.op(
                    op::HASHTABLE,
                    &[],
                    &[handle],
                    Options::Hashtable { table_id: id },
                );
                let rows = g.batched(out, ty::INT64, &[]);
                g.op(
                    op::HASHTABLE_FIND,
                    &[handle, input, default_row],
                    &[rows],
                    Options::HashtableFind,
                );
                rows
            };
            let u = find(&mut g, 0, user, "user_id.row");
            let t = find(&mut g, 1, title, "movie_title.row");
            (u, t)
        }
        Inputs::Ids => {
            let user = g.batched(names::USER_ROW, ty::INT64, &[]);
            let title = g.batched(names::MOVIE_ROW, ty::INT64, &[]);
            g.inputs = vec![user, title];
            (user, title)
        }
    };
    let d = model.config.embedding_dim as i32;
    let user_table = weight(&mut m, &mut g, &weights.user_embedding, None);
    let title_table = weight(&mut m, &mut g, &weights.movie_embedding, None);
    let user_vec = g.batched("user_vector", ty::FLOAT32, &[d]);
    let title_vec = g.batched("movie_vector", ty::FLOAT32, &[d]);
    let gather = Options::Gather { axis: 0 };
    g.op(op::GATHER, &[user_table, user_rows], &[user_vec], gather);
    g.op(op::GATHER, &[title_table, title_rows], &[title_vec], gather);
    let mut x = g.batched("dense_0.output", ty::FLOAT32, &[2 * d]);
    g.op(
        op::CONCATENATION,
        &[user_vec, title_vec],
        &[x],
        Options::Concatenation { axis: 1 },
    );
    for (i, (kernel, bias, relu)) in weights.dense.iter().enumerate() {
        // TFLite's FULLY_CONNECTED takes its weights as [out, in].
        let k = weight(&mut m, &mut g, &kernel.transposed(), Some(0));
        let b = weight(&mut m, &mut g, bias, None);
        let units = kernel.shape[1] as i32;
        let name = if *relu {
            format!("dense_{}.output", i + 1)
        } else {
            names::RATING.to_owned()
        };
        let out = g.batched(&name, ty::FLOAT32, &[units]);
        let options = Options::FullyConnected { relu: *relu };
        g.op(op::FULLY_CONNECTED, &[x, k, b], &[out], options);
        x = out;
    }
    g.outputs = vec![x];
    m.subgraphs.insert(0, g);
    serialize(&m)
}

/// Adds a weight and returns the index of its `f32` tensor (after `DEQUANTIZE` where stored
/// narrower). `channel_axis` overrides the axis int8 scales run along (default: the last).
fn weight(m: &mut ModelDef, g: &mut Subgraph, t: &Tensor, channel_axis: Option<i32>) -> i32 {
    let shape: Vec<i32> = t.shape.iter().map(|&s| s as i32).collect();
    let buffer = m.buffer(t.le_bytes());
    match &t.values {
        Values::F32(_) => g.tensor(&t.name, ty::FLOAT32, &shape, buffer),
        Values::F16(_) | Values::Int8 { .. } => {
            let (stored_ty, version, suffix) = match &t.values {
                Values::F16(_) => (ty::FLOAT16, 3, "f16"),
                _ => (ty::INT8, 5, "int8"),
            };
            let stored = g.tensor(&format!("{}.{suffix}", t.name), stored_ty, &shape, buffer);
            if let Values::Int8 { scales, .. } = &t.values {
                let axis = channel_axis.unwrap_or(shape.len() as i32 - 1);
                g.tensors[stored as usize].quantization = Some((scales.clone(), axis));
            }
            let widened = g.tensor(&t.name, ty::FLOAT32, &shape, 0);
            g.op(op::DEQUANTIZE, &[stored], &[widened], Options::Dequantize);
            g.ops.last_mut().expect("just pushed").version = version;
            widened
        }
    }
}

/// Subgraph 1: fills hash table 0 with the user vocabulary and table 1 with the titles
/// (`vocabulary[i] → i + 1`). Returns its index.
fn init_subgraph(m: &mut ModelDef, model: &RankingModel) -> i32 {
    let mut g = Subgraph {
        name: "init_vocabularies",
        ..Subgraph::default()
    };
    for (id, (name, vocab)) in [
        (names::USER_ID, &model.user_vocabulary),
        (names::MOVIE_TITLE, &model.title_vocabulary),
    ]
    .into_iter()
    .enumerate()
    {
        let n = vocab.values().len() as i32;
        let handle = g.tensor(&format!("{name}.table"), ty::RESOURCE, &[1], 0);
        let keys = m.buffer(string_tensor(vocab));
        let keys = g.tensor(&format!("{name}.keys"), ty::STRING, &[n], keys);
        let rows: Vec<u8> = (1..=n as i64).flat_map(|r| r.to_le_bytes()).collect();
        let rows = m.buffer(rows);
        let rows = g.tensor(&format!("{name}.rows"), ty::INT64, &[n], rows);
        g.op(
            op::HASHTABLE,
            &[],
            &[handle],
            Options::Hashtable {
                table_id: id as i32,
            },
        );
        g.op(
            op::HASHTABLE_IMPORT,
            &[handle, keys, rows],
            &[],
            Options::HashtableImport,
        );
    }
    m.subgraphs.push(g);
    // Subgraph 0 (main) is inserted in front once built.
    m.subgraphs.len() as i32
}

/// TFLite's string tensor layout: count, `count + 1` offsets from the buffer's start, bytes.
fn string_tensor(vocab: &Vocabulary) -> Vec<u8> {
    let values = vocab.values();
    let header = 4 * (values.len() + 2);
    let mut out = Vec::with_capacity(header + values.iter().map(str::len).sum::<usize>());
    out.extend((values.len() as i32).to_le_bytes());
    let mut offset = header;
    for v in values {
        out.extend((offset as i32).to_le_bytes());
        offset += v.len();
    }
    out.extend((offset as i32).to_le_bytes());
    for v in values {
        out.extend(v.as_bytes());
    }
    out
}

/// A byte vector element that asks the builder for 16-byte alignment, as `schema.fbs` declares
/// for `Buffer.data` (`force_align: 16`), so tensors can be read in place.
struct Aligned16;

impl Push for Aligned16 {
    type Output = u8;
    unsafe fn push(&self, _dst: &mut [u8], _written_len: usize) {}
    fn size() -> usize {
        1
    }
    fn alignment() -> PushAlignment {
        PushAlignment::new(16)
    }
}

fn serialize(m: &ModelDef) -> Vec<u8> {
    let total: usize = m.buffers.iter().map(|b| b.len() + 32).sum();
    let mut fb = FlatBufferBuilder::with_capacity(total + 64 * 1024);

    // Buffers first: the large data sits at the end of the file.
    let buffers: Vec<_> = m
        .buffers
        .iter()
        .map(|bytes| {
            let data = (!bytes.is_empty()).then(|| {
                fb.start_vector::<Aligned16>(bytes.len());
                for &b in bytes.iter().rev() {
                    fb.push(b);
                }
                fb.end_vector::<u8>(bytes.len())
            });
            let t = fb.start_table();
            if let Some(data) = data {
                fb.push_slot_always(slot(0), data);
            }
            fb.end_table(t)
        })
        .collect();

    let mut codes: Vec<(i32, i32)> = Vec::new();
    let subgraphs: Vec<_> = m
        .subgraphs
        .iter()
        .map(|g| {
            let tensors: Vec<_> = g.tensors.iter().map(|t| tensor(&mut fb, t)).collect();
            let operators: Vec<_> = g
                .ops
                .iter()
                .map(|o| {
                    let index = match codes.iter().position(|&c| c == (o.code, o.version)) {
                        Some(i) => i,
                        None => {
                            codes.push((o.code, o.version));
                            codes.len() - 1
                        }
                    };
                    operator(&mut fb, o, index as u32)
                })
                .collect();
            let tensors = fb.create_vector(&tensors);
            let inputs = fb.create_vector(&g.inputs);
            let outputs = fb.create_vector(&g.outputs);
            let operators = fb.create_vector(&operators);
            let name = fb.create_string(g.name);
            let t = fb.start_table();
            fb.push_slot_always(slot(0), tensors);
            fb.push_slot_always(slot(1), inputs);
            fb.push_slot_always(slot(2), outputs);
            fb.push_slot_always(slot(3), operators);
            fb.push_slot_always(slot(4), name);
            fb.end_table(t)
        })
        .collect();

    let codes: Vec<_> = codes
        .iter()
        .map(|&(code, version)| {
            let t = fb.start_table();
            // Codes past 127 keep 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) in the old i8 field.
            fb.push_slot_always::<i8>(slot(0), code.min(127) as i8);
            fb.push_slot::<i32>(slot(2), version, 1);
            fb.push_slot_always::<i32>(slot(3), code);
            fb.end_table(t)
        })
        .collect();

    let main = &m.subgraphs[0];
    let sig_inputs = tensor_maps(&mut fb, main, &main.inputs);
    let sig_outputs = tensor_maps(&mut fb, main, &main.outputs);
    let key = fb.create_string("serving_default");
    let t = fb.start_table();
    fb.push_slot_always(slot(0), sig_inputs);
    fb.push_slot_always(slot(1), sig_outputs);
    fb.push_slot_always(slot(2), key);
    fb.push_slot::<u32>(slot(4), 0, 0);
    let signature = fb.end_table(t);

    let codes = fb.create_vector(&codes);
    let subgraphs = fb.create_vector(&subgraphs);
    let description = fb.create_string("recsys-export: recsys ranking model");
    let buffers = fb.create_vector(&buffers);
    let signatures = fb.create_vector(&[signature]);
    let t = fb.start_table();
    fb.push_slot_always::<u32>(slot(0), 3);
    fb.push_slot_always(slot(1), codes);
    fb.push_slot_always(slot(2), subgraphs);
    fb.push_slot_always(slot(3), description);
    fb.push_slot_always(slot(4), buffers);
    fb.push_slot_always(slot(7), signatures);
    let root = fb.end_table(t);
    fb.finish(root, Some("TFL3"));
    fb.finished_data().to_vec()
}

/// `TensorMap`s naming a signature's tensors.
fn tensor_maps<'fbb>(
    fb: &mut FlatBufferBuilder<'fbb>,
    g: &Subgraph,
    indices: &[i32],
) -> WIPOffset<
    flatbuffers::Vector<'fbb, flatbuffers::ForwardsUOffset<flatbuffers::TableFinishedWIPOffset>>,
> {
    let maps: Vec<_> = indices
        .iter()
        .map(|&i| {
            let name = fb.create_string(&g.tensors[i as usize].name);
            let t = fb.start_table();
            fb.push_slot_always(slot(0), name);
            fb.push_slot::<u32>(slot(1), i as u32, 0);
            fb.end_table(t)
        })
        .collect();
    fb.create_vector(&maps)
}

fn tensor(
    fb: &mut FlatBufferBuilder,
    t: &TensorDef,
) -> WIPOffset<flatbuffers::TableFinishedWIPOffset> {
    let shape = fb.create_vector(&t.shape);
    let signature = t.signature.as_ref().map(|s| fb.create_vector(s));
    let name = fb.create_string(&t.name);
    let quantization = t.quantization.as_ref().map(|(scales, axis)| {
        let scale = fb.create_vector(scales);
        let zero = fb.create_vector(&vec![0i64; scales.len()]);
        let q = fb.start_table();
        fb.push_slot_always(slot(2), scale);
        fb.push_slot_always(slot(3), zero);
        fb.push_slot::<i32>(slot(6), *axis, 0);
        fb.end_table(q)
    });
    let o = fb.start_table();
    fb.push_slot_always(slot(0), shape);
    fb.push_slot::<i8>(slot(1), t.ty, 0);
    fb.push_slot::<u32>(slot(2), t.buffer, 0);
    fb.push_slot_always(slot(3), name);
    if let Some(q) = quantization {
        fb.push_slot_always(slot(4), q);
    }
    if let Some(s) = signature {
        fb.push_slot_always(slot(7), s);
    }
    fb.end_table(o)
}

fn operator(
    fb: &mut FlatBufferBuilder,
    o: &OpDef,
    opcode_index: u32,
) -> WIPOffset<flatbuffers::TableFinishedWIPOffset> {
    let inputs = fb.create_vector(&o.inputs);
    let outputs = fb.create_vector(&o.outputs);
    let options = {
        let t = fb.start_table();
        match o.options {
            Options::FullyConnected { relu } => {
                // fused_activation_function: NONE = 0, RELU = 1.
                fb.push_slot::<i8>(slot(0), i8::from(relu), 0);
            }
            Options::Concatenation { axis } => fb.push_slot::<i32>(slot(0), axis, 0),
            Options::Gather { axis } => fb.push_slot::<i32>(slot(0), axis, 0),
            Options::CallOnce { init_subgraph } => {
                fb.push_slot_always::<i32>(slot(0), init_subgraph)
            }
            Options::Hashtable { table_id } => {
                fb.push_slot_always::<i32>(slot(0), table_id);
                fb.push_slot_always::<i8>(slot(1), ty::STRING);
                fb.push_slot_always::<i8>(slot(2), ty::INT64);
            }
            Options::Dequantize | Options::HashtableFind | Options::HashtableImport => {}
        }
        fb.end_table(t)
    };
    let t = fb.start_table();
    fb.push_slot::<u32>(slot(0), opcode_index, 0);
    fb.push_slot_always(slot(1), inputs);
    fb.push_slot_always(slot(2), outputs);
    fb.push_slot_always::<u8>(slot(3), o.options.union_type());
    fb.push_slot_always(slot(4), options);
    fb.end_table(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::tiny_model;

    #[test]
    fn string_tensor_layout_is_count_offsets_bytes() {
        let v = Vocabulary::from_values(["ab", "c"]);
        let b = string_tensor(&v);
        let ints: Vec<i32> = b[..16]
            .chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(ints, vec![2, 16, 18, 19]);
        assert_eq!(&b[16..], b"abc");
    }

    #[test]
    fn file_has_the_identifier_and_aligned_buffers() {
        let bytes = write(&tiny_model(), Inputs::Strings, Precision::F32);
        assert_eq!(&bytes[4..8], b"TFL3");
        // Every weight's f32 bytes appear 16-byte aligned.
        let m = tiny_model();
        let kernel: Vec<u8> = m.dense[2]
            .kernel
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let at = bytes
            .windows(kernel.len())
            .position(|w| w == kernel)
            .expect("last kernel stored as is ([4, 1] transposes to itself)");
        assert_eq!(at % 16, 0);
    }
}
