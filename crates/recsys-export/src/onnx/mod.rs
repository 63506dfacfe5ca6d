//! ONNX export (opset 13, plus `ai.onnx.ml` 2 for `CategoryMapper`).
//!
//! The graph, for string inputs:
//!
//! ```text
//! user_id [N] string ──CategoryMapper──▶ [N] int64 ──Gather(user_embedding)──┐
//!                                                                           Concat ─▶ [N, 2·dim]
//! movie_title [N] string ─CategoryMapper─▶ [N] int64 ─Gather(movie_embedding)┘
//!   ─▶ Gemm ─▶ Relu ─▶ … ─▶ Gemm ─▶ rating [N, 1]
//! ```
//!
//! `CategoryMapper` maps `vocabulary[i]` to row `i + 1` and anything else to row 0, the
//! out-of-vocabulary row, as the model's own lookup does. With [`Inputs::Ids`](crate::Inputs)
//! the mappers are left out and the inputs `user_row` and `movie_row` take the rows directly.
//! `f16` weights are widened with `Cast`; `int8` weights with `Cast` then `Mul` by per-channel
//! scales. Both runtimes fold these constant subgraphs once when they load the file.

mod proto;

use std::path::Path;

use prost::Message;
use recsys::data::Vocabulary;
use recsys::kinds::mf::BiasedMf;
use recsys::kinds::ranking::{RankingModel, RankingModelConfig};

use crate::weights::{Precision, Tensor, Values, Weights};
use crate::{Error, Inputs, Result, names};
use proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor,
    ValueInfoProto, attribute_type, data_type,
};

const OPSET: i64 = 13;
const ML_OPSET: i64 = 2;
/// IR version 7 is the one that goes with opset 13.
const IR_VERSION: i64 = 7;
const ML_DOMAIN: &str = "ai.onnx.ml";

/// The ONNX file's bytes.
pub(crate) fn write(model: &RankingModel, inputs: Inputs, precision: Precision) -> Vec<u8> {
    let weights = Weights::new(model, precision);
    let mut g = Graph::default();
    let (user_rows, title_rows) = g.rows(inputs, &model.user_vocabulary, &model.title_vocabulary);
    let user_table = g.weight(&weights.user_embedding);
    let title_table = g.weight(&weights.movie_embedding);
    g.node("Gather", &[&user_table, &user_rows], "user_vector", vec![]);
    g.node(
        "Gather",
        &[&title_table, &title_rows],
        "movie_vector",
        vec![],
    );
    g.node(
        "Concat",
        &["user_vector", "movie_vector"],
        "dense_0.output",
        vec![int("axis", 1)],
    );
    let mut x = "dense_0.output".to_owned();
    for (i, (kernel, bias, relu)) in weights.dense.iter().enumerate() {
        let (k, b) = (g.weight(kernel), g.weight(bias));
        let out = if *relu {
            format!("dense_{}.output", i + 1)
        } else {
            names::RATING.to_owned()
        };
        if *relu {
            let pre = format!("dense_{}.linear", i + 1);
            g.node("Gemm", &[&x, &k, &b], &pre, vec![]);
            g.node("Relu", &[&pre], &out, vec![]);
        } else {
            g.node("Gemm", &[&x, &k, &b], &out, vec![]);
        }
        x = out;
    }
    let doc = "recsys ranking model (TFRS ranking tutorial architecture)";
    g.finish("recsys_ranking", doc, inputs, precision)
}

