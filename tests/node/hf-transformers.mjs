// hf-transformers.mjs HUB_URL REPO CACHE_DIR [tokenizer|pipeline]...:
// transformers.js, unmodified, against a hub at HUB_URL (the daemon's
// Hugging Face endpoint), remote files only, cached in CACHE_DIR:
//   tokenizer  AutoTokenizer of REPO: "ids ID..." of TEXT_A with a word the
//              vocabulary lacks
//   pipeline   a feature-extraction pipeline (fp32), mean pooling, of two
//              sentences of different lengths: "dims B H", then one
//              "mean X..." line a sentence
// What each step does is said on stderr (make demo shows it). Any error
// exits 1 with its message.
import { env, AutoTokenizer, pipeline } from "@huggingface/transformers";

const [hubUrl, repo, cacheDir, ...what] = process.argv.slice(2);
env.remoteHost = hubUrl.endsWith("/") ? hubUrl : hubUrl + "/";
env.allowLocalModels = false;
env.allowRemoteModels = true;
env.useBrowserCache = false;
env.useFSCache = true;
env.cacheDir = cacheDir;

const TEXT_A = "The swarm carries models, quickly.";
const SENTENCES = ["The swarm carries models.", "peer BYTES"];

try {
	for (const w of what) {
		if (w === "tokenizer") {
			console.error(`AutoTokenizer.from_pretrained("${repo}"), token ids of "${TEXT_A}":`);
			const tok = await AutoTokenizer.from_pretrained(repo);
			const { input_ids } = tok(TEXT_A);
			console.log(`ids ${input_ids.tolist()[0].join(" ")}`);
		} else if (w === "pipeline") {
			console.error(`pipeline("feature-extraction", "${repo}", { dtype: "fp32" }), ` +
				`mean pooling of ${SENTENCES.map((t) => `"${t}"`).join(" and ")}:`);
			const extract = await pipeline("feature-extraction", repo, { dtype: "fp32" });
			const out = await extract(SENTENCES, { pooling: "mean" });
			console.log(`dims ${out.dims.join(" ")}`);
			for (const v of out.tolist())
				console.log(`mean ${v.join(" ")}`);
		} else {
			throw new Error(`unknown step '${w}'`);
		}
	}
} catch (e) {
	console.error(`error: ${e.message}`);
	process.exit(1);
}
