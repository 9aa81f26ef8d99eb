// hf-scan.mjs CACHE_DIR: what @huggingface/hub's scanCacheDir() sees in a
// Hugging Face cache, one line per fact, sorted, for test_cmp:
//   repo ID TYPE files=N size=S
//   revision ID REV refs=a,b files=N size=S
//   file ID REV PATH SIZE BLOBNAME
//   warning MESSAGE
import { scanCacheDir } from "@huggingface/hub";
import { basename } from "node:path";

const info = await scanCacheDir(process.argv[2]);
const lines = [];
for (const repo of info.repos) {
	const id = repo.id.name;
	lines.push(`repo ${id} ${repo.id.type} files=${repo.filesCount} size=${repo.size}`);
	for (const rev of repo.revisions) {
		const refs = [...rev.refs].sort().join(",");
		lines.push(`revision ${id} ${rev.commitOid} refs=${refs} files=${rev.files.length} size=${rev.size}`);
		for (const f of rev.files) {
			const rel = f.path.slice(rev.path.length + 1);
			lines.push(`file ${id} ${rev.commitOid} ${rel} ${f.blob.size} ${basename(f.blob.path)}`);
		}
	}
}
for (const w of info.warnings) lines.push(`warning ${w.message}`);
lines.sort();
console.log(lines.join("\n"));
