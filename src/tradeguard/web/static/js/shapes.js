// Reading the API's documents: fields by the first of several names, lists inside
// objects. Nothing here throws on a shape it does not expect.

// The first of ``names`` that ``obj`` has (not null/undefined).
export function pick(obj, ...names) {
  if (!obj || typeof obj !== "object") return undefined;
  for (const name of names) {
    const value = obj[name];
    if (value !== null && value !== undefined) return value;
  }
  return undefined;
}

// ``data`` itself when it is a list, else its first list under ``keys``, else [].
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  const inner = pick(data, ...keys);
  return Array.isArray(inner) ? inner : [];
}
