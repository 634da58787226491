/** JSON Patch (RFC 6902) as the server sends it: `add`, `remove`, `replace`. */
import type { PatchOp } from "./protocol.js";

type Container = Record<string, unknown> | unknown[];

function unescape(token: string): string {
  return token.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** A new document: `doc` with `ops` applied (`doc` is left as it was). Throws when a path does
 * not exist, so the caller can ask for the full state again. */
export function applyPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  let root: unknown = structuredClone(doc);
  for (const { op, path, value } of ops) {
    if (path === "") {
      if (op === "remove") throw new Error("cannot remove the whole document");
      root = structuredClone(value);
      continue;
    }
    const tokens = path.slice(1).split("/").map(unescape);
    const last = tokens.pop() as string;
    let target: unknown = root;
    for (const token of tokens) {
      target = Array.isArray(target) ? target[Number(token)] : (target as Record<string, unknown> | null)?.[token];
      if (target === undefined || target === null || typeof target !== "object") {
        throw new Error(`patch path ${path} does not exist`);
      }
    }
    if (typeof target !== "object" || target === null) throw new Error(`patch path ${path} does not exist`);
    const container = target as Container;
    if (Array.isArray(container)) {
      const index = last === "-" ? container.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > container.length) {
        throw new Error(`patch path ${path} does not exist`);
      }
      if (op === "add") container.splice(index, 0, value);
      else if (index >= container.length) throw new Error(`patch path ${path} does not exist`);
      else if (op === "remove") container.splice(index, 1);
      else container[index] = value;
    } else if (op === "remove" || op === "replace") {
      if (!(last in container)) throw new Error(`patch path ${path} does not exist`);
      if (op === "remove") delete container[last];
      else container[last] = value;
    } else {
      container[last] = value;
    }
  }
  return root as T;
}
