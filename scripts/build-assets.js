// Copy the pinned npm packages' browser builds into static/vendor (served by whitenoise).
const fs = require("fs");
const path = require("path");
const out = path.join(__dirname, "..", "static", "vendor");
fs.mkdirSync(out, { recursive: true });
const files = {
  "chart.umd.min.js": "node_modules/chart.js/dist/chart.umd.min.js",
  // Referenced by the bundle's sourceMappingURL: the hashed-manifest collectstatic (DEBUG=0) needs it.
  "chart.umd.min.js.map": "node_modules/chart.js/dist/chart.umd.min.js.map",
  "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
};
for (const [name, source] of Object.entries(files)) {
  fs.copyFileSync(path.join(__dirname, "..", source), path.join(out, name));
  console.log(`static/vendor/${name}`);
}
