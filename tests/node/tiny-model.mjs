// tiny-model.mjs DIR: write a tiny BERT-like model repo into DIR that
// transformers.js can load and run:
//   config.json            model_type "bert" (an encoder: one onnx/model.onnx)
//   tokenizer.json         a WordPiece tokenizer, 16 tokens, lower case
//   tokenizer_config.json  BertTokenizer and its special tokens
//   onnx/model.onnx        one Gather: last_hidden_state = EMBED[input_ids]
// Row i of the 16 x 4 embedding table is
//   [i, i*i/8, (i % 3) - 1, i odd ? 0.5 : -0.25]
// (all exact in float32), so what the model computes can be worked out by
// hand. The ONNX file is encoded with protobufjs from the few messages of
// onnx.proto it needs, declared below.
import protobuf from "protobufjs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
	console.error("usage: node tiny-model.mjs DIR");
	process.exit(129);
}

const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
const words = ["the", "swarm", "carries", "model", "##s", "peer", "##ed", ".", "bytes",
	"mirror", ","];
const tokens = [...specials, ...words];
const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
const HIDDEN = 4;
const row = (i) => [i, (i * i) / 8, (i % 3) - 1, i % 2 ? 0.5 : -0.25];

const tokenizer = {
	version: "1.0",
	truncation: null,
	padding: null,
	added_tokens: specials.map((content, id) => ({
		id, content, single_word: false, lstrip: false, rstrip: false,
		normalized: false, special: true,
	})),
	normalizer: {
		type: "BertNormalizer", clean_text: true, handle_chinese_chars: true,
		strip_accents: null, lowercase: true,
	},
	pre_tokenizer: { type: "BertPreTokenizer" },
	post_processor: { type: "BertProcessing", sep: ["[SEP]", 3], cls: ["[CLS]", 2] },
	decoder: { type: "WordPiece", prefix: "##", cleanup: true },
	model: {
		type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##",
		max_input_chars_per_word: 100, vocab,
	},
};
const tokenizerConfig = {
	tokenizer_class: "BertTokenizer", do_lower_case: true, model_max_length: 64,
	pad_token: "[PAD]", unk_token: "[UNK]", cls_token: "[CLS]", sep_token: "[SEP]",
	mask_token: "[MASK]",
};
const config = {
	architectures: ["BertModel"], model_type: "bert", vocab_size: tokens.length,
	hidden_size: HIDDEN, num_hidden_layers: 0, num_attention_heads: 1,
	max_position_embeddings: 64, pad_token_id: 0,
};

// the part of onnx.proto (package onnx, proto2) this model uses
const onnx = protobuf.Root.fromJSON({ nested: { onnx: { nested: {
	ModelProto: { fields: {
		irVersion: { type: "int64", id: 1 },
		producerName: { type: "string", id: 2 },
		graph: { type: "GraphProto", id: 7 },
		opsetImport: { rule: "repeated", type: "OperatorSetIdProto", id: 8 },
	} },
	OperatorSetIdProto: { fields: {
		domain: { type: "string", id: 1 },
		version: { type: "int64", id: 2 },
	} },
	GraphProto: { fields: {
		node: { rule: "repeated", type: "NodeProto", id: 1 },
		name: { type: "string", id: 2 },
		initializer: { rule: "repeated", type: "TensorProto", id: 5 },
		input: { rule: "repeated", type: "ValueInfoProto", id: 11 },
		output: { rule: "repeated", type: "ValueInfoProto", id: 12 },
	} },
	NodeProto: { fields: {
		input: { rule: "repeated", type: "string", id: 1 },
		output: { rule: "repeated", type: "string", id: 2 },
		name: { type: "string", id: 3 },
		opType: { type: "string", id: 4 },
		attribute: { rule: "repeated", type: "AttributeProto", id: 5 },
	} },
	AttributeProto: { fields: {
		name: { type: "string", id: 1 },
		i: { type: "int64", id: 3 },
		type: { type: "int32", id: 20 },   // AttributeType: 2 = INT
	} },
	TensorProto: { fields: {
		dims: { rule: "repeated", type: "int64", id: 1 },
		dataType: { type: "int32", id: 2 },   // DataType: 1 = FLOAT, 7 = INT64
		name: { type: "string", id: 8 },
		rawData: { type: "bytes", id: 9 },
	} },
	ValueInfoProto: { fields: {
		name: { type: "string", id: 1 },
		type: { type: "TypeProto", id: 2 },
	} },
	TypeProto: { fields: { tensorType: { type: "TypeProtoTensor", id: 1 } } },
	TypeProtoTensor: { fields: {
		elemType: { type: "int32", id: 1 },
		shape: { type: "TensorShapeProto", id: 2 },
	} },
	TensorShapeProto: { fields: { dim: { rule: "repeated", type: "Dimension", id: 1 } } },
	Dimension: { fields: {
		dimValue: { type: "int64", id: 1 },
		dimParam: { type: "string", id: 2 },
	} },
} } } });

const FLOAT = 1, INT64 = 7;
const dim = (d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d });
const value = (name, elemType, dims) => ({
	name, type: { tensorType: { elemType, shape: { dim: dims.map(dim) } } },
});

// raw_data: float32, little-endian, row-major
const table = Buffer.alloc(tokens.length * HIDDEN * 4);
for (let i = 0; i < tokens.length; i++)
	row(i).forEach((x, k) => table.writeFloatLE(x, (i * HIDDEN + k) * 4));

const ids = ["input_ids", "attention_mask", "token_type_ids"];
const model = {
	irVersion: 8,
	producerName: "modelswarm tests",
	opsetImport: [{ domain: "", version: 13 }],
	graph: {
		name: "embedding",
		node: [{
			name: "lookup", opType: "Gather", input: ["embeddings", "input_ids"],
			output: ["last_hidden_state"], attribute: [{ name: "axis", i: 0, type: 2 }],
		}],
		initializer: [{
			name: "embeddings", dataType: FLOAT, dims: [tokens.length, HIDDEN],
			rawData: table,
		}],
		// the inputs transformers.js feeds a BERT encoder; only input_ids is used
		input: ids.map((n) => value(n, INT64, ["batch", "sequence"])),
		output: [value("last_hidden_state", FLOAT, ["batch", "sequence", HIDDEN])],
	},
};
const ModelProto = onnx.lookupType("onnx.ModelProto");
const err = ModelProto.verify(model);
if (err) {
	console.error(`error: ${err}`);
	process.exit(2);
}
const bytes = ModelProto.encode(ModelProto.fromObject(model)).finish();

await mkdir(join(dir, "onnx"), { recursive: true });
const json = (o) => JSON.stringify(o, null, 2) + "\n";
await writeFile(join(dir, "config.json"), json(config));
await writeFile(join(dir, "tokenizer.json"), json(tokenizer));
await writeFile(join(dir, "tokenizer_config.json"), json(tokenizerConfig));
await writeFile(join(dir, "onnx", "model.onnx"), bytes);