/// The ONNX file's bytes for a biased matrix factorization, weights as `f32`:
///
/// ```text
/// rows ─Gather(user_factors)─┐
///                            Mul ─▶ ReduceSum(axis 1) ─▶ + Gather(user_bias) + Gather(item_bias)
/// rows ─Gather(item_factors)─┘        + global_bias ─▶ Clip(lowest, highest) ─▶ rating [N, 1]
/// ```
pub(crate) fn write_mf(model: &BiasedMf, inputs: Inputs) -> Vec<u8> {
    let mut g = Graph::default();
    let (user_rows, title_rows) = g.rows(inputs, &model.user_vocabulary, &model.title_vocabulary);
    let tables = [
        ("user_factors", &model.user_factors, &user_rows),
        ("item_factors", &model.item_factors, &title_rows),
        ("user_bias", &model.user_bias, &user_rows),
        ("item_bias", &model.item_bias, &title_rows),
    ];
    for (name, table, rows) in tables {
        g.f32_constant(name, &[table.rows, table.dim], &table.table);
        g.node("Gather", &[name, rows], &format!("{name}.row"), vec![]);
    }
    g.node(
        "Mul",
        &["user_factors.row", "item_factors.row"],
        "products",
        vec![],
    );
    g.int64_constant("sum_axes", &[1], &[1]);
    g.node(
        "ReduceSum",
        &["products", "sum_axes"],
        "dot",
        vec![int("keepdims", 1)],
    );
    g.node("Add", &["dot", "user_bias.row"], "plus_user_bias", vec![]);
    g.node(
        "Add",
        &["plus_user_bias", "item_bias.row"],
        "plus_biases",
        vec![],
    );
    g.f32_constant("global_bias", &[1], &[model.global_bias]);
    match model.config.clip {
        Some([lo, hi]) => {
            g.node("Add", &["plus_biases", "global_bias"], "unclipped", vec![]);
            g.f32_constant("lowest", &[], &[lo]);
            g.f32_constant("highest", &[], &[hi]);
            g.node(
                "Clip",
                &["unclipped", "lowest", "highest"],
                names::RATING,
                vec![],
            );
        }
        None => g.node(
            "Add",
            &["plus_biases", "global_bias"],
            names::RATING,
            vec![],
        ),
    }
    let doc = "recsys biased matrix factorization: global + user bias + item bias + dot product";
    g.finish("recsys_biased_mf", doc, inputs, Precision::F32)
}

#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    /// The graph's inputs, mapped to table rows (through `CategoryMapper`s for strings);
    /// returns the names of the user and title rows.
    fn rows(
        &mut self,
        inputs: Inputs,
        users: &Vocabulary,
        titles: &Vocabulary,
    ) -> (String, String) {
        match inputs {
            Inputs::Strings => (
                self.category_mapper(names::USER_ID, users),
                self.category_mapper(names::MOVIE_TITLE, titles),
            ),
            Inputs::Ids => (names::USER_ROW.to_owned(), names::MOVIE_ROW.to_owned()),
        }
    }

    /// The whole file around these nodes: inputs, the `rating [N, 1]` output, opsets, metadata.
    fn finish(self, name: &str, doc: &str, inputs: Inputs, precision: Precision) -> Vec<u8> {
        let (user_in, title_in, in_type) = match inputs {
            Inputs::Strings => (names::USER_ID, names::MOVIE_TITLE, data_type::STRING),
            Inputs::Ids => (names::USER_ROW, names::MOVIE_ROW, data_type::INT64),
        };
        let n = || Dimension {
            dim_value: None,
            dim_param: Some("N".into()),
        };
        let fixed = |v: i64| Dimension {
            dim_value: Some(v),
            dim_param: None,
        };
        let (user_doc, title_doc) = match inputs {
            Inputs::Strings => (
                "raw user ids; unseen ids use the out-of-vocabulary row",
                "raw movie titles; unseen titles use the out-of-vocabulary row",
            ),
            Inputs::Ids => (
                "user table rows: vocabulary index + 1, 0 = out of vocabulary",
                "movie table rows: vocabulary index + 1, 0 = out of vocabulary",
            ),
        };
        let graph = GraphProto {
            node: self.nodes,
            name: Some(name.into()),
            initializer: self.initializers,
            input: vec![
                value_info(user_in, in_type, vec![n()], user_doc),
                value_info(title_in, in_type, vec![n()], title_doc),
            ],
            output: vec![value_info(
                names::RATING,
                data_type::FLOAT,
                vec![n(), fixed(1)],
                "predicted rating",
            )],
        };
        let mut opset_import = vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }];
        if inputs == Inputs::Strings {
            opset_import.push(OperatorSetIdProto {
                domain: Some(ML_DOMAIN.into()),
                version: Some(ML_OPSET),
            });
        }
        let meta = |k: &str, v: String| StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v),
        };
        ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import,
            producer_name: Some("recsys-export".into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            doc_string: Some(doc.into()),
            graph: Some(graph),
            metadata_props: vec![
                meta("recsys.inputs", inputs.as_str().into()),
                meta("recsys.precision", precision.as_str().into()),
            ],
        }
        .encode_to_vec()
    }

    /// An `f32` initializer.
    fn f32_constant(&mut self, name: &str, shape: &[usize], values: &[f32]) {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(name, data_type::FLOAT, shape, raw);
    }

    /// An `int64` initializer.
    fn int64_constant(&mut self, name: &str, shape: &[usize], values: &[i64]) {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(name, data_type::INT64, shape, raw);
    }

    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) {
        self.node_in(op, "", inputs, output, attribute)
    }

    fn node_in(
        &mut self,
        op: &str,
        domain: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![output.to_owned()],
            name: Some(format!("{op}:{output}")),
            op_type: Some(op.into()),
            attribute,
            domain: Some(domain.into()),
        });
    }

    fn constant(&mut self, name: &str, dtype: i32, shape: &[usize], raw: Vec<u8>) {
        self.initializers.push(TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: Some(dtype),
            name: Some(name.into()),
            raw_data: Some(raw),
        });
    }

    /// Adds `t` and returns the name of its `f32` value (widened or dequantized in the graph).
    fn weight(&mut self, t: &Tensor) -> String {
        match &t.values {
            Values::F32(_) => {
                self.constant(&t.name, data_type::FLOAT, &t.shape, t.le_bytes());
            }
            Values::F16(_) => {
                let stored = format!("{}.f16", t.name);
                self.constant(&stored, data_type::FLOAT16, &t.shape, t.le_bytes());
                self.node("Cast", &[&stored], &t.name, vec![int("to", 1)]);
            }
            Values::Int8 { scales, .. } => {
                let stored = format!("{}.int8", t.name);
                let widened = format!("{}.int8_as_f32", t.name);
                let scale = format!("{}.scale", t.name);
                self.constant(&stored, data_type::INT8, &t.shape, t.le_bytes());
                let scale_bytes = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
                self.constant(&scale, data_type::FLOAT, &[1, scales.len()], scale_bytes);
                self.node("Cast", &[&stored], &widened, vec![int("to", 1)]);
                self.node("Mul", &[&widened, &scale], &t.name, vec![]);
            }
        }
        t.name.clone()
    }

    /// `vocabulary[i] → i + 1`, anything else → 0; returns the rows' name.
    fn category_mapper(&mut self, input: &str, vocabulary: &Vocabulary) -> String {
        let out = format!("{input}.row");
        let values = vocabulary.values();
        let strings = AttributeProto {
            name: Some("cats_strings".into()),
            r#type: Some(attribute_type::STRINGS),
            strings: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            ..Default::default()
        };
        let ints = AttributeProto {
            name: Some("cats_int64s".into()),
            r#type: Some(attribute_type::INTS),
            ints: (1..=values.len() as i64).collect(),
            ..Default::default()
        };
        let attrs = vec![strings, ints, int("default_int64", 0)];
        self.node_in("CategoryMapper", ML_DOMAIN, &[input], &out, attrs);
        out
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INT),
        i: Some(i),
        ..Default::default()
    }
}

