// Shared by the wasm tests: load the nodejs build of iam-wasm, and skip (loudly) or fail
// when something the tests need is missing.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const pkgDir = path.resolve(process.env.IAM_WASM_PKG ?? path.join(here, '../../pkg/nodejs'));

/** Why the wasm tests cannot run, or null. Under IAM_REQUIRE_SERVICES=1 this throws instead. */
export function missing(what) {
  const reason = what();
  if (reason && process.env.IAM_REQUIRE_SERVICES === '1') {
    throw new Error(`required but missing: ${reason}`);
  }
  if (reason) console.error(`SKIPPED: ${reason}`);
  return reason;
}

export function loadWasm() {
  const file = path.join(pkgDir, 'iam_wasm.js');
  if (!existsSync(file)) return null;
  return createRequire(import.meta.url)(file);
}

export const noWasm = () =>
  existsSync(path.join(pkgDir, 'iam_wasm.js'))
    ? null
    : `no wasm build in ${pkgDir} (run crates/iam-wasm/build-pkg)`;
