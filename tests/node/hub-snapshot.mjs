// hub-snapshot.mjs HUB_URL TYPE NAME REVISION CACHE_DIR: @huggingface/hub,
// unmodified: snapshotDownload of the repo NAME of TYPE (model or dataset)
// at REVISION from the hub at HUB_URL into CACHE_DIR, with the access token
// in $HF_TOKEN if it is set. Prints "snapshot PATH"; an error exits 1 with
// "error: MESSAGE".
import { snapshotDownload } from "@huggingface/hub";

const [hubUrl, type, name, revision, cacheDir] = process.argv.slice(2);
const accessToken = process.env.HF_TOKEN || undefined;
try {
	const snap = await snapshotDownload({ repo: { type, name }, revision, hubUrl, cacheDir, accessToken });
	console.log(`snapshot ${snap}`);
} catch (e) {
	console.error(`error: ${e.message}`);
	process.exit(1);
}