fn value_info(name: &str, elem_type: i32, dim: Vec<Dimension>, doc: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(elem_type),
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: Some(doc.into()),
    }
}

/// Reads back a string-input ONNX file this module wrote: the vocabularies from its
/// `CategoryMapper`s, the weights from its initializers (widened or dequantized as the graph
/// does). `path` is named in errors.
pub(crate) fn read(bytes: &[u8], path: &Path) -> Result<RankingModel> {
    let bad = |reason: String| Error::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let model = ModelProto::decode(bytes).map_err(|e| bad(format!("not an ONNX file: {e}")))?;
    let graph = model.graph.ok_or_else(|| bad("no graph".into()))?;
    let vocabulary = |input: &str| -> Result<Vocabulary> {
        let node = graph
            .node
            .iter()
            .find(|n| {
                n.op_type.as_deref() == Some("CategoryMapper") && n.input.first().map(String::as_str) == Some(input)
            })
            .ok_or_else(|| {
                bad(format!(
                    "no CategoryMapper for `{input}` (an --inputs ids export keeps its vocabularies beside it)"
                ))
            })?;
        let attr = |name: &str| {
            node.attribute
                .iter()
                .find(|a| a.name.as_deref() == Some(name))
        };
        let strings = attr("cats_strings")
            .map(|a| &a.strings[..])
            .unwrap_or_default();
        let rows = attr("cats_int64s").map(|a| &a.ints[..]).unwrap_or_default();
        if !rows.iter().copied().eq(1..=strings.len() as i64) {
            return Err(bad(format!(
                "`{input}`: cats_int64s is not 1..={}",
                strings.len()
            )));
        }
        let values = strings
            .iter()
            .map(|s| String::from_utf8(s.clone()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| bad(format!("`{input}`: a category is not UTF-8")))?;
        Vocabulary::from_sorted(values).map_err(|e| bad(format!("`{input}`: {e}")))
    };
    let users = vocabulary(names::USER_ID)?;
    let titles = vocabulary(names::MOVIE_TITLE)?;
    let tensor = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
        let find = |n: &str| {
            graph
                .initializer
                .iter()
                .find(|t| t.name.as_deref() == Some(n))
        };
        let raw = |t: &TensorProto| t.raw_data.as_deref().unwrap_or_default().to_vec();
        let shape = |t: &TensorProto| t.dims.iter().map(|&d| d as usize).collect::<Vec<_>>();
        let (shape, values): (Vec<usize>, Vec<f32>) = if let Some(t) = find(name) {
            let v = raw(t)
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (shape(t), v)
        } else if let Some(t) = find(&format!("{name}.f16")) {
            let v = raw(t)
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect();
            (shape(t), v)
        } else if let (Some(t), Some(s)) = (
            find(&format!("{name}.int8")),
            find(&format!("{name}.scale")),
        ) {
            let scales: Vec<f32> = raw(s)
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if scales.is_empty() {
                return Err(bad(format!("`{name}.scale` is empty")));
            }
            let v = raw(t)
                .iter()
                .enumerate()
                .map(|(i, &q)| f32::from(q as i8) * scales[i % scales.len()])
                .collect();
            (shape(t), v)
        } else {
            return Err(bad(format!("no initializer for `{name}`")));
        };
        if shape.iter().product::<usize>() != values.len() {
            return Err(bad(format!(
                "`{name}`: {} values for shape {shape:?}",
                values.len()
            )));
        }
        Ok((shape, values))
    };
    let (user_shape, user_table) = tensor("user_embedding")?;
    let (_, movie_table) = tensor("movie_embedding")?;
    let mut hidden = Vec::new();
    let mut dense = Vec::new();
    while graph.initializer.iter().any(|t| {
        t.name
            .as_deref()
            .is_some_and(|n| n.starts_with(&format!("dense_{}.kernel", dense.len() + 1)))
    }) {
        let i = dense.len() + 1;
        let (shape, kernel) = tensor(&format!("dense_{i}.kernel"))?;
        let (_, bias) = tensor(&format!("dense_{i}.bias"))?;
        hidden.push(shape.get(1).copied().unwrap_or(0));
        dense.push((kernel, bias));
    }
    if hidden.pop() != Some(1) {
        return Err(bad("the dense layers do not end in one unit".into()));
    }
    let config = RankingModelConfig {
        embedding_dim: user_shape.get(1).copied().unwrap_or(0),
        hidden_layers: hidden,
    };
    let mut m = RankingModel::new(config, users, titles, 0)
        .map_err(|e| bad(format!("model shape: {e}")))?;
    let check = |name: &str, want: usize, got: &[f32]| -> Result<()> {
        if want == got.len() {
            Ok(())
        } else {
            Err(bad(format!(
                "`{name}` holds {} values, the model needs {want}",
                got.len()
            )))
        }
    };
    check("user_embedding", m.user_embedding.table.len(), &user_table)?;
    check(
        "movie_embedding",
        m.movie_embedding.table.len(),
        &movie_table,
    )?;
    m.user_embedding.table = user_table;
    m.movie_embedding.table = movie_table;
    for (i, (layer, (kernel, bias))) in m.dense.iter_mut().zip(dense).enumerate() {
        check(
            &format!("dense_{}.kernel", i + 1),
            layer.kernel.len(),
            &kernel,
        )?;
        check(&format!("dense_{}.bias", i + 1), layer.bias.len(), &bias)?;
        layer.kernel = kernel;
        layer.bias = bias;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::tiny_model;

    #[test]
    fn reading_back_gives_the_model_the_file_computes() {
        let m = tiny_model();
        for precision in [Precision::F32, Precision::F16, Precision::Int8] {
            let bytes = write(&m, Inputs::Strings, precision);
            let back = read(&bytes, Path::new("m.onnx")).unwrap();
            assert_eq!(
                back,
                crate::dequantized_model(&m, precision),
                "{precision:?}"
            );
        }
        let ids = write(&m, Inputs::Ids, Precision::F32);
        let err = read(&ids, Path::new("m.onnx")).unwrap_err().to_string();
        assert!(
            err.starts_with("m.onnx: ") && err.contains("CategoryMapper"),
            "{err}"
        );
        let err = read(b"garbage", Path::new("m.onnx"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an ONNX file"), "{err}");
    }

    fn decode(bytes: &[u8]) -> GraphProto {
        ModelProto::decode(bytes).unwrap().graph.unwrap()
    }

    fn op_types(g: &GraphProto) -> Vec<&str> {
        g.node.iter().filter_map(|n| n.op_type.as_deref()).collect()
    }

    #[test]
    fn string_graph_maps_vocabularies_to_rows_from_one() {
        let m = tiny_model();
        let g = decode(&write(&m, Inputs::Strings, Precision::F32));
        let mapper = &g.node[0];
        assert_eq!(mapper.op_type.as_deref(), Some("CategoryMapper"));
        assert_eq!(mapper.domain.as_deref(), Some(ML_DOMAIN));
        let attr = |n: &str| {
            mapper
                .attribute
                .iter()
                .find(|a| a.name.as_deref() == Some(n))
        };
        assert_eq!(attr("cats_int64s").unwrap().ints, vec![1, 2, 3]);
        assert_eq!(attr("cats_strings").unwrap().strings[2], b"42".to_vec());
        assert_eq!(attr("default_int64").unwrap().i, Some(0));
        assert_eq!(
            op_types(&g),
            [
                "CategoryMapper",
                "CategoryMapper",
                "Gather",
                "Gather",
                "Concat",
                "Gemm",
                "Relu",
                "Gemm",
                "Relu",
                "Gemm"
            ]
        );
        assert_eq!(g.output[0].name.as_deref(), Some(names::RATING));
        assert_eq!(g.initializer.len(), 8);
    }

    #[test]
    fn a_biased_mf_graph_is_gathers_a_dot_biases_and_a_clip() {
        use recsys::kinds::mf::{BiasedMf, BiasedMfConfig};
        let m = tiny_model();
        let config = BiasedMfConfig {
            factors: 3,
            clip: Some([1.0, 5.0]),
        };
        let mut mf = BiasedMf::zeros(
            config,
            m.user_vocabulary.clone(),
            m.title_vocabulary.clone(),
        )
        .unwrap();
        let g = decode(&write_mf(&mf, Inputs::Strings));
        assert_eq!(
            op_types(&g),
            [
                "CategoryMapper",
                "CategoryMapper",
                "Gather",
                "Gather",
                "Gather",
                "Gather",
                "Mul",
                "ReduceSum",
                "Add",
                "Add",
                "Add",
                "Clip"
            ]
        );
        assert_eq!(g.output[0].name.as_deref(), Some(names::RATING));
        mf.config.clip = None;
        let g = decode(&write_mf(&mf, Inputs::Ids));
        assert_eq!(g.node.last().unwrap().op_type.as_deref(), Some("Add"));
        assert_eq!(g.node.last().unwrap().output[0], names::RATING);
        assert_eq!(g.input[0].name.as_deref(), Some(names::USER_ROW));
    }

    #[test]
    fn ids_graph_has_no_mapper_and_no_ml_opset() {
        let bytes = write(&tiny_model(), Inputs::Ids, Precision::F32);
        let model = ModelProto::decode(&bytes[..]).unwrap();
        assert_eq!(model.opset_import.len(), 1);
        let g = model.graph.unwrap();
        assert!(g.node.iter().all(|n| n.domain.as_deref() == Some("")));
        assert_eq!(g.input[0].name.as_deref(), Some(names::USER_ROW));
    }

    #[test]
    fn quantized_weights_are_widened_in_the_graph() {
        let m = tiny_model();
        let g = decode(&write(&m, Inputs::Strings, Precision::Int8));
        let kernel = g
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some("dense_1.kernel.int8"))
            .unwrap();
        assert_eq!(kernel.data_type, Some(data_type::INT8));
        assert_eq!(kernel.raw_data.as_ref().unwrap().len(), 8 * 8);
        let f16 = decode(&write(&m, Inputs::Strings, Precision::F16));
        assert!(
            f16.initializer
                .iter()
                .all(|t| t.data_type == Some(data_type::FLOAT16))
        );
        assert_eq!(
            f16.node
                .iter()
                .filter(|n| n.op_type.as_deref() == Some("Cast"))
                .count(),
            8
        );
    }
}
