// Writes the manifest of trusted documents (schema/documents.json) from the dashboard's queries
// (dashboard/queries.js): every document the dashboard can send, with its SHA-256, so that the
// server can accept them by hash and, with GRAPHQL_TRUSTED_DOCUMENTS=anonymous, only them from
// signed-out clients. `make documents` runs it; tests/test_trusted_documents.py checks that
// the committed manifest is current.
//
//   node tools/trusted_documents.mjs            # print the manifest
//   node tools/trusted_documents.mjs --write    # write schema/documents.json
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const q = await import(join(root, "dashboard", "queries.js"));

const documents = [
  { name: "DashboardCatalog", document: q.CATALOG },
  { name: "DashboardRankings", document: q.RANKINGS },
  { name: "DashboardLive", document: q.LIVE },
];
for (let n = 0; n <= q.MAX_KECAMATAN; n += 1) {
  documents.push({ name: `DashboardFigures/${n}`, document: q.figuresQuery(n) });
}
const manifest = {
  generated_by: "tools/trusted_documents.mjs from dashboard/queries.js",
  documents: documents.map((d) => ({
    name: d.name,
    sha256: createHash("sha256").update(d.document, "utf8").digest("hex"),
    document: d.document,
  })),
};
const text = `${JSON.stringify(manifest, null, 1)}\n`;
if (process.argv.includes("--write")) {
  writeFileSync(join(root, "schema", "documents.json"), text);
} else {
  process.stdout.write(text);
}
