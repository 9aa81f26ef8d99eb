// hf-endpoint.mjs HUB_URL REPO REVISION CACHE_DIR OUT_DIR: @huggingface/hub,
// unmodified, against a hub at HUB_URL (the daemon's Hugging Face endpoint):
//   snapshotDownload into CACHE_DIR, then prints "snapshot PATH";
//   fileDownloadInfo of every file: "info PATH SIZE ETAG";
//   downloadFile of every file into OUT_DIR/PATH: "file PATH SIZE";
//   fileDownloadInfo of a missing file: "missing null".
// Lines are sorted within each kind; any error exits 1 with its message.
import { snapshotDownload, fileDownloadInfo, downloadFile, listFiles } from "@huggingface/hub";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

const [hubUrl, name, revision, cacheDir, outDir] = process.argv.slice(2);
const repo = { type: "model", name };
try {
	const snap = await snapshotDownload({ repo, revision, hubUrl, cacheDir });
	console.log(`snapshot ${snap}`);
	const paths = [];
	for await (const f of listFiles({ repo, revision, hubUrl, recursive: true }))
		if (f.type === "file") paths.push(f.path);
	paths.sort();
	for (const p of paths) {
		const info = await fileDownloadInfo({ repo, path: p, revision, hubUrl });
		console.log(`info ${p} ${info.size} ${info.etag}`);
	}
	for (const p of paths) {
		const blob = await downloadFile({ repo, path: p, revision, hubUrl });
		const bytes = Buffer.from(await blob.arrayBuffer());
		await mkdir(dirname(join(outDir, p)), { recursive: true });
		await writeFile(join(outDir, p), bytes);
		console.log(`file ${p} ${bytes.length}`);
	}
	const none = await fileDownloadInfo({ repo, path: "no/such/file", revision, hubUrl });
	console.log(`missing ${none}`);
} catch (e) {
	console.error(`error: ${e.message}`);
	process.exit(1);
}
